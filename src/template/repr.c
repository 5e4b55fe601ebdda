/* str() and repr() of template values, byte for byte as Python prints them: quotes and
 * escapes of string reprs, float reprs, containers, and the odd objects Jinja2 prints
 * (<LoopContext 1/3>, <Macro 'm'>, OrderedDict([...])). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void brr__template_tv_pyfloat(double f, char *buf, size_t size) { brr_fmt_pyfloat(f, buf, size); }

static void repr_str(tctx *c, tbuf *b, const char *s, size_t n) {
  bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
  char q = sq && !dq ? '"' : '\'';
  brr__template_tbuf_addc(c, b, q);
  for (size_t i = 0; i < n;) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x80) {
      if (ch == (unsigned char)q || ch == '\\') {
        brr__template_tbuf_addc(c, b, '\\');
        brr__template_tbuf_addc(c, b, (char)ch);
      } else if (ch == '\n') brr__template_tbuf_adds(c, b, "\\n");
      else if (ch == '\r') brr__template_tbuf_adds(c, b, "\\r");
      else if (ch == '\t') brr__template_tbuf_adds(c, b, "\\t");
      else if (ch < 0x20 || ch == 0x7f) brr__template_tbuf_printf(c, b, "\\x%02x", ch);
      else brr__template_tbuf_addc(c, b, (char)ch);
      i++;
      continue;
    }
    uint32_t cp;
    size_t l = brr__template_u8_decode(s, n, i, &cp);
    if (brr__template_u_isprintable(cp)) brr__template_tbuf_add(c, b, s + i, l);
    else if (cp <= 0xff) brr__template_tbuf_printf(c, b, "\\x%02x", cp);
    else if (cp <= 0xffff) brr__template_tbuf_printf(c, b, "\\u%04x", cp);
    else brr__template_tbuf_printf(c, b, "\\U%08x", cp);
    i += l;
  }
  brr__template_tbuf_addc(c, b, q);
}

static void fmt_value(tctx *c, tbuf *b, tv v, bool repr);
static void fmt_object(tctx *c, tbuf *b, tv v);

static void fmt_seq(tctx *c, tbuf *b, const tv *items, size_t n, const char *open, const char *close,
                    bool tuple) {
  brr__template_tbuf_adds(c, b, open);
  for (size_t i = 0; i < n; i++) {
    if (i) brr__template_tbuf_adds(c, b, ", ");
    fmt_value(c, b, items[i], true);
  }
  if (tuple && n == 1) brr__template_tbuf_addc(c, b, ',');
  brr__template_tbuf_adds(c, b, close);
}

static void fmt_dict(tctx *c, tbuf *b, const tdict *d) {
  brr__template_tbuf_addc(c, b, '{');
  tdent *e;
  bool first = true;
  for (size_t i = 0; brr__template_td_next(d, &i, &e);) {
    if (!first) brr__template_tbuf_adds(c, b, ", ");
    first = false;
    fmt_value(c, b, e->key, true);
    brr__template_tbuf_adds(c, b, ": ");
    fmt_value(c, b, e->val, true);
  }
  brr__template_tbuf_addc(c, b, '}');
}

static void fmt_value(tctx *c, tbuf *b, tv v, bool repr) {
  char num[48];
  if (c->rdepth > 200) brr__template_terr(c, NULL, "maximum recursion depth exceeded while getting the repr of an object");
  switch (v.t) {
  case TV_MISSING:
  case TV_UNDEF:
    if (repr) brr__template_tbuf_adds(c, b, "Undefined");
    return;
  case TV_NONE: brr__template_tbuf_adds(c, b, "None"); return;
  case TV_BOOL: brr__template_tbuf_adds(c, b, v.u.b ? "True" : "False"); return;
  case TV_INT: {
    char num_[24], *e = num_ + sizeof num_, *q = e;
    uint64_t u = v.u.i < 0 ? 0 - (uint64_t)v.u.i : (uint64_t)v.u.i;
    do *--q = (char)('0' + u % 10);
    while (u /= 10);
    if (v.u.i < 0) *--q = '-';
    brr__template_tbuf_add(c, b, q, (size_t)(e - q));
    return;
  }
  case TV_FLOAT:
    brr__template_tv_pyfloat(v.u.f, num, sizeof num);
    brr__template_tbuf_adds(c, b, num);
    return;
  case TV_STR:
    if (repr) repr_str(c, b, v.u.str, v.slen);
    else brr__template_tbuf_add(c, b, v.u.str, v.slen);
    return;
  case TV_OBJ: /* str() of an imported module is its output */
    if (!repr && v.u.obj->kind == TOBJ_MODULE) {
      brr__template_tbuf_add(c, b, v.u.obj->body.u.str, v.u.obj->body.slen);
      return;
    }
    break;
  default: break;
  }
  fmt_object(c, b, v);
}

