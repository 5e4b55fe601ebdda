/* Template parser, expressions: Jinja2's expression grammar (jinja2/parser.py) from
 * conditional expressions down to primaries, plus the parser's shared helpers. Node field
 * use per kind is listed in parse.c. */
#include <stdlib.h>
#include <string.h>

#include "parser.h"

void brr__template_tp_fail(parser *P, const ttok *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  char *m = brr__template_tstrdup(P->c, msg);
  free(msg);
  brr__template_terr_at(P->c, t->line, t->col, "%s", m);
}

static const char *describe_type(int type) {
  ttok t = {.type = (uint8_t)type};
  return brr__template_ttok_describe(&t);
}

const ttok *brr__template_tp_expect(parser *P, int type) {
  const ttok *t = cur(P);
  if (t->type != type) {
    if (t->type == TK_EOF) brr__template_tp_fail(P, t, "unexpected end of template, expected '%s'.", describe_type(type));
    brr__template_tp_fail(P, t, "expected token '%s', got '%s'", describe_type(type), brr__template_ttok_describe(t));
  }
  return next(P);
}

const ttok *brr__template_tp_expect_name(parser *P, const char *name) {
  const ttok *t = cur(P);
  if (!is_name(t, name)) {
    if (t->type == TK_EOF) brr__template_tp_fail(P, t, "unexpected end of template, expected '%s'.", name);
    brr__template_tp_fail(P, t, "expected token '%s', got '%s'", name, brr__template_ttok_describe(t));
  }
  return next(P);
}

tnode *brr__template_tp_mk(parser *P, int kind, const ttok *at) {
  tnode *n = brr__template_talloc(P->c, sizeof *n);
  n->kind = (uint8_t)kind;
  n->line = n->jline = at->line;
  n->col = at->col;
  return n;
}

void brr__template_tp_push(parser *P, tnodes *l, tnode *n) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4;
    l->v = brr__template_tgrow(P->c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = n;
}

void brr__template_tp_enter(parser *P) {
  if (++P->depth > MAX_DEPTH) brr__template_tp_fail(P, cur(P), "template nested too deeply (brr allows %d levels)", MAX_DEPTH);
}

/* ---- expressions ---- */
static tnode *parse_unary(parser *P, bool with_filter);
static tnode *parse_postfix(parser *P, tnode *node);

static tnode *parse_condexpr(parser *P) {
  const ttok *at = cur(P);
  tnode *e1 = brr__template_tp_expression(P, false);
  while (skip_name(P, "if")) {
    tnode *e2 = brr__template_tp_expression(P, false);
    tnode *e3 = skip_name(P, "else") ? parse_condexpr(P) : NULL;
    tnode *n = brr__template_tp_mk(P, N_CONDEXPR, at);
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
    tnode *n = brr__template_tp_mk(P, N_AND, at);
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
    tnode *n = brr__template_tp_mk(P, N_OR, at);
    n->a = left;
    n->b = parse_and(P);
    left = n;
    at = cur(P);
  }
  return left;
}

tnode *brr__template_tp_expression(parser *P, bool with_condexpr) {
  brr__template_tp_enter(P);
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
    tnode *o = brr__template_tp_mk(P, N_OPERAND, opt);
    o->op = (uint8_t)op;
    o->a = parse_math1(P);
    if (!cmp) {
      cmp = brr__template_tp_mk(P, N_COMPARE, at);
      cmp->a = expr;
    }
    brr__template_tp_push(P, &cmp->l1, o);
    cmp->jline = cur(P)->line;
  }
  return cmp ? cmp : expr;
}

static tnode *parse_not(parser *P) {
  if (is_name(cur(P), "not")) {
    const ttok *at = next(P);
    brr__template_tp_enter(P);
    tnode *n = brr__template_tp_mk(P, N_NOT, at);
    n->a = parse_not(P);
    P->depth--;
    return n;
  }
  return parse_compare(P);
}

static tnode *binop(parser *P, const ttok *at, int op, tnode *a, tnode *b) {
  tnode *n = brr__template_tp_mk(P, N_BINOP, at);
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
  tnode *n = brr__template_tp_mk(P, N_CONCAT, at);
  brr__template_tp_push(P, &n->l1, first);
  while (skip_if(P, TK_TILDE)) brr__template_tp_push(P, &n->l1, parse_math2(P));
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
  tnode *n = brr__template_tp_mk(P, N_LIST, brr__template_tp_expect(P, TK_LBRACKET));
  while (cur(P)->type != TK_RBRACKET) {
    if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
    if (cur(P)->type == TK_RBRACKET) break;
    brr__template_tp_push(P, &n->l1, brr__template_tp_expression(P, true));
  }
  brr__template_tp_expect(P, TK_RBRACKET);
  return n;
}

