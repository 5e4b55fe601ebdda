/* brr — configuration: YAML loading, the global config chain, the project file, schema
 * validation, and the typed model every later layer reads.
 *
 * Pipeline per file: read -> brr_config_render_mapped (templates) -> brr_yaml_load (value tree with
 * marks) -> redirect -> (global: scrub, merge) -> schema validation -> typed model.
 * All errors go to a brr_diags; loading never stops at the first one it can recover from. */
#ifndef BRR_CONFIG_H
#define BRR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/diag.h"
#include "brr/util.h"
#include "brr/value.h"

/* ---- YAML (YAML 1.1 typing as PyYAML's resolver) -------------------------------------- */

/* Load one YAML document from `text` into a value tree in `a`. `file` is the name marks
 * carry. An empty document gives an empty map. Returns NULL on a syntax error (diagnostic
 * added with line and column). Duplicate keys keep the first position and the last value and
 * add a warning naming both locations. Anchors, aliases and `<<` merge keys are resolved. */
brr_value *brr_yaml_load(brr_arena *a, const char *text, size_t len, const char *file,
                         brr_diags *d);

/* ---- small typed pieces --------------------------------------------------------------- */

/* A string from the config with the mark of the node it came from. s == NULL: absent. */
typedef struct brr_str {
  const char *s;
  brr_mark mark;
} brr_str;

typedef struct brr_strlist {
  brr_str *v;
  size_t n;
} brr_strlist;

/* An ordered map entry whose value is kept raw (NULL for YAML null). */
typedef struct brr_kv {
  brr_str key;
  const brr_value *val;
} brr_kv;

typedef struct brr_kvlist {
  brr_kv *v;
  size_t n;
} brr_kvlist;

typedef enum { BRR_UNSET = -1, BRR_FALSE = 0, BRR_TRUE = 1 } brr_tri;

/* ---- run config model (spec §2) ------------------------------------------------------- */

typedef struct brr_inject {
  brr_str glob;     /* source glob, relative to the build dir */
  brr_str dest;     /* destination in the context; dest.s == NULL for a YAML null */
} brr_inject;

typedef struct brr_build {
  const brr_value *node;        /* the `build:` node (string or map) */
  brr_str path;                 /* context dir as written (relative to the build dir) */
  char *path_abs;               /* resolved context dir, or NULL */
  brr_str dockerfile;           /* as written */
  bool dockerfile_inline;       /* true: dockerfile.s is Dockerfile text, not a path */
  char *dockerfile_abs;         /* resolved Dockerfile path when it is a file, else NULL */
  brr_str target;
  brr_tri pull;
  brr_str platform;
  brr_strlist platforms;        /* n == 0: not multi-platform */
  bool no_cache;
  brr_inject *inject;
  size_t n_inject;
  brr_kvlist buildargs;         /* values kept raw; use brr_val_pystr for the string */
  const brr_value *cache_from;  /* raw: str | map | list[map] | list[str] */
  brr_strlist cache_from_refs;  /* image references named by cache_from (str, or map `ref`) */
  const brr_value *cache_to;    /* raw: str | map */
  brr_str import;               /* tar to `docker import`; the other keys are ignored */
  brr_strlist secrets;
} brr_build;

typedef struct brr_wait_for {
  int64_t port;
  int64_t timeout;              /* seconds; 600 when not given */
  brr_mark mark;
} brr_wait_for;

/* Keys shared by run steps and services (spec §2.2). */
typedef struct brr_runlike {
  const brr_value *node;
  brr_str image;
  brr_str cmd;
  brr_strlist cmds;
  brr_kvlist provisioners;      /* shell: path | salt: sls, values raw strings */
  brr_str shell;
  brr_str cwd;
  brr_str user;
  brr_str hostname;
  brr_strlist dns;
  brr_str dns_search;
  brr_kvlist extra_hosts;       /* host -> IP or service name (raw string) */
  brr_kvlist env;               /* name -> raw value (NULL/null: bare KEY) */
  brr_kvlist files;             /* alias-or-relpath -> "mountpoint[:ro|:rw]" */
  brr_strlist volumes_from;     /* service names, optional ":opt" */
  brr_kvlist ports;             /* key is the container port as text; value raw int or null */
  brr_tri pull;
  brr_tri systemd;
  brr_tri systemd_cgroup2;
  brr_strlist containers;
  brr_kvlist caches;            /* key -> raw str or list[str] */
  const brr_value *mem_limit;   /* raw str or int, or NULL */
  bool has_cpu_shares, has_cpu_period, has_cpu_quota;
  int64_t cpu_shares, cpu_period, cpu_quota;
} brr_runlike;

