/* Jinja2's tests (`x is defined`, `x is divisibleby 3`, ...) and the global functions of the
 * default Environment (range, dict, namespace, cycler, joiner). */
#include <string.h>

#include "internal.h"

static tv arg1(tctx *c, tcall *a, const char *name, tv *other) {
  tv args[2];
  TARGS(c, a, name, args, "value", "other");
  *other = args[1];
  return args[0];
}

static tv only(tctx *c, tcall *a, const char *name) {
  tv args[1];
  TARGS(c, a, name, args, "value");
  return args[0];
}

/* value % n == r, with Python's % (strings format!) */
static bool mod_eq(tctx *c, tcall *a, tv v, tv n, int64_t r) {
  tv m = brr__template_top_binary(c, a->at, OP_MOD, v, n);
  return brr__template_tv_eq(c, m, tv_int(r));
}

static bool t_odd(tctx *c, tcall *a) { return mod_eq(c, a, only(c, a, "test_odd"), tv_int(2), 1); }
static bool t_even(tctx *c, tcall *a) { return mod_eq(c, a, only(c, a, "test_even"), tv_int(2), 0); }
static bool t_divisibleby(tctx *c, tcall *a) {
  tv n, v = arg1(c, a, "test_divisibleby", &n);
  return mod_eq(c, a, v, n, 0);
}
static bool t_defined(tctx *c, tcall *a) { return !tv_is_undef(only(c, a, "test_defined")); }
static bool t_undefined(tctx *c, tcall *a) { return tv_is_undef(only(c, a, "test_undefined")); }
static bool t_none(tctx *c, tcall *a) { return only(c, a, "test_none").t == TV_NONE; }
static bool t_boolean(tctx *c, tcall *a) { return only(c, a, "test_boolean").t == TV_BOOL; }
static bool t_false(tctx *c, tcall *a) {
  tv v = only(c, a, "test_false");
  return v.t == TV_BOOL && !v.u.b;
}
static bool t_true(tctx *c, tcall *a) {
  tv v = only(c, a, "test_true");
  return v.t == TV_BOOL && v.u.b;
}
static bool t_integer(tctx *c, tcall *a) { return only(c, a, "test_integer").t == TV_INT; }
static bool t_float(tctx *c, tcall *a) { return only(c, a, "test_float").t == TV_FLOAT; }
static bool t_string(tctx *c, tcall *a) { return only(c, a, "test_string").t == TV_STR; }
static bool t_mapping(tctx *c, tcall *a) { return only(c, a, "test_mapping").t == TV_DICT; }
static bool t_number(tctx *c, tcall *a) { return tv_is_num(only(c, a, "test_number")); }

static bool t_lower(tctx *c, tcall *a) {
  tv s = brr__template_tv_to_str(c, only(c, a, "test_lower")), fn;
  brr__template_tmethod_get(c, a->at, s, "islower", 7, &fn);
  tcall none = {.at = a->at};
  return brr__template_tcall_value(c, a->at, fn, &none).u.b;
}

static bool t_upper(tctx *c, tcall *a) {
  tv s = brr__template_tv_to_str(c, only(c, a, "test_upper")), fn;
  brr__template_tmethod_get(c, a->at, s, "isupper", 7, &fn);
  tcall none = {.at = a->at};
  return brr__template_tcall_value(c, a->at, fn, &none).u.b;
}

/* len() and __getitem__ both exist */
static bool t_sequence(tctx *c, tcall *a) {
  tv v = only(c, a, "test_sequence");
  switch (v.t) {
  case TV_MISSING:
  case TV_UNDEF:
  case TV_STR:
  case TV_LIST:
  case TV_TUPLE:
  case TV_DICT:
  case TV_RANGE: return true;
  default: return false;
  }
}

static bool t_iterable(tctx *c, tcall *a) {
  tv v = only(c, a, "test_iterable");
  switch (v.t) {
  case TV_NONE:
  case TV_BOOL:
  case TV_INT:
  case TV_FLOAT:
  case TV_FUNC:
  case TV_NS:
  case TV_OBJ: return false;
  default: return true;
  }
}

static bool t_callable(tctx *c, tcall *a) {
  tv v = only(c, a, "callable");
  return v.t == TV_FUNC || tv_is_undef(v) || v.t == TV_LOOP || (v.t == TV_OBJ && v.u.obj->kind == 1);
}

/* `is`: singletons and small ints are shared in CPython; containers by identity */
static bool t_sameas(tctx *c, tcall *a) {
  tv o, v = arg1(c, a, "test_sameas", &o);
  if (v.t != o.t) return false;
  switch (v.t) {
  case TV_NONE: return true;
  case TV_BOOL: return v.u.b == o.u.b;
  case TV_INT: return v.u.i == o.u.i && v.u.i >= -5 && v.u.i <= 256;
  case TV_STR: return v.u.str == o.u.str;
  case TV_FLOAT: return false;
  default: return v.u.fn == o.u.fn;
  }
}

static bool t_escaped(tctx *c, tcall *a) {
  only(c, a, "test_escaped");
  return false;
}

static bool t_in(tctx *c, tcall *a) {
  tv seq, v = arg1(c, a, "test_in", &seq);
  return brr__template_top_contains(c, a->at, seq, v);
}

static bool t_filter(tctx *c, tcall *a) {
  tv v = only(c, a, "test_filter");
  return v.t == TV_STR && brr__template_tfilter_find(v.u.str, c->br) != NULL;
}

static bool t_test(tctx *c, tcall *a) {
  tv v = only(c, a, "test_test");
  return v.t == TV_STR && brr__template_ttest_find(v.u.str) != NULL;
}

