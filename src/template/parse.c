/* Template parser: Jinja2's grammar (jinja2/parser.py) over the token array from lex.c.
 * Node field use per kind:
 *   OUTPUT l1=children          FOR a=target b=iter c=test l1=body l2=else flag=recursive
 *   IF a=test l1=body l2=elifs (IF nodes) l3=else       MACRO s=name l1=params l2=defaults l3=body
 *   CALLBLOCK a=call l1=params l2=defaults l3=body      FILTERBLOCK a=filter(a=NULL) l1=body
 *   WITH l1=targets l2=values l3=body   ASSIGN a=target b=value   ASSIGNBLOCK a=target b=filter l1=body
 *   EXPRSTMT a   BLOCK s=name l1=body   INCLUDE a=template   UNSUPPORTED s=tag
 *   GETATTR a s   GETITEM a b   SLICE a b c   CALL/FILTER/TEST a l1=args l2=kwargs c=*args d=**kw
 *   COMPARE a l1=operands(op a)   CONDEXPR a=value-if-true b=test c=else   PAIR/BINOP/AND/OR a b */
#include <stdlib.h>
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

static const ttok *cur(parser *P) { return &P->t[P->i]; }
static const ttok *look(parser *P) { return &P->t[P->i + 1 < P->n ? P->i + 1 : P->i]; }
static const ttok *next(parser *P) {
  const ttok *t = &P->t[P->i];
  if (P->i + 1 < P->n) P->i++;
  return t;
}
static bool is_name(const ttok *t, const char *name) { return t->type == TK_NAME && strcmp(t->s, name) == 0; }
static bool skip_if(parser *P, int type) {
  if (cur(P)->type != type) return false;
  next(P);
  return true;
}
static bool skip_name(parser *P, const char *name) {
  if (!is_name(cur(P), name)) return false;
  next(P);
  return true;
}

BRR_NORETURN static void fail(parser *P, const ttok *t, const char *fmt, ...) BRR_PRINTF(3, 4);
static void fail(parser *P, const ttok *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  char *m = tstrdup(P->c, msg);
  free(msg);
  terr_at(P->c, t->line, t->col, "%s", m);
}

static const char *describe_type(int type) {
  ttok t = {.type = (uint8_t)type};
  return ttok_describe(&t);
}

static const ttok *expect(parser *P, int type) {
  const ttok *t = cur(P);
  if (t->type != type) {
    if (t->type == TK_EOF) fail(P, t, "unexpected end of template, expected '%s'.", describe_type(type));
    fail(P, t, "expected token '%s', got '%s'", describe_type(type), ttok_describe(t));
  }
  return next(P);
}

static const ttok *expect_name(parser *P, const char *name) {
  const ttok *t = cur(P);
  if (!is_name(t, name)) {
    if (t->type == TK_EOF) fail(P, t, "unexpected end of template, expected '%s'.", name);
    fail(P, t, "expected token '%s', got '%s'", name, ttok_describe(t));
  }
  return next(P);
}

static tnode *mk(parser *P, int kind, const ttok *at) {
  tnode *n = talloc(P->c, sizeof *n);
  n->kind = (uint8_t)kind;
  n->line = n->jline = at->line;
  n->col = at->col;
  return n;
}

static void push(parser *P, tnodes *l, tnode *n) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4;
    l->v = tgrow(P->c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = n;
}

static void enter(parser *P) {
  if (++P->depth > MAX_DEPTH) fail(P, cur(P), "template nested too deeply (brr allows %d levels)", MAX_DEPTH);
}

/* ---- expressions ---- */
static tnode *parse_expression(parser *P, bool with_condexpr);
static tnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *const *extra_end,
                          bool explicit_parens);
static tnode *parse_unary(parser *P, bool with_filter);
static tnode *parse_filter(parser *P, tnode *node, bool start_inline);
static tnode *parse_postfix(parser *P, tnode *node);

static tnode *parse_condexpr(parser *P) {
  const ttok *at = cur(P);
  tnode *e1 = parse_expression(P, false);
  while (skip_name(P, "if")) {
    tnode *e2 = parse_expression(P, false);
    tnode *e3 = skip_name(P, "else") ? parse_condexpr(P) : NULL;
    tnode *n = mk(P, N_CONDEXPR, at);
    n->a = e1;
    n->b = e2;
    n->c = e3;
    e1 = n;
    at = cur(P);
  }
  return e1;
}

