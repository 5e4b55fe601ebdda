/* Every case in tests/template/cases/ rendered by brr's engine must match what Jinja2 rendered
 * (tests/template/expected/, written by tools/jinja_oracle.py): the same bytes, or an error
 * on the same line with the same exit code. Mismatches are all listed before failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brr/template.h"

/* JSON -> value tree, with {"$float": x} for floats JSON cannot tell from ints */
static brr_value *from_json(brr_arena *a, const cJSON *j) {
  brr_mark m = BRR_MARK_NONE;
  if (cJSON_IsNull(j)) return brr_val_null(a, m);
  if (cJSON_IsBool(j)) return brr_val_bool(a, m, cJSON_IsTrue(j));
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == (double)(int64_t)d && d > -9e18 && d < 9e18) return brr_val_int(a, m, (int64_t)d);
    return brr_val_float(a, m, d);
  }
  if (cJSON_IsString(j)) return brr_val_str(a, m, j->valuestring);
  if (cJSON_IsArray(j)) {
    brr_value *l = brr_val_list(a, m);
    for (const cJSON *x = j->child; x; x = x->next) brr_val_list_push(a, l, from_json(a, x));
    return l;
  }
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "$float");
  if (f && !f->next && j->child == f) return brr_val_float(a, m, f->valuedouble);
  brr_value *map = brr_val_map(a, m);
  for (const cJSON *x = j->child; x; x = x->next) brr_val_map_sets(a, map, brr_arena_strdup(a, x->string), from_json(a, x));
  return map;
}

/* read_yaml_file's parser for the tests: the case files hold JSON, which is YAML */
static brr_value *json_yaml(brr_arena *a, const char *text, size_t len, const char *file, brr_diags *d) {
  return brr_val_from_json(a, text, len, file, d);
}

static char *read_text(const char *path) {
  brr_buf b = BRR_BUF_INIT;
  if (brr_read_file(path, &b) < 0) return NULL;
  return brr_buf_detach(&b);
}

static void write_files(const char *dir, const cJSON *files) {
  for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
    char *path = brr_path_join(dir, f->string);
    char *parent = brr_path_dirname(path);
    brr_mkdir_p(parent, 0755);
    brr_write_file(path, f->valuestring, strlen(f->valuestring));
    free(parent);
    free(path);
  }
}

typedef struct tally {
  int cases, failures;
} tally;

static void fail_case(tally *t, const char *file, const char *name, const char *fmt, ...) BRR_PRINTF(4, 5);
static void fail_case(tally *t, const char *file, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "MISMATCH %s: %s: ", file, name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  t->failures++;
}

