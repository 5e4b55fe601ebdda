/* The JSON Schema (draft-07, as yaml-language-server reads it) of buildrunner.yaml and of the
 * global configuration, made from the validator's own key tables (schema_keys.h): the keys of
 * every map come from the arrays brr_schk_keys checks against, so the schema cannot name a key
 * the validator refuses or miss one it takes. What each key holds is said once per key below;
 * a key the validator gains without a type here is reported (brr_config_schema_json's
 * `untyped`, checked by a unit test) and described as accepting anything meanwhile.
 * Types follow the validator's lax reading (spec §2): booleans may be yes/no/on/off strings,
 * integers may be digit strings, and YAML null means "not set" for every key. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "schema_keys.h"

#define REF(d) "{\"$ref\":\"#/definitions/" d "\"}"
#define STR REF("str")
#define BOOL REF("bool")
#define INT REF("int")
#define NUM REF("number")
#define STRLIST REF("strlist")
#define STRMAP REF("strmap")
#define ANYMAP REF("anymap")
#define STR_OR_STRLIST "{\"anyOf\":[{\"type\":\"string\"}," STRLIST "]}"

typedef struct keytype {
  const char *key;
  const char *schema;  /* JSON text */
} keytype;

#define RUNLIKE_TYPES                                                                                  \
  {"image", STR}, {"cmd", STR}, {"provisioners", STRMAP}, {"shell", STR}, {"cwd", STR}, {"user", STR}, \
      {"hostname", STR}, {"dns", STRLIST}, {"dns_search", STR}, {"extra_hosts", STRMAP},               \
      {"env", ANYMAP}, {"files", STRMAP}, {"volumes_from", STRLIST}, {"ports", REF("ports")},          \
      {"pull", BOOL}, {"systemd", BOOL}, {"systemd_cgroup2", BOOL}, {"containers", STRLIST},           \
      {"caches", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":" STR_OR_STRLIST "}"},      \
      {"mem-limit", "{\"type\":[\"string\",\"integer\",\"null\"]}"}, {"cpu-shares", INT},             \
      {"cpu-period", INT}, {"cpu-quota", INT}

static const keytype TOP_TYPES[] = {
    {"version", "{\"type\":[\"number\",\"string\",\"null\"]}"},
    {"use-legacy-builder", BOOL},
    {"steps", "{\"type\":\"object\",\"additionalProperties\":" REF("step") "}"},
    {"redirect", "{\"type\":\"string\",\"description\":\"load this file instead\"}"},
};
static const keytype STEP_TYPES[] = {
    {"build", "{\"anyOf\":[{\"type\":\"string\"}," REF("build") "]}"},
    {"run", REF("run")},
    {"push", REF("pushlist")},
    {"commit", REF("pushlist")},
    {"remote", REF("remote")},
    {"pypi-push", "{\"anyOf\":[{\"type\":\"string\"}," REF("pypi") ",{\"type\":\"array\",\"items\":"
                  "{\"anyOf\":[{\"type\":\"string\"}," REF("pypi") "]}}]}"},
    {"depends", STRLIST},
    {"inputs", STRLIST},
    {"incremental", BOOL},
};
static const keytype BUILD_TYPES[] = {
    {"path", STR}, {"dockerfile", STR}, {"target", STR}, {"pull", BOOL}, {"platform", STR},
    {"platforms", STRLIST}, {"inject", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"type\":[\"string\",\"null\"]}}"},
    {"no-cache", BOOL}, {"buildargs", ANYMAP},
    {"cache_from", "{\"anyOf\":[{\"type\":[\"string\",\"null\"]}," STRMAP ",{\"type\":\"array\",\"items\":"
                   "{\"anyOf\":[{\"type\":\"string\"}," STRMAP "]}}]}"},
    {"cache_to", "{\"anyOf\":[{\"type\":[\"string\",\"null\"]}," STRMAP "]}"},
    {"import", STR}, {"secrets", STRLIST},
};
static const keytype RUN_TYPES[] = {
    RUNLIKE_TYPES,
    {"xfail", BOOL},
    {"services", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":" REF("service") "}"},
    {"cmds", STRLIST},
    {"ssh-keys", STRLIST},
    {"artifacts", REF("artifacts")},
    {"platform", STR},
    {"cap_add", "{\"anyOf\":[{\"type\":\"string\"}," STRLIST "]}"},
    {"privileged", BOOL},
    {"post-build", "{\"anyOf\":[{\"type\":\"string\"}," REF("build") "]}"},
    {"no-cache", BOOL},
};
static const keytype SERVICE_TYPES[] = {
    RUNLIKE_TYPES,
    {"build", "{\"anyOf\":[{\"type\":\"string\"}," REF("build") "]}"},
    {"wait_for", "{\"type\":[\"array\",\"null\"],\"items\":{\"anyOf\":[" INT "," REF("wait_for") "]}}"},
    {"inject-ssh-agent", BOOL},
    {"run", "{\"description\":\"accepted for buildrunner compatibility\"}"},
};
static const keytype PUSH_TYPES[] = {
    {"repository", STR}, {"tags", STRLIST}, {"add_build_tag", BOOL}, {"push", BOOL},
    {"security-scan", REF("push_scan")},
};
static const keytype PUSH_SCAN_TYPES[] = {
    {"enabled", BOOL}, {"scanner", STR}, {"version", STR}, {"config", ANYMAP},
    {"max-score-threshold", NUM},
};
static const keytype REMOTE_TYPES[] = {{"host", STR}, {"cmd", STR}, {"artifacts", REF("artifacts")}};
static const keytype PYPI_TYPES[] = {
    {"repository", STR}, {"username", STR}, {"password", STR}, {"skip_existing", BOOL}};