static tnode *parse_dict(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_DICT, brr__template_tp_expect(P, TK_LBRACE));
  while (cur(P)->type != TK_RBRACE) {
    if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
    if (cur(P)->type == TK_RBRACE) break;
    const ttok *at = cur(P);
    tnode *key = brr__template_tp_expression(P, true);
    brr__template_tp_expect(P, TK_COLON);
    tnode *pair = brr__template_tp_mk(P, N_PAIR, at);
    pair->a = key;
    pair->b = brr__template_tp_expression(P, true);
    brr__template_tp_push(P, &n->l1, pair);
  }
  brr__template_tp_expect(P, TK_RBRACE);
  return n;
}

tnode *brr__template_tp_primary(parser *P) {
  const ttok *t = cur(P);
  tnode *n;
  brr__template_tp_enter(P);
  if (t->type == TK_NAME) {
    next(P);
    if (!strcmp(t->s, "true") || !strcmp(t->s, "True") || !strcmp(t->s, "false") || !strcmp(t->s, "False")) {
      n = brr__template_tp_mk(P, N_CONST, t);
      n->k = tv_bool(t->s[0] == 't' || t->s[0] == 'T');
    } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
      n = brr__template_tp_mk(P, N_CONST, t);
      n->k = BRR__TEMPLATE_TV_NONE_V;
    } else {
      n = brr__template_tp_mk(P, N_NAME, t);
      n->s = t->s;
      n->slen = t->n;
      n->op = CTX_LOAD;
    }
  } else if (t->type == TK_STRING) {
    next(P);
    n = brr__template_tp_mk(P, N_CONST, t);
    if (cur(P)->type != TK_STRING) {
      n->k = tv_str_nocopy(t->s, t->n);
    } else { /* adjacent literals concatenate */
      tbuf b = {0};
      brr__template_tbuf_add(P->c, &b, t->s, t->n);
      while (cur(P)->type == TK_STRING) {
        const ttok *u = next(P);
        brr__template_tbuf_add(P->c, &b, u->s, u->n);
      }
      n->k = brr__template_tbuf_str(P->c, &b);
    }
  } else if (t->type == TK_INT || t->type == TK_FLOAT) {
    next(P);
    n = brr__template_tp_mk(P, N_CONST, t);
    n->k = t->type == TK_INT ? tv_int(t->i) : tv_float(t->f);
  } else if (t->type == TK_LPAREN) {
    next(P);
    n = brr__template_tp_tuple(P, false, true, NULL, true);
    brr__template_tp_expect(P, TK_RPAREN);
  } else if (t->type == TK_LBRACKET) {
    n = parse_list(P);
  } else if (t->type == TK_LBRACE) {
    n = parse_dict(P);
  } else {
    brr__template_tp_fail(P, t, "unexpected '%s'", brr__template_ttok_describe(t));
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

tnode *brr__template_tp_tuple(parser *P, bool simplified, bool with_condexpr, const char *const *extra_end,
                          bool explicit_parens) {
  const ttok *at = cur(P);
  tnode *tup = brr__template_tp_mk(P, N_TUPLE, at);
  bool is_tuple = false;
  for (;;) {
    if (tup->l1.n) brr__template_tp_expect(P, TK_COMMA);
    if (tuple_end(P, extra_end)) break;
    brr__template_tp_push(P, &tup->l1, simplified ? brr__template_tp_primary(P) : brr__template_tp_expression(P, with_condexpr));
    if (cur(P)->type == TK_COMMA) is_tuple = true;
    else break;
    tup->jline = cur(P)->line;
  }
  if (!is_tuple) {
    if (tup->l1.n) return tup->l1.v[0];
    if (!explicit_parens) brr__template_tp_fail(P, cur(P), "Expected an expression, got '%s'", brr__template_ttok_describe(cur(P)));
  }
  return tup;
}

static void parse_call_args(parser *P, tnode *n) {
  const ttok *open = brr__template_tp_expect(P, TK_LPAREN);
  bool require_comma = false;
  while (cur(P)->type != TK_RPAREN) {
    if (require_comma) {
      brr__template_tp_expect(P, TK_COMMA);
      if (cur(P)->type == TK_RPAREN) break;
    }
    if (cur(P)->type == TK_MUL) {
      if (n->c || n->d) brr__template_tp_fail(P, open, "invalid syntax for function call expression");
      next(P);
      n->c = brr__template_tp_expression(P, true);
    } else if (cur(P)->type == TK_POW) {
      if (n->d) brr__template_tp_fail(P, open, "invalid syntax for function call expression");
      next(P);
      n->d = brr__template_tp_expression(P, true);
    } else if (cur(P)->type == TK_NAME && look(P)->type == TK_ASSIGN) {
      if (n->d) brr__template_tp_fail(P, open, "invalid syntax for function call expression");
      const ttok *key = next(P);
      next(P);
      tnode *kw = brr__template_tp_mk(P, N_KEYWORD, key);
      kw->s = key->s;
      kw->a = brr__template_tp_expression(P, true);
      brr__template_tp_push(P, &n->l2, kw);
    } else {
      if (n->c || n->d || n->l2.n) brr__template_tp_fail(P, open, "invalid syntax for function call expression");
      brr__template_tp_push(P, &n->l1, brr__template_tp_expression(P, true));
    }
    require_comma = true;
  }
  brr__template_tp_expect(P, TK_RPAREN);
}

static tnode *parse_call(parser *P, tnode *callee) {
  tnode *n = brr__template_tp_mk(P, N_CALL, cur(P));
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
    tnode *node = brr__template_tp_expression(P, true);
    if (cur(P)->type != TK_COLON) return node;
    next(P);
    args[0] = node;
  }
  if (cur(P)->type != TK_COLON && cur(P)->type != TK_RBRACKET && cur(P)->type != TK_COMMA)
    args[1] = brr__template_tp_expression(P, true);
  if (cur(P)->type == TK_COLON) {
    next(P);
    if (cur(P)->type != TK_RBRACKET && cur(P)->type != TK_COMMA) args[2] = brr__template_tp_expression(P, true);
  }
  tnode *s = brr__template_tp_mk(P, N_SLICE, at);
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
      tnode *n = brr__template_tp_mk(P, N_GETATTR, tok);
      n->a = node;
      n->s = attr->s;
      n->slen = attr->n;
      return n;
    }
    if (attr->type != TK_INT) brr__template_tp_fail(P, attr, "expected name or number");
    tnode *k = brr__template_tp_mk(P, N_CONST, attr);
    k->k = tv_int(attr->i);
    tnode *n = brr__template_tp_mk(P, N_GETITEM, tok);
    n->a = node;
    n->b = k;
    return n;
  }
  /* '[' */
  tnode *tup = brr__template_tp_mk(P, N_TUPLE, tok);
  while (cur(P)->type != TK_RBRACKET) {
    if (tup->l1.n) brr__template_tp_expect(P, TK_COMMA);
    brr__template_tp_push(P, &tup->l1, parse_subscribed(P));
  }
  brr__template_tp_expect(P, TK_RBRACKET);
  tnode *n = brr__template_tp_mk(P, N_GETITEM, tok);
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
  const ttok *t = brr__template_tp_expect(P, TK_NAME);
  if (cur(P)->type != TK_DOT) {
    *len = t->n;
    return t->s;
  }
  tbuf b = {0};
  brr__template_tbuf_add(P->c, &b, t->s, t->n);
  while (skip_if(P, TK_DOT)) {
    brr__template_tbuf_addc(P->c, &b, '.');
    const ttok *u = brr__template_tp_expect(P, TK_NAME);
    brr__template_tbuf_add(P->c, &b, u->s, u->n);
  }
  tv s = brr__template_tbuf_str(P->c, &b);
  *len = s.slen;
  return s.u.str;
}

