/* The template engine's contract beyond rendered text (which template_cases_test compares
 * with Jinja2): the output-line -> source-line map, diagnostics (position, snippet, exit
 * codes), nothing appended on error, the hooks in brr_tmpl_env, warnings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/template.h"

typedef struct result {
  int rc;
  brr_buf out;
  brr_diags d;
  unsigned *map;
  size_t nmap;
} result;

static result render_env(const char *src, const brr_tmpl_env *env) {
  result r = {0};
  r.out = (brr_buf)BRR_BUF_INIT;
  r.d = (brr_diags)BRR_DIAGS_INIT;
  r.rc = brr_template_render(src, strlen(src), "t.yaml", env, &r.out, &r.map, &r.nmap, &r.d);
  return r;
}

static result render(const char *src) {
  static const brr_tmpl_env env = {.buildrunner_globals = true, .build_time = 0};
  return render_env(src, &env);
}

static void done(result *r) {
  brr_buf_free(&r->out);
  brr_diags_free(&r->d);
  free(r->map);
}

static void test_line_map(void **state) {
  (void)state;
  /* data lines map to themselves; loop bodies to the body's line; an expression's value to
   * the expression's line, whatever newlines it holds */
  result r = render("line1\n"
                    "{% for i in [1, 2] -%}\n"
                    "item {{ i }}\n"
                    "{% endfor -%}\n"
                    "{{ \"multi\\nline\" }}\n"
                    "end\n");
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out.data, "line1\nitem 1\nitem 2\nmulti\nline\nend");
  static const unsigned want[] = {1, 3, 3, 5, 5, 6};
  assert_int_equal(r.nmap, BRR_ARRAY_LEN(want));
  for (size_t i = 0; i < r.nmap; i++) assert_int_equal(r.map[i], want[i]);
  done(&r);

  r = render("");
  assert_int_equal(r.rc, 0);
  assert_int_equal(r.nmap, 0);
  done(&r);

  /* lines stripped by whitespace control shift the mapping */
  r = render("a\n\n\n{%- set x = 1 %}\nb\n");
  assert_string_equal(r.out.data, "a\nb");
  assert_int_equal(r.nmap, 2);
  assert_int_equal(r.map[0], 1);
  assert_int_equal(r.map[1], 5);
  done(&r);
}

static void test_error_diag(void **state) {
  (void)state;
  brr_buf keep = BRR_BUF_INIT;
  brr_buf_puts(&keep, "keep");
  brr_diags d = BRR_DIAGS_INIT;
  const char *src = "ok\n  {{ value.missing.deeper }}\n";
  brr_tmpl_env env = {.buildrunner_globals = true};
  unsigned *map = (unsigned *)1;
  size_t nmap = 7;
  int rc = brr_template_render(src, strlen(src), "dir/t.yaml", &env, &keep, &map, &nmap, &d);
  assert_int_equal(rc, BRR_ECONFIG);
  assert_string_equal(keep.data, "keep"); /* nothing appended */
  assert_null(map);
  assert_int_equal(nmap, 0);
  assert_int_equal(d.n, 1);
  assert_int_equal(d.v[0].level, BRR_DIAG_ERROR);
  assert_string_equal(d.v[0].mark.file, "dir/t.yaml");
  assert_int_equal(d.v[0].mark.line, 2);
  assert_int_equal(d.v[0].mark.col, 11); /* the first '.', where the access fails */
  assert_string_equal(d.v[0].msg, "'value' is undefined");
  assert_string_equal(d.v[0].snippet, "  {{ value.missing.deeper }}\n          ^");
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_CONFIG);
  brr_diags_free(&d);
  brr_buf_free(&keep);
}

static void test_syntax_error_position(void **state) {
  (void)state;
  result r = render("a\nb {{ x | nosuchfilter }}");
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_int_equal(r.d.v[0].mark.line, 2);
  assert_int_equal(r.d.v[0].mark.col, 10);
  assert_string_equal(r.d.v[0].msg, "No filter named 'nosuchfilter'.");
  assert_null(r.out.data);
  done(&r);

  r = render("{% for x in y %}\n{{ x }}\n");
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_non_null(strstr(r.d.v[0].msg, "'endfor'"));
  done(&r);
}

