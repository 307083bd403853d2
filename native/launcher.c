/*
 * qtestd warm-launch shim: a drop-in `qemu-system-aarch64` that hands its launch to a running
 * qtestd launch daemon (node, already warm) instead of starting node itself.
 *
 *   shim ──connect──▶ <runtime>/qtestd-<uid>/launch-<hash>.sock   (one write: argv, cwd, QTESTD_* env)
 *        ◀── frames ── 'S' launch started, 'E' stderr text, 'O' stdout text, 'X' exit code, 'C' go cold
 *        ──── 'T' ───▶ on SIGTERM/SIGINT/SIGHUP (daemon emits SHUTDOWN, closes, answers 'X')
 *
 * The shim stays the process libqtest spawned (sh -c "exec shim ..."), so the PID, the exit
 * status and the signals are all ours; the daemon dials the test's sockets on our behalf.
 * Whenever the daemon is unusable the shim execs the cold path (node dist/src/cli/main.js) and,
 * unless QTESTD_NO_DAEMON=1, first starts a detached daemon so that the next launch is warm.
 *
 * Frames, both directions: u32 little-endian length (type byte + payload), u8 type, payload.
 * Launch request payload: NUL-terminated strings "QTD1", pid, cwd, argc, argv[1..], then
 * "KEY=VALUE" for each QTESTD_* environment variable.
 *
 * Only libc. Build: cc -O2 -Wall -Wextra -o native/build/qemu-system-aarch64 native/launcher.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PROG "qemu-system-aarch64"
#define MAGIC "QTD1"

static volatile sig_atomic_t term_flag;    /* a termination signal arrived */
static volatile sig_atomic_t request_sent; /* the daemon owns the launch: tell it on signals */
static volatile sig_atomic_t term_sent;    /* the 'T' frame went out */
static int sock_fd = -1;

static char root[PATH_MAX]; /* install root: <root>/native/build/<this binary> */
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void send_term_frame(void) {
  static const unsigned char frame[5] = {1, 0, 0, 0, 'T'};
  term_sent = 1;
  /* MSG_NOSIGNAL: a vanished daemon must not kill us with SIGPIPE. Async-signal-safe. */
  (void)send(sock_fd, frame, sizeof frame, MSG_NOSIGNAL);
}

static void on_alarm(int sig) {
  (void)sig;
  _exit(0); /* the daemon did not answer the terminate in time: QEMU exits 0 on SIGTERM */
}

static void on_term(int sig) {
  int saved = errno;
  (void)sig;
  term_flag = 1;
  if (request_sent && !term_sent) {
    send_term_frame();
    alarm(1);
  }
  errno = saved;
}

static void block_term_signals(int how) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(how, &set, NULL);
}

static void install_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGHUP);
  sa.sa_flags = 0; /* no SA_RESTART: read() returns EINTR, the loop re-checks */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void die(const char *msg) {
  dprintf(2, "%s: qtestd launcher: %s\n", PROG, msg);
  _exit(1);
}

/* <root> from /proc/self/exe = <root>/native/build/qemu-system-aarch64 */
static void find_root(void) {
  ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
  if (n <= 0) die("cannot read /proc/self/exe");
  root[n] = '\0';
  for (int i = 0; i < 3; i++) {
    char *slash = strrchr(root, '/');
    if (!slash) die("unexpected install layout (want <root>/native/build/qemu-system-aarch64)");
    *slash = '\0';
  }
  if (root[0] == '\0') strcpy(root, "/");
}

/* FNV-1a: one daemon socket per install root, so two checkouts never share a daemon. */
static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

/*
 * Returns 0 and fills sock_path/dir; the runtime dir may not exist yet. QTESTD_DAEMON_SOCKET (an
 * absolute path) names the socket instead; its directory is then the runtime dir, held to the
 * same rules (ours, mode 0700), and a daemon this shim starts listens there too.
 */
