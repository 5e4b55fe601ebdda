/* Incremental runs (docs/incremental.md): recording what a node made once it succeeded (the
 * files of its results dir and its log into the content-addressed store, its artifacts.json
 * entries, the image a build or a commit made), and keeping artifacts.json's key order. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incr_internal.h"

/* ---- recording ---- */

static int put_tree(incr_rt *ir, const char *root, const char *rel, cJSON *files, brr_diags *d) {
  char *abs = *rel ? brr_path_join(root, rel) : brr_xstrdup(root);
  DIR *dir = opendir(abs);
  int rc = dir ? 0 : -errno;
  struct dirent *de;
  while (rc == 0 && (de = readdir(dir))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *r = *rel ? brr_xasprintf("%s/%s", rel, de->d_name) : brr_xstrdup(de->d_name);
    char *p = brr_path_join(root, r);
    struct stat st;
    if (lstat(p, &st) == 0) {
      cJSON *f = cJSON_CreateObject();
      cJSON_AddStringToObject(f, "path", r);
      if (S_ISREG(st.st_mode)) {
        char hex[BRR_INCR_HEX];
        rc = brr_store_put(ir->store, p, hex, d);
        cJSON_AddStringToObject(f, "object", hex);
        cJSON_AddNumberToObject(f, "mode", st.st_mode & 07777);
        cJSON_AddItemToArray(files, f);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t k = readlink(p, target, sizeof target - 1);
        if (k >= 0) target[k] = '\0';
        cJSON_AddStringToObject(f, "link", k >= 0 ? target : "");
        cJSON_AddItemToArray(files, f);
      } else if (S_ISDIR(st.st_mode)) {
        cJSON_AddItemToArray(files, f);
        rc = put_tree(ir, root, r, files, d);
      } else {
        cJSON_Delete(f);
      }
    }
    free(p);
    free(r);
  }
  if (dir) closedir(dir);
  free(abs);
  return rc;
}

static void record_node(incr_rt *ir, size_t node) {
  brr_runtime *rt = ir->rt;
  incr_node *in = &ir->nodes[node];
  size_t step = rt->graph->nodes[node].step;
  bool build = rt->graph->nodes[node].kind == BRR_NODE_BUILD;
  const char *dir = build ? NULL : rt->steps[step].results_dir;
  brr_diags d = BRR_DIAGS_INIT;
  cJSON *out = cJSON_CreateObject();
  cJSON *files = cJSON_AddArrayToObject(out, "files");
  int rc = dir ? put_tree(ir, dir, "", files, &d) : 0;
  /* a build: the image it made (reused while it exists; it writes no file of its own) */
  const char *image = rt->steps[step].build_image;
  if (build && image) cJSON_AddStringToObject(out, "image", image);
  else if (build) rc = BRR_ENOENT;
  /* a step with `commit`, `push` or a post-build image: the image its run container became
   * (reused while it exists) */
  const char *committed = rt->steps[step].run_image;
  const brr_step *st = &rt->cfg->steps[step];
  if (!build && (st->n_commit || st->n_push || (st->run && st->run->post_build)) && committed)
    cJSON_AddStringToObject(out, "committed", committed);
  /* its artifacts.json entries: the keys under its results name (a build has none) */
  char *name = brr_results_name(rt->cfg->steps[step].name.s);
  char *prefix = brr_xasprintf("%s/", name);
  cJSON *aj = cJSON_AddObjectToObject(out, "artifacts_json");
  const brr_value *arts = build ? NULL : rt->artifacts;
  for (size_t i = 0; arts && arts->type == BRR_VAL_MAP && i < arts->u.map.n; i++) {
    const char *k = brr_val_cstr(arts->u.map.v[i].key);
    if (!k || !brr_startswith(k, prefix)) continue;
    brr_buf j = BRR_BUF_INIT;
    brr_val_to_json(arts->u.map.v[i].val, 0, &j);
    cJSON *v = cJSON_Parse(brr_buf_cstr(&j));
    brr_buf_free(&j);
    if (v) cJSON_AddItemToObject(aj, k, v);
  }
  free(prefix);
  free(name);
  if (rc == 0 && in->log.len) {
    char *tmp = brr_xasprintf("%s/incr-log.XXXXXX", rt->temp_dir);
    int fd = mkstemp(tmp);
    if (fd >= 0) {
      close(fd);
      char hex[BRR_INCR_HEX];
      if (brr_write_file(tmp, in->log.data, in->log.len) == 0 &&
          brr_store_put(ir->store, tmp, hex, &d) == 0)
        cJSON_AddStringToObject(out, "log", hex);
      unlink(tmp);
    }
    free(tmp);
  }
  brr_incr_record rec = {0};
  memcpy(rec.key, in->key, sizeof rec.key);
  rec.inputs = in->inputs;
  rec.outputs = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  char *path = brr_incr_record_path(ir->state_dir, rt->graph->nodes[node].id);
  if (rc == 0) rc = brr_incr_record_write(path, &rec);
  if (rc != 0)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, rt->cfg->steps[step].name.s,
                "incremental: cannot record this run: %s",
                d.n ? d.v[0].msg : brr_strerror(rc));
  free(path);
  free(rec.outputs);
  brr_diags_free(&d);
}

