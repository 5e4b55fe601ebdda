/* brr — the one process launcher (src/util/spawn.c): run a program on the loop in a session
 * of its own (brr_spawnattr_child), its output split into whole lines, collected or passed
 * on raw, its process group killed on request; brr_spawn_sync / brr_spawn_capture block on a
 * private loop. Every child brr starts goes through it: the scheduler's process tasks,
 * `docker buildx build`, the `docker-credential-*` helpers, ssh, ssh-agent, twine and git. */
#ifndef BRR_SPAWN_H
#define BRR_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brr/util.h"

typedef struct brr_spawn brr_spawn;

typedef struct brr_spawn_result {
  int spawn_error;        /* libuv's error when the program could not be started, else 0 */
  int64_t exit_status;
  int term_signal;        /* the signal that ended it, or 0 */
  bool killed;            /* brr_spawn_kill was called */
  const char *out;        /* stdout, when collected */
  size_t out_len;
  const char *err_tail;   /* the last stderr bytes (at most 4 KiB), when collected */
  size_t err_len;
} brr_spawn_result;

typedef struct brr_spawn_opts {
  const char *const *argv;   /* argv[0] is looked up in PATH */
  char *const *env;          /* "K=V", NULL-terminated; NULL: inherit */
  const char *cwd;           /* NULL: inherit */
  const char *input;         /* written to stdin, which is then closed; NULL: /dev/null */
  size_t input_len;
  int stdin_fd;              /* > 0 (and no input): the child's stdin is this fd (a file the
                                caller opened; it may close it once brr_spawn_start returned) */
  int stdout_fd;             /* > 0: the child's stdout goes to this fd (no lines, nothing
                                collected from it); stderr is handled as usual */
  int stderr_fd;             /* > 0: the child's stderr goes to this fd, likewise */
  bool collect;              /* keep stdout (and stderr's tail) for on_exit, no on_line */
  double kill_after_s;       /* after brr_spawn_kill's SIGTERM, SIGKILL; <= 0: 5 s */
  /* A whole line of output without its newline (\n, \r\n or a lone \r end one); a last
   * line without a newline arrives at EOF. */
  void (*on_line)(void *ud, int stream, const char *line, size_t len);
  /* Instead of on_line (and without collect): the output bytes as they come, any chunking
   * (the scheduler's process tasks split them themselves). */
  void (*on_data)(void *ud, int stream, const char *data, size_t len);
  /* Once the process ended and its pipes reached EOF (or it could not start). */
  void (*on_exit)(void *ud, const brr_spawn_result *res);
  void *ud;
} brr_spawn_opts;

/* Start the program in a new process group. Never NULL: a start failure reaches on_exit on a
 * later loop turn. The handle lives until on_exit has returned. */
brr_spawn *brr_spawn_start(uv_loop_t *loop, const brr_spawn_opts *o);
/* SIGTERM to the process group, SIGKILL after kill_after_s. */
void brr_spawn_kill(brr_spawn *s);
/* SIGKILL to the process group now (also after the leader exited, while the output is still
 * open); on_exit still follows. */
void brr_spawn_kill_now(brr_spawn *s);
/* SIGKILL to the process group now, and no more callbacks: for an owner going away. */
void brr_spawn_abandon(brr_spawn *s);
/* Run a short program to its end, blocking (for the abort path and a few setup commands):
 * brr_spawn_start on a private loop, stdin and stdout from/to /dev/null, stderr to `err_path`
 * (created, truncated) or /dev/null. `env` NULL: inherit. After `timeout_s` (> 0) the group
 * gets SIGKILL. Returns the exit status, 128+signal when killed by one, or -errno when it did
 * not start. */
int brr_spawn_sync(const char *const *argv, char *const *env, const char *err_path, double timeout_s);
/* The same, with the child's stdout appended to `out` and its stderr to /dev/null
 * (`timeout_s` <= 0: no limit). */
int brr_spawn_capture(const char *const *argv, char *const *env, brr_buf *out, double timeout_s);
/* The child's pid (0 before it started or after a start failure). */
int brr_spawn_pid(const brr_spawn *s);

#endif