static int socket_path(char *dir, size_t dirlen) {
  const char *own = getenv("QTESTD_DAEMON_SOCKET");
  if (own && own[0] != '\0') {
    if (own[0] != '/') return -1;
    size_t len = strlen(own);
    if (len >= sizeof sock_path) return -1;
    memcpy(sock_path, own, len + 1);
    const char *slash = strrchr(sock_path, '/');
    size_t dlen = slash == sock_path ? 1 : (size_t)(slash - sock_path);
    if (dlen >= dirlen || slash[1] == '\0') return -1;
    memcpy(dir, sock_path, dlen);
    dir[dlen] = '\0';
    return 0;
  }
  const char *base = getenv("XDG_RUNTIME_DIR");
  if (!base || base[0] != '/') base = "/tmp";
  int n = snprintf(dir, dirlen, "%s/qtestd-%u", base, (unsigned)getuid());
  if (n < 0 || (size_t)n >= dirlen) return -1;
  n = snprintf(sock_path, sizeof sock_path, "%s/launch-%08x.sock", dir, fnv1a(root));
  if (n < 0 || (size_t)n >= sizeof sock_path) return -1;
  return 0;
}

/* 1 = safe (a real directory, ours, no group/other access), 0 = missing, -1 = unsafe. */
static int check_dir(const char *dir) {
  struct stat st;
  if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) return -1;
  return 1;
}

static int is_true(const char *v, size_t len) {
  static const char *yes[] = {"on", "yes", "true", "y"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    if (strlen(yes[i]) == len && strncmp(v, yes[i], len) == 0) return 1;
  return 0;
}

/* -run-with exit-with-parent=on (also --run-with=..., and the last occurrence wins). */
static int wants_exit_with_parent(int argc, char **argv) {
  int result = 0;
  for (int i = 1; i < argc; i++) {
    const char *val = NULL;
    if (strcmp(argv[i], "-run-with") == 0 || strcmp(argv[i], "--run-with") == 0) {
      if (i + 1 < argc) val = argv[++i];
    } else if (strncmp(argv[i], "--run-with=", 11) == 0) {
      val = argv[i] + 11;
    }
    if (!val) continue;
    const char *p = val;
    while (*p) {
      size_t len = strcspn(p, ",");
      if (len > 17 && strncmp(p, "exit-with-parent=", 17) == 0) result = is_true(p + 17, len - 17);
      p += len;
      if (*p == ',') p++;
    }
  }
  return result;
}

static const char *node_binary(void) {
  const char *n = getenv("QTESTD_NODE");
  return n && *n ? n : "node";
}

/*
 * The node entry point: dist/bundle/BUNDLE.cjs (the bundled launcher and its V8 code cache, made by
 * scripts/bundle.mjs) when it is there, else the unbundled dist/src/cli/SRC.js.
 */
static int node_entry(char *out, size_t size, const char *bundle, const char *src) {
  if (snprintf(out, size, "%s/dist/bundle/%s.cjs", root, bundle) < (int)size && access(out, R_OK) == 0) return 0;
  return snprintf(out, size, "%s/dist/src/cli/%s.js", root, src) >= (int)size ? -1 : 0;
}

/*
 * Node parses NODE_EXTRA_CA_CERTS at start-up (tens of ms) and qtestd makes no TLS connection:
 * move it aside for our node process; the loader (scripts/code-cache-loader.cjs) puts it back.
 */
static void move_ca_certs(void) {
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (!ca) return;
  setenv("QTESTD_SAVED_NODE_EXTRA_CA_CERTS", ca, 1);
  unsetenv("NODE_EXTRA_CA_CERTS");
}

static void close_fds_from(int lowfd) {
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    int dfd = dirfd(d);
    struct dirent *e;
    int fds[1024];
    int count = 0;
    while ((e = readdir(d)) != NULL && count < 1024) {
      int fd = atoi(e->d_name);
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd >= lowfd && fd != dfd) fds[count++] = fd;
    }
    closedir(d);
    for (int i = 0; i < count; i++) close(fds[i]);
    if (count < 1024) return;
  }
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = lowfd; fd < max; fd++) close(fd);
}

/*
 * Start `node dist/bundle/launch-daemon.cjs --socket PATH` (or dist/src/cli/launch-daemon.js) fully detached: double fork + setsid,
 * stdio on /dev/null, every other inherited descriptor closed (a test harness's pipes must never
 * be held open by the daemon), cwd /. Never blocks beyond reaping the short-lived middle child.
 */
