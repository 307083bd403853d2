"""Drive a qemu-system-aarch64 binary with QEMU's own Python libraries (from QEMU's source tree,
on PYTHONPATH): `machine` mode launches QEMUQtestMachine (socketpair fds for qtest and QMP) and
drives qtest, QMP and HMP-over-QMP; `qmp-client` mode starts the binary with a listening
`-qmp unix:…,server=on,wait=off` socket and talks to it with the asyncio QMPClient.

Usage: python3 machine_library.py machine|qmp-client BINARY TMPDIR

Prints one JSON object per step on stdout ({"step": …, "value": …}); tests/python/
machine-library.test.ts runs it against qtestd and the oracle and compares the transcripts.
Exits 0 only if every step ran and the binary exited with status 0.
"""
import asyncio
import json
import os
import subprocess
import sys
import time


def out(step, value):
    print(json.dumps({"step": step, "value": value}, sort_keys=True), flush=True)


ECAM = 0x4010000000  # virt's high PCIe ECAM (highmem-ecam on)


def ecam(bus, dev, fn, off):
    return ECAM + (bus << 20) + (dev << 15) + (fn << 12) + off


def machine_mode(binary, tmp):
    from qemu.machine import QEMUQtestMachine

    args = [
        "-machine", "virt,acpi=off,gic-version=3",
        "-cpu", "max", "-m", "512", "-nodefaults",
        "-device", "pcie-root-port,id=rp0,chassis=1,bus=pcie.0,addr=2",
    ]
    vm = QEMUQtestMachine(binary, args=args, base_temp_dir=tmp)
    vm.launch()
    out("endianness", vm.qtest("endianness"))
    out("readl host bridge id", vm.qtest(f"readl {hex(ecam(0, 0, 0, 0))}"))
    out("readl root port id", vm.qtest(f"readl {hex(ecam(0, 2, 0, 0))}"))
    out("readw root port class", vm.qtest(f"readw {hex(ecam(0, 2, 0, 0xa))}"))
    out("readl empty slot", vm.qtest(f"readl {hex(ecam(0, 7, 0, 0))}"))
    out("query-status", vm.qmp("query-status"))
    out("query-pci", vm.qmp("query-pci"))
    out("query-chardev", vm.qmp("query-chardev"))
    out("query-yank", vm.qmp("query-yank"))
    # the root port's secondary bus number is 0 until firmware (here: us) assigns one
    vm.qtest(f"writeb {hex(ecam(0, 2, 0, 0x19))} 0x1")
    vm.qtest(f"writeb {hex(ecam(0, 2, 0, 0x1a))} 0x1")
    out("device_add edu", vm.qmp("device_add", driver="edu", id="edu0", bus="rp0"))
    out("readl edu id", vm.qtest(f"readl {hex(ecam(1, 0, 0, 0))}"))
    out("info pci", vm.qmp("human-monitor-command", **{"command-line": "info pci"}))
    out("device_del edu", vm.qmp("device_del", id="edu0"))
    out("bad command", vm.qmp("no-such-command"))
    vm.shutdown()
    out("exitcode", vm.exitcode())
    return vm.exitcode() == 0


async def qmp_client_mode(binary, tmp):
    from qemu.qmp import QMPClient

    path = os.path.join(tmp, "qmp.sock")
    proc = subprocess.Popen(
        [binary, "-machine", "virt", "-display", "none", "-nodefaults",
         "-qmp", f"unix:{path},server=on,wait=off", "-accel", "qtest"],
        stdin=subprocess.DEVNULL,
    )
    try:
        qmp = QMPClient("qtestd-check")
        deadline = time.monotonic() + 120  # a safety net: the binary creates the socket at start-up
        while True:
            try:
                await qmp.connect(path)
                break
            except Exception:  # noqa: BLE001 - not listening yet; retry until the safety net
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        out("greeting version", qmp.greeting._raw["QMP"]["version"])
        out("query-status", await qmp.execute("query-status"))
        out("query-version", await qmp.execute("query-version"))
        await qmp.execute("quit")
        try:
            await qmp.disconnect()
        except EOFError:
            # the server closed the stream after `quit` (QEMU's machine library accepts this too)
            pass
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out("exitcode", code)
    return code == 0


def main():
    mode, binary, tmp = sys.argv[1:4]
    if mode == "machine":
        ok = machine_mode(binary, tmp)
    else:
        ok = asyncio.run(qmp_client_mode(binary, tmp))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