static tnode *parse_not(parser *P);
static tnode *parse_and(parser *P) {
  const ttok *at = cur(P);
  tnode *left = parse_not(P);
  while (skip_name(P, "and")) {
    tnode *n = mk(P, N_AND, at);
    n->a = left;
    n->b = parse_not(P);
    left = n;
    at = cur(P);
  }
  return left;
}

static tnode *parse_or(parser *P) {
  const ttok *at = cur(P);
  tnode *left = parse_and(P);
  while (skip_name(P, "or")) {
    tnode *n = mk(P, N_OR, at);
    n->a = left;
    n->b = parse_and(P);
    left = n;
    at = cur(P);
  }
  return left;
}

static tnode *parse_expression(parser *P, bool with_condexpr) {
  enter(P);
  tnode *n = with_condexpr ? parse_condexpr(P) : parse_or(P);
  P->depth--;
  return n;
}

static tnode *parse_math1(parser *P);
static tnode *parse_compare(parser *P) {
  const ttok *at = cur(P);
  tnode *expr = parse_math1(P);
  tnode *cmp = NULL;
  for (;;) {
    int t = cur(P)->type, op = -1;
    if (t == TK_EQ) op = OP_EQ;
    else if (t == TK_NE) op = OP_NE;
    else if (t == TK_LT) op = OP_LT;
    else if (t == TK_LTEQ) op = OP_LTEQ;
    else if (t == TK_GT) op = OP_GT;
    else if (t == TK_GTEQ) op = OP_GTEQ;
    const ttok *opt = cur(P);
    if (op >= 0) next(P);
    else if (skip_name(P, "in")) op = OP_IN;
    else if (is_name(cur(P), "not") && is_name(look(P), "in")) {
      next(P);
      next(P);
      op = OP_NOTIN;
    } else break;
    tnode *o = mk(P, N_OPERAND, opt);
    o->op = (uint8_t)op;
    o->a = parse_math1(P);
    if (!cmp) {
      cmp = mk(P, N_COMPARE, at);
      cmp->a = expr;
    }
    push(P, &cmp->l1, o);
    cmp->jline = cur(P)->line;
  }
  return cmp ? cmp : expr;
}

static tnode *parse_not(parser *P) {
  if (is_name(cur(P), "not")) {
    const ttok *at = next(P);
    enter(P);
    tnode *n = mk(P, N_NOT, at);
    n->a = parse_not(P);
    P->depth--;
    return n;
  }
  return parse_compare(P);
}

static tnode *binop(parser *P, const ttok *at, int op, tnode *a, tnode *b) {
  tnode *n = mk(P, N_BINOP, at);
  n->op = (uint8_t)op;
  n->a = a;
  n->b = b;
  return n;
}

/* Jinja2 gives a chain of binary operators the line where it starts, then the line of each
 * following operator */
static tnode *binop_line(tnode *n, unsigned *jline, const parser *P) {
  n->jline = *jline;
  *jline = P->t[P->i].line;
  return n;
}

static tnode *parse_pow(parser *P) {
  unsigned jl = cur(P)->line;
  tnode *left = parse_unary(P, true);
  while (cur(P)->type == TK_POW) {
    const ttok *at = next(P);
    left = binop_line(binop(P, at, OP_POW, left, parse_unary(P, true)), &jl, P);
  }
  return left;
}

static tnode *parse_math2(parser *P) {
  unsigned jl = cur(P)->line;
  tnode *left = parse_pow(P);
  for (;;) {
    int t = cur(P)->type;
    int op = t == TK_MUL ? OP_MUL : t == TK_DIV ? OP_DIV : t == TK_FLOORDIV ? OP_FLOORDIV : t == TK_MOD ? OP_MOD : -1;
    if (op < 0) break;
    const ttok *at = next(P);
    left = binop_line(binop(P, at, op, left, parse_pow(P)), &jl, P);
  }
  return left;
}

static tnode *parse_concat(parser *P) {
  const ttok *at = cur(P);
  tnode *first = parse_math2(P);
  if (cur(P)->type != TK_TILDE) return first;
  tnode *n = mk(P, N_CONCAT, at);
  push(P, &n->l1, first);
  while (skip_if(P, TK_TILDE)) push(P, &n->l1, parse_math2(P));
  return n;
}

