/* The duration history, like ninja's .ninja_log: how long each node took the last time it
 * succeeded, read before a run to weight the graph so the longest chain starts first, and
 * written after it. One file per project in the cache dir:
 *
 *   # brr history v1
 *   <milliseconds>\t<node id>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_internal.h"

#define HISTORY_HEADER "# brr history v1\n"

char *brr_sched_history_path(const char *cache_dir, const char *project_file) {
  char *dir;
  if (cache_dir) {
    dir = brr_xstrdup(cache_dir);
  } else {
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg == '/') dir = brr_path_join(xdg, "brr");
    else dir = brr_path_expanduser("~/.cache/brr");
  }
  const char *key = project_file ? project_file : "";
  char hex[BRR_DIGEST_HEX_MAX];
  brr_digest_hex("sha1", key, strlen(key), hex);
  char *path = brr_xasprintf("%s/history/%s.tsv", dir, hex);
  free(dir);
  return path;
}

void brr__sched_history_set(sched_history *h, const char *id, double secs) {
  size_t i;
  if (brr_strmap_get(&h->index, id, &i)) {
    h->secs[i] = secs;
    return;
  }
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 64;
    h->ids = brr_xrealloc(h->ids, h->cap * sizeof(char *));
    h->secs = brr_xrealloc(h->secs, h->cap * sizeof(double));
  }
  h->ids[h->n] = brr_xstrdup(id);
  h->secs[h->n] = secs;
  brr_strmap_put(&h->index, h->ids[h->n], h->n);
  h->n++;
}

double brr__sched_history_get(const sched_history *h, const char *id) {
  size_t i;
  return brr_strmap_get(&h->index, id, &i) ? h->secs[i] : -1;
}

void brr__sched_history_load(sched_history *h, const char *path) {
  brr_buf text = BRR_BUF_INIT;
  if (!path || brr_read_file(path, &text) < 0 || !brr_startswith(brr_buf_cstr(&text), HISTORY_HEADER)) {
    brr_buf_free(&text);
    return;
  }
  char *p = text.data + strlen(HISTORY_HEADER);
  while (*p) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    char *end;
    errno = 0;
    unsigned long long ms = strtoull(p, &end, 10);
    if (errno == 0 && end != p && *end == '\t' && end[1]) brr__sched_history_set(h, end + 1, (double)ms / 1000.0);
    if (!nl) break;
    p = nl + 1;
  }
  brr_buf_free(&text);
}

int brr__sched_history_save(const sched_history *h, const char *path) {
  char *dir = brr_path_dirname(path);
  int rc = brr_mkdir_p(dir, 0755);
  free(dir);
  if (rc < 0) return rc;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, HISTORY_HEADER);
  for (size_t i = 0; i < h->n; i++) {
    if (strchr(h->ids[i], '\n')) continue;
    brr_buf_printf(&b, "%llu\t%s\n", (unsigned long long)(h->secs[i] * 1000.0 + 0.5), h->ids[i]);
  }
  /* a concurrent brr on the same project must never read half a file: write beside it and
   * rename over it */
  char *tmp = brr_xasprintf("%s.%ld.tmp", path, (long)getpid());
  rc = brr_write_file(tmp, b.data, b.len);
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  if (rc < 0) unlink(tmp);
  free(tmp);
  brr_buf_free(&b);
  return rc;
}

void brr__sched_history_free(sched_history *h) {
  for (size_t i = 0; i < h->n; i++) free(h->ids[i]);
  free(h->ids);
  free(h->secs);
  brr_strmap_free(&h->index);
  memset(h, 0, sizeof *h);
}
