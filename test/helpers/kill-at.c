/*
 * kill-at: an LD_PRELOAD library that kills its process (SIGKILL) at one call of one system call's libc
 * wrapper, before the call is made, and first writes down which call that was. The crash-safety tests use it
 * instead of strace's `inject=…:signal=KILL`, which stops the process at every system call of every thread
 * (test/helpers/strace.ts says how the kill points are found and counted).
 *
 * Set by the environment:
 *   KILL_AT_SYSCALL  write, pwrite64, fsync, fchmod, rename, link or unlink
 *   KILL_AT_WHEN     N: kill at the N-th counted call
 *   KILL_AT_PATH     optional: count only calls on this path (an fd's file as /proc/self/fd shows it, or a path
 *                    argument as given), over all threads; without it, count every call of the system call
 *                    per thread, and kill at the first thread to reach N — on a file, not a pipe, socket or
 *                    eventfd: libuv wakes its event loops by writing to one, as many times as thread-pool jobs
 *                    happen to end, so counting those would move the N-th call from run to run (the trace's
 *                    count in test/helpers/strace.ts leaves them out too)
 *   KILL_AT_REPORT   the file to write the killed call to: its name and its paths, one a line
 *
 * Without KILL_AT_SYSCALL every wrapper only passes the call on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum call { NONE, WRITE, PWRITE64, FSYNC, FCHMOD, RENAME, LINK, UNLINK };
static const char *const NAMES[] = {"", "write", "pwrite64", "fsync", "fchmod", "rename", "link", "unlink"};

static enum call target = NONE;
static long when;
static const char *target_path;
static const char *report;
/* calls on target_path, over all threads */
static long on_path;
/* calls of the target, per thread */
static __thread long in_thread;
static int fired;

__attribute__((constructor)) static void configure(void) {
  const char *name = getenv("KILL_AT_SYSCALL");
  if (!name) return;
  for (int c = WRITE; c <= UNLINK; c++)
    if (strcmp(name, NAMES[c]) == 0) target = (enum call)c;
  const char *n = getenv("KILL_AT_WHEN");
  when = n ? atol(n) : 0;
  target_path = getenv("KILL_AT_PATH");
  report = getenv("KILL_AT_REPORT");
  if (target == NONE || when < 1 || !report) {
    // a wrong setting must not pass for a run that was never killed
    static const char msg[] = "kill-at: KILL_AT_SYSCALL, KILL_AT_WHEN or KILL_AT_REPORT is wrong\n";
    syscall(SYS_write, 2, msg, sizeof msg - 1);
    _exit(125);
  }
}

/* The file of `fd` as /proc/self/fd shows it (what strace -y prints), into buf. */
static const char *fd_path(int fd, char *buf, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, size - 1);
  buf[n < 0 ? 0 : n] = '\0';
  return buf;
}

static void put(int out, const char *s) {
  syscall(SYS_write, out, s, strlen(s));
  syscall(SYS_write, out, "\n", 1);
}

/* Writes the call down and kills the process; never returns. */
static void kill_here(enum call c, const char *a, const char *b) {
  if (!__atomic_exchange_n(&fired, 1, __ATOMIC_SEQ_CST)) {
    int out = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    put(out, NAMES[c]);
    put(out, a);
    if (b) put(out, b);
    close(out);
  }
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

/* Counts a call of `c` on paths `a` (and `b`), and kills the process when it is the one. */
static void count(enum call c, const char *a, const char *b) {
  if (target_path) {
    if (strcmp(a, target_path) != 0 && !(b && strcmp(b, target_path) == 0)) return;
    if (__atomic_add_fetch(&on_path, 1, __ATOMIC_SEQ_CST) == when) kill_here(c, a, b);
  } else if (++in_thread == when) {
    kill_here(c, a, b);
  }
}

/* Not a file: a pipe, a socket or an eventfd, by the name /proc/self/fd gives it — the rule of the trace's
 * isWakeUp (test/helpers/strace.ts), so that both count the same calls. */
static int not_a_file(int fd, char *buf, size_t size) {
  const char *name = fd_path(fd, buf, size);
  return strncmp(name, "anon_inode:", 11) == 0 || strncmp(name, "pipe:", 5) == 0 || strncmp(name, "socket:", 7) == 0;
}

static void count_fd(enum call c, int fd) {
  char buf[PATH_MAX];
  if (!target_path) {
    // counted per thread; the name (one readlink) both leaves out wake-ups and goes into the report
    if (not_a_file(fd, buf, sizeof buf)) return;
    if (++in_thread == when) kill_here(c, buf, NULL);
    return;
  }
  count(c, fd_path(fd, buf, sizeof buf), NULL);
}

#define REAL(ret, name, ...)                                                                                    \
  static ret (*real)(__VA_ARGS__);                                                                              \
  if (!real) real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void *data, size_t size) {
  REAL(ssize_t, "write", int, const void *, size_t);
  if (target == WRITE) count_fd(WRITE, fd);
  return real(fd, data, size);
}

ssize_t pwrite64(int fd, const void *data, size_t size, off_t offset) {
  REAL(ssize_t, "pwrite64", int, const void *, size_t, off_t);
  if (target == PWRITE64) count_fd(PWRITE64, fd);
  return real(fd, data, size, offset);
}

ssize_t pwrite(int fd, const void *data, size_t size, off_t offset) { return pwrite64(fd, data, size, offset); }

int fsync(int fd) {
  REAL(int, "fsync", int);
  if (target == FSYNC) count_fd(FSYNC, fd);
  return real(fd);
}

int fchmod(int fd, mode_t mode) {
  REAL(int, "fchmod", int, mode_t);
  if (target == FCHMOD) count_fd(FCHMOD, fd);
  return real(fd, mode);
}

int rename(const char *from, const char *to) {
  REAL(int, "rename", const char *, const char *);
  if (target == RENAME) count(RENAME, from, to);
  return real(from, to);
}

int link(const char *from, const char *to) {
  REAL(int, "link", const char *, const char *);
  if (target == LINK) count(LINK, from, to);
  return real(from, to);
}

int unlink(const char *file) {
  REAL(int, "unlink", const char *);
  if (target == UNLINK) count(UNLINK, file, NULL);
  return real(file);
}
