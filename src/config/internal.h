/* Private declarations shared by the files of the config module (yaml, global, project,
 * schema*). Nothing outside src/config includes this. */
#ifndef BRR_CONFIG_INTERNAL_H
#define BRR_CONFIG_INTERNAL_H

#include "brr/config.h"
#include "brr/template.h"

/* ---- YAML ---------------------------------------------------------------------------- */

/* brr_yaml_load, but marks (and syntax-error positions) are translated through `line_map`
 * (output line i+1 -> source line line_map[i]) so they name the user's source lines when the
 * text came out of the template engine; columns stay those of the rendered line, and error
 * snippets show the rendered line the parser saw. `line_map` may be NULL. */
brr_value *brr_yaml_load_mapped(brr_arena *a, const char *text, size_t len, const char *file,
                                const unsigned *line_map, size_t n_lines, brr_diags *d);

/* Interned file name for marks: lives until the process exits, so diagnostics that outlive a
 * brr_config (printed after brr_config_free) still name their file. */
const char *brr_config_intern(const char *s);

/* ---- rendering --------------------------------------------------------------------- */

/* What one file render needs. */
typedef struct brr_render_ctx {
  const brr_value *vars;           /* template variables (a map) */
  const brr_value *read_yaml_vars; /* what read_yaml_file renders its file with */
  int64_t build_time;
  bool strict;                     /* --strict-templates: printing an undefined value is an error */
} brr_render_ctx;

/* Render `text` (file `file`) and append to `out`; the line map is returned as with
 * brr_template_render (free() it). */
int brr_config_render_mapped(const char *text, size_t len, const char *file,
                             const brr_render_ctx *rc, brr_buf *out, unsigned **line_map,
                             size_t *n_lines, brr_diags *d);

/* A file fetched, rendered and parsed, after following redirects. */
typedef struct brr_loaded_file {
  const char *path;        /* absolute path of the file whose contents were used (interned) */
  const char *first_path;  /* the file named first (CONFIG_FILE), interned */
  char *text;              /* rendered text of `path` (arena) */
  size_t len;
  brr_value *root;         /* parsed tree (an empty map for an empty document) */
} brr_loaded_file;

/* Fetch `path` (absolute), render with `vars`, parse, follow `redirect:` (loop -> error).
 * `kind` is what the generated-file hook is told. Returns 0 or BRR_ECONFIG. */
int brr_config_fetch(brr_arena *a, const char *path, const brr_render_ctx *rc,
                     const brr_load_opts *opts, brr_generated_kind kind, brr_loaded_file *out,
                     brr_diags *d);

/* Build the template variables for a file: `base` map entries, then CONFIG_FILE, CONFIG_DIR,
 * env (host environment), DOCKER_REGISTRY (NULL -> None), then `over` laid on top. */
brr_value *brr_config_template_vars(brr_arena *a, const brr_value *base, const char *config_file,
                                    const char *docker_registry, const brr_value *over);

/* ---- global config ------------------------------------------------------------------- */

/* Load, scrub, merge and validate the global config chain into cfg->global. */
int brr_config_load_global(brr_config *cfg, const brr_load_opts *opts, brr_diags *d);

/* ---- schema -------------------------------------------------------------------------- */

/* The checker every schema function reports through. */
typedef struct brr_schk {
  brr_arena *a;
  brr_diags *d;
  size_t n_errors;   /* errors this checker added */
  brr_arena *paths;  /* where key paths go (they only name keys in diagnostics, which copy
                        them): freed after the steps are checked; NULL: `a` */
} brr_schk;

/* Dotted path "a.b" built in the arena. */
const char *brr_schk_path(brr_schk *c, const char *base, const char *key);
const char *brr_schk_index(brr_schk *c, const char *base, size_t i);
void brr_schk_error(brr_schk *c, const brr_value *at, const char *path, const char *fmt, ...)
    BRR_PRINTF(4, 5);
void brr_schk_error_mark(brr_schk *c, brr_mark m, const char *path, const char *fmt, ...)
    BRR_PRINTF(4, 5);