static tnode *parse_math1(parser *P) {
  unsigned jl = cur(P)->line;
  tnode *left = parse_concat(P);
  for (;;) {
    int t = cur(P)->type;
    if (t != TK_ADD && t != TK_SUB) break;
    const ttok *at = next(P);
    left = binop_line(binop(P, at, t == TK_ADD ? OP_ADD : OP_SUB, left, parse_concat(P)), &jl, P);
  }
  return left;
}

static tnode *parse_list(parser *P) {
  tnode *n = mk(P, N_LIST, expect(P, TK_LBRACKET));
  while (cur(P)->type != TK_RBRACKET) {
    if (n->l1.n) expect(P, TK_COMMA);
    if (cur(P)->type == TK_RBRACKET) break;
    push(P, &n->l1, parse_expression(P, true));
  }
  expect(P, TK_RBRACKET);
  return n;
}

static tnode *parse_dict(parser *P) {
  tnode *n = mk(P, N_DICT, expect(P, TK_LBRACE));
  while (cur(P)->type != TK_RBRACE) {
    if (n->l1.n) expect(P, TK_COMMA);
    if (cur(P)->type == TK_RBRACE) break;
    const ttok *at = cur(P);
    tnode *key = parse_expression(P, true);
    expect(P, TK_COLON);
    tnode *pair = mk(P, N_PAIR, at);
    pair->a = key;
    pair->b = parse_expression(P, true);
    push(P, &n->l1, pair);
  }
  expect(P, TK_RBRACE);
  return n;
}

static tnode *parse_primary(parser *P) {
  const ttok *t = cur(P);
  tnode *n;
  enter(P);
  if (t->type == TK_NAME) {
    next(P);
    if (!strcmp(t->s, "true") || !strcmp(t->s, "True") || !strcmp(t->s, "false") || !strcmp(t->s, "False")) {
      n = mk(P, N_CONST, t);
      n->k = tv_bool(t->s[0] == 't' || t->s[0] == 'T');
    } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
      n = mk(P, N_CONST, t);
      n->k = TV_NONE_V;
    } else {
      n = mk(P, N_NAME, t);
      n->s = t->s;
      n->slen = t->n;
      n->op = CTX_LOAD;
    }
  } else if (t->type == TK_STRING) {
    next(P);
    n = mk(P, N_CONST, t);
    if (cur(P)->type != TK_STRING) {
      n->k = tv_str_nocopy(t->s, t->n);
    } else { /* adjacent literals concatenate */
      tbuf b = {0};
      tbuf_add(P->c, &b, t->s, t->n);
      while (cur(P)->type == TK_STRING) {
        const ttok *u = next(P);
        tbuf_add(P->c, &b, u->s, u->n);
      }
      n->k = tbuf_str(P->c, &b);
    }
  } else if (t->type == TK_INT || t->type == TK_FLOAT) {
    next(P);
    n = mk(P, N_CONST, t);
    n->k = t->type == TK_INT ? tv_int(t->i) : tv_float(t->f);
  } else if (t->type == TK_LPAREN) {
    next(P);
    n = parse_tuple(P, false, true, NULL, true);
    expect(P, TK_RPAREN);
  } else if (t->type == TK_LBRACKET) {
    n = parse_list(P);
  } else if (t->type == TK_LBRACE) {
    n = parse_dict(P);
  } else {
    fail(P, t, "unexpected '%s'", ttok_describe(t));
  }
  P->depth--;
  return n;
}

static bool tuple_end(parser *P, const char *const *extra_end) {
  int t = cur(P)->type;
  if (t == TK_VAR_END || t == TK_BLOCK_END || t == TK_RPAREN) return true;
  for (; extra_end && *extra_end; extra_end++)
    if (is_name(cur(P), *extra_end)) return true;
  return false;
}

static tnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *const *extra_end,
                          bool explicit_parens) {
  const ttok *at = cur(P);
  tnode *tup = mk(P, N_TUPLE, at);
  bool is_tuple = false;
  for (;;) {
    if (tup->l1.n) expect(P, TK_COMMA);
    if (tuple_end(P, extra_end)) break;
    push(P, &tup->l1, simplified ? parse_primary(P) : parse_expression(P, with_condexpr));
    if (cur(P)->type == TK_COMMA) is_tuple = true;
    else break;
    tup->jline = cur(P)->line;
  }
  if (!is_tuple) {
    if (tup->l1.n) return tup->l1.v[0];
    if (!explicit_parens) fail(P, cur(P), "Expected an expression, got '%s'", ttok_describe(cur(P)));
  }
  return tup;
}

