/* artifacts.json: written at the end of every build, merged with the file a previous run
 * left when --keep-step-artifacts kept it (spec §9.8). */
#include "brr/tasks.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks_internal.h"

/* cJSON keeps every number as a double, so 1.0 would come back as 1 and a large int would
 * lose digits. Python keeps both, so the numbers' spellings are taken from the text: a scan
 * that skips strings and records each number token in document order, which is also the
 * order in which the tree below is walked. */
typedef struct num_token {
  const char *s;
  size_t n;
} num_token;

typedef struct num_tokens {
  num_token *v;
  size_t n, cap, next;
} num_tokens;

static void scan_numbers(const char *text, size_t len, num_tokens *t) {
  for (size_t i = 0; i < len;) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++)
        if (text[i] == '\\') i++;
      i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < len && text[j] && strchr("0123456789+-.eE", text[j])) j++;
      num_token tok = {text + i, j - i};
      BRR_VEC_PUSH(t->v, t->n, t->cap, tok);
      i = j;
    } else {
      i++;
    }
  }
}

static brr_value *number(brr_arena *a, const cJSON *j, num_tokens *t) {
  if (t->next < t->n) {
    num_token tok = t->v[t->next++];
    if (!memchr(tok.s, '.', tok.n) && !memchr(tok.s, 'e', tok.n) && !memchr(tok.s, 'E', tok.n)) {
      char buf[32];
      if (tok.n < sizeof buf) {
        memcpy(buf, tok.s, tok.n);
        buf[tok.n] = '\0';
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == 0) return brr_val_int(a, BRR_MARK_NONE, v);
      }
    }
  }
  return brr_val_float(a, BRR_MARK_NONE, j->valuedouble);
}

static brr_value *from_json(brr_arena *a, const cJSON *j, num_tokens *t) {
  if (cJSON_IsNull(j)) return brr_val_null(a, BRR_MARK_NONE);
  if (cJSON_IsBool(j)) return brr_val_bool(a, BRR_MARK_NONE, cJSON_IsTrue(j));
  if (cJSON_IsNumber(j)) return number(a, j, t);
  if (cJSON_IsString(j)) return brr_val_str(a, BRR_MARK_NONE, j->valuestring);
  if (cJSON_IsArray(j)) {
    brr_value *l = brr_val_list(a, BRR_MARK_NONE);
    for (const cJSON *c = j->child; c; c = c->next) brr_val_list_push(a, l, from_json(a, c, t));
    return l;
  }
  brr_value *m = brr_val_map(a, BRR_MARK_NONE);
  /* a repeated key keeps its first place and its last value, as OrderedDict(pairs) does */
  for (const cJSON *c = j->child; c; c = c->next)
    brr_val_map_set(a, m, brr_val_str(a, BRR_MARK_NONE, c->string), from_json(a, c, t), NULL);
  return m;
}

/* The entries of an existing artifacts.json, or NULL (diagnostic) when it cannot be used. */
static brr_value *load_existing(brr_arena *a, const char *path, const char *text, size_t len,
                                brr_diags *d) {
  /* the text is NUL-terminated; cJSON wants that NUL inside the length to accept the end */
  cJSON *j = cJSON_ParseWithLengthOpts(text, len + 1, NULL, true);
  if (!j || !cJSON_IsObject(j)) {
    brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL,
                                 "cannot merge artifacts into %s: it is not a JSON object", path);
    g->exit_code = BRR_EXIT_FAILED;
    cJSON_Delete(j);
    return NULL;
  }
  num_tokens t = {0};
  scan_numbers(text, len, &t);
  brr_value *v = from_json(a, j, &t);
  free(t.v);
  cJSON_Delete(j);
  return v;
}

int brr_artifacts_json_write(const char *path, const brr_value *artifacts, brr_diags *d) {
  if (!artifacts || artifacts->type != BRR_VAL_MAP || artifacts->u.map.n == 0) return 0;
  brr_arena *a = brr_arena_new();
  brr_buf old = BRR_BUF_INIT, out = BRR_BUF_INIT;
  const brr_value *merged = artifacts;
  int rc = 0;
  int r = brr_read_file(path, &old);
  if (r == 0) {
    brr_value *m = load_existing(a, path, brr_buf_cstr(&old), old.len, d);
    if (!m) {
      rc = BRR_EINVAL;
    } else {
      for (size_t i = 0; i < artifacts->u.map.n; i++)
        brr_val_map_set(a, m, artifacts->u.map.v[i].key, artifacts->u.map.v[i].val, NULL);
      merged = m;
    }
  } else if (r != -ENOENT) {
    rc = brr_tar_errno(d, -r, "reading %s", path);
  }
  char *tmp = NULL;
  if (rc == 0) {
    brr_val_to_json(merged, 2, &out);
    char *dir = brr_path_dirname(path);
    int fd = brr_tar_open_temp(dir, "artifacts.json", &tmp);
    free(dir);
    if (fd < 0) {
      rc = brr_tar_errno(d, -fd, "writing %s", path);
    } else {
      close(fd);
      r = brr_write_file(tmp, out.data, out.len);
      if (r == 0 && rename(tmp, path) != 0) r = -errno;
      if (r) {
        rc = brr_tar_errno(d, -r, "writing %s", path);
        unlink(tmp);
      }
    }
  }
  free(tmp);
  brr_buf_free(&old);
  brr_buf_free(&out);
  brr_arena_free(a);
  return rc;
}