static const keytype WAIT_TYPES[] = {{"port", INT}, {"timeout", INT}};

static const keytype GLOBAL_TYPES[] = {
    {"github", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":" REF("github") "}"},
    {"env", ANYMAP},
    {"build-servers", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":" STRLIST "}"},
    {"ssh-keys", "{\"anyOf\":[" REF("ssh_key") ",{\"type\":\"array\",\"items\":" REF("ssh_key") "}]}"},
    {"local-files", STRMAP},
    {"docker-build-cache", REF("build_cache")},
    {"caches-root", STR},
    {"docker-registry", STR},
    {"temp-dir", STR},
    {"disable-multi-platform", BOOL},
    {"build-registry", STR},
    /* the validator's rules (global.c): os/arch[/variant] keys, builder names, no empty list */
    {"platform-builders",
     "{\"type\":[\"object\",\"null\"],\"propertyNames\":{\"pattern\":"
     "\"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$\"},\"additionalProperties\":{\"anyOf\":["
     "{\"$ref\":\"#/definitions/builder\"},{\"type\":\"array\",\"minItems\":1,\"items\":"
     "{\"$ref\":\"#/definitions/builder\"}}]}}"},
    {"security-scan", REF("global_scan")},
    {"moving-tags", STRLIST},
    {"incremental", BOOL},
    {"pools", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"anyOf\":[{\"type\":\"integer\","
              "\"minimum\":1},{\"type\":\"string\",\"pattern\":\"^\\\\s*\\\\+?0*[1-9][0-9]*\\\\s*$\"}]}}"},
    {"engines", "{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"type\":\"object\","
                "\"additionalProperties\":false,\"properties\":{\"context\":" STR ",\"host\":" STR
                ",\"tls-verify\":" BOOL ",\"cert-path\":" STR ",\"jobs\":" INT ",\"platforms\":" STRLIST "}}}"},
};
static const keytype GITHUB_TYPES[] = {{"endpoint", STR}, {"version", STR}, {"username", STR}, {"app_token", STR}};
static const keytype SSH_TYPES[] = {
    {"file", STR}, {"key", STR}, {"password", STR}, {"prompt-password", BOOL}, {"aliases", STRLIST}};
static const keytype CACHE_TYPES[] = {
    {"builders", STRLIST},
    {"from", "{\"anyOf\":[{\"type\":[\"string\",\"null\"]}," ANYMAP "]}"},
    {"to", "{\"anyOf\":[{\"type\":[\"string\",\"null\"]}," ANYMAP "]}"},
};
static const keytype GLOBAL_SCAN_TYPES[] = {
    {"enabled", BOOL}, {"scanner", STR}, {"version", STR}, {"cache-dir", STR}, {"config", ANYMAP},
    {"max-score-threshold", NUM},
};

/* ---- building ------------------------------------------------------------------------------ */

typedef struct gen {
  const char *untyped;  /* first key without a type */
} gen;

/* the texts above are brr's own: one that does not parse is a bug, found by the unit test */
static cJSON *parse(const char *text) {
  cJSON *j = cJSON_Parse(text);
  if (!j) {
    fprintf(stderr, "brr: bug: bad built-in schema text: %s\n", text);
    abort();
  }
  return j;
}

