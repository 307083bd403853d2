/*
 * Serial qtest round trips from C, the floor-revealing client (libqtest is C): fd 3 is the qtest
 * socket the benchmark accepted from the target. Sends COMMAND N times, one write each, and reads
 * until the reply's newline before sending the next. Prints the mean µs per request.
 *   rtt N COMMAND
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[1]);
  char cmd[256];
  int len = snprintf(cmd, sizeof cmd, "%s\n", argv[2]);
  if (n <= 0 || len <= 0 || len >= (int)sizeof cmd) return 2;
  static char buf[65536];
  /* the descriptor is shared with the benchmark's (non-blocking) socket: block while we own it */
  int flags = fcntl(3, F_GETFL);
  if (flags < 0 || fcntl(3, F_SETFL, flags & ~O_NONBLOCK) != 0) return 1;
  double t0 = now_us();
  for (long i = 0; i < n; i++) {
    if (write(3, cmd, (size_t)len) != len) return 1;
    for (;;) {
      ssize_t r = read(3, buf, sizeof buf);
      if (r <= 0) return 1;
      if (buf[r - 1] == '\n') break; /* serial: the reply ends the read */
    }
  }
  double us = (now_us() - t0) / (double)n;
  if (fcntl(3, F_SETFL, flags) != 0) return 1;
  printf("%.3f\n", us);
  return 0;
}