tnode *brr__template_tp_filter(parser *P, tnode *node, bool start_inline) {
  while (cur(P)->type == TK_PIPE || start_inline) {
    if (!start_inline) next(P);
    const ttok *at = cur(P);
    tnode *f = brr__template_tp_mk(P, N_FILTER, at);
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
  tnode *t = brr__template_tp_mk(P, N_TEST, is);
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
    if (is_name(cur(P), "is")) brr__template_tp_fail(P, cur(P), "You cannot chain multiple tests with is");
    brr__template_tp_push(P, &t->l1, parse_postfix(P, brr__template_tp_primary(P)));
  }
  if (!negated) return t;
  tnode *n = brr__template_tp_mk(P, N_NOT, is);
  n->a = t;
  return n;
}

static tnode *parse_filter_expr(parser *P, tnode *node) {
  for (;;) {
    const ttok *t = cur(P);
    if (t->type == TK_PIPE) node = brr__template_tp_filter(P, node, false);
    else if (is_name(t, "is")) node = parse_test(P, node);
    else if (t->type == TK_LPAREN) node = parse_call(P, node);
    else return node;
  }
}

static tnode *parse_unary(parser *P, bool with_filter) {
  const ttok *t = cur(P);
  tnode *node;
  brr__template_tp_enter(P);
  if (t->type == TK_SUB || t->type == TK_ADD) {
    next(P);
    node = brr__template_tp_mk(P, t->type == TK_SUB ? N_NEG : N_POS, t);
    node->a = parse_unary(P, false);
  } else {
    node = brr__template_tp_primary(P);
  }
  node = parse_postfix(P, node);
  if (with_filter) node = parse_filter_expr(P, node);
  P->depth--;
  return node;
}