/* an object schema: the keys the validator takes (keys, n), typed from `types` */
static cJSON *object_of(gen *g, const char *const *keys, size_t n, const keytype *types, size_t n_types,
                        const char *required, const char *title) {
  cJSON *o = cJSON_CreateObject();
  if (title) cJSON_AddStringToObject(o, "description", title);
  cJSON_AddStringToObject(o, "type", "object");
  cJSON *props = cJSON_AddObjectToObject(o, "properties");
  for (size_t i = 0; i < n; i++) {
    const char *t = NULL;
    for (size_t j = 0; j < n_types && !t; j++)
      if (strcmp(types[j].key, keys[i]) == 0) t = types[j].schema;
    if (!t && !g->untyped) g->untyped = keys[i];
    cJSON_AddItemToObject(props, keys[i], parse(t ? t : "{}"));
  }
  cJSON_AddBoolToObject(o, "additionalProperties", false);
  if (required) {
    cJSON *r = cJSON_AddArrayToObject(o, "required");
    cJSON_AddItemToArray(r, cJSON_CreateString(required));
  }
  return o;
}

#define OBJ(g, keys, n, types, req, title) object_of(g, keys, n, types, BRR_ARRAY_LEN(types), req, title)
#define KS(g, ks, types, req, title) object_of(g, (ks).keys, (ks).n, types, BRR_ARRAY_LEN(types), req, title)

/* an object schema that may also be null (YAML "key:" with nothing) */
static cJSON *nullable(cJSON *o) {
  cJSON *a = cJSON_CreateObject();
  cJSON *any = cJSON_AddArrayToObject(a, "anyOf");
  cJSON_AddItemToArray(any, o);
  cJSON_AddItemToArray(any, parse("{\"type\":\"null\"}"));
  return a;
}

/* "^(?:[Yy][Ee][Ss]|...)$": the lax boolean words in any case (ECMA regex has no (?i)) */
static void add_words(brr_buf *b, const char *const *words) {
  for (size_t i = 0; words[i]; i++) {
    if (b->len > 4) brr_buf_putc(b, '|');
    for (const char *p = words[i]; *p; p++) {
      if (isalpha((unsigned char)*p))
        brr_buf_printf(b, "[%c%c]", toupper((unsigned char)*p), tolower((unsigned char)*p));
      else
        brr_buf_putc(b, *p);
    }
  }
}

static void add_scalars(cJSON *defs) {
  brr_buf pat = BRR_BUF_INIT;
  brr_buf_puts(&pat, "^(?:");
  add_words(&pat, BRR_LAX_TRUE);
  add_words(&pat, BRR_LAX_FALSE);
  brr_buf_puts(&pat, ")$");
  cJSON *b = cJSON_AddObjectToObject(defs, "bool");
  cJSON *any = cJSON_AddArrayToObject(b, "anyOf");
  cJSON_AddItemToArray(any, parse("{\"type\":[\"boolean\",\"null\"]}"));
  cJSON_AddItemToArray(any, parse("{\"type\":\"integer\",\"enum\":[0,1]}"));
  cJSON *s = cJSON_CreateObject();
  cJSON_AddStringToObject(s, "type", "string");
  cJSON_AddStringToObject(s, "pattern", brr_buf_cstr(&pat));
  cJSON_AddItemToArray(any, s);
  brr_buf_free(&pat);
  cJSON_AddItemToObject(defs, "str", parse("{\"type\":[\"string\",\"null\"]}"));
  cJSON_AddItemToObject(defs, "int", parse("{\"anyOf\":[{\"type\":[\"integer\",\"null\"]},{\"type\":\"string\","
                                           "\"pattern\":\"^\\\\s*[-+]?[0-9]+\\\\s*$\"}]}"));
  cJSON_AddItemToObject(defs, "number", parse("{\"anyOf\":[{\"type\":[\"number\",\"null\"]},{\"type\":\"string\","
                                              "\"pattern\":\"^\\\\s*[-+]?([0-9]+\\\\.?[0-9]*|\\\\.[0-9]+)([eE][-+]?[0-9]+)?\\\\s*$\"}]}"));
  cJSON_AddItemToObject(defs, "strlist", parse("{\"type\":[\"array\",\"null\"],\"items\":{\"type\":\"string\"}}"));
  cJSON_AddItemToObject(defs, "strmap", parse("{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"type\":\"string\"}}"));
  cJSON_AddItemToObject(defs, "anymap", parse("{\"type\":[\"object\",\"null\"]}"));
}

