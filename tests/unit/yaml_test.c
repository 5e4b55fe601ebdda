/* YAML loader: YAML 1.1 typing (PyYAML's resolver), marks, anchors, merge keys, duplicate
 * keys, explicit tags, errors with line:col. The typing tables here were checked against
 * PyYAML 6.0; tests/config/yaml_oracle.sh compares a larger corpus with PyYAML live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "brr/config.h"
#include "../../src/config/internal.h"
#include "test_lookup.h"

typedef struct fixture {
  brr_arena *a;
  brr_diags d;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->a = brr_arena_new();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  brr_arena_free(f->a);
  brr_diags_free(&f->d);
  free(f);
  return 0;
}

static brr_value *load(fixture *f, const char *text) {
  brr_diags_clear(&f->d);
  return brr_yaml_load(f->a, text, strlen(text), "t.yaml", &f->d);
}

/* The value of key `v` in a one-key document "v: <scalar>". */
static brr_value *scalar(fixture *f, const char *yaml_scalar) {
  char buf[256];
  snprintf(buf, sizeof buf, "v: %s\n", yaml_scalar);
  brr_value *root = load(f, buf);
  assert_non_null(root);
  return brr_val_get(root, "v");
}

static void test_bools(void **state) {
  fixture *f = *state;
  const char *yes[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
  const char *no[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(yes); i++) {
    brr_value *v = scalar(f, yes[i]);
    assert_int_equal(v->type, BRR_VAL_BOOL);
    assert_true(v->u.b);
    v = scalar(f, no[i]);
    assert_int_equal(v->type, BRR_VAL_BOOL);
    assert_false(v->u.b);
  }
  /* not YAML 1.1 booleans: strings */
  const char *str[] = {"yEs", "y", "n", "tRUE", "oN", "'yes'", "\"true\""};
  for (size_t i = 0; i < BRR_ARRAY_LEN(str); i++) assert_int_equal(scalar(f, str[i])->type, BRR_VAL_STR);
}

static void test_ints(void **state) {
  fixture *f = *state;
  struct { const char *in; int64_t want; } cases[] = {
      {"0", 0}, {"42", 42}, {"-17", -17}, {"+5", 5}, {"1_000", 1000}, {"0x1F", 31}, {"0x_1F", 31},
      {"-0x10", -16}, {"017", 15}, {"0_", 0}, {"00", 0}, {"-0", 0}, {"0b101", 5}, {"-0b11", -3},
      {"1:20", 80}, {"-1:30", -90}, {"190:20:30", 685230}, {"1__", 1},
      {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    brr_value *v = scalar(f, cases[i].in);
    assert_int_equal(v->type, BRR_VAL_INT);
    assert_true(v->u.i == cases[i].want);
  }
  /* PyYAML keeps these as strings: 0o is YAML 1.2, 08 is not octal, 1:60 is not sexagesimal */
  const char *str[] = {"0o17", "08", "09", "0b", "0x", "1:60", "1e3", "12abc", "1,000"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(str); i++) assert_int_equal(scalar(f, str[i])->type, BRR_VAL_STR);
}

static void test_floats(void **state) {
  fixture *f = *state;
  struct { const char *in; double want; } cases[] = {
      {"2.0", 2.0}, {"3.26", 3.26}, {".5", 0.5}, {"-1.5", -1.5}, {"1.", 1.0}, {"1.0e+3", 1000.0},
      {"1.5E-2", 0.015}, {"1_000.5", 1000.5}, {"190:20:30.15", 685230.15}, {"1.__", 1.0},
      {".5e+1", 5.0},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    brr_value *v = scalar(f, cases[i].in);
    assert_int_equal(v->type, BRR_VAL_FLOAT);
    assert_float_equal(v->u.f, cases[i].want, 1e-9);
  }
  brr_value *v = scalar(f, ".inf");
  assert_true(v->type == BRR_VAL_FLOAT && isinf(v->u.f) && v->u.f > 0);
  v = scalar(f, "-.Inf");
  assert_true(v->type == BRR_VAL_FLOAT && isinf(v->u.f) && v->u.f < 0);
  v = scalar(f, ".NaN");
  assert_true(v->type == BRR_VAL_FLOAT && isnan(v->u.f));
  /* exponents need a dot and a sign in YAML 1.1; a sign on .nan is not a float */
  const char *str[] = {"1e3", "1.0e3", "-.nan", "._1", "inf", "nan", "1.2.3"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(str); i++) assert_int_equal(scalar(f, str[i])->type, BRR_VAL_STR);
}

static void test_nulls_and_strings(void **state) {
  fixture *f = *state;
  const char *nul[] = {"~", "null", "Null", "NULL", ""};
  for (size_t i = 0; i < BRR_ARRAY_LEN(nul); i++) assert_int_equal(scalar(f, nul[i])->type, BRR_VAL_NULL);
  const char *str[] = {"nULL", "'null'", "'~'", "''", "\"\"", "none", "None"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(str); i++) assert_int_equal(scalar(f, str[i])->type, BRR_VAL_STR);
  /* quoted numbers and booleans stay strings; timestamps stay strings (documented) */
  brr_value *v = scalar(f, "'2.0'");
  assert_int_equal(v->type, BRR_VAL_STR);
  assert_string_equal(v->u.s.ptr, "2.0");
  v = scalar(f, "2001-12-14");
  assert_int_equal(v->type, BRR_VAL_STR);
  assert_string_equal(v->u.s.ptr, "2001-12-14");
  v = scalar(f, "\"a\\tb\"");
  assert_string_equal(v->u.s.ptr, "a\tb");
  brr_value *root = load(f, "v: |\n  line1\n  line2\nw: >\n  folded\n  text\n");
  assert_string_equal(brr_val_cstr(brr_val_get(root, "v")), "line1\nline2\n");
  assert_string_equal(brr_val_cstr(brr_val_get(root, "w")), "folded text\n");
}

static void test_explicit_tags(void **state) {
  fixture *f = *state;
  brr_value *v = scalar(f, "!!str 123");
  assert_int_equal(v->type, BRR_VAL_STR);
  assert_string_equal(v->u.s.ptr, "123");
  v = scalar(f, "!!int \"12\"");
  assert_true(v->type == BRR_VAL_INT && v->u.i == 12);
  v = scalar(f, "!!int 0o17");  /* Python's int(x, 8) takes the 0o prefix */
  assert_true(v->type == BRR_VAL_INT && v->u.i == 15);
  v = scalar(f, "!!float 1");
  assert_true(v->type == BRR_VAL_FLOAT && v->u.f == 1.0);
  v = scalar(f, "!!bool yes");
  assert_true(v->type == BRR_VAL_BOOL && v->u.b);
  v = scalar(f, "!!null ''");
  assert_int_equal(v->type, BRR_VAL_NULL);
  v = scalar(f, "!!str");
  assert_true(v->type == BRR_VAL_STR && v->u.s.len == 0);
  v = scalar(f, "! 12");  /* the non-specific tag resolves like a plain scalar */
  assert_true(v->type == BRR_VAL_INT && v->u.i == 12);
  v = scalar(f, "!!binary aGVsbG8=");
  assert_true(v->type == BRR_VAL_STR && strcmp(v->u.s.ptr, "hello") == 0);
  brr_value *root = load(f, "s: !!set {a, b}\n");
  brr_value *set = brr_val_get(root, "s");
  assert_int_equal(set->type, BRR_VAL_MAP);
  assert_int_equal(set->u.map.n, 2);
  assert_int_equal(brr_val_get(set, "a")->type, BRR_VAL_NULL);
  /* errors */
  assert_null(load(f, "v: !!int abc\n"));
  assert_string_equal(f->d.v[0].msg, "invalid integer: 'abc'");
  assert_null(load(f, "v: !!bool maybe\n"));
  assert_null(load(f, "v: !foo x\n"));
  assert_non_null(strstr(f->d.v[0].msg, "unsupported tag '!foo'"));
  assert_int_equal(f->d.v[0].mark.line, 1);
  assert_int_equal(f->d.v[0].mark.col, 4);
  assert_null(load(f, "v: !!int 99999999999999999999\n"));
  assert_non_null(strstr(f->d.v[0].msg, "out of range"));
}

static void test_marks(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "# comment\nsteps:\n  base:\n    build:\n      platforms: [a, b]\n");
  assert_non_null(root);
  assert_int_equal(root->mark.line, 2);
  assert_int_equal(root->mark.col, 1);
  brr_value *pl = val_path(root, "steps.base.build.platforms");
  assert_int_equal(pl->type, BRR_VAL_LIST);
  assert_int_equal(pl->mark.line, 5);
  assert_int_equal(pl->mark.col, 18);
  assert_int_equal(pl->u.list.v[1]->mark.col, 22);
  assert_string_equal(pl->mark.file, "t.yaml");
  /* keys carry their own marks */
  brr_value *build = val_path(root, "steps.base");
  assert_int_equal(build->u.map.v[0].key->mark.line, 4);
  assert_int_equal(build->u.map.v[0].key->mark.col, 5);
}

static void test_ordered_and_int_keys(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "z: 1\na: 2\nm: 3\nports:\n  8080: 8081\n  '9090': null\n");
  assert_string_equal(root->u.map.v[0].key->u.s.ptr, "z");
  assert_string_equal(root->u.map.v[1].key->u.s.ptr, "a");
  assert_string_equal(root->u.map.v[2].key->u.s.ptr, "m");
  brr_value *ports = brr_val_get(root, "ports");
  assert_int_equal(ports->u.map.v[0].key->type, BRR_VAL_INT);
  assert_int_equal(ports->u.map.v[0].key->u.i, 8080);
  assert_int_equal(ports->u.map.v[1].key->type, BRR_VAL_STR);
  /* Python dict keys: 1, 1.0 and true are the same key; the first key object stays */
  root = load(f, "{1: a, 1.0: b, true: c}");
  assert_int_equal(root->u.map.n, 1);
  assert_int_equal(root->u.map.v[0].key->type, BRR_VAL_INT);
  assert_string_equal(root->u.map.v[0].val->u.s.ptr, "c");
}

