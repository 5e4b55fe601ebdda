/* Who made an object: "<hostname>:<pid>:<start>", the start being the process's start time in
 * clock ticks since boot (/proc/<pid>/stat, field 22). The start time tells a live owner from
 * a later process that got the same pid. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/util.h"

unsigned long long brr_proc_start_time(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  brr_buf b = BRR_BUF_INIT;
  unsigned long long start = 0;
  if (brr_read_file(path, &b) == 0) {
    /* the command name is in parentheses and may hold anything: fields start after the last ')' */
    const char *p = strrchr(brr_buf_cstr(&b), ')');
    /* the space before field N is the (N-2)th after the ")" */
    for (int field = 3; p && field <= 22; field++) p = strchr(p + 1, ' ');
    if (p) start = strtoull(p + 1, NULL, 10);
  }
  brr_buf_free(&b);
  return start;
}

static char *hostname(void) {
  char h[256];
  if (gethostname(h, sizeof h) != 0) return brr_xstrdup("localhost");
  h[sizeof h - 1] = '\0';
  /* ':' separates the fields; a host name never has one, but be sure */
  for (char *p = h; *p; p++)
    if (*p == ':') *p = '_';
  return brr_xstrdup(h);
}

char *brr_owner_self(void) {
  char *h = hostname();
  long pid = (long)getpid();
  char *s = brr_xasprintf("%s:%ld:%llu", h, pid, brr_proc_start_time(pid));
  free(h);
  return s;
}

int brr_owner_parse(const char *owner, char **host, long *pid, unsigned long long *start) {
  const char *c2 = owner ? strrchr(owner, ':') : NULL;
  if (!c2 || c2 == owner) return -1;
  const char *c1 = c2 - 1;
  while (c1 > owner && *c1 != ':') c1--;
  if (*c1 != ':' || c1 == owner) return -1;
  char *end;
  errno = 0;
  long p = strtol(c1 + 1, &end, 10);
  if (errno || end != c2 || p <= 0) return -1;
  unsigned long long s = strtoull(c2 + 1, &end, 10);
  if (errno || *end || end == c2 + 1) return -1;
  *host = brr_xstrndup(owner, (size_t)(c1 - owner));
  *pid = p;
  *start = s;
  return 0;
}

brr_owner_state brr_owner_check(const char *owner) {
  char *host = NULL;
  long pid = 0;
  unsigned long long start = 0;
  if (brr_owner_parse(owner, &host, &pid, &start) != 0) return BRR_OWNER_UNKNOWN;
  char *me = hostname();
  bool here = strcmp(host, me) == 0;
  free(me);
  free(host);
  if (!here) return BRR_OWNER_UNKNOWN;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return BRR_OWNER_GONE;
  unsigned long long now = brr_proc_start_time(pid);
  /* no /proc entry to read (another pid namespace?): the pid is alive, believe it */
  if (now == 0) return BRR_OWNER_ALIVE;
  return now == start ? BRR_OWNER_ALIVE : BRR_OWNER_GONE;
}