static void parse_call_args(parser *P, tnode *n) {
  const ttok *open = expect(P, TK_LPAREN);
  bool require_comma = false;
  while (cur(P)->type != TK_RPAREN) {
    if (require_comma) {
      expect(P, TK_COMMA);
      if (cur(P)->type == TK_RPAREN) break;
    }
    if (cur(P)->type == TK_MUL) {
      if (n->c || n->d) fail(P, open, "invalid syntax for function call expression");
      next(P);
      n->c = parse_expression(P, true);
    } else if (cur(P)->type == TK_POW) {
      if (n->d) fail(P, open, "invalid syntax for function call expression");
      next(P);
      n->d = parse_expression(P, true);
    } else if (cur(P)->type == TK_NAME && look(P)->type == TK_ASSIGN) {
      if (n->d) fail(P, open, "invalid syntax for function call expression");
      const ttok *key = next(P);
      next(P);
      tnode *kw = mk(P, N_KEYWORD, key);
      kw->s = key->s;
      kw->a = parse_expression(P, true);
      push(P, &n->l2, kw);
    } else {
      if (n->c || n->d || n->l2.n) fail(P, open, "invalid syntax for function call expression");
      push(P, &n->l1, parse_expression(P, true));
    }
    require_comma = true;
  }
  expect(P, TK_RPAREN);
}

static tnode *parse_call(parser *P, tnode *callee) {
  tnode *n = mk(P, N_CALL, cur(P));
  n->a = callee;
  parse_call_args(P, n);
  return n;
}

static tnode *parse_subscribed(parser *P) {
  const ttok *at = cur(P);
  tnode *args[3] = {NULL, NULL, NULL};
  if (cur(P)->type == TK_COLON) {
    next(P);
  } else {
    tnode *node = parse_expression(P, true);
    if (cur(P)->type != TK_COLON) return node;
    next(P);
    args[0] = node;
  }
  if (cur(P)->type != TK_COLON && cur(P)->type != TK_RBRACKET && cur(P)->type != TK_COMMA)
    args[1] = parse_expression(P, true);
  if (cur(P)->type == TK_COLON) {
    next(P);
    if (cur(P)->type != TK_RBRACKET && cur(P)->type != TK_COMMA) args[2] = parse_expression(P, true);
  }
  tnode *s = mk(P, N_SLICE, at);
  s->a = args[0];
  s->b = args[1];
  s->c = args[2];
  return s;
}

static tnode *parse_subscript(parser *P, tnode *node) {
  const ttok *tok = next(P);
  if (tok->type == TK_DOT) {
    const ttok *attr = next(P);
    if (attr->type == TK_NAME) {
      tnode *n = mk(P, N_GETATTR, tok);
      n->a = node;
      n->s = attr->s;
      n->slen = attr->n;
      return n;
    }
    if (attr->type != TK_INT) fail(P, attr, "expected name or number");
    tnode *k = mk(P, N_CONST, attr);
    k->k = tv_int(attr->i);
    tnode *n = mk(P, N_GETITEM, tok);
    n->a = node;
    n->b = k;
    return n;
  }
  /* '[' */
  tnode *tup = mk(P, N_TUPLE, tok);
  while (cur(P)->type != TK_RBRACKET) {
    if (tup->l1.n) expect(P, TK_COMMA);
    push(P, &tup->l1, parse_subscribed(P));
  }
  expect(P, TK_RBRACKET);
  tnode *n = mk(P, N_GETITEM, tok);
  n->a = node;
  n->b = tup->l1.n == 1 ? tup->l1.v[0] : tup;
  return n;
}

static tnode *parse_postfix(parser *P, tnode *node) {
  for (;;) {
    int t = cur(P)->type;
    if (t == TK_DOT || t == TK_LBRACKET) node = parse_subscript(P, node);
    else if (t == TK_LPAREN) node = parse_call(P, node);
    else return node;
  }
}