#define CMP_TEST(fname, op)                                                                                            \
  static bool fname(tctx *c, tcall *a) {                                                                               \
    tv o, v = arg1(c, a, #fname, &o);                                                                                  \
    return brr__template_top_compare(c, a->at, op, v, o);                                                                            \
  }
CMP_TEST(t_eq, OP_EQ)
CMP_TEST(t_ne, OP_NE)
CMP_TEST(t_gt, OP_GT)
CMP_TEST(t_ge, OP_GTEQ)
CMP_TEST(t_lt, OP_LT)
CMP_TEST(t_le, OP_LTEQ)

typedef struct tentry {
  const char *name;
  ttestfn fn;
} tentry;

static const tentry tests[] = {
    {"odd", t_odd},         {"even", t_even},         {"divisibleby", t_divisibleby}, {"defined", t_defined},
    {"undefined", t_undefined}, {"filter", t_filter}, {"test", t_test},               {"none", t_none},
    {"boolean", t_boolean}, {"false", t_false},       {"true", t_true},               {"integer", t_integer},
    {"float", t_float},     {"lower", t_lower},       {"upper", t_upper},             {"string", t_string},
    {"mapping", t_mapping}, {"number", t_number},     {"sequence", t_sequence},       {"iterable", t_iterable},
    {"callable", t_callable}, {"sameas", t_sameas},   {"escaped", t_escaped},         {"in", t_in},
    {"==", t_eq},           {"eq", t_eq},             {"equalto", t_eq},              {"!=", t_ne},
    {"ne", t_ne},           {">", t_gt},              {"gt", t_gt},                   {"greaterthan", t_gt},
    {"ge", t_ge},           {">=", t_ge},             {"<", t_lt},                    {"lt", t_lt},
    {"lessthan", t_lt},     {"<=", t_le},             {"le", t_le},
};

ttestfn brr__template_ttest_find(const char *name) {
  for (size_t i = 0; i < BRR_ARRAY_LEN(tests); i++)
    if (!strcmp(tests[i].name, name)) return tests[i].fn;
  return NULL;
}

/* ---- globals ---- */

static tv g_range(tctx *c, tcall *a) {
  if (a->nkw) brr__template_terr(c, a->at, "range() takes no keyword arguments");
  if (a->npos < 1 || a->npos > 3) brr__template_terr(c, a->at, "range expected at most 3 arguments, got %zu", a->npos);
  int64_t v[3];
  for (size_t i = 0; i < a->npos; i++) v[i] = brr__template_targ_int(c, a->at, a->pos[i], "range");
  trange *r = brr__template_talloc(c, sizeof *r);
  r->start = a->npos == 1 ? 0 : v[0];
  r->stop = a->npos == 1 ? v[0] : v[1];
  r->step = a->npos == 3 ? v[2] : 1;
  if (r->step == 0) brr__template_terr(c, a->at, "range() arg 3 must not be zero");
  return (tv){.t = TV_RANGE, .u.r = r};
}


static tv g_dict(tctx *c, tcall *a) {
  if (a->npos > 1) brr__template_terr(c, a->at, "dict expected at most 1 argument, got %zu", a->npos);
  tv d = brr__template_tv_dict(c);
  if (a->npos) brr__template_tdict_update(c, a->at, d.u.d, a->pos[0]);
  for (size_t k = 0; k < a->nkw; k++) brr__template_td_sets(c, d.u.d, a->kw[k].name, a->kw[k].v);
  return d;
}

static tv g_namespace(tctx *c, tcall *a) {
  tv d = g_dict(c, a);
  d.t = TV_NS;
  return d;
}

static tv g_cycler(tctx *c, tcall *a) {
  if (a->nkw) brr__template_terr(c, a->at, "Cycler() got an unexpected keyword argument '%s'", a->kw[0].name);
  if (!a->npos) brr__template_terr(c, a->at, "at least one item has to be provided");
  tobj *o = brr__template_talloc(c, sizeof *o);
  o->kind = 0;
  o->items = brr__template_talloc(c, a->npos * sizeof *o->items);
  memcpy(o->items, a->pos, a->npos * sizeof *o->items);
  o->n = a->npos;
  return (tv){.t = TV_OBJ, .u.obj = o};
}

static tv g_joiner(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "Joiner", args, "?sep");
  tobj *o = brr__template_talloc(c, sizeof *o);
  o->kind = 1;
  tv sep = args[0].t == TV_MISSING ? tv_str_nocopy(", ", 2) : args[0];
  if (sep.t != TV_STR) brr__template_terr(c, a->at, "brr's joiner() takes a string separator");
  o->sep = sep.u.str;
  o->seplen = sep.slen;
  return (tv){.t = TV_OBJ, .u.obj = o};
}


void brr__template_tglobals_init(tctx *c, tdict *g, bool buildrunner) {
  static const struct {
    const char *name;
    tbuiltin fn;
    bool br;
  } globals[] = {
      {"range", g_range, false},   {"dict", g_dict, false},       {"lipsum", brr__template_tf_lipsum, false},
      {"cycler", g_cycler, false}, {"joiner", g_joiner, false},   {"namespace", g_namespace, false},
      {"checksum", brr__template_tbr_checksum, true}, {"read_yaml_file", brr__template_tbr_read_yaml_file, true},
      {"raise", brr__template_tbr_raise, true},  {"strftime", brr__template_tbr_strftime, true},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(globals); i++)
    if (buildrunner || !globals[i].br) brr__template_td_sets(c, g, globals[i].name, brr__template_tfn_new(c, globals[i].name, globals[i].fn, BRR__TEMPLATE_TV_MISSING_V));
}