static void run_case(tally *t, const char *file, const cJSON *c, const cJSON *want) {
  const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
  const char *tmpl = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
  t->cases++;
  if (!want) {
    fail_case(t, file, name, "no stored expectation (run tools/jinja_oracle.py generate)");
    return;
  }
  char dir[] = "/tmp/brr-case-XXXXXX";
  assert_non_null(mkdtemp(dir));
  write_files(dir, cJSON_GetObjectItemCaseSensitive(c, "files"));
  brr_arena *a = brr_arena_new();
  const cJSON *vars = cJSON_GetObjectItemCaseSensitive(c, "vars");
  const cJSON *yvars = cJSON_GetObjectItemCaseSensitive(c, "yaml_vars");
  const cJSON *bt = cJSON_GetObjectItemCaseSensitive(c, "build_time");
  brr_tmpl_env env = {
      .vars = vars ? from_json(a, vars) : NULL,
      .buildrunner_globals = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "plain")),
      .read_yaml_vars = yvars ? from_json(a, yvars) : brr_val_map(a, BRR_MARK_NONE),
      .parse_yaml = json_yaml,
      .cwd = dir,
      .build_time = bt ? (int64_t)bt->valuedouble : 1700000000,
  };
  brr_buf out = BRR_BUF_INIT;
  brr_diags d = BRR_DIAGS_INIT;
  unsigned *map = NULL;
  size_t nmap = 0;
  int rc = brr_template_render(tmpl, strlen(tmpl), "case.yaml", &env, &out, &map, &nmap, &d);
  const cJSON *wout = cJSON_GetObjectItemCaseSensitive(want, "output");
  const cJSON *werr = cJSON_GetObjectItemCaseSensitive(want, "error");
  if (wout) {
    if (rc != 0) {
      fail_case(t, file, name, "jinja2 rendered, brr failed: %u:%u: %s", d.v[0].mark.line, d.v[0].mark.col, d.v[0].msg);
    } else if (out.len != strlen(wout->valuestring) || memcmp(out.data ? out.data : "", wout->valuestring, out.len)) {
      fail_case(t, file, name, "output differs\n--- jinja2\n%s\n--- brr\n%s\n---", wout->valuestring, brr_buf_cstr(&out));
    } else {
      /* one map entry per output line */
      size_t lines = 0;
      for (size_t i = 0; i < out.len; i++)
        if (out.data[i] == '\n') lines++;
      if (out.len && out.data[out.len - 1] != '\n') lines++;
      if (nmap != lines) fail_case(t, file, name, "line map has %zu entries for %zu lines", nmap, lines);
    }
  } else {
    const cJSON *wline = cJSON_GetObjectItemCaseSensitive(werr, "line");
    int wexit = (int)cJSON_GetObjectItemCaseSensitive(werr, "exit")->valuedouble;
    const char *wmsg = cJSON_GetObjectItemCaseSensitive(werr, "message")->valuestring;
    if (rc == 0) {
      fail_case(t, file, name, "jinja2 failed (%s), brr rendered:\n%s", wmsg, brr_buf_cstr(&out));
    } else if (out.len != 0) {
      fail_case(t, file, name, "brr failed but appended output");
    } else if (brr_diags_exit_code(&d) != wexit) {
      fail_case(t, file, name, "exit code %d, jinja2's %d (%s / brr: %s)", brr_diags_exit_code(&d), wexit, wmsg, d.v[0].msg);
    } else if (cJSON_IsNumber(wline) && d.v[0].mark.line != (unsigned)wline->valuedouble) {
      fail_case(t, file, name, "error on line %u, jinja2's on line %d (jinja2: %s / brr: %s)", d.v[0].mark.line,
                (int)wline->valuedouble, wmsg, d.v[0].msg);
    } else if (!d.v[0].snippet || !strchr(d.v[0].snippet, '^')) {
      fail_case(t, file, name, "error without a source snippet and caret");
    }
  }
  free(map);
  brr_buf_free(&out);
  brr_diags_free(&d);
  brr_arena_free(a);
  brr_rm_rf(dir);
}

static void test_all_cases(void **state) {
  (void)state;
  const char *src = getenv("BRR_SOURCE_DIR");
  assert_non_null(src);
  setenv("TZ", "UTC", 1);
  tzset();
  char *cases_dir = brr_path_join(src, "tests/template/cases");
  char *exp_dir = brr_path_join(src, "tests/template/expected");
  DIR *dh = opendir(cases_dir);
  assert_non_null(dh);
  tally t = {0};
  int files = 0;
  for (struct dirent *e; (e = readdir(dh));) {
    if (!brr_endswith(e->d_name, ".json")) continue;
    files++;
    char *cp = brr_path_join(cases_dir, e->d_name), *ep = brr_path_join(exp_dir, e->d_name);
    char *ctext = read_text(cp), *etext = read_text(ep);
    assert_non_null(ctext);
    cJSON *cases = cJSON_Parse(ctext), *exp = etext ? cJSON_Parse(etext) : NULL;
    assert_non_null(cases);
    for (const cJSON *c = cases->child; c; c = c->next) {
      const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
      run_case(&t, e->d_name, c, exp ? cJSON_GetObjectItemCaseSensitive(exp, name) : NULL);
    }
    cJSON_Delete(cases);
    cJSON_Delete(exp);
    free(ctext);
    free(etext);
    free(cp);
    free(ep);
  }
  closedir(dh);
  free(cases_dir);
  free(exp_dir);
  fprintf(stderr, "%d case files, %d cases, %d mismatches\n", files, t.cases, t.failures);
  assert_true(files > 0);
  assert_int_equal(t.failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_cases)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