/* a dotted filter/test name */
static const char *parse_dotted(parser *P, size_t *len) {
  const ttok *t = expect(P, TK_NAME);
  if (cur(P)->type != TK_DOT) {
    *len = t->n;
    return t->s;
  }
  tbuf b = {0};
  tbuf_add(P->c, &b, t->s, t->n);
  while (skip_if(P, TK_DOT)) {
    tbuf_addc(P->c, &b, '.');
    const ttok *u = expect(P, TK_NAME);
    tbuf_add(P->c, &b, u->s, u->n);
  }
  tv s = tbuf_str(P->c, &b);
  *len = s.slen;
  return s.u.str;
}

static tnode *parse_filter(parser *P, tnode *node, bool start_inline) {
  while (cur(P)->type == TK_PIPE || start_inline) {
    if (!start_inline) next(P);
    const ttok *at = cur(P);
    tnode *f = mk(P, N_FILTER, at);
    f->a = node;
    f->s = parse_dotted(P, &f->slen);
    if (cur(P)->type == TK_LPAREN) parse_call_args(P, f);
    node = f;
    start_inline = false;
  }
  return node;
}

static tnode *parse_test(parser *P, tnode *node) {
  const ttok *is = next(P);
  bool negated = skip_name(P, "not");
  tnode *t = mk(P, N_TEST, is);
  t->a = node;
  const ttok *name_at = cur(P);
  t->s = parse_dotted(P, &t->slen);
  t->col = name_at->col;
  int ty = cur(P)->type;
  if (ty == TK_LPAREN) {
    parse_call_args(P, t);
  } else if ((ty == TK_NAME || ty == TK_STRING || ty == TK_INT || ty == TK_FLOAT || ty == TK_LBRACKET ||
              ty == TK_LBRACE) &&
             !is_name(cur(P), "else") && !is_name(cur(P), "or") && !is_name(cur(P), "and")) {
    if (is_name(cur(P), "is")) fail(P, cur(P), "You cannot chain multiple tests with is");
    push(P, &t->l1, parse_postfix(P, parse_primary(P)));
  }
  if (!negated) return t;
  tnode *n = mk(P, N_NOT, is);
  n->a = t;
  return n;
}

static tnode *parse_filter_expr(parser *P, tnode *node) {
  for (;;) {
    const ttok *t = cur(P);
    if (t->type == TK_PIPE) node = parse_filter(P, node, false);
    else if (is_name(t, "is")) node = parse_test(P, node);
    else if (t->type == TK_LPAREN) node = parse_call(P, node);
    else return node;
  }
}

static tnode *parse_unary(parser *P, bool with_filter) {
  const ttok *t = cur(P);
  tnode *node;
  enter(P);
  if (t->type == TK_SUB || t->type == TK_ADD) {
    next(P);
    node = mk(P, t->type == TK_SUB ? N_NEG : N_POS, t);
    node->a = parse_unary(P, false);
  } else {
    node = parse_primary(P);
  }
  node = parse_postfix(P, node);
  if (with_filter) node = parse_filter_expr(P, node);
  P->depth--;
  return node;
}

/* ---- statements ---- */
static tnodes subparse(parser *P, const char *const *end_tokens);

static bool can_assign(const tnode *n) {
  if (n->kind == N_NAME || n->kind == N_NSREF) return true;
  if (n->kind != N_TUPLE) return false;
  for (size_t i = 0; i < n->l1.n; i++)
    if (!can_assign(n->l1.v[i])) return false;
  return true;
}

static void set_store(tnode *n, int ctx) {
  if (n->kind == N_NAME) n->op = (uint8_t)ctx;
  else if (n->kind == N_TUPLE)
    for (size_t i = 0; i < n->l1.n; i++) set_store(n->l1.v[i], ctx);
}

static const char *node_kind_name(const tnode *n) {
  switch (n->kind) {
  case N_CONST: return "const";
  case N_LIST: return "list";
  case N_DICT: return "dict";
  case N_TUPLE: return "tuple";
  case N_CALL: return "call";
  case N_GETATTR: return "getattr";
  case N_GETITEM: return "getitem";
  default: return "expression";
  }
}

