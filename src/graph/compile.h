/* Private to the graph compiler (compile.c, infer.c, emit.c): the step-level picture the
 * compiler builds before it makes nodes. Not a public interface. */
#ifndef BRR_GRAPH_COMPILE_H
#define BRR_GRAPH_COMPILE_H

#include <stdbool.h>
#include <stddef.h>

#include "brr/graph.h"

/* Which of a step's nodes an edge starts or ends at. */
typedef enum {
  ROLE_ENTRY,     /* the nodes nothing else in the step precedes (builds, else run, else commit) */
  ROLE_EXIT,      /* the one node whose end means the step is done */
  ROLE_BUILD,     /* the build, or every platform build */
  ROLE_RUN,
  ROLE_POST,
  ROLE_COMMIT,
  ROLE_MANIFEST,
} role;

/* An edge between two steps, before nodes exist. */
typedef struct sedge {
  size_t from, to;          /* step indices: `to` waits for `from` */
  unsigned char from_role, to_role;
  unsigned char reason;     /* brr_edge_reason */
  bool ordering;            /* only keeps an image from being overwritten under a reader:
                               not something --with-deps follows */
  bool base;                /* MP base image: mark the target's platform builds */
  brr_mark mark;
  const char *detail;       /* in the compiler's scratch arena, or NULL */
} sedge;

typedef struct stepinfo {
  bool selected;
  bool empty;               /* no build, run, commit or push: no nodes of its own */
  bool mp;                  /* multi-platform build (after --platform / disable collapse) */
  const char **platforms;   /* mp: the platforms built */
  size_t n_platforms;
  const char *platform;     /* single build: its platform, or NULL */
  size_t build, n_build;    /* first build node and how many (n_platforms when mp) */
  size_t manifest, run, post, commit;  /* node indices or BRR_NO_STEP */
  size_t remote;            /* the remote node, or BRR_NO_STEP */
  size_t rank;              /* position in buildrunner's order (--serial) */
  unsigned char state;      /* empty-step resolution: 0 new, 1 visiting, 2 done */
  size_t *exits;            /* empty steps: the nodes that stand for their end */
  size_t n_exits;
} stepinfo;

typedef struct compiler {
  const brr_config *cfg;
  const brr_graph_opts *opts;
  brr_graph *g;
  brr_diags *d;
  brr_arena *tmp;           /* freed when compiling ends */
  stepinfo *si;
  brr_strmap names;         /* step name -> index */
  sedge *se;
  size_t n_se, cap_se;
  const char *native;       /* native platform, "linux/amd64" ... */
  const char *results_rel;  /* results dir relative to the build dir, or NULL */
  size_t *builder_turn;     /* per platform-builders entry: next pick from its list */
  int err;
} compiler;

void brr_graph__add_sedge(compiler *c, sedge e);
/* Add the depends, image and artifacts edges of every step (inferred from the whole file). */
void brr_graph__infer(compiler *c);
/* Resolved Dockerfile text of a build (inline, on disk, or injected); false when none is
 * readable. *file is the path it was read from (in c->g's arena), NULL for inline text. */
bool brr_graph__dockerfile(compiler *c, const brr_build *b, brr_buf *out, const char **file);
/* "repository:tag" for every tag of a commit/push spec: repository lower-cased, a ":tag"
 * inside it split off, tags sanitised as buildrunner does. Strings in c->tmp. */
size_t brr_graph__spec_refs(compiler *c, const brr_pushspec *ps, const char ***out);
/* Make the nodes of the selected steps and every edge between them, then the pushes. */
void brr_graph__emit(compiler *c);

#endif