static void test_raise_exit_code(void **state) {
  (void)state;
  result r = render("a\n{%- do raise('stop here') %}");
  assert_int_equal(r.rc, BRR_EFAILED);
  assert_int_equal(r.d.v[0].exit_code, BRR_EXIT_FAILED);
  assert_int_equal(brr_diags_exit_code(&r.d), 1);
  assert_string_equal(r.d.v[0].msg, "stop here");
  assert_int_equal(r.d.v[0].mark.line, 2);
  done(&r);
}

static brr_value *json_yaml(brr_arena *a, const char *text, size_t len, const char *file, brr_diags *d) {
  return brr_val_from_json(a, text, len, file, d);
}

static void test_vars_and_hooks(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-tmpl-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *f = brr_path_join(dir, "data.yaml");
  const char *yaml = "{\"img\": \"{{ REG }}/x\", \"n\": [1, 2]}";
  brr_write_file(f, yaml, strlen(yaml));
  brr_arena *a = brr_arena_new();
  brr_diags jd = BRR_DIAGS_INIT;
  const char *vj = "{\"name\": \"brr\", \"n\": 3}";
  brr_value *vars = brr_val_from_json(a, vj, strlen(vj), NULL, &jd);
  const char *yj = "{\"REG\": \"r.local\"}";
  brr_value *yvars = brr_val_from_json(a, yj, strlen(yj), NULL, &jd);
  brr_tmpl_env env = {.vars = vars, .buildrunner_globals = true, .read_yaml_vars = yvars, .parse_yaml = json_yaml,
                      .cwd = dir, .build_time = 86400};
  result r = render_env("{{ name }}-{{ n * 2 }} {% set d = read_yaml_file('data.yaml') %}{{ d.img }} {{ d.n|sum }} "
                        "{{ strftime('%Y-%m-%d', none) }}",
                        &env);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out.data, "brr-6 r.local/x 3 1970-01-02");
  done(&r);

  /* without a YAML parser, read_yaml_file is an error, not a crash */
  env.parse_yaml = NULL;
  r = render_env("{{ read_yaml_file('data.yaml') }}", &env);
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_non_null(strstr(r.d.v[0].msg, "no YAML parser"));
  done(&r);

  /* an error inside the read file names that file and line */
  const char *bad = "[\n  \"{{ nope.x }}\"]";
  brr_write_file(f, bad, strlen(bad));
  env.parse_yaml = json_yaml;
  r = render_env("\n{{ read_yaml_file('data.yaml') }}", &env);
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_int_equal(r.d.v[0].mark.line, 2);
  assert_non_null(strstr(r.d.v[0].msg, "data.yaml:2:"));
  done(&r);

  /* checksum of a missing file warns and renders */
  r = render_env("{{ checksum('nope.txt') }}", &env);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out.data, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  assert_int_equal(r.d.n, 1);
  assert_int_equal(r.d.v[0].level, BRR_DIAG_WARNING);
  assert_int_equal(r.d.n_errors, 0);
  done(&r);

  /* a plain environment (what read_yaml_file renders with) has none of buildrunner's extras */
  env.buildrunner_globals = false;
  r = render_env("{{ checksum is defined }} {{ raise is defined }}", &env);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out.data, "False False");
  done(&r);
  r = render_env("{% do 1 %}", &env);
  assert_int_equal(r.rc, BRR_ECONFIG);
  done(&r);

  brr_diags_free(&jd);
  brr_arena_free(a);
  free(f);
  brr_rm_rf(dir);
}

static void test_deep_input_is_an_error(void **state) {
  (void)state;
  /* deep nesting and runaway recursion end in an error, not a crash */
  brr_buf src = BRR_BUF_INIT;
  brr_buf_puts(&src, "{{ ");
  for (int i = 0; i < 5000; i++) brr_buf_putc(&src, '(');
  brr_buf_puts(&src, "1 }}");
  result r = render(src.data);
  assert_int_equal(r.rc, BRR_ECONFIG);
  done(&r);
  brr_buf_free(&src);
  r = render("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}");
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_non_null(strstr(r.d.v[0].msg, "recursion"));
  done(&r);
  /* deep frames per level (an if, a filter, arithmetic): an error before the stack ends,
   * also in sanitizer builds (found by fuzz_template) */
  r = render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 0)|int }}{% endif %}{% endmacro %}"
             "{{ fact(4) }}");
  assert_int_equal(r.rc, BRR_ECONFIG);
  assert_non_null(strstr(r.d.v[0].msg, "recursion"));
  done(&r);
  r = render("{% for i in range(10**12) %}{% endfor %}");
  assert_int_equal(r.rc, BRR_ECONFIG);
  done(&r);
}

