/* Template parser: Jinja2's grammar (jinja2/parser.py) over the token array from lex.c.
 * Node field use per kind:
 *   OUTPUT l1=children          FOR a=target b=iter c=test l1=body l2=else flag=recursive
 *   IF a=test l1=body l2=elifs (IF nodes) l3=else       MACRO s=name l1=params l2=defaults l3=body
 *   CALLBLOCK a=call l1=params l2=defaults l3=body      FILTERBLOCK a=filter(a=NULL) l1=body
 *   WITH l1=targets l2=values l3=body   ASSIGN a=target b=value   ASSIGNBLOCK a=target b=filter l1=body
 *   EXPRSTMT a   BLOCK s=name l1=body flag=scoped   INCLUDE a=template   UNSUPPORTED s=tag
 *   EXTENDS a=template   IMPORT a=template b=target   FROMIMPORT a=template l1=targets (s2: name)
 *   GETATTR a s   GETITEM a b   SLICE a b c   CALL/FILTER/TEST a l1=args l2=kwargs c=*args d=**kw
 *   COMPARE a l1=operands(op a)   CONDEXPR a=value-if-true b=test c=else   PAIR/BINOP/AND/OR a b */
#include <stdlib.h>
#include <string.h>

#include "parser.h"

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
    const ttok *t = brr__template_tp_expect(P, TK_NAME);
    next(P);
    const ttok *attr = brr__template_tp_expect(P, TK_NAME);
    target = brr__template_tp_mk(P, N_NSREF, t);
    target->s = t->s;
    target->slen = t->n;
    target->s2 = attr->s;
  } else if (name_only) {
    const ttok *t = brr__template_tp_expect(P, TK_NAME);
    target = brr__template_tp_mk(P, N_NAME, t);
    target->s = t->s;
    target->slen = t->n;
    target->op = CTX_STORE;
  } else {
    target = with_tuple ? brr__template_tp_tuple(P, true, true, extra_end, false) : brr__template_tp_primary(P);
    set_store(target, CTX_STORE);
  }
  if (!can_assign(target)) {
    ttok at = {.line = target->line, .col = target->col};
    brr__template_tp_fail(P, &at, "can't assign to '%s'", node_kind_name(target));
  }
  return target;
}

static void push_end(parser *P, const char *const *ends) {
  if (P->nends == BRR_ARRAY_LEN(P->ends)) brr__template_tp_fail(P, cur(P), "statements nested too deeply");
  P->ends[P->nends++] = ends;
}

BRR_NORETURN static void fail_ut_eof(parser *P, const char *name, const ttok *at) {
  tbuf b = {0};
  tctx *c = P->c;
  if (name) brr__template_tbuf_printf(c, &b, "Encountered unknown tag '%s'.", name);
  else brr__template_tbuf_adds(c, &b, "Unexpected end of template.");
  if (P->nends) {
    const char *const *top = P->ends[P->nends - 1];
    bool expected = false;
    for (size_t k = 0; name && k < P->nends; k++)
      for (const char *const *e = P->ends[k]; *e; e++)
        if (!strcmp(*e, name)) expected = true;
    brr__template_tbuf_adds(c, &b, expected ? " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for "
                              : " Jinja was looking for the following tags: ");
    for (const char *const *e = top; *e; e++) brr__template_tbuf_printf(c, &b, "%s'%s'", e == top ? "" : " or ", *e);
    brr__template_tbuf_adds(c, &b, ".");
  }
  if (P->ntags) brr__template_tbuf_printf(c, &b, " The innermost block that needs to be closed is '%s'.", P->tags[P->ntags - 1]);
  brr__template_terr_at(c, at->line, at->col, "%s", brr__template_tbuf_str(c, &b).u.str);
}

static tnodes parse_statements(parser *P, const char *const *end_tokens, bool drop_needle) {
  skip_if(P, TK_COLON);
  brr__template_tp_expect(P, TK_BLOCK_END);
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
  tnode *n = brr__template_tp_mk(P, N_FOR, brr__template_tp_expect_name(P, "for"));
  n->a = parse_assign_target(P, true, false, IN_END, false);
  brr__template_tp_expect_name(P, "in");
  n->b = brr__template_tp_tuple(P, false, false, RECURSIVE_END, false);
  if (skip_name(P, "if")) n->c = brr__template_tp_expression(P, true);
  n->flag = skip_name(P, "recursive");
  n->l1 = parse_statements(P, END_FOR_ELSE, false);
  if (strcmp(next(P)->s, "endfor") != 0) n->l2 = parse_statements(P, END_FOR, true);
  return n;
}

static tnode *parse_if(parser *P) {
  tnode *result = brr__template_tp_mk(P, N_IF, brr__template_tp_expect_name(P, "if"));
  tnode *node = result;
  for (;;) {
    node->a = brr__template_tp_tuple(P, false, false, NULL, false);
    node->l1 = parse_statements(P, END_IF_ALL, false);
    const ttok *t = next(P);
    if (is_name(t, "elif")) {
      node = brr__template_tp_mk(P, N_IF, cur(P));
      brr__template_tp_push(P, &result->l2, node);
      continue;
    }
    if (is_name(t, "else")) result->l3 = parse_statements(P, END_IF, true);
    break;
  }
  return result;
}

