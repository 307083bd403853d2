/*
 * One launch the way libqtest's qtest_init launches a QEMU (QEMU 10.2.2 tests/qtest/libqtest.c:
 * qtest_init_internal, qtest_spawn_qemu, qtest_connect, qtest_qmp_handshake), timed from C so that
 * no node harness (spawn machinery, event-loop wake-ups) is part of the figure:
 *
 *   listen on DIR/qtest-PID.sock and DIR/qtest-PID.qmp (backlog 1, close-on-exec)
 *   t0; fork; child: execlp("/bin/sh", "sh", "-c", "exec BINARY -qtest unix:… -qtest-log /dev/null
 *       -chardev socket,path=…,id=char0 -mon chardev=char0,mode=control -display none -audio none
 *       -run-with exit-with-parent=on ARGS -accel qtest")
 *   accept the qtest socket, then the QMP socket; send "endianness\n", read one reply line
 *       → first_us (launch → first reply), first_cpu_us (the child's CPU, all its tasks, then)
 *   read the QMP greeting, send {"execute": "qmp_capabilities"}, read its return (byte by byte,
 *       as libqtest's qmp_fd_receive does) → init_us, init_cpu_us: what qtest_init costs
 *   SIGTERM, blocking wait4 → quit_us (SIGTERM → reaped), total_cpu_us (rusage of the child)
 *
 * Prints one JSON line on stdout; on failure {"error": "…"} and exit status 1.
 * Usage: launch DIR BINARY ARGS   (BINARY and ARGS are pasted into the sh command as libqtest does)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child = -1;

static void fail(const char *what) {
  printf("{\"error\": \"%s: %s\"}\n", what, errno ? strerror(errno) : "unexpected reply");
  fflush(stdout);
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  exit(1);
}

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* CPU time of every task of pid so far, µs (schedstat: ns of run time per task). */
static long long cpu_us(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  long long ns = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char p[300];
    snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
    FILE *f = fopen(p, "r");
    if (!f) continue; /* the task ended meanwhile */
    long long v = 0;
    if (fscanf(f, "%lld", &v) == 1) ns += v;
    fclose(f);
  }
  closedir(d);
  return ns / 1000;
}

static int listen_on(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) fail("socket path too long");
  strcpy(a.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 1) != 0) fail("listen");
  return s;
}

static int accept_one(int s) {
  struct timeval timeout = {.tv_sec = 50}; /* libqtest's SOCKET_TIMEOUT */
  if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) fail("setsockopt");
  int fd;
  do fd = accept(s, NULL, NULL);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("accept");
  close(s);
  return fd;
}

static void send_all(int fd, const char *buf) {
  size_t len = strlen(buf);
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("send");
    buf += n;
    len -= (size_t)n;
  }
}

/* One qtest reply line, read in chunks of up to 1024 bytes as libqtest reads them. */
static void read_line(int fd, char *line, size_t size) {
  size_t have = 0;
  for (;;) {
    char *eol = memchr(line, '\n', have);
    if (eol) {
      *eol = '\0';
      return;
    }
    size_t room = size - 1 - have < 1024 ? size - 1 - have : 1024;
    if (room == 0) fail("reply line too long");
    ssize_t n = recv(fd, line + have, room, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("qtest recv");
    have += (size_t)n;
  }
}

/*
 * One top-level JSON object from the QMP socket, one byte per recv (libqtest's qmp_fd_receive);
 * its end is found by brace depth outside strings, as the JSON streamer does.
 */
static void read_json(int fd, char *out, size_t size) {
  size_t have = 0;
  int depth = 0, in_str = 0, esc = 0, started = 0;
  for (;;) {
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("qmp recv");
    if (have + 1 < size) out[have++] = c;
    if (in_str) {
      if (esc) esc = 0;
      else if (c == '\\') esc = 1;
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{' || c == '[') {
      depth++;
      started = 1;
    } else if (c == '}' || c == ']') {
      depth--;
      if (started && depth == 0) {
        out[have] = '\0';
        return;
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: launch DIR BINARY ARGS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char qpath[256], mpath[256];
  snprintf(qpath, sizeof qpath, "%s/qtest-%d.sock", argv[1], (int)getpid());
  snprintf(mpath, sizeof mpath, "%s/qtest-%d.qmp", argv[1], (int)getpid());
  size_t cap = strlen(argv[2]) + strlen(argv[3]) + 2 * sizeof qpath + 512;
  char *cmd = malloc(cap);
  if (!cmd) fail("malloc");
  snprintf(cmd, cap,
           "exec %s -qtest unix:%s -qtest-log /dev/null -chardev socket,path=%s,id=char0 "
           "-mon chardev=char0,mode=control -display none -audio none "
           "-run-with exit-with-parent=on %s -accel qtest",
           argv[2], qpath, mpath, argv[3]);
  unlink(qpath);
  unlink(mpath);
  int qs = listen_on(qpath), ms = listen_on(mpath);
  fflush(stdout);

  long long t0 = now_us();
  child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    execlp("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    exit(1);
  }
  int q = accept_one(qs);
  int m = accept_one(ms);
  unlink(qpath);
  unlink(mpath);

  char line[4096];
  send_all(q, "endianness\n");
  read_line(q, line, sizeof line);
  long long t1 = now_us();
  long long c1 = cpu_us(child);
  errno = 0;
  if (strncmp(line, "OK", 2) != 0) fail("endianness");

  char msg[8192];
  read_json(m, msg, sizeof msg); /* the greeting */
  if (!strstr(msg, "\"QMP\"")) fail("qmp greeting");
  send_all(m, "{\"execute\": \"qmp_capabilities\"}\n");
  do read_json(m, msg, sizeof msg); /* events before the return are skipped, as libqtest stashes them */
  while (strstr(msg, "\"event\"") && !strstr(msg, "\"return\""));
  long long t2 = now_us();
  long long c2 = cpu_us(child);
  if (!strstr(msg, "\"return\"")) fail("qmp_capabilities");

  long long t3 = now_us();
  kill(child, SIGTERM);
  int status;
  struct rusage ru;
  pid_t r;
  do r = wait4(child, &status, 0, &ru);
  while (r < 0 && errno == EINTR);
  long long t4 = now_us();
  if (r != child) fail("wait4");
  child = -1;
  close(q);
  close(m);
  long long total = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  printf("{\"first_us\": %lld, \"first_cpu_us\": %lld, \"init_us\": %lld, \"init_cpu_us\": %lld, "
         "\"quit_us\": %lld, \"total_cpu_us\": %lld, \"status\": %d}\n",
         t1 - t0, c1, t2 - t0, c2, t4 - t3, total, code);
  return 0;
}