static void spawn_daemon(void) {
  char script[PATH_MAX + 64];
  if (node_entry(script, sizeof script, "launch-daemon", "launch-daemon") != 0) return;
  if (access(script, R_OK) != 0) return;
  pid_t p = fork();
  if (p < 0) return;
  if (p == 0) {
    reset_signals();
    block_term_signals(SIG_UNBLOCK);
    alarm(0);
    prctl(PR_SET_PDEATHSIG, 0);
    setsid();
    pid_t q = fork();
    if (q != 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    close_fds_from(3);
    if (chdir("/") != 0) _exit(0);
    move_ca_certs();
    /* The daemon outlives the process that started it: under a coverage run (NODE_V8_COVERAGE, set
       by c8 or tap for the test process tree) it would write coverage files into that run's
       directory at its exit, long after the run, into a tree that may be being removed. */
    unsetenv("NODE_V8_COVERAGE");
    char *args[] = {(char *)node_binary(), script, "--socket", sock_path, "--root", root, NULL};
    execvp(args[0], args);
    _exit(127);
  }
  while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
  }
}

/* Become the cold launcher: node dist/bundle/qemu-system-aarch64.cjs (or dist/src/cli/main.js) <args>. */
static void exec_cold(int argc, char **argv, int start_daemon) {
  block_term_signals(SIG_BLOCK);
  if (term_flag) _exit(0); /* terminated before anything started: QEMU would exit 0 */
  alarm(0);
  if (sock_fd >= 0) close(sock_fd);
  sock_fd = -1;
  if (start_daemon) spawn_daemon();
  char main_js[PATH_MAX + 64];
  if (node_entry(main_js, sizeof main_js, "qemu-system-aarch64", "main") != 0) die("install path too long");
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) die("out of memory");
  args[0] = (char *)node_binary();
  args[1] = main_js;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  args[argc + 1] = NULL;
  setenv("QTESTD_ARGV0", PROG, 1);
  move_ca_certs();
  reset_signals();
  block_term_signals(SIG_UNBLOCK);
  execvp(args[0], args);
  dprintf(2, "%s: qtestd launcher: cannot execute %s: %s\n", PROG, args[0], strerror(errno));
  _exit(1);
}

/* The launch request, built in one buffer so it goes out in one write. */
struct buf {
  char *data;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) die("out of memory");
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void put_str(struct buf *b, const char *s) { put(b, s, strlen(s) + 1); }

static void put_num(struct buf *b, long v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%ld", v);
  put_str(b, tmp);
}

static void build_request(struct buf *b, int argc, char **argv) {
  char header[5] = {0, 0, 0, 0, 'L'};
  put(b, header, sizeof header);
  put_str(b, MAGIC);
  put_num(b, (long)getpid());
  char cwd[PATH_MAX];
  put_str(b, getcwd(cwd, sizeof cwd) ? cwd : "");
  put_num(b, argc - 1);
  for (int i = 1; i < argc; i++) put_str(b, argv[i]);
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "QTESTD_", 7) == 0) put_str(b, *e);
  uint32_t len = (uint32_t)(b->len - 4);
  b->data[0] = (char)(len & 0xff);
  b->data[1] = (char)((len >> 8) & 0xff);
  b->data[2] = (char)((len >> 16) & 0xff);
  b->data[3] = (char)((len >> 24) & 0xff);
}