void brr__tasks_incr_on_event(void *ud, const brr_event *ev) {
  incr_rt *ir = ud;
  if (!ev->node || (ev->type != BRR_EV_NODE_OUTPUT && ev->type != BRR_EV_NODE_END)) return;
  size_t node;
  if (!brr_strmap_get(&ir->rt->graph->ids, ev->node, &node)) return;
  incr_node *in = &ir->nodes[node];
  if (!in->tracked) return;
  if (ev->type == BRR_EV_NODE_OUTPUT) {
    brr_buf_printf(&in->log, "%d%s\t", ev->stream == 2 ? 2 : 1, ev->source ? ev->source : "");
    brr_buf_append(&in->log, ev->text, ev->len);
    brr_buf_putc(&in->log, '\n');
    return;
  }
  in->tracked = false;
  if (ev->status == BRR_STATUS_SUCCEEDED && ir->store) record_node(ir, node);
  brr_buf_free(&in->log);  /* kept in the store now: memory follows the running nodes */
}

/* ---- artifacts.json ---- */

typedef struct order_key {
  size_t pos;    /* place in the last run's file, or SIZE_MAX for a new key */
  size_t index;  /* place now: keeps new keys (and ties) in the order they came */
  brr_map_entry e;
} order_key;

static int cmp_order(const void *a, const void *b) {
  const order_key *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

void brr_incr_order_artifacts(brr_runtime *rt) {
  incr_rt *ir = rt->incr_state;
  brr_value *arts = rt->artifacts;
  if (!ir || !arts || arts->type != BRR_VAL_MAP || !arts->u.map.n) return;
  char *path = brr_path_join(ir->state_dir, "artifacts-order.json");
  brr_buf text = BRR_BUF_INIT;
  cJSON *last = brr_read_file(path, &text) == 0 ? cJSON_Parse(brr_buf_cstr(&text)) : NULL;
  brr_buf_free(&text);
  brr_strmap pos = BRR_STRMAP_INIT;
  size_t i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, last) {
    if (cJSON_IsString(it)) brr_strmap_put(&pos, it->valuestring, i++);
  }
  size_t n = arts->u.map.n;
  order_key *keys = brr_xcalloc(n, sizeof *keys);
  for (i = 0; i < n; i++) {
    keys[i].e = arts->u.map.v[i];
    keys[i].index = i;
    const char *k = brr_val_cstr(keys[i].e.key);
    if (!k || !brr_strmap_get(&pos, k, &keys[i].pos)) keys[i].pos = SIZE_MAX;
  }
  qsort(keys, n, sizeof *keys, cmp_order);
  cJSON *now = cJSON_CreateArray();
  for (i = 0; i < n; i++) {
    arts->u.map.v[i] = keys[i].e;
    const char *k = brr_val_cstr(keys[i].e.key);
    if (k) cJSON_AddItemToArray(now, cJSON_CreateString(k));
  }
  char *out = cJSON_PrintUnformatted(now);
  int r = brr_mkdir_p(ir->state_dir, 0755);
  if (r == 0) r = brr_write_file(path, out, strlen(out));
  if (r < 0)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "incremental: cannot write %s: %s", path,
                brr_strerror(r));
  free(out);
  cJSON_Delete(now);
  cJSON_Delete(last);
  brr_strmap_free(&pos);
  free(keys);
  free(path);
}