typedef struct brr_service {
  brr_str name;
  brr_runlike c;
  brr_build *build;             /* a service needs exactly one of build / c.image */
  brr_wait_for *wait_for;
  size_t n_wait_for;
  bool inject_ssh_agent;
} brr_service;

typedef struct brr_run {
  brr_runlike c;
  bool xfail;
  brr_service *services;
  size_t n_services;
  brr_strlist ssh_keys;
  brr_str platform;
  brr_kvlist artifacts;         /* glob -> raw props map, or NULL/falsy */
  brr_strlist cap_add;
  bool privileged;
  brr_build *post_build;        /* str path or build map, or NULL */
} brr_run;

typedef struct brr_pushspec {
  brr_mark mark;
  brr_str repository;           /* as written (a ":tag" inside is split off at task time) */
  brr_strlist tags;             /* after build-tag injection (spec §8 loader) */
  bool add_build_tag;
  bool push;                    /* true under `push:`, false under `commit:` */
  const brr_value *security_scan; /* raw map or NULL */
} brr_pushspec;

typedef struct brr_remote {
  brr_str host;
  brr_str cmd;
  brr_kvlist artifacts;
} brr_remote;

typedef struct brr_pypi_push {
  brr_mark mark;
  brr_str repository, username, password;
  bool skip_existing;
} brr_pypi_push;

typedef struct brr_step {
  brr_str name;
  size_t index;                 /* position in the file */
  const brr_value *node;
  brr_build *build;
  brr_run *run;
  brr_pushspec *commit;
  size_t n_commit;
  brr_pushspec *push;
  size_t n_push;
  brr_remote *remote;
  brr_pypi_push *pypi_push;
  size_t n_pypi_push;
  brr_strlist depends;          /* as written, honoured whatever the version (graph warns) */
  brr_strlist inputs;           /* brr: globs narrowing the source hash (docs/incremental.md) */
  brr_tri incremental;          /* brr: `incremental: false` never reuses the step */
} brr_step;

/* ---- global config model (spec §3) ---------------------------------------------------- */

/* brr: one engine of `engines:` (docs/engine.md#several-engines). */
typedef struct brr_engine_conf {
  const char *name;
  const char *context;          /* {context: NAME}, or NULL */
  const char *host;             /* {host: URL}, or NULL */
  brr_tri tls_verify;           /* host: TLS, the engine verified unless false */
  const char *cert_path;        /* host: ca.pem, cert.pem, key.pem (NULL: ~/.docker) */
  int jobs;                     /* nodes at once on it (default 4) */
  brr_strlist platforms;        /* its native platforms ("linux/arm64"), may be empty */
  brr_mark mark;                /* its key */
} brr_engine_conf;

typedef struct brr_global {
  const brr_value *root;        /* merged, scrubbed global config */
  const brr_value *github;      /* raw */
  const brr_value *env;         /* raw map or NULL */
  const brr_value *build_servers;
  const brr_value *ssh_keys;
  brr_kvlist local_files;       /* alias -> resolved path (user files) or literal (master) */
  const brr_value *docker_build_cache;  /* raw {builders, from, to} */
  char *caches_root;            /* expanded; default ~/.buildrunner/caches */
  const char *docker_registry;  /* default "docker.io" */
  char *temp_dir;               /* $BUILDRUNNER_TEMPDIR, else the system tmp */
  brr_tri disable_multi_platform;
  const char *build_registry;   /* default "local" */
  brr_kvlist platform_builders; /* platform -> raw str or list[str] */
  const brr_value *security_scan;
  brr_strlist moving_tags;      /* brr: tags pushed last; "latest" is always one */
  brr_kvlist pools;             /* brr: pool name -> raw int limit */
  brr_tri incremental;          /* brr: reuse unchanged nodes (docs/incremental.md) */
  brr_engine_conf *engines;     /* brr: `engines:` in file order; n_engines 0: one engine
                                   chosen as the docker CLI does */
  size_t n_engines;
} brr_global;

/* ---- the loaded configuration ----------------------------------------------------------- */