static tnode *parse_set(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_ASSIGN, next(P));
  tnode *target = parse_assign_target(P, true, false, NULL, true);
  if (skip_if(P, TK_ASSIGN)) {
    n->a = target;
    n->b = brr__template_tp_tuple(P, false, true, NULL, false);
    return n;
  }
  n->kind = N_ASSIGNBLOCK;
  n->a = target;
  n->b = brr__template_tp_filter(P, NULL, false);
  n->l1 = parse_statements(P, END_SET, true);
  return n;
}

static void parse_signature(parser *P, tnode *n) {
  brr__template_tp_expect(P, TK_LPAREN);
  while (cur(P)->type != TK_RPAREN) {
    if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
    tnode *arg = parse_assign_target(P, true, true, NULL, false);
    arg->op = CTX_PARAM;
    if (skip_if(P, TK_ASSIGN)) brr__template_tp_push(P, &n->l2, brr__template_tp_expression(P, true));
    else if (n->l2.n) brr__template_tp_fail(P, cur(P), "non-default argument follows default argument");
    brr__template_tp_push(P, &n->l1, arg);
  }
  brr__template_tp_expect(P, TK_RPAREN);
}

static tnode *parse_macro(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_MACRO, next(P));
  tnode *name = parse_assign_target(P, true, true, NULL, false);
  n->s = name->s;
  n->slen = name->slen;
  parse_signature(P, n);
  n->l3 = parse_statements(P, END_MACRO, true);
  return n;
}

static tnode *parse_call_block(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_CALLBLOCK, next(P));
  if (cur(P)->type == TK_LPAREN) parse_signature(P, n);
  tnode *call = brr__template_tp_expression(P, true);
  if (call->kind != N_CALL) {
    ttok at = {.line = n->line, .col = n->col};
    brr__template_tp_fail(P, &at, "expected call");
  }
  n->a = call;
  n->l3 = parse_statements(P, END_CALL, true);
  return n;
}

static tnode *parse_with(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_WITH, next(P));
  while (cur(P)->type != TK_BLOCK_END) {
    if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
    tnode *target = parse_assign_target(P, true, false, NULL, false);
    set_store(target, CTX_PARAM);
    brr__template_tp_push(P, &n->l1, target);
    brr__template_tp_expect(P, TK_ASSIGN);
    brr__template_tp_push(P, &n->l2, brr__template_tp_expression(P, true));
  }
  n->l3 = parse_statements(P, END_WITH, true);
  return n;
}

static tnode *parse_block(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_BLOCK, next(P));
  const ttok *name = brr__template_tp_expect(P, TK_NAME);
  n->s = name->s;
  n->flag = skip_name(P, "scoped");
  bool required = skip_name(P, "required");
  if (cur(P)->type == TK_SUB)
    brr__template_tp_fail(P, cur(P), "Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an underscore instead.");
  n->l1 = parse_statements(P, END_BLOCK, true);
  if (required) { /* only whitespace and comments in a required block */
    n->op = 1;
    for (size_t i = 0; i < n->l1.n; i++) {
      const tnode *o = n->l1.v[i];
      bool ok = o->kind == N_OUTPUT;
      for (size_t k = 0; ok && k < o->l1.n; k++) {
        const tnode *d = o->l1.v[k];
        ok = d->kind == N_DATA && d->slen > 0;
        for (size_t j = 0; ok && j < d->slen; j++) ok = strchr(" \t\n\r\v\f", d->s[j]) && d->s[j];
      }
      if (!ok) brr__template_tp_fail(P, cur(P), "Required blocks can only contain comments or whitespace");
    }
  }
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
  tnode *n = brr__template_tp_mk(P, N_INCLUDE, next(P));
  n->a = brr__template_tp_expression(P, true);
  if (is_name(cur(P), "ignore") && is_name(look(P), "missing")) {
    n->flag = true;
    next(P);
    next(P);
  }
  n->flag2 = true;
  parse_context(P, n);
  return n;
}

/* {% extends t %}: a=template */
static tnode *parse_extends(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_EXTENDS, next(P));
  n->a = brr__template_tp_expression(P, true);
  return n;
}

/* {% import t as name [with|without context] %}: a=template b=target (a stored name);
 * without context unless asked, as Jinja2 */
static tnode *parse_import(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_IMPORT, next(P));
  n->a = brr__template_tp_expression(P, true);
  brr__template_tp_expect_name(P, "as");
  n->b = parse_assign_target(P, true, true, NULL, false);
  n->flag2 = false;
  parse_context(P, n);
  return n;
}

/* {% from t import a, b as c [with|without context] %}: a=template, l1=targets (stored names,
 * s2 = the name imported) */
