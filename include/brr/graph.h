/* brr — the dependency graph: the validated config compiled into a DAG of units of work,
 * every edge carrying the reason it exists. Pure data and algorithms: no Docker, no loop.
 *
 * Node ids are stable and readable:
 *   <step>/build                    a single-platform build
 *   <step>/build@<platform>         one platform of a multi-platform build
 *   <step>/manifest                 the manifest list joining a step's platform builds
 *   <step>/run                      the run container (services, commands, artifacts)
 *   <step>/post-build               the post-build image
 *   <step>/commit                   local tagging for the step's commit and push specs
 *   <step>/remote                   the `remote` task: cmd run on a host over ssh
 *   push:<repository>:<tag>         one registry push (only with --push)
 *   pypi-push:<step>                the step's Python packages uploaded with twine (--push)
 */
#ifndef BRR_GRAPH_H
#define BRR_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "brr/config.h"
#include "brr/diag.h"
#include "brr/util.h"

#define BRR_NO_STEP ((size_t)-1)

typedef enum {
  BRR_NODE_BUILD,
  BRR_NODE_PLATFORM_BUILD,
  BRR_NODE_MANIFEST,
  BRR_NODE_RUN,
  BRR_NODE_POST_BUILD,
  BRR_NODE_COMMIT,
  BRR_NODE_PUSH,
  BRR_NODE_PYPI_PUSH,
  BRR_NODE_REMOTE,
  BRR_NODE_KIND_COUNT
} brr_node_kind;

typedef enum {
  BRR_EDGE_TASK,          /* build -> run -> commit inside a step; post-build after run */
  BRR_EDGE_DEPENDS,       /* explicit depends: */
  BRR_EDGE_IMAGE,         /* consumer of an image another step produces */
  BRR_EDGE_ARTIFACTS,     /* mentions /artifacts/<step>/ */
  BRR_EDGE_PLATFORM,      /* per-platform build -> manifest; MP base -> MP dependent */
  BRR_EDGE_PUSH_BARRIER,  /* every step before any push (image or PyPI) */
  BRR_EDGE_MOVING_TAG,    /* every immutable push before a moving-tag push */
  BRR_EDGE_SERIAL,        /* --serial / -j 1: buildrunner's exact order */
  BRR_EDGE_REASON_COUNT
} brr_edge_reason;

typedef struct brr_edge {
  size_t from, to;          /* node indices: `to` waits for `from` */
  brr_edge_reason reason;
  brr_mark mark;            /* where in the config the edge comes from (depends entry, image ref) */
  const char *detail;       /* e.g. the image reference that links them, or NULL */
} brr_edge;

typedef struct brr_node {
  const char *id;
  size_t step;              /* index into cfg->steps, or BRR_NO_STEP */
  brr_node_kind kind;
  const char *platform;     /* platform builds (and single builds with a platform), else NULL */
  const char *image;        /* push: "repository:tag" it writes; else NULL */
  const brr_pushspec *pushspec;  /* push: the spec it comes from */
  bool moving;              /* push: a moving tag (latest, global moving-tags) */
  bool base_from_build_registry; /* platform build whose FROM is another MP step's image:
                                    take the base for this platform from the build registry */
  size_t base_step;         /* that base step, or BRR_NO_STEP */
  const char *pool;         /* resource pool ("engine", "push:<host>", "builder:<name>",
                               "ssh:<host>"), or NULL */
  const char *builder;      /* buildx builder from `platform-builders`, or NULL (the default) */
  double weight;            /* expected duration, seconds (default per kind, or history) */
  bool measured;            /* weight is a duration an earlier run measured (history) */
  double priority;          /* heaviest path from this node to the end, weight included */
  unsigned level;           /* longest edge count from a root */
  bool critical;            /* on the critical path */
  size_t *in;               /* incoming edge indices */
  size_t n_in;
  size_t *out;              /* outgoing edge indices */
  size_t n_out;
  /* --graph --incremental (set by the caller, NULL otherwise): whether it would be reused and
   * why not, e.g. "runs: source (inputs:) changed" (docs/incremental.md) */
  const char *incr_note;
  bool incr_reused;
} brr_node;

typedef struct brr_graph {
  brr_arena *arena;         /* owns everything below */
  const brr_config *cfg;
  brr_node *nodes;          /* heap (brr_graph_free frees it) */
  size_t n_nodes;
  brr_edge *edges;
  size_t n_edges;
  size_t *order;            /* a topological order of all nodes: the start order with one slot */
  size_t *critical_path;    /* node indices, first to last */
  size_t n_critical;
  double critical_weight;
  unsigned n_levels;
  size_t *steps;            /* indices of the selected steps, in file order */
  size_t n_steps;
  /* internal to the graph module */
  size_t cap_nodes, cap_edges;
  brr_strmap ids;
} brr_graph;