/* A connected stream socket to `path`, or -1 (errno says why). */
static int dial(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return fd;
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

/*
 * The daemon's workers each listen on <socket>.<index> while they have no launch (a busy one's
 * socket refuses at once): the first that takes the connection, or -1 when none does (no such
 * socket, or all busy); the shared socket then serves (src/cli/launch-daemon-own-socket.ts).
 */
static int dial_worker(void) {
  char path[sizeof sock_path];
  for (int i = 0; i < 64; i++) {
    int n = snprintf(path, sizeof path, "%s.%d", sock_path, i);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    int fd = dial(path);
    if (fd >= 0) return fd;
    if (errno != ECONNREFUSED) return -1; /* no such worker: the others are not there either */
  }
  return -1;
}

int main(int argc, char **argv) {
  pid_t parent = getppid();
  signal(SIGPIPE, SIG_IGN);
  find_root();

  const char *nd = getenv("QTESTD_NO_DAEMON");
  if (nd && strcmp(nd, "1") == 0) exec_cold(argc, argv, 0);

  char dir[PATH_MAX];
  if (socket_path(dir, sizeof dir) != 0) exec_cold(argc, argv, 0);
  int dir_state = check_dir(dir);
  if (dir_state == 0) exec_cold(argc, argv, 1); /* no daemon ever ran: it creates the dir */
  if (dir_state < 0) exec_cold(argc, argv, 0);  /* somebody else's or too open: never trust it */

  install_handlers();

  /* A worker's own socket first (the first one free), else the shared one. */
  int via_own = 1;
  sock_fd = dial_worker();
  if (sock_fd < 0) {
    via_own = 0;
    sock_fd = dial(sock_path);
  }
  if (sock_fd < 0) exec_cold(argc, argv, 1);

  if (wants_exit_with_parent(argc, argv)) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) term_flag = 1; /* the parent died before prctl took effect */
  }

  struct buf req = {0};
  build_request(&req, argc, argv);
  block_term_signals(SIG_BLOCK);
  if (term_flag) _exit(0);
  int sent = send_all(sock_fd, req.data, req.len) == 0;
  if (!sent && via_own) {
    /* the worker closed its own socket as we came: the shared one serves */
    via_own = 0;
    close(sock_fd);
    sock_fd = dial(sock_path);
    sent = sock_fd >= 0 && send_all(sock_fd, req.data, req.len) == 0;
  }
  if (!sent) {
    block_term_signals(SIG_UNBLOCK);
    exec_cold(argc, argv, 1);
  }
  request_sent = 1;
  block_term_signals(SIG_UNBLOCK); /* a pending signal runs on_term now and sends 'T' */
  /* req stays: a launch sent to a worker's own socket may be sent again to the shared one */

  /* Relay loop: stream 'E'/'O' payloads straight to fd 2/1; 'X' and 'C' are tiny. */
  static char rbuf[65536];
  unsigned char header[5];
  size_t have_header = 0;
  uint32_t remaining = 0; /* payload bytes left in the current frame */
  char type = 0;
  char small[64];
  size_t small_len = 0;
  int got_frame = 0;
  int started = 0; /* 'S' came: the daemon runs this launch; never re-run it cold */
relay:
  for (;;) {
    ssize_t n = read(sock_fd, rbuf, sizeof rbuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    char *p = rbuf;
    size_t left = (size_t)n;
    while (left > 0) {
      if (have_header < 5) {
        size_t take = 5 - have_header < left ? 5 - have_header : left;
        memcpy(header + have_header, p, take);
        have_header += take;
        p += take;
        left -= take;
        if (have_header < 5) break;
        uint32_t len = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 | (uint32_t)header[3] << 24;
        if (len == 0) die("bad frame from the launch daemon");
        remaining = len - 1;
        type = (char)header[4];
        small_len = 0;
        got_frame = 1;
      }
      size_t take = remaining < left ? remaining : left;
      if (type == 'E' || type == 'O') {
        (void)write_all(type == 'E' ? 2 : 1, p, take); /* a closed stderr must not stop us */
      } else {
        size_t room = sizeof small - 1 - small_len;
        size_t keep = take < room ? take : room;
        memcpy(small + small_len, p, keep);
        small_len += keep;
      }
      p += take;
      left -= take;
      remaining -= (uint32_t)take;
      if (remaining == 0) {
        small[small_len] = '\0';
        if (type == 'S') started = 1;
        if (type == 'X') _exit(atoi(small) & 0xff);
        if (type == 'C') exec_cold(argc, argv, strcmp(small, "respawn") == 0);
        have_header = 0;
      }
    }
  }
  /* The daemon closed the connection without an exit frame. */
  if (term_flag) _exit(0);
  if (!got_frame && via_own) {
    /* A worker closed its own socket as this connection came in: the launch never started;
       ask the shared socket instead (once). */
    via_own = 0;
    block_term_signals(SIG_BLOCK);
    if (term_flag) _exit(0);
    close(sock_fd);
    request_sent = 0;
    sock_fd = dial(sock_path);
    if (sock_fd < 0 || send_all(sock_fd, req.data, req.len) != 0) {
      block_term_signals(SIG_UNBLOCK);
      exec_cold(argc, argv, 1);
    }
    request_sent = 1;
    block_term_signals(SIG_UNBLOCK);
    have_header = 0;
    remaining = 0;
    small_len = 0;
    goto relay;
  }
  /* The daemon went away while it ran this launch (killed, crashed): as for a QEMU that died,
     its sockets are closed and the launch is over. Running it again cold would dial the test's
     sockets a second time and truncate its -qtest-log, so say why and fail. */
  if (started) die("the qtestd launch daemon died during this launch; its sockets are closed");
  /* Nothing came back: the daemon stopped listening before it took the launch (idle exit /
     replacement race), so the launch never started; run it cold. */
  if (!got_frame) exec_cold(argc, argv, 1);
  die("lost the connection to the qtestd launch daemon");
  return 1;
}