static cJSON *project_schema(gen *g) {
  cJSON *root = OBJ(g, BRR_TOP_KEYS, BRR_N_TOP_KEYS, TOP_TYPES, NULL, NULL);
  cJSON *defs = cJSON_CreateObject();
  add_scalars(defs);
  cJSON_AddItemToObject(defs, "step", OBJ(g, BRR_STEP_KEYS, BRR_N_STEP_KEYS, STEP_TYPES, NULL, "a step: its tasks"));
  cJSON_AddItemToObject(defs, "build", OBJ(g, BRR_BUILD_KEYS, BRR_N_BUILD_KEYS, BUILD_TYPES, NULL,
                                           "build an image (a string is the path of the context)"));
  cJSON_AddItemToObject(defs, "run", nullable(OBJ(g, BRR_RUN_KEYS, BRR_N_RUN_KEYS, RUN_TYPES, NULL,
                                                  "run commands in a container")));
  cJSON_AddItemToObject(defs, "service", OBJ(g, BRR_SERVICE_KEYS, BRR_N_SERVICE_KEYS, SERVICE_TYPES, NULL,
                                             "a container running beside the run step"));
  cJSON_AddItemToObject(defs, "push", KS(g, BRR_KEYS_PUSH, PUSH_TYPES, "repository", NULL));
  cJSON_AddItemToObject(defs, "pushlist",
                        parse("{\"anyOf\":[{\"type\":[\"string\",\"null\"]}," REF("push") ",{\"type\":\"array\","
                              "\"items\":{\"anyOf\":[{\"type\":\"string\"}," REF("push") "]}}]}"));
  cJSON_AddItemToObject(defs, "push_scan", nullable(KS(g, BRR_KEYS_PUSH_SCAN, PUSH_SCAN_TYPES, NULL, NULL)));
  cJSON_AddItemToObject(defs, "remote", nullable(KS(g, BRR_KEYS_REMOTE, REMOTE_TYPES, NULL, NULL)));
  cJSON_AddItemToObject(defs, "pypi", KS(g, BRR_KEYS_PYPI, PYPI_TYPES, "repository", NULL));
  cJSON_AddItemToObject(defs, "wait_for", KS(g, BRR_KEYS_WAIT_FOR, WAIT_TYPES, "port", NULL));
  cJSON_AddItemToObject(defs, "ports", parse("{\"type\":[\"object\",\"null\"],\"propertyNames\":{\"pattern\":"
                                             "\"^\\\\s*[0-9]+\\\\s*$\"},\"additionalProperties\":" INT "}"));
  /* glob -> null/false, or properties (format, compression, rename, push; the rest is kept) */
  cJSON_AddItemToObject(defs, "artifacts",
                        parse("{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"anyOf\":["
                              "{\"type\":[\"null\",\"boolean\"]},{\"type\":\"object\",\"properties\":{"
                              "\"format\":" STR ",\"compression\":" STR ",\"rename\":" STR ",\"push\":" BOOL
                              "}}]}}"));
  cJSON_AddItemToObject(root, "definitions", defs);
  cJSON_AddItemToObject(root, "required", parse("[\"steps\"]"));
  return root;
}

static cJSON *global_schema(gen *g) {
  cJSON *root = OBJ(g, BRR_GLOBAL_KEYS, BRR_N_GLOBAL_KEYS, GLOBAL_TYPES, NULL, NULL);
  cJSON *defs = cJSON_CreateObject();
  add_scalars(defs);
  cJSON_AddItemToObject(defs, "github", KS(g, BRR_KEYS_GITHUB, GITHUB_TYPES, "endpoint", NULL));
  cJSON_AddItemToObject(defs, "ssh_key", KS(g, BRR_KEYS_SSH, SSH_TYPES, NULL, NULL));
  cJSON_AddItemToObject(defs, "build_cache", nullable(KS(g, BRR_KEYS_BUILD_CACHE, CACHE_TYPES, NULL, NULL)));
  cJSON_AddItemToObject(defs, "global_scan", nullable(KS(g, BRR_KEYS_GLOBAL_SCAN, GLOBAL_SCAN_TYPES, NULL, NULL)));
  cJSON_AddItemToObject(defs, "builder", parse("{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9][A-Za-z0-9_.+-]*$\"}"));
  cJSON_AddItemToObject(root, "definitions", defs);
  return root;
}

char *brr_config_schema_json(bool global, const char **untyped) {
  gen g = {NULL};
  cJSON *body = global ? global_schema(&g) : project_schema(&g);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "$schema", "http://json-schema.org/draft-07/schema#");
  cJSON_AddStringToObject(root, "$id", global ? "https://brr.invalid/schema/buildrunner-global.json"
                                              : "https://brr.invalid/schema/buildrunner.json");
  cJSON_AddStringToObject(root, "title", global ? "buildrunner global configuration (.buildrunner.yaml)"
                                                : "buildrunner build configuration (buildrunner.yaml)");
  cJSON_AddStringToObject(root, "description", "generated by brr " BRR_VERSION " from its validator's tables");
  for (cJSON *it = body->child; it;) {
    cJSON *next = it->next;
    cJSON_AddItemToObject(root, it->string, cJSON_DetachItemViaPointer(body, it));
    it = next;
  }
  cJSON_Delete(body);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) {
    fprintf(stderr, "brr: out of memory\n");
    abort();
  }
  if (untyped) *untyped = g.untyped;
  return text;
}