static void test_duplicates(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "a: 1\nb: 2\na: 3\n");
  assert_non_null(root);
  assert_int_equal(root->u.map.n, 2);
  assert_string_equal(root->u.map.v[0].key->u.s.ptr, "a");  /* first position */
  assert_int_equal(root->u.map.v[0].val->u.i, 3);            /* last value */
  assert_int_equal(f->d.n, 1);
  assert_int_equal(f->d.v[0].level, BRR_DIAG_WARNING);
  assert_int_equal(f->d.v[0].mark.line, 3);
  assert_non_null(strstr(f->d.v[0].msg, "duplicate key 'a'"));
  assert_non_null(strstr(f->d.v[0].msg, "t.yaml:1:1"));
  assert_int_equal(f->d.n_errors, 0);
}

static void test_anchors_aliases(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "base: &b\n  image: busybox\n  env: {A: 1}\ncopy: *b\nlist: [&x 5, *x]\n");
  assert_non_null(root);
  brr_value *base = brr_val_get(root, "base"), *copy = brr_val_get(root, "copy");
  assert_true(brr_val_equal(base, copy));
  assert_ptr_not_equal(base, copy);  /* expanded, not shared */
  assert_ptr_not_equal(brr_val_get(base, "env"), brr_val_get(copy, "env"));
  assert_int_equal(copy->mark.line, 4);  /* the copy is marked where the alias is */
  brr_value *list = brr_val_get(root, "list");
  assert_int_equal(list->u.list.v[1]->u.i, 5);
  assert_null(load(f, "a: *nope\n"));
  assert_non_null(strstr(f->d.v[0].msg, "undefined alias *nope"));
  assert_null(load(f, "a: &x 1\nb: &x 2\n"));
  assert_non_null(strstr(f->d.v[0].msg, "duplicate anchor 'x'"));
  assert_null(load(f, "x: &a\n  - *a\n"));
  assert_non_null(strstr(f->d.v[0].msg, "recursive"));
}

