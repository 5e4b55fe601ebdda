/* The record of each node's last successful run, and the inputs it is compared by. */
#include "brr/incr.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incr_internal.h"

void brr_incr_inputs_add_hex(brr_incr_inputs *in, const char *name, const char *hex) {
  if (in->n == in->cap) {
    in->cap = in->cap ? in->cap * 2 : 8;
    in->names = brr_xrealloc(in->names, in->cap * sizeof *in->names);
    in->hex = brr_xrealloc(in->hex, in->cap * sizeof *in->hex);
  }
  in->names[in->n] = brr_xstrdup(name);
  snprintf(in->hex[in->n], BRR_INCR_HEX, "%s", hex);
  in->n++;
}

void brr_incr_inputs_add(brr_incr_inputs *in, const char *name, const char *value) {
  brr_hasher *h = brr_hasher_new();
  brr_hasher_field(h, "value", value);
  char hex[BRR_INCR_HEX];
  brr_hasher_final(h, hex);
  brr_incr_inputs_add_hex(in, name, hex);
}

void brr_incr_inputs_key(const brr_incr_inputs *in, char hex[BRR_INCR_HEX]) {
  brr_hasher *h = brr_hasher_new();
  brr_hasher_field(h, "brr inputs", "v1");
  for (size_t i = 0; i < in->n; i++) brr_hasher_field(h, in->names[i], in->hex[i]);
  brr_hasher_final(h, hex);
}

void brr_incr_inputs_free(brr_incr_inputs *in) {
  for (size_t i = 0; i < in->n; i++) free(in->names[i]);
  free(in->names);
  free(in->hex);
  memset(in, 0, sizeof *in);
}

static char *cache_root(void) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return brr_path_join(xdg, "brr");
  return brr_path_expanduser("~/.cache/brr");
}

char *brr_incr_state_dir(const char *build_dir) {
  char *real = brr_path_realpath(build_dir);
  const char *key = real ? real : build_dir;
  char hex[BRR_INCR_HEX];
  brr_incr_sha256(key, strlen(key), hex);
  char *root = cache_root();
  char *dir = brr_xasprintf("%s/state/%s", root, hex);
  free(root);
  free(real);
  return dir;
}

char *brr_incr_record_path(const char *state_dir, const char *node_id) {
  char hex[BRR_INCR_HEX];
  brr_incr_sha256(node_id, strlen(node_id), hex);
  return brr_xasprintf("%s/nodes/%s.json", state_dir, hex);
}

static bool is_hex64(const char *s) {
  if (!s || strlen(s) != 64) return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

int brr_incr_record_read(const char *path, brr_incr_record *out) {
  memset(out, 0, sizeof *out);
  brr_buf text = BRR_BUF_INIT;
  int r = brr_read_file(path, &text);
  if (r < 0) {
    brr_buf_free(&text);
    return r == -ENOENT ? BRR_ENOENT : r;
  }
  cJSON *root = cJSON_ParseWithLength(brr_buf_cstr(&text), text.len);
  brr_buf_free(&text);
  int rc = BRR_EINVAL;
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "key");
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
  if (cJSON_IsObject(root) && cJSON_IsString(key) && is_hex64(key->valuestring) &&
      cJSON_IsArray(inputs)) {
    rc = 0;
    snprintf(out->key, sizeof out->key, "%s", key->valuestring);
    const cJSON *it;
    cJSON_ArrayForEach(it, inputs) {
      const cJSON *name = cJSON_GetArrayItem(it, 0), *hex = cJSON_GetArrayItem(it, 1);
      if (!cJSON_IsString(name) || !cJSON_IsString(hex) || !is_hex64(hex->valuestring)) {
        rc = BRR_EINVAL;
        break;
      }
      brr_incr_inputs_add_hex(&out->inputs, name->valuestring, hex->valuestring);
    }
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (rc == 0 && outputs && !cJSON_IsNull(outputs)) out->outputs = cJSON_PrintUnformatted(outputs);
    const cJSON *when = cJSON_GetObjectItemCaseSensitive(root, "when_ms");
    if (cJSON_IsNumber(when)) out->when_ms = (int64_t)when->valuedouble;
  }
  cJSON_Delete(root);
  if (rc < 0) brr_incr_record_free(out);
  return rc;
}

int brr_incr_record_write(const char *path, const brr_incr_record *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "key", r->key);
  cJSON *inputs = cJSON_AddArrayToObject(root, "inputs");
  for (size_t i = 0; i < r->inputs.n; i++) {
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString(r->inputs.names[i]));
    cJSON_AddItemToArray(pair, cJSON_CreateString(r->inputs.hex[i]));
    cJSON_AddItemToArray(inputs, pair);
  }
  cJSON *outputs = r->outputs ? cJSON_Parse(r->outputs) : NULL;
  if (r->outputs && !outputs) {
    cJSON_Delete(root);
    return BRR_EINVAL;
  }
  cJSON_AddItemToObject(root, "outputs", outputs ? outputs : cJSON_CreateNull());
  cJSON_AddNumberToObject(root, "when_ms", (double)(r->when_ms ? r->when_ms : brr_wall_ms()));
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  int rc = brr__incr_write_atomic(path, text, strlen(text));
  cJSON_free(text);
  return rc;
}

int brr_incr_record_remove(const char *path) {
  if (unlink(path) < 0 && errno != ENOENT) return -errno;
  return 0;
}

void brr_incr_record_free(brr_incr_record *r) {
  brr_incr_inputs_free(&r->inputs);
  free(r->outputs);
  memset(r, 0, sizeof *r);
}

const char *brr_incr_changed_input(const brr_incr_record *last, const brr_incr_inputs *now) {
  for (size_t i = 0; i < now->n; i++) {
    size_t j = 0;
    while (j < last->inputs.n && strcmp(last->inputs.names[j], now->names[i])) j++;
    if (j == last->inputs.n || strcmp(last->inputs.hex[j], now->hex[i])) return now->names[i];
  }
  return NULL;
}

const char *brr_incr_why(const brr_incr_record *last, const brr_incr_inputs *now) {
  if (!last) return "no earlier successful run";
  char key[BRR_INCR_HEX];
  brr_incr_inputs_key(now, key);
  if (!strcmp(key, last->key)) return NULL;
  const char *changed = brr_incr_changed_input(last, now);
  if (changed) return changed;
  for (size_t j = 0; j < last->inputs.n; j++) {
    size_t i = 0;
    while (i < now->n && strcmp(last->inputs.names[j], now->names[i])) i++;
    if (i == now->n) return last->inputs.names[j];
  }
  return "the order of the inputs";
}