static tnode *parse_assign_target(parser *P, bool with_tuple, bool name_only, const char *const *extra_end,
                                  bool with_namespace) {
  tnode *target;
  if (with_namespace && look(P)->type == TK_DOT) {
    const ttok *t = expect(P, TK_NAME);
    next(P);
    const ttok *attr = expect(P, TK_NAME);
    target = mk(P, N_NSREF, t);
    target->s = t->s;
    target->slen = t->n;
    target->s2 = attr->s;
  } else if (name_only) {
    const ttok *t = expect(P, TK_NAME);
    target = mk(P, N_NAME, t);
    target->s = t->s;
    target->slen = t->n;
    target->op = CTX_STORE;
  } else {
    target = with_tuple ? parse_tuple(P, true, true, extra_end, false) : parse_primary(P);
    set_store(target, CTX_STORE);
  }
  if (!can_assign(target)) {
    ttok at = {.line = target->line, .col = target->col};
    fail(P, &at, "can't assign to '%s'", node_kind_name(target));
  }
  return target;
}

static void push_end(parser *P, const char *const *ends) {
  if (P->nends == BRR_ARRAY_LEN(P->ends)) fail(P, cur(P), "statements nested too deeply");
  P->ends[P->nends++] = ends;
}

BRR_NORETURN static void fail_ut_eof(parser *P, const char *name, const ttok *at) {
  tbuf b = {0};
  tctx *c = P->c;
  if (name) tbuf_printf(c, &b, "Encountered unknown tag '%s'.", name);
  else tbuf_adds(c, &b, "Unexpected end of template.");
  if (P->nends) {
    const char *const *top = P->ends[P->nends - 1];
    bool expected = false;
    for (size_t k = 0; name && k < P->nends; k++)
      for (const char *const *e = P->ends[k]; *e; e++)
        if (!strcmp(*e, name)) expected = true;
    tbuf_adds(c, &b, expected ? " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for "
                              : " Jinja was looking for the following tags: ");
    for (const char *const *e = top; *e; e++) tbuf_printf(c, &b, "%s'%s'", e == top ? "" : " or ", *e);
    tbuf_adds(c, &b, ".");
  }
  if (P->ntags) tbuf_printf(c, &b, " The innermost block that needs to be closed is '%s'.", P->tags[P->ntags - 1]);
  terr_at(c, at->line, at->col, "%s", tbuf_str(c, &b).u.str);
}

static tnodes parse_statements(parser *P, const char *const *end_tokens, bool drop_needle) {
  skip_if(P, TK_COLON);
  expect(P, TK_BLOCK_END);
  tnodes body = subparse(P, end_tokens);
  if (cur(P)->type == TK_EOF) {
    push_end(P, end_tokens);
    fail_ut_eof(P, NULL, cur(P));
  }
  if (drop_needle) next(P);
  return body;
}

static const char *const END_SET[] = {"endset", NULL};
static const char *const END_FOR_ELSE[] = {"endfor", "else", NULL};
static const char *const END_FOR[] = {"endfor", NULL};
static const char *const END_IF_ALL[] = {"elif", "else", "endif", NULL};
static const char *const END_IF[] = {"endif", NULL};
static const char *const END_WITH[] = {"endwith", NULL};
static const char *const END_BLOCK[] = {"endblock", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};
static const char *const END_AUTOESCAPE[] = {"endautoescape", NULL};
static const char *const IN_END[] = {"in", NULL};
static const char *const RECURSIVE_END[] = {"recursive", NULL};

static tnode *parse_for(parser *P) {
  tnode *n = mk(P, N_FOR, expect_name(P, "for"));
  n->a = parse_assign_target(P, true, false, IN_END, false);
  expect_name(P, "in");
  n->b = parse_tuple(P, false, false, RECURSIVE_END, false);
  if (skip_name(P, "if")) n->c = parse_expression(P, true);
  n->flag = skip_name(P, "recursive");
  n->l1 = parse_statements(P, END_FOR_ELSE, false);
  if (strcmp(next(P)->s, "endfor") != 0) n->l2 = parse_statements(P, END_FOR, true);
  return n;
}

static tnode *parse_if(parser *P) {
  tnode *result = mk(P, N_IF, expect_name(P, "if"));
  tnode *node = result;
  for (;;) {
    node->a = parse_tuple(P, false, false, NULL, false);
    node->l1 = parse_statements(P, END_IF_ALL, false);
    const ttok *t = next(P);
    if (is_name(t, "elif")) {
      node = mk(P, N_IF, cur(P));
      push(P, &result->l2, node);
      continue;
    }
    if (is_name(t, "else")) result->l3 = parse_statements(P, END_IF, true);
    break;
  }
  return result;
}