static void test_repeatable(void **state) {
  (void)state;
  /* no hidden state between renders */
  const char *src = "{% set l = [] %}{% do l.append(1) %}{{ l }}{{ 'a'|re_sub('a', 'b') }}";
  for (int i = 0; i < 3; i++) {
    result r = render(src);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out.data, "[1]b");
    done(&r);
  }
}

/* the most memory a render's values took */
static size_t peak_of(const char *src) {
  size_t peak = 0;
  brr_tmpl_env env = {.buildrunner_globals = true, .peak_bytes = &peak};
  result r = render_env(src, &env);
  assert_int_equal(r.rc, 0);
  done(&r);
  return peak;
}

static void test_loop_memory_is_bounded_by_output(void **state) {
  (void)state;
  /* Nested loops that print nothing: the memory is the same for 20 times the iterations,
   * in the main output, a macro, a set block and with a namespace written every iteration
   * (it used to grow by 16 bytes an iteration, never freed). */
  static const char *const shapes[] = {
      "{% for i in range(N) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
      "{% macro m() %}{% for i in range(N) %}{% for j in range(1000) %}{% endfor %}{% endfor %}{% endmacro %}{{ m() }}",
      "{% set x %}{% for i in range(N) %}{% for j in range(1000) %}{{ '' }}{% endfor %}{% endfor %}{% endset %}{{ x }}",
      "{% set ns = namespace(a=0) %}{% for i in range(N) %}{% for j in range(1000) %}{% set ns.a = j %}"
      "{% endfor %}{% endfor %}{{ ns.a }}",
      "{% set l = range(1000) | list %}{% macro m() %}{% for i in range(N) %}{% for j in l %}{{ j if 0 }}"
      "{% endfor %}{% endfor %}{% endmacro %}{{ m() }}",
  };
  for (size_t k = 0; k < BRR_ARRAY_LEN(shapes); k++) {
    size_t peaks[2];
    for (int big = 0; big < 2; big++) {
      const char *n = strstr(shapes[k], "range(N)") + 6;
      brr_buf src = BRR_BUF_INIT;
      brr_buf_append(&src, shapes[k], (size_t)(n - shapes[k]));
      brr_buf_puts(&src, big ? "2000" : "100");
      brr_buf_puts(&src, n + 1);
      peaks[big] = peak_of(src.data);
      brr_buf_free(&src);
    }
    /* 2,000,000 iterations at 16 bytes each would be 32 MB */
    if (peaks[1] > peaks[0] + (1u << 20) || peaks[1] > (4u << 20))
      fail_msg("shape %zu: %zu bytes for 100x1000, %zu for 2000x1000", k, peaks[0], peaks[1]);
  }
}

static void test_template_loop_message(void **state) {
  (void)state;
  /* include/extends/import loops: one message naming the loop, at the main file's line */
  char dir[] = "/tmp/brr-tmpl-XXXXXX";
  assert_non_null(mkdtemp(dir));
  static const char *const files[][2] = {
      {"self.j2", "x{% include 'self.j2' %}"},     {"a.j2", "{% include 'b.j2' %}"},
      {"b.j2", "{% include 'a.j2' %}"},           {"ea.j2", "{% extends 'eb.j2' %}"},
      {"eb.j2", "{% extends 'ea.j2' %}"},         {"ia.j2", "{% import 'ib.j2' as b %}"},
      {"ib.j2", "{% from 'ia.j2' import x %}"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(files); i++) {
    char *f = brr_path_join(dir, files[i][0]);
    assert_int_equal(brr_write_file(f, files[i][1], strlen(files[i][1])), 0);
    free(f);
  }
  static const char *const cases[][2] = {
      {"top\n{% include 'self.j2' %}", "template loop: self.j2 -> self.j2 "},
      {"top\n{% include 'a.j2' %}", "template loop: a.j2 -> b.j2 -> a.j2 "},
      {"top\n{% extends 'ea.j2' %}", "template loop: ea.j2 -> eb.j2 -> ea.j2 "},
      {"top\n{% import 'ia.j2' as a %}", "template loop: ia.j2 -> ib.j2 -> ia.j2 "},
  };
  brr_tmpl_env env = {.buildrunner_globals = true, .cwd = dir};
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    result r = render_env(cases[i][0], &env);
    assert_int_equal(r.rc, BRR_ECONFIG);
    assert_int_equal(r.d.n, 1);
    assert_int_equal(r.d.v[0].mark.line, 2);
    if (strncmp(r.d.v[0].msg, cases[i][1], strlen(cases[i][1])) != 0) fail_msg("case %zu: %s", i, r.d.v[0].msg);
    assert_true(strlen(r.d.v[0].msg) < 200);
    done(&r);
  }
  brr_rm_rf(dir);
}