static void test_merge_keys(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "base: &b {a: 1, b: 2}\nm:\n  c: 3\n  <<: *b\n  a: 9\n");
  brr_value *m = brr_val_get(root, "m");
  assert_int_equal(m->u.map.n, 3);
  /* merged keys come first, explicit keys win */
  assert_string_equal(m->u.map.v[0].key->u.s.ptr, "a");
  assert_int_equal(m->u.map.v[0].val->u.i, 9);
  assert_string_equal(m->u.map.v[1].key->u.s.ptr, "b");
  assert_string_equal(m->u.map.v[2].key->u.s.ptr, "c");
  assert_int_equal(f->d.n, 0);  /* overriding a merged key is not a duplicate */
  /* a list of maps: earlier maps win; order as PyYAML's flatten_mapping gives it */
  root = load(f, "b: &b {x: 1, y: 2}\nc: &c {y: 3, z: 4}\nm:\n  <<: [*b, *c]\n  x: 9\n");
  m = brr_val_get(root, "m");
  assert_int_equal(m->u.map.n, 3);
  assert_string_equal(m->u.map.v[0].key->u.s.ptr, "y");
  assert_int_equal(m->u.map.v[0].val->u.i, 2);
  assert_string_equal(m->u.map.v[1].key->u.s.ptr, "z");
  assert_string_equal(m->u.map.v[2].key->u.s.ptr, "x");
  assert_int_equal(m->u.map.v[2].val->u.i, 9);
  /* two << keys both merge */
  root = load(f, "m:\n  <<: {a: 1}\n  <<: {b: 2}\n");
  assert_int_equal(brr_val_get(root, "m")->u.map.n, 2);
  assert_null(load(f, "m:\n  <<: 5\n"));
  assert_non_null(strstr(f->d.v[0].msg, "merge key"));
  assert_null(load(f, "m:\n  <<: [{a: 1}, 2]\n"));
}