/* The mark of `key` itself in `map`, or `fallback`: an error about a key points at the key,
 * not at the first line of its value. */
brr_mark brr_schk_key_mark(const brr_value *map, const char *key, brr_mark fallback);
/* "expected <what>, got <type of v>" */
void brr_schk_expected(brr_schk *c, const brr_value *v, const char *path, const char *what);

/* Check that `map` is a map whose keys are all strings among `allowed`; unknown keys are
 * errors with a did-you-mean. Returns false when `map` is not a map (error added). */
bool brr_schk_keys(brr_schk *c, const brr_value *map, const char *path,
                   const char *const *allowed, size_t n_allowed, const char *what);
/* A required key present? (error "missing required key" at the map when not) */
bool brr_schk_required(brr_schk *c, const brr_value *map, const char *path, const char *key);

/* Typed readers. All treat YAML null (and an absent key, v == NULL) as "not set" and return
 * true; they return false after adding an error. Pydantic-v2-lax rules (spec §2). */
bool brr_schk_str(brr_schk *c, const brr_value *v, const char *path, brr_str *out);
bool brr_schk_bool(brr_schk *c, const brr_value *v, const char *path, brr_tri *out);
bool brr_schk_int(brr_schk *c, const brr_value *v, const char *path, bool *set, int64_t *out);
bool brr_schk_float(brr_schk *c, const brr_value *v, const char *path, bool *set, double *out);
bool brr_schk_strlist(brr_schk *c, const brr_value *v, const char *path, brr_strlist *out);
/* Map with string keys; values checked by `val` (NULL: any value kept raw). */
typedef bool (*brr_schk_val_fn)(brr_schk *c, const brr_value *v, const char *path);
bool brr_schk_map(brr_schk *c, const brr_value *v, const char *path, brr_schk_val_fn val,
                  brr_kvlist *out);
/* An `env:` map: brr_schk_map, and each key a valid variable name for a process environment
 * (not empty, no '=', no NUL): an error at the key otherwise. */
bool brr_schk_env(brr_schk *c, const brr_value *v, const char *path, brr_kvlist *out);
/* Value checkers for brr_schk_map. */
bool brr_schk_val_str(brr_schk *c, const brr_value *v, const char *path);
bool brr_schk_val_opt_str(brr_schk *c, const brr_value *v, const char *path);
bool brr_schk_val_str_or_strlist(brr_schk *c, const brr_value *v, const char *path);
bool brr_schk_val_strlist(brr_schk *c, const brr_value *v, const char *path);

/* Lax conversions without reporting (used where a value was already checked). */
bool brr_lax_bool(const brr_value *v, bool *out);
bool brr_lax_int(const brr_value *v, int64_t *out);

/* `build:` of a step, a service or post-build (a string means {path: s}); NULL when absent
 * or when it is not even a map. Resolves path and dockerfile against cfg->build_dir. */
brr_build *brr_schema_build(brr_schk *c, const brr_config *cfg, const brr_value *parent,
                            const char *key, const char *path);
/* The keys run steps and services share; unknown keys are checked by the caller. */
void brr_schema_runlike(brr_schk *c, const brr_value *node, const char *path, brr_runlike *r);

/* Validate the project tree (cfg->root) into cfg->steps etc. Build-tag injection uses
 * cfg->build_docker_tag. Returns the number of errors added. */
size_t brr_schema_project(brr_config *cfg, brr_diags *d);
/* The step-level part (one step's map -> brr_step). */
void brr_schema_step(brr_schk *c, brr_config *cfg, const brr_value *key, const brr_value *node,
                     brr_step *out);
/* The cross-step rules of spec §2.3, after every step validated. */
void brr_schema_cross(brr_schk *c, brr_config *cfg);
/* Validate the merged global config tree into cfg->global. Returns the number of errors. */
size_t brr_schema_global(brr_config *cfg, const brr_value *root, brr_diags *d);

#endif