typedef struct brr_config {
  brr_arena *arena;             /* owns everything below */
  brr_global global;
  const char *build_dir;        /* absolute, real path of -d */
  const char *results_dir;      /* absolute */
  const char *project_file;     /* absolute path of the file finally loaded (after redirects) */
  const char *project_text;     /* rendered text of the project file */
  size_t project_text_len;
  const brr_value *root;        /* the project file's value tree */
  const brr_value *env_dict;    /* BUILDRUNNER_*, VCSINFO_*, global env, prefixed host vars */
  bool has_version;
  double version;
  bool use_legacy_builder;      /* default true */
  brr_step *steps;
  size_t n_steps;
  /* build identity (spec §6) */
  const char *build_id;
  const char *build_docker_tag;
  const char *build_number;
  int64_t build_time;
  /* the global config files read, in order (absolute; missing ones are not listed) */
  const char **global_files;
  size_t n_global_files;
  bool vcs_found;               /* false: placeholder identity (not a git work tree root) */
} brr_config;

/* What a generated-file hook is told about a rendered file. */
typedef enum {
  BRR_GEN_GLOBAL,    /* a global config file (each hop of its redirects too) */
  BRR_GEN_REDIRECT,  /* a project file whose `redirect:` sent the loader elsewhere */
  BRR_GEN_PROJECT,   /* the project file finally used */
} brr_generated_kind;

/* Called with each file's rendered text as soon as it is rendered and parsed (also when the
 * parse failed, so --print-generated-files shows what the YAML parser saw). */
typedef void (*brr_generated_fn)(void *ud, brr_generated_kind kind, const char *file,
                                 const char *text, size_t len);

/* What the command line says about loading. */
typedef struct brr_load_opts {
  const char *build_dir;        /* -d, default cwd */
  const char *file;             /* -f, default buildrunner.yaml (relative to build_dir) */
  const char *global_config;    /* -c, default <build_dir>/.buildrunner.yaml */
  const char *results_dir;      /* -b, default <build_dir>/buildrunner.results */
  const char *build_number;     /* -n, default the build time */
  const char *platform;         /* --platform */
  bool push;                    /* --push (BUILDRUNNER_DO_PUSH) */
  bool disable_multi_platform;  /* --disable-multi-platform */
  bool strict_templates;        /* --strict-templates: an undefined variable printed is an error */
  char **steps;                 /* --steps, NULL-terminated, or NULL */
  const brr_value *global_overrides;  /* deep-merged over the global config last, or NULL */
  /* --security-scan-*: deep-merged into the global `security-scan` last (NULL: not given).
   * config_file is YAML holding a map (read relative to the cwd); a missing or bad file is a
   * configuration error (78). The threshold is a float's text. */
  const char *security_scan_enabled;        /* "true" / "false" */
  const char *security_scan_scanner;
  const char *security_scan_version;
  const char *security_scan_config_file;
  const char *security_scan_max_score_threshold;
  int64_t build_time;           /* 0: now */
  /* test hooks: replace /etc/buildrunner/buildrunner.yaml and ~/.buildrunner.yaml; when
   * NULL, $BRR_MASTER_CONFIG / $BRR_USER_CONFIG do, then the real paths; "" reads no file */
  const char *master_config_path;
  const char *user_config_path;
  /* --print-generated-files / --log-generated-files: told about every rendered file */
  brr_generated_fn on_generated;
  void *on_generated_ud;
} brr_load_opts;

/* Load, render, validate and type the global config chain and the project file.
 * Returns 0, or a negative BRR_E* with the reasons in `d` (exit code via brr_diags_exit_code).
 * Warnings may be added on success. Marks in `d` stay valid after brr_config_free. */
int brr_config_load(const brr_load_opts *opts, brr_config **out, brr_diags *d);
void brr_config_free(brr_config *cfg);

/* The JSON Schema (draft-07) of buildrunner.yaml, or of the global configuration when `global`,
 * made from the validator's key tables (src/config/schema_json.c); free() it. `untyped`
 * (may be NULL) gets the first key the validator takes that the schema has no type for, or
 * NULL when every key is typed. */
char *brr_config_schema_json(bool global, const char **untyped);

/* Find a step by name, or NULL. */
const brr_step *brr_config_step(const brr_config *cfg, const char *name);

#endif
