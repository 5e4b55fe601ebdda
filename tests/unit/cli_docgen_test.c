/* What is generated from the option table and the validator's key tables: --help, the man
 * page and the completion scripts name every option; the JSON Schemas type every key the
 * validator takes and no other; the hidden modes parse as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../src/config/schema_keys.h"
#include "brr/cli.h"
#include "brr/config.h"
#include "brr/util.h"

typedef int (*printer)(FILE *out, const char *arg);

static char *capture(printer p, const char *arg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(p(f, arg), 0);
  fclose(f);
  return text;
}

static int help(FILE *f, const char *a) { (void)a; brr_cli_print_help(f, "brr"); return 0; }
static int man(FILE *f, const char *a) { (void)a; return brr_cli_print_man(f); }
static int completion(FILE *f, const char *shell) { return brr_cli_print_completion(f, shell); }

/* the man page writes "-" as "\-" */
static char *roff_dashes(const char *s) {
  brr_buf b = BRR_BUF_INIT;
  for (; *s; s++) {
    if (*s == '-') brr_buf_putc(&b, '\\');
    brr_buf_putc(&b, *s);
  }
  return brr_buf_detach(&b);
}

static void test_every_option_everywhere(void **state) {
  (void)state;
  char *h = capture(help, NULL), *m = capture(man, NULL);
  char *sh[3] = {capture(completion, "bash"), capture(completion, "zsh"), capture(completion, "fish")};
  brr_cli_optinfo o;
  size_t n = 0;
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++, n++) {
    char *flag = brr_xasprintf("--%s", o.name);
    char *mflag = roff_dashes(flag);
    if (!strstr(h, flag)) fail_msg("--help lacks %s", flag);
    if (!strstr(m, mflag)) fail_msg("the man page lacks %s", flag);
    if (!strstr(sh[0], flag)) fail_msg("the bash completion lacks %s", flag);
    if (!strstr(sh[1], flag)) fail_msg("the zsh completion lacks %s", flag);
    char *fl = brr_xasprintf("-l %s ", o.name);
    if (!strstr(sh[2], fl)) fail_msg("the fish completion lacks %s", flag);
    for (size_t j = 0; o.values && o.values[j]; j++) {
      if (!strstr(sh[0], o.values[j]) || !strstr(sh[1], o.values[j]) || !strstr(sh[2], o.values[j]))
        fail_msg("a completion lacks the value %s of %s", o.values[j], flag);
    }
    free(fl);
    free(flag);
    free(mflag);
  }
  assert_true(n >= 35);
  /* hidden modes are in neither */
  assert_null(strstr(h, "help-man"));
  assert_null(strstr(m, "help\\-man"));
  /* the exit codes, once from one table */
  assert_non_null(strstr(h, "\n  78     configuration error"));
  assert_non_null(strstr(m, ".SH EXIT STATUS\n.TP\n.B 0\nsuccess"));
  assert_non_null(strstr(m, ".B 78\n"));
  assert_non_null(strstr(m, ".SH ENVIRONMENT"));
  assert_non_null(strstr(m, ".B DOCKER_HOST"));
  assert_non_null(strstr(m, ".SH FILES"));
  assert_non_null(strstr(m, ".SH EXAMPLES"));
  assert_int_equal(brr_cli_print_completion(stdout, "tcsh"), -1);
  free(h);
  free(m);
  for (int i = 0; i < 3; i++) free(sh[i]);
}

static int parse(brr_cli *cli, const char *a1, const char *a2) {
  char *argv[] = {"brr", (char *)a1, (char *)a2, NULL};
  FILE *err = fopen("/dev/null", "w");
  int rc = brr_cli_parse(cli, a2 ? 3 : 2, argv, err);
  fclose(err);
  return rc;
}

