/*
 * The process floor of a launch: a C program started with a qtest target's argv that dials the
 * -qtest UNIX socket and the QMP chardev's socket and answers each request line with a fixed
 * line, nothing else. What any launch costs at least: fork/exec, two connects, one reply.
 */
#include <stdio.h>
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
  static const char reply[] = "OK 0x0000000000000000\n";
  char buf[65536];
  ssize_t r;
  while ((r = read(q, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] == '\n' && write(q, reply, sizeof reply - 1) < 0) return 1;
  return 0;
}