static tnode *parse_from(parser *P) {
  tnode *n = brr__template_tp_mk(P, N_FROMIMPORT, next(P));
  n->a = brr__template_tp_expression(P, true);
  brr__template_tp_expect_name(P, "import");
  n->flag2 = false;
  for (;;) {
    if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
    if (cur(P)->type != TK_NAME) {
      brr__template_tp_expect(P, TK_NAME);
      break;
    }
    if (parse_context(P, n)) break;
    const ttok *at = cur(P);
    tnode *target = parse_assign_target(P, true, true, NULL, false);
    if (target->s[0] == '_') brr__template_tp_fail(P, at, "names starting with an underline can not be imported");
    const char *orig = target->s;
    if (skip_name(P, "as")) target = parse_assign_target(P, true, true, NULL, false);
    target->s2 = orig;
    brr__template_tp_push(P, &n->l1, target);
    if (parse_context(P, n) || cur(P)->type != TK_COMMA) break;
  }
  return n;
}

static tnode *parse_statement(parser *P) {
  const ttok *t = cur(P);
  if (t->type != TK_NAME) brr__template_tp_fail(P, t, "tag name expected");
  if (P->ntags == BRR_ARRAY_LEN(P->tags)) brr__template_tp_fail(P, t, "statements nested too deeply");
  P->tags[P->ntags++] = t->s;
  tnode *n = NULL;
  const char *name = t->s;
  brr__template_tp_enter(P);
  if (!strcmp(name, "for")) n = parse_for(P);
  else if (!strcmp(name, "if")) n = parse_if(P);
  else if (!strcmp(name, "set")) n = parse_set(P);
  else if (!strcmp(name, "macro")) n = parse_macro(P);
  else if (!strcmp(name, "call")) n = parse_call_block(P);
  else if (!strcmp(name, "with")) n = parse_with(P);
  else if (!strcmp(name, "block")) n = parse_block(P);
  else if (!strcmp(name, "include")) n = parse_include(P);
  else if (!strcmp(name, "extends")) n = parse_extends(P);
  else if (!strcmp(name, "import")) n = parse_import(P);
  else if (!strcmp(name, "from")) n = parse_from(P);
  else if (!strcmp(name, "print")) {
    n = brr__template_tp_mk(P, N_OUTPUT, next(P));
    while (cur(P)->type != TK_BLOCK_END) {
      if (n->l1.n) brr__template_tp_expect(P, TK_COMMA);
      brr__template_tp_push(P, &n->l1, brr__template_tp_expression(P, true));
    }
  } else if (!strcmp(name, "filter")) {
    n = brr__template_tp_mk(P, N_FILTERBLOCK, next(P));
    n->a = brr__template_tp_filter(P, NULL, true);
    n->l1 = parse_statements(P, END_FILTER, true);
  } else if (!strcmp(name, "autoescape")) {
    /* autoescape would turn on HTML escaping, which buildrunner never uses */
    n = brr__template_tp_mk(P, N_UNSUPPORTED, next(P));
    n->s = "autoescape";
    n->a = brr__template_tp_expression(P, true);
    n->l1 = parse_statements(P, END_AUTOESCAPE, true);
  } else if (P->do_ext && !strcmp(name, "do")) {
    n = brr__template_tp_mk(P, N_EXPRSTMT, next(P));
    n->a = brr__template_tp_tuple(P, false, true, NULL, false);
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
      if (!out) out = brr__template_tp_mk(P, N_OUTPUT, t);
      tnode *d = brr__template_tp_mk(P, N_DATA, t);
      d->s = t->s;
      d->slen = t->n;
      brr__template_tp_push(P, &out->l1, d);
      next(P);
    } else if (t->type == TK_VAR_BEGIN) {
      next(P);
      if (!out) out = brr__template_tp_mk(P, N_OUTPUT, t);
      brr__template_tp_push(P, &out->l1, brr__template_tp_tuple(P, false, true, NULL, false));
      brr__template_tp_expect(P, TK_VAR_END);
    } else if (t->type == TK_BLOCK_BEGIN) {
      if (out) {
        brr__template_tp_push(P, &body, out);
        out = NULL;
      }
      next(P);
      if (end_tokens && test_any(cur(P), end_tokens)) {
        P->nends--;
        return body;
      }
      brr__template_tp_push(P, &body, parse_statement(P));
      brr__template_tp_expect(P, TK_BLOCK_END);
    } else {
      brr__template_tp_fail(P, t, "unexpected '%s'", brr__template_ttok_describe(t));
    }
  }
  if (out) brr__template_tp_push(P, &body, out);
  if (end_tokens) P->nends--;
  return body;
}

tnode *brr__template_tparse(tctx *c, const ttok *toks, size_t n, bool do_ext) {
  parser P = {.c = c, .t = toks, .n = n, .do_ext = do_ext};
  tnode *root = brr__template_talloc(c, sizeof *root);
  root->kind = N_TEMPLATE;
  root->line = 1;
  root->col = 1;
  root->l1 = subparse(&P, NULL);
  return root;
}
