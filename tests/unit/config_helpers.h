/* Helpers for the config unit tests: temporary build dirs, files, and loading with the real
 * global chain switched off (no /etc or ~ reads). Header-only: each test is one program. */
#ifndef BRR_TESTS_CONFIG_HELPERS_H
#define BRR_TESTS_CONFIG_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/config.h"

static inline char *th_tmpdir(void) {
  char tmpl[] = "/tmp/brr-config-test-XXXXXX";
  char *d = mkdtemp(tmpl);
  if (!d) abort();
  /* the real path, so comparisons with what the loader resolves hold */
  return brr_path_realpath(d);
}

static inline void th_write(const char *dir, const char *name, const char *text) {
  char *p = brr_path_join(dir, name);
  char *parent = brr_path_dirname(p);
  brr_mkdir_p(parent, 0755);
  if (brr_write_file(p, text, strlen(text)) != 0) abort();
  free(parent);
  free(p);
}

static inline void th_rmdir(char *dir) {
  brr_rm_rf(dir);
  free(dir);
}

/* Options that read only what the test wrote: no master, no user file. */
static inline brr_load_opts th_opts(const char *dir) {
  brr_load_opts o;
  memset(&o, 0, sizeof o);
  o.build_dir = dir;
  o.master_config_path = "";
  o.user_config_path = "";
  o.build_time = 1700000000;
  o.build_number = "42";
  return o;
}

/* Write `yaml` as <dir>/buildrunner.yaml and load it. */
static inline int th_load(const char *dir, const char *yaml, brr_config **cfg, brr_diags *d) {
  th_write(dir, "buildrunner.yaml", yaml);
  brr_load_opts o = th_opts(dir);
  brr_diags_clear(d);
  return brr_config_load(&o, cfg, d);
}

/* The first error (or warning when `warning`) whose "path: message" contains `frag`. */
static inline const brr_diag *th_find(const brr_diags *d, const char *frag, bool warning) {
  for (size_t i = 0; i < d->n; i++) {
    if ((d->v[i].level == BRR_DIAG_WARNING) != warning) continue;
    char *full = brr_xasprintf("%s: %s", d->v[i].path ? d->v[i].path : "", d->v[i].msg);
    bool hit = strstr(full, frag) != NULL;
    free(full);
    if (hit) return &d->v[i];
  }
  return NULL;
}

static inline void th_dump(const brr_diags *d) {
  brr_diags_print(d, stderr, false);
}

#endif
