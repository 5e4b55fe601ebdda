/* brr template parser: what its two files share (parse_expr.c: expressions; parse.c:
 * statements). Private to src/template/. */
#ifndef BRR_TEMPLATE_PARSER_H
#define BRR_TEMPLATE_PARSER_H

#include <string.h>

#include "internal.h"

#define MAX_DEPTH 200

typedef struct parser {
  tctx *c;
  const ttok *t;
  size_t n, i;
  bool do_ext;
  const char *tags[64]; /* open statement tags, for messages */
  size_t ntags;
  const char *const *ends[64]; /* end-token sets being looked for (NULL-terminated lists) */
  size_t nends;
  int depth;
} parser;

static inline const ttok *cur(parser *P) { return &P->t[P->i]; }
static inline const ttok *look(parser *P) { return &P->t[P->i + 1 < P->n ? P->i + 1 : P->i]; }
static inline const ttok *next(parser *P) {
  const ttok *t = &P->t[P->i];
  if (P->i + 1 < P->n) P->i++;
  return t;
}
static inline bool is_name(const ttok *t, const char *name) { return t->type == TK_NAME && strcmp(t->s, name) == 0; }
static inline bool skip_if(parser *P, int type) {
  if (cur(P)->type != type) return false;
  next(P);
  return true;
}
static inline bool skip_name(parser *P, const char *name) {
  if (!is_name(cur(P), name)) return false;
  next(P);
  return true;
}

BRR_NORETURN void brr__template_tp_fail(parser *P, const ttok *t, const char *fmt, ...) BRR_PRINTF(3, 4);
const ttok *brr__template_tp_expect(parser *P, int type);
const ttok *brr__template_tp_expect_name(parser *P, const char *name);
tnode *brr__template_tp_mk(parser *P, int kind, const ttok *at);
void brr__template_tp_push(parser *P, tnodes *l, tnode *n);
void brr__template_tp_enter(parser *P); /* one more nesting level; fails beyond MAX_DEPTH */

tnode *brr__template_tp_expression(parser *P, bool with_condexpr);
/* an expression or a comma-separated tuple of them (simplified: names and literals only) */
tnode *brr__template_tp_tuple(parser *P, bool simplified, bool with_condexpr, const char *const *extra_end, bool explicit_parens);
tnode *brr__template_tp_primary(parser *P);
tnode *brr__template_tp_filter(parser *P, tnode *node, bool start_inline);

#endif