typedef struct brr_graph_opts {
  bool push;                /* --push: add push and pypi-push nodes */
  bool serial;              /* --serial or -j 1: chain steps in buildrunner's order */
  char **steps;             /* --steps (NULL-terminated) or NULL for all */
  bool with_deps;           /* --with-deps: add what the selected steps depend on */
  const char *platform;     /* --platform: collapses `platforms` */
  bool disable_multi_platform; /* flag or global config: keep one platform */
  /* The graph never asks the host: the caller names the native platform ("linux/amd64"
   * etc.; NULL: "linux/amd64") and hands it the file system it may read Dockerfiles and
   * shell provisioners from (NULL: none, so only inline Dockerfiles are scanned). The CLI
   * passes the host's platform (util.h) and &brr_host_fs. */
  const char *native_platform;
  const brr_fs_ops *fs;
} brr_graph_opts;

typedef enum {
  BRR_GRAPH_TEXT,
  BRR_GRAPH_DOT,
  BRR_GRAPH_MERMAID,
  BRR_GRAPH_JSON,
} brr_graph_format;

/* Compile the config into a graph. Returns 0, or BRR_ECONFIG with diagnostics (unknown
 * depends with a suggestion, cycles printed as a path with each edge's file:line). Warnings
 * (depends in a file buildrunner would ignore it in) are added on success too. */
int brr_graph_compile(const brr_config *cfg, const brr_graph_opts *opts, brr_graph **out,
                      brr_diags *d);
void brr_graph_free(brr_graph *g);

/* ---- building a graph (the compiler and tests use these) ---- */
brr_graph *brr_graph_new(const brr_config *cfg);
/* Add a node (id copied); returns its index. Weight starts at the default for the kind. */
size_t brr_graph_add_node(brr_graph *g, const char *id, brr_node_kind kind, size_t step);
/* Add an edge `from` -> `to` (to waits for from). A second edge between the same two nodes is
 * ignored (the first reason is kept); returns the edge index either way. */
size_t brr_graph_add_edge(brr_graph *g, size_t from, size_t to, brr_edge_reason reason,
                          brr_mark mark, const char *detail);
/* Finish: adjacency lists, cycle check (BRR_ECONFIG with the cycle printed as a path, each
 * edge with its reason and file:line), topological order, levels, priorities, critical path. */
int brr_graph_finish(brr_graph *g, brr_diags *d);
/* Default expected duration of a node kind, seconds. */
double brr_node_default_weight(brr_node_kind k);

/* Set node weights from a lookup (node id -> seconds, negative: keep the default), then
 * recompute priorities, levels and the critical path. */
typedef double (*brr_weight_fn)(void *ud, const brr_node *node);
void brr_graph_set_weights(brr_graph *g, brr_weight_fn fn, void *ud);

/* Print the graph. The same graph gives the same bytes. */
void brr_graph_render(const brr_graph *g, brr_graph_format fmt, brr_buf *out);
/* The same bytes written to `f` (JSON in pieces, never whole in memory). 0, or -1 when a
 * write failed. */
int brr_graph_render_file(const brr_graph *g, brr_graph_format fmt, FILE *f);
int brr_graph_format_parse(const char *s, brr_graph_format *out);   /* 0 or BRR_EINVAL */

const char *brr_node_kind_name(brr_node_kind k);      /* "build", "platform-build", ... */
const char *brr_edge_reason_name(brr_edge_reason r);  /* "task", "depends", ... */
/* The host a `remote` step runs on: the `build-servers` key (user@host) whose alias list holds
 * `host`, else `host` as given (spec: remote-builds). Returns a string of cfg's or `host`. */
const char *brr_remote_host(const brr_config *cfg, const char *host);
/* Normalise an image reference: docker.io/library/ prefix, implicit :latest. Heap string. */
char *brr_image_ref_normalize(const char *ref);

/* ---- Dockerfiles (what the compiler reads to find image edges) ---- */

/* An image a Dockerfile uses. */
typedef struct brr_dockerfile_image {
  const char *ref;          /* after ARG substitution */
  unsigned line;            /* 1-based line where the instruction starts */
  bool copy_from;           /* COPY --from=<image> (else FROM) */
} brr_dockerfile_image;

/* A build argument (`buildargs`, plus DOCKER_REGISTRY). */
typedef struct brr_build_arg {
  const char *name, *value;
} brr_build_arg;

/* The images a Dockerfile uses: every FROM that names neither an earlier stage nor `scratch`,
 * and every COPY --from=<image>. Global ARGs (before the first FROM) are substituted as
 * Docker does: a build arg overrides the default of a declared ARG; undeclared names expand
 * to "". Handles line continuations, comments, the `escape` directive and heredocs.
 * Strings live in `a`; returns the count, *out an array in `a`. */
size_t brr_dockerfile_images(const char *text, size_t len, const brr_build_arg *args,
                             size_t n_args, brr_arena *a, brr_dockerfile_image **out);

#endif