/* Text with no tags takes a short way round the engine: the same bytes and the same line map
 * as the engine gives when an empty expression makes it go all the way through. */
static void test_plain_text_as_the_engine(void **state) {
  (void)state;
  static const char *const texts[] = {"", "\n", "\n\n", "a", "a\n", "a\n\n", "a\nb", "a\n\nb\n\n\n",
                                      "x: {a: 1}\n", "{", "a{\n}", "\n\nz\n", "caf\xc3\xa9\n", "a\r\nb\r\n", "{}{ {\n"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(texts); i++) {
    char *tagged = brr_xasprintf("{{ '' }}%s", texts[i]);
    result plain = render(texts[i]), engine = render(tagged);
    assert_int_equal(plain.rc, 0);
    assert_int_equal(engine.rc, 0);
    assert_string_equal(brr_buf_cstr(&plain.out), brr_buf_cstr(&engine.out));
    assert_int_equal(plain.out.len, engine.out.len);
    assert_int_equal(plain.nmap, engine.nmap);
    for (size_t k = 0; k < plain.nmap; k++) assert_int_equal(plain.map[k], engine.map[k]);
    done(&plain);
    done(&engine);
    free(tagged);
  }
}

static void test_line_map_extends(void **state) {
  (void)state;
  /* lines another template prints map to the main file's statement that led there; the
   * main file's blocks keep their own lines */
  char dir[] = "/tmp/brr-tmpl-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *f = brr_path_join(dir, "base.j2");
  const char *base = "a: 1\n{% block b %}{% endblock %}\nz: 2";
  assert_int_equal(brr_write_file(f, base, strlen(base)), 0);
  free(f);
  brr_tmpl_env env = {.buildrunner_globals = true, .cwd = dir};
  result r = render_env("{% extends 'base.j2' %}\n{% block b %}\nchild: 1\n{% endblock %}\n", &env);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out.data, "a: 1\n\nchild: 1\n\nz: 2");
  static const unsigned want[] = {1, 2, 3, 1, 1};
  assert_int_equal(r.nmap, BRR_ARRAY_LEN(want));
  for (size_t i = 0; i < r.nmap; i++) assert_int_equal(r.map[i], want[i]);
  done(&r);
  brr_rm_rf(dir);
}

static void test_big_integers_are_errors(void **state) {
  (void)state;
  /* where Python would go beyond 64 bits: an error at the operation's line and column */
  static const struct {
    const char *src;
    unsigned col;
  } cases[] = {
      {"a\n{{ 99999999999999999999 }}", 4},
      {"a\n{{ 2 ** 64 }}", 6},
      {"a\n{{ 9223372036854775807 + 1 }}", 24},
      {"a\n{{ '%d' % 1e19 }}", 9},
      {"a\n{{ 9223372036854775807|round(-1) }}", 24},
      {"a\n{{ '99999999999999999999'|int }}", 27},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    result r = render(cases[i].src);
    assert_int_equal(r.rc, BRR_ECONFIG);
    assert_int_equal(r.d.v[0].mark.line, 2);
    if (r.d.v[0].mark.col != cases[i].col || !strstr(r.d.v[0].msg, "64-bit"))
      fail_msg("case %zu: %u:%u: %s", i, r.d.v[0].mark.line, r.d.v[0].mark.col, r.d.v[0].msg);
    assert_int_equal(r.out.len, 0);
    done(&r);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_map),          cmocka_unit_test(test_error_diag),
      cmocka_unit_test(test_syntax_error_position), cmocka_unit_test(test_raise_exit_code),
      cmocka_unit_test(test_vars_and_hooks),
      cmocka_unit_test(test_deep_input_is_an_error), cmocka_unit_test(test_repeatable),
      cmocka_unit_test(test_loop_memory_is_bounded_by_output), cmocka_unit_test(test_template_loop_message),
      cmocka_unit_test(test_line_map_extends), cmocka_unit_test(test_plain_text_as_the_engine),    cmocka_unit_test(test_big_integers_are_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