static void test_hidden_modes_parse(void **state) {
  (void)state;
  brr_cli c;
  assert_int_equal(parse(&c, "--print-schema", NULL), 0);
  assert_string_equal(c.print_schema, "project");
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--print-schema", "global"), 0);
  assert_string_equal(c.print_schema, "global");
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--print-schema=global", NULL), 0);
  assert_string_equal(c.print_schema, "global");
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--print-schema", "nope"), BRR_EXIT_USAGE);
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--print-schema=global", "global"), BRR_EXIT_USAGE);
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--completion=zsh", NULL), 0);
  assert_string_equal(c.completion, "zsh");
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--completion", "tcsh"), BRR_EXIT_USAGE);
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--graph=svg", NULL), BRR_EXIT_USAGE);
  brr_cli_free(&c);
  assert_int_equal(parse(&c, "--list-steps", NULL), 0);
  assert_true(c.list_steps);
  brr_cli_free(&c);
}

/* the properties of `obj` are exactly `keys` */
static void assert_keys(const cJSON *obj, const char *const *keys, size_t n, const char *what) {
  assert_non_null(obj);
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(obj, "properties");
  if (!props) {  /* a nullable object: anyOf [object, null] */
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(obj, "anyOf");
    props = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(any, 0), "properties");
    obj = cJSON_GetArrayItem(any, 0);
  }
  if (!props) fail_msg("%s has no properties", what);
  assert_int_equal(cJSON_GetArraySize(props), (int)n);
  for (size_t i = 0; i < n; i++)
    if (!cJSON_GetObjectItemCaseSensitive(props, keys[i])) fail_msg("%s lacks %s", what, keys[i]);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(obj, "additionalProperties")));
}

static const cJSON *def(const cJSON *root, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "definitions"), name);
}

static void test_schema_keys_are_the_validators(void **state) {
  (void)state;
  const char *untyped = "x";
  char *text = brr_config_schema_json(false, &untyped);
  if (untyped) fail_msg("the project schema has no type for key '%s'", untyped);
  cJSON *p = cJSON_Parse(text);
  assert_non_null(p);
  assert_keys(p, BRR_TOP_KEYS, BRR_N_TOP_KEYS, "the top level");
  assert_keys(def(p, "step"), BRR_STEP_KEYS, BRR_N_STEP_KEYS, "a step");
  assert_keys(def(p, "build"), BRR_BUILD_KEYS, BRR_N_BUILD_KEYS, "build");
  assert_keys(def(p, "run"), BRR_RUN_KEYS, BRR_N_RUN_KEYS, "run");
  assert_keys(def(p, "service"), BRR_SERVICE_KEYS, BRR_N_SERVICE_KEYS, "a service");
  assert_keys(def(p, "push"), BRR_KEYS_PUSH.keys, BRR_KEYS_PUSH.n, "push");
  assert_keys(def(p, "remote"), BRR_KEYS_REMOTE.keys, BRR_KEYS_REMOTE.n, "remote");
  assert_keys(def(p, "pypi"), BRR_KEYS_PYPI.keys, BRR_KEYS_PYPI.n, "pypi-push");
  assert_keys(def(p, "wait_for"), BRR_KEYS_WAIT_FOR.keys, BRR_KEYS_WAIT_FOR.n, "wait_for");
  cJSON_Delete(p);
  free(text);

  untyped = "x";
  text = brr_config_schema_json(true, &untyped);
  if (untyped) fail_msg("the global schema has no type for key '%s'", untyped);
  cJSON *g = cJSON_Parse(text);
  assert_non_null(g);
  assert_keys(g, BRR_GLOBAL_KEYS, BRR_N_GLOBAL_KEYS, "the global configuration");
  assert_keys(def(g, "github"), BRR_KEYS_GITHUB.keys, BRR_KEYS_GITHUB.n, "github");
  assert_keys(def(g, "ssh_key"), BRR_KEYS_SSH.keys, BRR_KEYS_SSH.n, "ssh-keys");
  assert_keys(def(g, "build_cache"), BRR_KEYS_BUILD_CACHE.keys, BRR_KEYS_BUILD_CACHE.n, "docker-build-cache");
  assert_keys(def(g, "global_scan"), BRR_KEYS_GLOBAL_SCAN.keys, BRR_KEYS_GLOBAL_SCAN.n, "security-scan");
  cJSON_Delete(g);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_option_everywhere),
      cmocka_unit_test(test_hidden_modes_parse),
      cmocka_unit_test(test_schema_keys_are_the_validators),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