static void test_documents(void **state) {
  fixture *f = *state;
  brr_value *root = load(f, "");
  assert_non_null(root);
  assert_int_equal(root->type, BRR_VAL_MAP);
  assert_int_equal(root->u.map.n, 0);
  root = load(f, "# only a comment\n");
  assert_int_equal(root->type, BRR_VAL_MAP);
  root = load(f, "---\n...\n");
  assert_int_equal(root->type, BRR_VAL_MAP);
  root = load(f, "- a\n- b\n");
  assert_int_equal(root->type, BRR_VAL_LIST);
  assert_null(load(f, "- a\n---\n- b\n"));
  assert_non_null(strstr(f->d.v[0].msg, "single document"));
  assert_int_equal(f->d.v[0].mark.line, 2);
}

static void test_syntax_errors(void **state) {
  fixture *f = *state;
  struct { const char *text; unsigned line, col; const char *frag; } cases[] = {
      {"a: b\n  c: d\n", 2, 4, "mapping values are not allowed"},
      {"key: [a, b]: c\n", 1, 12, "mapping values are not allowed"},
      {"a:\n\t- b\n", 2, 1, "cannot start any token"},
      {"a: 'x\n", 2, 1, "unexpected end of stream"},
      {"steps:\n  - a\n  b: c\n", 3, 3, "did not find expected '-' indicator"},
      {"a: [1, 2\n", 2, 1, "did not find expected ',' or ']'"},
      {"a: b\n- c\n", 2, 1, "did not find expected key"},
      {"a: \"\\q\"\n", 1, 5, "unknown escape"},
      {"{[1]: 2}\n", 1, 2, "map key must be a scalar"},
      {"a: \x01\n", 1, 4, "control characters"},
      {"a: \xff\xfe\n", 1, 4, "invalid"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    assert_null(load(f, cases[i].text));
    assert_int_equal(f->d.n_errors, 1);
    const brr_diag *g = &f->d.v[0];
    if (!strstr(g->msg, cases[i].frag) || g->mark.line != cases[i].line || g->mark.col != cases[i].col)
      fail_msg("case %zu: got %u:%u %s", i, g->mark.line, g->mark.col, g->msg);
    assert_int_equal(brr_diags_exit_code(&f->d), BRR_EXIT_CONFIG);
  }
  /* a snippet with a caret under the column */
  assert_null(load(f, "a: b\n  c: d\n"));
  assert_non_null(f->d.v[0].snippet);
  assert_string_equal(f->d.v[0].snippet, "  c: d\n   ^");
}

static void test_limits(void **state) {
  fixture *f = *state;
  /* the billion-laughs shape is refused, not expanded */
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
  for (int i = 1; i < 12; i++) {
    brr_buf_printf(&b, "a%d: &a%d [", i, i);
    for (int j = 0; j < 10; j++) brr_buf_printf(&b, "%s*a%d", j ? ", " : "", i - 1);
    brr_buf_puts(&b, "]\n");
  }
  assert_null(load(f, b.data));
  assert_non_null(strstr(f->d.v[0].msg, "nodes"));
  brr_buf_reset(&b);
  for (int i = 0; i < 600; i++) brr_buf_putc(&b, '[');
  assert_null(load(f, b.data));
  assert_non_null(strstr(f->d.v[0].msg, "nesting deeper"));
  /* aliases chained into a tall tree are caught too */
  brr_buf_reset(&b);
  brr_buf_puts(&b, "a0: &a0 [x]\n");
  for (int i = 1; i < 600; i++) brr_buf_printf(&b, "a%d: &a%d [*a%d]\n", i, i, i - 1);
  assert_null(load(f, b.data));
  assert_non_null(strstr(f->d.v[0].msg, "nesting deeper"));
  brr_buf_free(&b);
}

static void test_line_map(void **state) {
  fixture *f = *state;
  /* rendered line 2 came from source line 7 */
  static const unsigned map[] = {1, 7, 8, 9};
  const char *text = "a: 1\nb: [\nc: 3\n";
  brr_diags_clear(&f->d);
  const char *ok = "a: 1\nb: 2\n";
  brr_value *root = brr_yaml_load_mapped(f->a, ok, strlen(ok), "t.yaml", map, 4, &f->d);
  assert_int_equal(brr_val_get(root, "b")->mark.line, 7);
  assert_int_equal(root->u.map.v[1].key->mark.line, 7);  /* keys are translated too */
  assert_null(brr_yaml_load_mapped(f->a, text, strlen(text), "t.yaml", map, 4, &f->d));
  assert_int_equal(f->d.v[0].mark.line, 9);
  /* the snippet is the rendered line the parser saw; warnings name translated lines */
  brr_diags_clear(&f->d);
  const char *dup = "a: 1\nb: 2\na: 3\n";
  root = brr_yaml_load_mapped(f->a, dup, strlen(dup), "t.yaml", map, 4, &f->d);
  assert_non_null(root);
  assert_int_equal(f->d.v[0].mark.line, 8);
  assert_non_null(strstr(f->d.v[0].msg, "the one at t.yaml:1:1"));
  assert_string_equal(f->d.v[0].snippet, "a: 3\n^");
}

/* the one JSON converter: numbers keep their spelling's type, one document only */
static void test_json(void **state) {
  fixture *f = *state;
  const char *text = "{\"i\": 1, \"f\": 1.0, \"big\": 9007199254740993, \"s\": \"2\", \"l\": [true, null]}\n";
  brr_value *v = brr_val_from_json(f->a, text, strlen(text), "t.json", &f->d);
  assert_non_null(v);
  assert_int_equal(brr_val_get(v, "i")->type, BRR_VAL_INT);
  assert_int_equal(brr_val_get(v, "f")->type, BRR_VAL_FLOAT);
  assert_int_equal(brr_val_get(v, "big")->u.i, 9007199254740993LL);   /* past a double's digits */
  assert_int_equal(brr_val_get(v, "s")->type, BRR_VAL_STR);
  assert_int_equal(brr_val_get(v, "l")->u.list.n, 2);
  assert_int_equal(f->d.n, 0);
  /* anything but blanks after the value is an error, marked where it starts */
  assert_null(brr_val_from_json(f->a, "{}\n x", 5, "t.json", &f->d));
  assert_int_equal(f->d.n, 1);
  assert_int_equal(f->d.v[0].mark.line, 2);
  assert_int_equal(f->d.v[0].mark.col, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ints, setup, teardown),
      cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nulls_and_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_explicit_tags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ordered_and_int_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_anchors_aliases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_merge_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_documents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_line_map, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