static tnode *parse_set(parser *P) {
  tnode *n = mk(P, N_ASSIGN, next(P));
  tnode *target = parse_assign_target(P, true, false, NULL, true);
  if (skip_if(P, TK_ASSIGN)) {
    n->a = target;
    n->b = parse_tuple(P, false, true, NULL, false);
    return n;
  }
  n->kind = N_ASSIGNBLOCK;
  n->a = target;
  n->b = parse_filter(P, NULL, false);
  n->l1 = parse_statements(P, END_SET, true);
  return n;
}

static void parse_signature(parser *P, tnode *n) {
  expect(P, TK_LPAREN);
  while (cur(P)->type != TK_RPAREN) {
    if (n->l1.n) expect(P, TK_COMMA);
    tnode *arg = parse_assign_target(P, true, true, NULL, false);
    arg->op = CTX_PARAM;
    if (skip_if(P, TK_ASSIGN)) push(P, &n->l2, parse_expression(P, true));
    else if (n->l2.n) fail(P, cur(P), "non-default argument follows default argument");
    push(P, &n->l1, arg);
  }
  expect(P, TK_RPAREN);
}

static tnode *parse_macro(parser *P) {
  tnode *n = mk(P, N_MACRO, next(P));
  tnode *name = parse_assign_target(P, true, true, NULL, false);
  n->s = name->s;
  n->slen = name->slen;
  parse_signature(P, n);
  n->l3 = parse_statements(P, END_MACRO, true);
  return n;
}

static tnode *parse_call_block(parser *P) {
  tnode *n = mk(P, N_CALLBLOCK, next(P));
  if (cur(P)->type == TK_LPAREN) parse_signature(P, n);
  tnode *call = parse_expression(P, true);
  if (call->kind != N_CALL) {
    ttok at = {.line = n->line, .col = n->col};
    fail(P, &at, "expected call");
  }
  n->a = call;
  n->l3 = parse_statements(P, END_CALL, true);
  return n;
}

static tnode *parse_with(parser *P) {
  tnode *n = mk(P, N_WITH, next(P));
  while (cur(P)->type != TK_BLOCK_END) {
    if (n->l1.n) expect(P, TK_COMMA);
    tnode *target = parse_assign_target(P, true, false, NULL, false);
    set_store(target, CTX_PARAM);
    push(P, &n->l1, target);
    expect(P, TK_ASSIGN);
    push(P, &n->l2, parse_expression(P, true));
  }
  n->l3 = parse_statements(P, END_WITH, true);
  return n;
}

static tnode *parse_block(parser *P) {
  tnode *n = mk(P, N_BLOCK, next(P));
  const ttok *name = expect(P, TK_NAME);
  n->s = name->s;
  n->flag = skip_name(P, "scoped");
  bool required = skip_name(P, "required");
  if (cur(P)->type == TK_SUB)
    fail(P, cur(P), "Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an underscore instead.");
  n->l1 = parse_statements(P, END_BLOCK, true);
  if (required) fail(P, cur(P), "brr does not support required blocks");
  skip_name(P, n->s);
  return n;
}

static bool parse_context(parser *P, tnode *n) {
  if ((is_name(cur(P), "with") || is_name(cur(P), "without")) && is_name(look(P), "context")) {
    n->flag2 = is_name(next(P), "with");
    next(P);
    return true;
  }
  return false;
}

static tnode *parse_include(parser *P) {
  tnode *n = mk(P, N_INCLUDE, next(P));
  n->a = parse_expression(P, true);
  if (is_name(cur(P), "ignore") && is_name(look(P), "missing")) {
    n->flag = true;
    next(P);
    next(P);
  }
  n->flag2 = true;
  parse_context(P, n);
  return n;
}

/* extends/import/from: parsed for syntax, refused when rendered (brr renders single files) */
static tnode *parse_unsupported(parser *P) {
  const ttok *t = next(P);
  tnode *n = mk(P, N_UNSUPPORTED, t);
  n->s = t->s;
  n->a = parse_expression(P, true);
  if (!strcmp(t->s, "import")) {
    expect_name(P, "as");
    parse_assign_target(P, true, true, NULL, false);
    parse_context(P, n);
  } else if (!strcmp(t->s, "from")) {
    expect_name(P, "import");
    for (size_t k = 0;; k++) {
      if (k) expect(P, TK_COMMA);
      if (cur(P)->type != TK_NAME) {
        expect(P, TK_NAME);
        break;
      }
      if (parse_context(P, n)) break;
      parse_assign_target(P, true, true, NULL, false);
      if (skip_name(P, "as")) parse_assign_target(P, true, true, NULL, false);
      if (parse_context(P, n) || cur(P)->type != TK_COMMA) break;
    }
  }
  return n;
}

