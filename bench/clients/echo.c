/*
 * The process floor of a launch: a C program started with a qtest target's argv that dials the
 * -qtest UNIX socket and the QMP chardev's socket, sends a QMP greeting, answers each qtest request
 * line with a fixed line and each QMP line with an empty return, nothing else. What any launch
 * costs at least: fork/exec, two connects, one reply (and libqtest's QMP handshake).
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int dial(const char *path, size_t len) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (len >= sizeof a.sun_path) return -1;
  memcpy(a.sun_path, path, len);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  return fd;
}

/* Answer every '\n' read from fd with reply; 0 at end of input, -1 on error. */
static int answer(int fd, const char *reply, size_t len) {
  static char buf[65536];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r <= 0) return (int)r;
  for (ssize_t i = 0; i < r; i++)
    if (buf[i] == '\n' && write(fd, reply, len) < 0) return -1;
  return 1;
}

int main(int argc, char **argv) {
  int q = -1, m = -1;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "-qtest") == 0 && strncmp(argv[i + 1], "unix:", 5) == 0)
      q = dial(argv[i + 1] + 5, strlen(argv[i + 1] + 5));
    if (strcmp(argv[i], "-chardev") == 0) {
      const char *p = strstr(argv[i + 1], "path=");
      if (p) m = dial(p + 5, strcspn(p + 5, ","));
    }
  }
  if (q < 0 || m < 0) return 1;
  static const char greeting[] =
      "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, \"major\": 10}, \"package\": \"\"}, "
      "\"capabilities\": [\"oob\"]}}\r\n";
  static const char reply[] = "OK 0x0000000000000000\n";
  static const char ret[] = "{\"return\": {}}\r\n";
  if (write(m, greeting, sizeof greeting - 1) < 0) return 1;
  struct pollfd p[2] = {{.fd = q, .events = POLLIN}, {.fd = m, .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, -1) < 0) return 1;
    if (p[0].revents && answer(q, reply, sizeof reply - 1) <= 0) return 0;
    if (p[1].revents && answer(m, ret, sizeof ret - 1) <= 0) p[1].fd = -1;
  }
}