/* str() of containers and objects: their items as repr() */
static void fmt_object(tctx *c, tbuf *b, tv v) {
  c->rdepth++;
  switch (v.t) {
  case TV_LIST: fmt_seq(c, b, v.u.l->v, v.u.l->n, "[", "]", false); break;
  case TV_TUPLE: fmt_seq(c, b, v.u.l->v, v.u.l->n, "(", ")", true); break;
  case TV_DICT:
    if (!v.u.d->ordered) {
      fmt_dict(c, b, v.u.d);
      break;
    }
    /* Python 3.11's OrderedDict repr */
    brr__template_tbuf_adds(c, b, "OrderedDict(");
    if (v.u.d->live) {
      size_t n;
      tv *items = brr__template_tv_iterate(c, NULL, (tv){.t = TV_VIEW, .sub = TV_VIEW_ITEMS, .u.d = v.u.d}, &n);
      fmt_seq(c, b, items, n, "[", "]", false);
    }
    brr__template_tbuf_addc(c, b, ')');
    break;
  case TV_NS:
    brr__template_tbuf_adds(c, b, "<Namespace ");
    fmt_dict(c, b, v.u.d);
    brr__template_tbuf_addc(c, b, '>');
    break;
  case TV_VIEW: {
    brr__template_tbuf_adds(c, b, brr__template_tv_typename(v));
    size_t n;
    tv *items = brr__template_tv_iterate(c, NULL, v, &n);
    fmt_seq(c, b, items, n, "([", "])", false);
    break;
  }
  case TV_RANGE:
    if (v.u.r->step == 1) brr__template_tbuf_printf(c, b, "range(%lld, %lld)", (long long)v.u.r->start, (long long)v.u.r->stop);
    else brr__template_tbuf_printf(c, b, "range(%lld, %lld, %lld)", (long long)v.u.r->start, (long long)v.u.r->stop,
                     (long long)v.u.r->step);
    break;
  case TV_LOOP: brr__template_tbuf_printf(c, b, "<LoopContext %zu/%zu>", v.u.loop->i + 1, v.u.loop->n); break;
  case TV_FUNC:
    if (v.u.fn->kind == FN_MACRO) {
      if (v.u.fn->name) brr__template_tbuf_printf(c, b, "<Macro '%s'>", v.u.fn->name);
      else brr__template_tbuf_adds(c, b, "<Macro anonymous>");
    } else if (v.u.fn->self.t != TV_MISSING) {
      brr__template_tbuf_printf(c, b, "<built-in method %s of %s object>", v.u.fn->name, brr__template_tv_typename(v.u.fn->self));
    } else {
      brr__template_tbuf_printf(c, b, "<built-in function %s>", v.u.fn->name);
    }
    break;
  case TV_ITER: brr__template_tbuf_printf(c, b, "<%s object>", v.u.it->what); break;
  case TV_OBJ:
    if (v.u.obj->kind == TOBJ_MISSING) brr__template_tbuf_adds(c, b, "missing");
    else if (v.u.obj->kind == TOBJ_MODULE) brr__template_tbuf_printf(c, b, "<TemplateModule '%s'>", v.u.obj->name);
    else if (v.u.obj->kind == TOBJ_SELF) brr__template_tbuf_adds(c, b, "<TemplateReference None>");
    else brr__template_tbuf_printf(c, b, "<jinja2.utils.%s object>", brr__template_tv_typename(v));
    break;
  default: break;
  }
  c->rdepth--;
}

void brr__template_tv_str_to(tctx *c, tbuf *b, tv v) {
  tv_strict(c, NULL, v);  /* __str__; printed values come here too */
  fmt_value(c, b, v, false);
}
void brr__template_tv_repr_to(tctx *c, tbuf *b, tv v) { fmt_value(c, b, v, true); }

tv brr__template_tv_to_str(tctx *c, tv v) {
  if (v.t == TV_STR) return v;
  tv_strict(c, NULL, v);  /* __str__; printed values come here too */
  if (tv_is_undef(v)) return tv_str_nocopy("", 0);
  tbuf b = {0};
  fmt_value(c, &b, v, false);
  return brr__template_tbuf_str(c, &b);
}

