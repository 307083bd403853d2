"""Serial qtest round trips the way QEMU's python/qemu/machine/qtest.py (QEMUQtestProtocol) talks:
a socket, a text-mode file over it for reading, one sendall per command and one readline per reply.
fd 3 is the qtest socket the benchmark accepted from the target. Prints the mean us per request.
    python3 qtest_client.py N COMMAND
"""
import socket
import sys
import time


class LineProtocol:
    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(True)  # shared with the benchmark's non-blocking socket
        self._reader = self._sock.makefile(mode="r")

    def cmd(self, line: str) -> str:
        self._sock.sendall((line + "\n").encode("utf-8"))
        return self._reader.readline()

    def release(self) -> None:
        self._sock.setblocking(False)
        self._sock.detach()  # the descriptor stays the benchmark's


def main() -> None:
    n = int(sys.argv[1])
    proto = LineProtocol(3)
    t0 = time.perf_counter()
    for _ in range(n):
        proto.cmd(sys.argv[2])
    us = (time.perf_counter() - t0) * 1e6 / n
    proto.release()
    print(f"{us:.3f}")


main()