static tnode *parse_statement(parser *P) {
  const ttok *t = cur(P);
  if (t->type != TK_NAME) fail(P, t, "tag name expected");
  if (P->ntags == BRR_ARRAY_LEN(P->tags)) fail(P, t, "statements nested too deeply");
  P->tags[P->ntags++] = t->s;
  tnode *n = NULL;
  const char *name = t->s;
  enter(P);
  if (!strcmp(name, "for")) n = parse_for(P);
  else if (!strcmp(name, "if")) n = parse_if(P);
  else if (!strcmp(name, "set")) n = parse_set(P);
  else if (!strcmp(name, "macro")) n = parse_macro(P);
  else if (!strcmp(name, "call")) n = parse_call_block(P);
  else if (!strcmp(name, "with")) n = parse_with(P);
  else if (!strcmp(name, "block")) n = parse_block(P);
  else if (!strcmp(name, "include")) n = parse_include(P);
  else if (!strcmp(name, "extends") || !strcmp(name, "import") || !strcmp(name, "from")) n = parse_unsupported(P);
  else if (!strcmp(name, "print")) {
    n = mk(P, N_OUTPUT, next(P));
    while (cur(P)->type != TK_BLOCK_END) {
      if (n->l1.n) expect(P, TK_COMMA);
      push(P, &n->l1, parse_expression(P, true));
    }
  } else if (!strcmp(name, "filter")) {
    n = mk(P, N_FILTERBLOCK, next(P));
    n->a = parse_filter(P, NULL, true);
    n->l1 = parse_statements(P, END_FILTER, true);
  } else if (!strcmp(name, "autoescape")) {
    /* autoescape would turn on HTML escaping, which buildrunner never uses */
    n = mk(P, N_UNSUPPORTED, next(P));
    n->s = "autoescape";
    n->a = parse_expression(P, true);
    n->l1 = parse_statements(P, END_AUTOESCAPE, true);
  } else if (P->do_ext && !strcmp(name, "do")) {
    n = mk(P, N_EXPRSTMT, next(P));
    n->a = parse_tuple(P, false, true, NULL, false);
  } else {
    P->ntags--;
    fail_ut_eof(P, name, t);
  }
  P->depth--;
  P->ntags--;
  return n;
}

static bool test_any(const ttok *t, const char *const *names) {
  for (; names && *names; names++)
    if (is_name(t, *names)) return true;
  return false;
}

static tnodes subparse(parser *P, const char *const *end_tokens) {
  tnodes body = {0};
  tnode *out = NULL; /* the Output node collecting data and {{ }} */
  if (end_tokens) push_end(P, end_tokens);
  while (cur(P)->type != TK_EOF) {
    const ttok *t = cur(P);
    if (t->type == TK_DATA) {
      if (!out) out = mk(P, N_OUTPUT, t);
      tnode *d = mk(P, N_DATA, t);
      d->s = t->s;
      d->slen = t->n;
      push(P, &out->l1, d);
      next(P);
    } else if (t->type == TK_VAR_BEGIN) {
      next(P);
      if (!out) out = mk(P, N_OUTPUT, t);
      push(P, &out->l1, parse_tuple(P, false, true, NULL, false));
      expect(P, TK_VAR_END);
    } else if (t->type == TK_BLOCK_BEGIN) {
      if (out) {
        push(P, &body, out);
        out = NULL;
      }
      next(P);
      if (end_tokens && test_any(cur(P), end_tokens)) {
        P->nends--;
        return body;
      }
      push(P, &body, parse_statement(P));
      expect(P, TK_BLOCK_END);
    } else {
      fail(P, t, "unexpected '%s'", ttok_describe(t));
    }
  }
  if (out) push(P, &body, out);
  if (end_tokens) P->nends--;
  return body;
}

tnode *tparse(tctx *c, const ttok *toks, size_t n, bool do_ext) {
  parser P = {.c = c, .t = toks, .n = n, .do_ext = do_ext};
  tnode *root = talloc(c, sizeof *root);
  root->kind = N_TEMPLATE;
  root->line = 1;
  root->col = 1;
  root->l1 = subparse(&P, NULL);
  return root;
}
