/* brr template engine — private types shared by the files of src/template/.
 *
 * Pipeline: lex.c (source -> tokens, Jinja2's lexer rules) -> parse.c (tokens -> AST, Jinja2's
 * grammar) -> symbols.c (Jinja2's compile-time scoping: which frame slot every name reads and
 * writes) -> eval.c/expr.c (tree-walking evaluation) with values from tvalue.c and the
 * built-in filters, tests, methods and functions; tmpl.c runs the templates a template
 * includes, extends or imports (extrafilters.c: wordwrap, random, urlize).
 *
 * Everything a render allocates lives in one arena freed at the end; errors longjmp back to
 * the render entry, so only heap resources registered with brr__template_tctx_track survive that jump. */
#ifndef BRR_TEMPLATE_INTERNAL_H
#define BRR_TEMPLATE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/template.h"

#if defined(__GNUC__)
#define BRR_NOINLINE __attribute__((noinline))
#else
#define BRR_NOINLINE
#endif

typedef struct tctx tctx;
typedef struct tcall tcall;

/* ---- values --------------------------------------------------------------------------- */

typedef enum {
  TV_MISSING = 0, /* an unset frame slot (Jinja's `missing`); never escapes to templates */
  TV_UNDEF,       /* jinja2.Undefined */
  TV_NONE,
  TV_BOOL,
  TV_INT,
  TV_FLOAT,
  TV_STR,
  TV_LIST,
  TV_TUPLE,
  TV_DICT,
  TV_FUNC,  /* built-in function, bound method, macro */
  TV_LOOP,  /* the `loop` object of a for loop */
  TV_NS,    /* namespace() */
  TV_RANGE, /* range() */
  TV_ITER,  /* a one-shot iterator (map/select/... results, reversed()) */
  TV_VIEW,  /* dict.keys()/values()/items() */
  TV_OBJ,   /* cycler, joiner: small stateful objects */
} tv_type;

typedef struct tlist tlist;
typedef struct tdict tdict;
typedef struct tfunc tfunc;
typedef struct tloop tloop;
typedef struct tundef tundef;
typedef struct titer titer;
typedef struct tobj tobj;
typedef struct trange {
  int64_t start, stop, step;
} trange;

/* 16 bytes, so values travel in two registers */
typedef struct tv {
  uint8_t t;     /* tv_type */
  uint8_t sub;   /* TV_VIEW: view kind; TV_TUPLE: 1 for groupby's (grouper, list) */
  uint32_t slen; /* TV_STR: length in bytes (strings are capped well below 4 GiB) */
  union {
    bool b;
    int64_t i;
    double f;
    const char *str; /* TV_STR: UTF-8, always NUL-terminated, may hold NULs */
    tlist *l;   /* TV_LIST, TV_TUPLE */
    tdict *d;   /* TV_DICT, TV_NS, TV_VIEW */
    tfunc *fn;
    tloop *loop;
    tundef *u;  /* NULL: an anonymous Undefined */
    titer *it;
    tobj *obj;
    trange *r;
  } u;
} tv;

_Static_assert(sizeof(tv) == 16, "tv must stay small enough to return in registers");

enum { TV_VIEW_KEYS, TV_VIEW_VALUES, TV_VIEW_ITEMS };

struct tlist {
  tv *v;
  size_t n, cap;
};

typedef struct tdent {
  tv key, val;
  uint64_t hash;
  bool dead; /* removed by pop(); skipped by iteration */
} tdent;

struct tdict {
  tdent *e;
  size_t n;    /* entries used in e (live and dead) */
  size_t live; /* live entries */
  size_t cap;
  uint32_t *idx; /* open-addressing index into e (+1; 0 = empty) */
  size_t icap;   /* power of two */
  bool ordered;  /* a collections.OrderedDict (what read_yaml_file returns): prints and compares as one */
};

struct titer {
  tv *v;
  size_t n, pos;
  const char *what; /* "generator" or "list_reverseiterator", for messages */
};

/* Why a value is undefined, to build Jinja2's messages ("'x' is undefined", "'dict object'
 * has no attribute 'y'") when it is used. */
struct tundef {
  const char *hint;  /* explicit message, or NULL */
  tv obj;            /* TV_MISSING when the undefined is a missing variable */
  tv name;           /* variable name, attribute name or key */
};

/* ---- AST -------------------------------------------------------------------------------- */

typedef enum {
  /* statements */
  N_OUTPUT, N_DATA, N_FOR, N_IF, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK, N_WITH, N_ASSIGN,
  N_ASSIGNBLOCK, N_EXPRSTMT, N_BLOCK, N_INCLUDE, N_UNSUPPORTED, N_TEMPLATE, N_EXTENDS,
  N_IMPORT, N_FROMIMPORT,
  /* expressions */
  N_CONST, N_NAME, N_NSREF, N_TUPLE, N_LIST, N_DICT, N_PAIR, N_GETATTR, N_GETITEM, N_SLICE,
  N_CALL, N_KEYWORD, N_FILTER, N_TEST, N_NOT, N_NEG, N_POS, N_BINOP, N_AND, N_OR, N_CONCAT,
  N_COMPARE, N_OPERAND, N_CONDEXPR,
} tnode_kind;

/* binary and comparison operators (N_BINOP, N_OPERAND) */
typedef enum {
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
  OP_EQ, OP_NE, OP_LT, OP_LTEQ, OP_GT, OP_GTEQ, OP_IN, OP_NOTIN,
} topcode;

enum { CTX_LOAD, CTX_STORE, CTX_PARAM };

typedef struct tframe_info tframe_info;
typedef struct tnodes {
  struct tnode **v;
  size_t n, cap;
} tnodes;

typedef tv (*tbuiltin)(tctx *c, tcall *a);
typedef bool (*ttestfn)(tctx *c, tcall *a);

typedef struct tnode tnode;
struct tnode {
  uint8_t kind;
  uint8_t op;    /* top, name ctx, flags */
  bool flag;     /* N_FOR: recursive; N_INCLUDE: ignore missing; N_BLOCK: scoped;
                    N_FILTER/N_TEST: resolved at runtime (unknown at parse time, soft) */
  bool flag2;    /* N_INCLUDE/N_IMPORT: with context; N_BLOCK: in a top-level frame (root or if
                    body); N_NAME: reads a parameter slot (no undefined
                    check: Jinja2 shows its `missing` sentinel if the slot is unset) */
  unsigned line, col;
  unsigned jline;       /* the line Jinja2 gives the node (a few differ from the token's) */
  unsigned mline;       /* N_WITH: the line Jinja2 blames for errors in its values */
  tnode *a, *b, *c, *d; /* children, meaning per kind (see parse.c) */
  tnodes l1, l2, l3;    /* child lists, meaning per kind */
  const char *s;        /* name / attribute / filter / test name, data text */
  size_t slen;
  const char *s2;       /* N_NSREF: attribute */
  tv k;                 /* N_CONST */
  /* resolved by symbols.c */
  int hops, slot;       /* N_NAME: frame hops up and slot index */
  tframe_info *fi, *fi2, *fi3; /* frames a statement opens (for: body, else, test) */
  union {
    tbuiltin filter;
    ttestfn test;
  } fn;
  int ref_hops, ref_slot; /* N_MACRO: where its name is stored; N_FOR: the `loop` slot */
  uint8_t uses;           /* N_MACRO/N_CALLBLOCK: caller/kwargs/varargs accessed */
  int caller_slot, kwargs_slot, varargs_slot;
};

enum { USES_CALLER = 1, USES_KWARGS = 2, USES_VARARGS = 4 };

/* How a frame slot is filled when the frame is entered (Jinja2's idtracking loads). */
typedef enum { LOAD_PARAM, LOAD_RESOLVE, LOAD_ALIAS, LOAD_UNDEF } tload_kind;

typedef struct tslot {
  const char *name;
  size_t namelen;
  uint64_t hash; /* of the name, for context lookups */
  tload_kind load;
  int alias_hops, alias_slot; /* LOAD_ALIAS: the outer slot copied at entry */
} tslot;

struct tframe_info {
  tslot *slots;
  size_t n;
  bool toplevel; /* assignments here also go to the template context (context.vars) */
};

/* A running frame: the slots of one tframe_info plus the frame it is nested in. */
typedef struct tframe {
  struct tframe *parent;
  tv *slots;
  const tframe_info *fi;
} tframe;

/* ---- calls ------------------------------------------------------------------------------ */

typedef struct tkwarg {
  const char *name;
  tv v;
} tkwarg;

struct tcall {
  tv *pos; /* arguments: valid only during the call (copy what you keep) */
  size_t npos;
  tkwarg *kw;
  size_t nkw;
  const tnode *at; /* for error positions */
  tfunc *self;     /* the function called (bound `self`, state) */
  tv posbuf[6];    /* storage for the usual few arguments, saving allocations */
  tkwarg kwbuf[4];
};

typedef enum { FN_BUILTIN, FN_MACRO } tfunc_kind;

struct tfunc {
  uint8_t kind;
  const char *name;
  tbuiltin fn;      /* FN_BUILTIN */
  tv self;          /* bound methods: the object; TV_MISSING for plain functions */
  const tnode *macro; /* FN_MACRO: N_MACRO or N_CALLBLOCK */
  tframe *closure;    /* FN_MACRO: the frame the macro was defined in */
  const char **argnames;
  size_t nargs;
  /* FN_MACRO: the template and render context it was defined in (a macro resolves names
   * in its own template's context, wherever it is called from) */
  struct ttmpl *tmpl;
  tdict *ctxvars, *vars;
  struct tblocks *blocks;
  /* block references (super(), self.name): the block list and the position in it */
  struct tblist *blist;
  size_t bidx;
};

/* cycler() and joiner(), Jinja2's `missing` sentinel, an imported template module and a
 * template reference (`self`) */
enum { TOBJ_CYCLER, TOBJ_JOINER, TOBJ_MISSING, TOBJ_MODULE, TOBJ_SELF };
struct tobj {
  uint8_t kind; /* TOBJ_* */
  tv *items;
  size_t n, pos;
  const char *sep;
  size_t seplen;
  bool used;
  /* TOBJ_MODULE: exported names, the rendered body and the template's name;
   * TOBJ_SELF: the blocks of the render context */
  tdict *exports;
  tv body;
  const char *name;
  struct tblocks *blocks;
};

struct tloop {
  tv *items;          /* NULL when the loop runs over `range` (items made as needed) */
  const trange *range;
  size_t n, i;
  tv last_changed;     /* changed(): TV_MISSING before the first call */
  int depth;           /* 1 for the outer loop; recursive calls add one */
  const tnode *node;   /* the for statement, for recursive loop() calls */
  struct tframe *frame; /* the frame it runs in */
};

/* item k of a loop */
static inline tv tloop_item(const tloop *l, size_t k) {
  return l->items ? l->items[k] : (tv){.t = TV_INT, .u.i = l->range->start + (int64_t)k * l->range->step};
}

/* ---- templates (tmpl.c) -------------------------------------------------------------------- */

/* One parsed template: the rendered file, or one loaded by include, extends or import. */
typedef struct ttmpl {
  const char *name; /* as the template asked for it (the file name for the main one) */
  const char *src;  /* normalised source, for messages */
  size_t srclen;
  tnode *root;
  bool has_extends;
  tnode **blocks; /* every {% block %} in it, in source order */
  size_t nblocks;
  tv module;      /* the module `import ... without context` gives (made once, as Jinja2) */
  struct ttmpl *next;
} ttmpl;

/* A render context's blocks (Jinja2's context.blocks): per name, the block of the template
 * rendered, then those of each template it extends. */
typedef struct tblk {
  const tnode *node;
  ttmpl *t;
} tblk;
typedef struct tblist {
  const char *name;
  tblk *v;
  size_t n, cap;
  struct tblist *next;
} tblist;
typedef struct tblocks {
  tblist *head;
} tblocks;

/* ---- render context ----------------------------------------------------------------------- */

struct tctx {
  brr_arena *a;          /* for brr_value trees (read_yaml_file); template values use brr__template_talloc */
  struct tchunk *chunks; /* brr__template_talloc's memory */
  struct tchunk *spare;  /* released chunks, for reuse */
  size_t mem, peak;      /* bytes of values held now and at most (env->peak_bytes) */
  bool escaped;          /* see tescape() */
  const brr_tmpl_env *env;
  const char *file;
  const char *src; /* normalised source (newlines as \n), for messages */
  size_t srclen;
  jmp_buf *jb;
  /* the error, set before the longjmp */
  char *err_msg;
  unsigned err_line, err_col;
  int err_exit;
  /* name lookup: template-level assignments, then the caller's vars, then the globals */
  tdict *ctxvars;
  tdict *vars;
  tdict *globals;
  /* output: the current buffer (the main one, or a capture for macros and set blocks) */
  struct tbuf *out;
  struct tbuf *main; /* a view of the caller's buffer, from out_base on */
  brr_buf *out_buf;
  size_t out_base;
  bool want_map;
  unsigned *map; /* heap: it grows during loop iterations whose memory is released */
  size_t nmap, capmap;
  bool at_line_start;
  /* heap resources to release when an error unwinds the render */
  struct ttrack *track;
  size_t ntrack, captrack;
  int depth;  /* recursion guard for macros, includes and nesting */
  int rdepth; /* recursion guard for str()/repr() of nested containers */
  brr_diags *diags; /* for warnings (checksum's missing files) */
  bool br;          /* buildrunner's filters and globals are enabled */
  /* Runtime errors are reported on the line Jinja2 reports: that of the statement or {{ }}
   * expression being run (its generated code line), not of the failing sub-expression. */
  bool running;
  unsigned eline, ecol;
  void *re_cache;   /* compiled patterns of re_sub/re_split (regex.c) */
  /* templates: the one running, the main one, every one loaded (parsed once) */
  ttmpl *cur, *main_tmpl, *tmpls;
  ttmpl *err_tmpl;   /* the template an error was raised in */
  bool err_final;    /* a template loop: passed out unchanged, only moved to the call */
  tblocks *blocks;   /* the render context's blocks */
  ttmpl *parent_tmpl; /* set by {% extends %} in the root being rendered */
  const tnode *parent_at;
  bool out_check;     /* output after an extends is dropped (Jinja2's require_output_check) */
  tdict *noexport;    /* top-level names an import set (not exported by a module) */
  unsigned ext_line;  /* the main file's line that led into another template (line map) */
  uintptr_t stack_base; /* the render's entry frame, and how much stack it may use */
  size_t stack_budget;
  const char **chain; /* the templates being included/extended/imported, outermost first */
  size_t nchain, capchain;
};

/* A growable byte buffer in the arena, so an error jump leaks nothing. */
typedef struct tbuf {
  char *p;
  size_t n, cap;
} tbuf;

typedef struct ttrack {
  void (*fn)(void *);
  void *p;
} ttrack;

/* ---- memory for the render (freed when it ends; zeroed) ---- */
/* A loop iteration's memory is released when the iteration leaves nothing behind. */
typedef struct tmark {
  struct tchunk *chunk;
  size_t used;
} tmark;
tmark brr__template_tmark_get(tctx *c);
void brr__template_tmark_release(tctx *c, tmark m); /* frees everything allocated since `m` */
/* Called by everything that stores into a value that may be older than the current loop
 * iteration (list.append, dict.update, namespace attributes, ...): keeps the iteration's
 * memory alive. */
static inline void tescape(tctx *c);
void *brr__template_talloc(tctx *c, size_t n);
void *brr__template_tgrow(tctx *c, void *old, size_t old_bytes, size_t new_bytes);
char *brr__template_tstrndup(tctx *c, const char *s, size_t n);
char *brr__template_tstrdup(tctx *c, const char *s);
char *brr__template_tprintf(tctx *c, const char *fmt, ...) BRR_PRINTF(2, 3);

/* ---- errors (all longjmp to the render entry) ---- */
BRR_NORETURN void brr__template_terr(tctx *c, const tnode *at, const char *fmt, ...) BRR_PRINTF(3, 4);
BRR_NORETURN void brr__template_terr_at(tctx *c, unsigned line, unsigned col, const char *fmt, ...)
    BRR_PRINTF(4, 5);
/* raise() from a template: exit code 1 */
BRR_NORETURN void brr__template_terr_raise(tctx *c, const tnode *at, const char *msg);
/* the error an operation on an Undefined raises */
BRR_NORETURN void brr__template_terr_undef(tctx *c, const tnode *at, tv u);
/* --strict-templates: Jinja2's StrictUndefined raises wherever Python would take an undefined
 * value's str, truth, length, items or compare it; call this at each such use. */
static inline void tv_strict(tctx *c, const tnode *at, tv v) {
  if (v.t == TV_UNDEF && c->env->strict_undefined) brr__template_terr_undef(c, at, v);
}
/* Keep `p` alive until the render ends or unwinds; returns an id for brr__template_tctx_untrack. */
size_t brr__template_tctx_track(tctx *c, void (*fn)(void *), void *p);
void brr__template_tctx_untrack(tctx *c, size_t id); /* runs fn(p) now */

static inline void tescape(tctx *c) { c->escaped = true; }

/* ---- tbuf ---- */
void brr__template_tbuf_add(tctx *c, tbuf *b, const char *p, size_t n);
void brr__template_tbuf_addc(tctx *c, tbuf *b, char ch);
void brr__template_tbuf_adds(tctx *c, tbuf *b, const char *s);
void brr__template_tbuf_printf(tctx *c, tbuf *b, const char *fmt, ...) BRR_PRINTF(3, 4);
tv brr__template_tbuf_str(tctx *c, tbuf *b); /* the buffer as a string value (no copy) */
/* raise before building a string of `bytes` bytes when that is beyond brr's limit */
void brr__template_tstr_check_size(tctx *c, const tnode *at, uint64_t bytes);

/* ---- values: tvalue.c ---- */
extern const tv BRR__TEMPLATE_TV_NONE_V, BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_TRUE_V, BRR__TEMPLATE_TV_FALSE_V;
static inline tv tv_bool(bool b) { return (tv){.t = TV_BOOL, .u.b = b}; }
static inline tv tv_int(int64_t i) { return (tv){.t = TV_INT, .u.i = i}; }
static inline tv tv_float(double f) { return (tv){.t = TV_FLOAT, .u.f = f}; }
/* p must be NUL-terminated and outlive the value */
static inline tv tv_str_nocopy(const char *p, size_t n) { return (tv){.t = TV_STR, .slen = (uint32_t)n, .u.str = p}; }
tv brr__template_tv_str(tctx *c, const char *p, size_t n); /* copies */
tv brr__template_tv_strz(tctx *c, const char *s);          /* copies */
tv brr__template_tv_undef(tctx *c, const char *hint, tv obj, tv name);
tv brr__template_tv_undef_name(tctx *c, const char *name);
tv brr__template_tv_list(tctx *c, size_t cap);
tv brr__template_tv_tuple(tctx *c, size_t n); /* n items, all TV_NONE, to be filled */
tv brr__template_tv_dict(tctx *c);
void brr__template_tl_push(tctx *c, tlist *l, tv v);
void brr__template_td_set(tctx *c, const tnode *at, tdict *d, tv k, tv v);
tv *brr__template_td_get(tctx *c, const tnode *at, tdict *d, tv k); /* NULL when absent */
tv *brr__template_td_gets(tdict *d, const char *k, size_t n);       /* string key lookup */
tv *brr__template_td_gets_h(tdict *d, const char *k, size_t n, uint64_t h); /* with brr__template_tstr_hash(k, n) */
uint64_t brr__template_tstr_hash(const char *p, size_t n);
void brr__template_td_sets(tctx *c, tdict *d, const char *k, tv v); /* k must outlive (arena) */
bool brr__template_td_del(tctx *c, const tnode *at, tdict *d, tv k, tv *old);
tdict *brr__template_td_copy(tctx *c, const tdict *d);
/* iterate live entries: for (size_t i = 0; brr__template_td_next(d, &i, &e);) */
bool brr__template_td_next(const tdict *d, size_t *i, tdent **e);

bool brr__template_tv_truthy(tctx *c, const tnode *at, tv v);
static inline bool tv_is_undef(tv v) { return v.t == TV_UNDEF || v.t == TV_MISSING; }
static inline bool tv_is_num(tv v) { return v.t == TV_BOOL || v.t == TV_INT || v.t == TV_FLOAT; } /* bool, int, float */
bool brr__template_tv_eq(tctx *c, tv a, tv b);
/* Python's <: -1, 0, 1; type errors raise. */
int brr__template_tv_cmp(tctx *c, const tnode *at, tv a, tv b);
uint64_t brr__template_tv_hash(tctx *c, const tnode *at, tv v); /* unhashable types raise */
const char *brr__template_tv_typename(tv v);   /* Python type name: 'str', 'int', 'NoneType', ... */
/* str() and repr() as Python prints them */
void brr__template_tv_str_to(tctx *c, tbuf *b, tv v);
void brr__template_tv_repr_to(tctx *c, tbuf *b, tv v);
tv brr__template_tv_to_str(tctx *c, tv v); /* str(v) as a string value (no copy when already one) */
/* Anything iterable as an array (consumes iterators); raises for the rest. Lists and tuples
 * give their own items: callers must not write into the result. */
tv *brr__template_tv_iterate(tctx *c, const tnode *at, tv v, size_t *n);
/* len(); raises for types without one */
size_t brr__template_tv_len(tctx *c, const tnode *at, tv v);
bool brr__template_tv_has_len(tv v);
size_t brr__template_tv_range_len(tctx *c, const tnode *at, tv v); /* a range's length, within brr's limit */
/* Python's int()/float() of a number or numeric string; false when not convertible */
bool brr__template_tv_parse_int(const char *s, size_t n, int base, int64_t *out, bool *overflow);
bool brr__template_tv_parse_float(const char *s, size_t n, double *out);
void brr__template_tv_pyfloat(double f, char *buf, size_t size);
tv brr__template_tv_from_brr(tctx *c, const brr_value *v);
brr_value *brr__template_tv_to_brr(tctx *c, tv v);

/* ---- unicode helpers: unicode.c ---- */
size_t brr__template_u8_decode(const char *s, size_t n, size_t i, uint32_t *cp); /* returns byte length */
size_t brr__template_u8_encode(uint32_t cp, char out[4]);
size_t brr__template_u8_len(const char *s, size_t n);               /* code points */
size_t brr__template_u8_offset(const char *s, size_t n, size_t k);  /* byte offset of code point k */
bool brr__template_u_isspace(uint32_t cp);
bool brr__template_u_isprintable(uint32_t cp);
bool brr__template_u_isalpha(uint32_t cp);
bool brr__template_u_isdigit(uint32_t cp);
bool brr__template_u_isalnum(uint32_t cp);
bool brr__template_u_isupper(uint32_t cp);
bool brr__template_u_islower(uint32_t cp);
bool brr__template_u_iscased(uint32_t cp);
uint32_t brr__template_u_toupper(uint32_t cp);
uint32_t brr__template_u_tolower(uint32_t cp);
uint32_t brr__template_u_totitle(uint32_t cp);
/* leading/trailing whitespace per str.isspace(); returns the new [start, end) */
void brr__template_u_strip(const char *s, size_t n, bool left, bool right, size_t *start, size_t *end);
tv brr__template_u_upper(tctx *c, tv s);
tv brr__template_u_lower(tctx *c, tv s);
tv brr__template_u_capitalize(tctx *c, tv s);
tv brr__template_u_pytitle(tctx *c, tv s); /* str.title() */
tv brr__template_u_swapcase(tctx *c, tv s);

/* ---- lexer and parser ---- */
typedef enum {
  TK_EOF, TK_DATA, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
  TK_NAME, TK_STRING, TK_INT, TK_FLOAT,
  /* operators */
  TK_ADD, TK_SUB, TK_DIV, TK_FLOORDIV, TK_MUL, TK_MOD, TK_POW, TK_TILDE, TK_LBRACKET,
  TK_RBRACKET, TK_LPAREN, TK_RPAREN, TK_LBRACE, TK_RBRACE, TK_EQ, TK_NE, TK_GT, TK_GTEQ,
  TK_LT, TK_LTEQ, TK_ASSIGN, TK_DOT, TK_COLON, TK_PIPE, TK_COMMA, TK_SEMICOLON,
} ttok_type;

typedef struct ttok {
  uint8_t type;
  unsigned line, col;
  const char *s; /* name, decoded string or data (arena, NUL-terminated) */
  size_t n;
  int64_t i;
  double f;
} ttok;

/* Newline-normalise `src` and drop one trailing newline, as Jinja2 does before lexing. */
char *brr__template_tlex_prepare(tctx *c, const char *src, size_t len, size_t *outlen);
ttok *brr__template_tlex(tctx *c, const char *src, size_t len, size_t *ntok);
const char *brr__template_ttok_describe(const ttok *t);
/* Parse a whole template. `buildrunner` enables the `do` tag. */
tnode *brr__template_tparse(tctx *c, const ttok *toks, size_t n, bool do_ext);
/* Jinja2's compile-time scoping, filling frame infos and name slots. */
tframe_info *brr__template_tsymbols_resolve(tctx *c, tnode *root);

/* ---- evaluation ---- */
tv brr__template_teval(tctx *c, tframe *f, const tnode *n);
void brr__template_texec_body(tctx *c, tframe *f, const tnodes *body);
tframe *brr__template_tframe_enter(tctx *c, tframe *parent, const tframe_info *fi);
void brr__template_tframe_load(tctx *c, tframe *f); /* (re)initialise the slots, as entering the frame does */
tv brr__template_tcall_value(tctx *c, const tnode *at, tv fn, tcall *a);
tv brr__template_tresolve(tctx *c, const char *name, size_t n); /* context lookup; TV_MISSING when absent */
tv brr__template_tresolve_h(tctx *c, const char *name, size_t n, uint64_t h);
/* Output to the current buffer; `line` is the source line of the first byte. */
void brr__template_temit(tctx *c, const char *p, size_t n, unsigned line, bool data);
void brr__template_temit_value(tctx *c, tv v, unsigned line);
/* Run `body` with output captured; returns the captured text. */
tv brr__template_tcapture(tctx *c, tframe *f, const tnodes *body);
/* assign `v` to a target (name, tuple, ns.attr); top-level ones also go to the context */
void brr__template_tassign(tctx *c, tframe *f, const tnode *target, tv v, bool toplevel);
#define MAX_CALL_DEPTH 400
/* Recursion also stops when it has used half of the thread's stack (sanitizer builds have
 * large frames): an error, never a stack overflow. */
void brr__template_tstack_check(tctx *c, const tnode *at);

/* ---- templates: tmpl.c ---- */
ttmpl *brr__template_ttmpl_new(tctx *c, const char *name);
/* parse `src` into `t` (with t current: errors are raised in it) */
void brr__template_ttmpl_parse(tctx *c, ttmpl *t, const char *src, size_t len);
/* Run `fn(c, arg)` with template `t` current: an error in another template than the main one
 * is reported at `at` ("in t, line N: ..."); the render context is put back afterwards. */
void brr__template_tswitch(tctx *c, const tnode *at, ttmpl *t, void (*fn)(tctx *, void *), void *arg);
/* render a template's root (and those of the templates it extends) in the current context */
void brr__template_texec_root(tctx *c, ttmpl *t);
tblocks *brr__template_tblocks_new(tctx *c, ttmpl *t);
void brr__template_texec_include(tctx *c, tframe *f, const tnode *n);
void brr__template_texec_extends(tctx *c, tframe *f, const tnode *n);
void brr__template_texec_import(tctx *c, tframe *f, const tnode *n);
void brr__template_texec_block(tctx *c, tframe *f, const tnode *n);
tv brr__template_tcall_macro_in(tctx *c, const tnode *at, tfunc *fn, tcall *a, tv (*call)(tctx *, const tnode *, tfunc *, tcall *));
bool brr__template_tobj_attr(tctx *c, tv obj, const char *name, size_t n, tv *out);
/* the variables an included template or a with-context import sees */
tdict *brr__template_tinclude_context(tctx *c, tframe *f, bool with_context);

/* ---- operators: ops.c ---- */
tv brr__template_top_binary(tctx *c, const tnode *at, int op, tv a, tv b);
bool brr__template_top_compare(tctx *c, const tnode *at, int op, tv a, tv b);
bool brr__template_top_contains(tctx *c, const tnode *at, tv container, tv item);
tv brr__template_top_neg(tctx *c, const tnode *at, tv v, bool neg);
tv brr__template_top_getattr(tctx *c, const tnode *at, tv obj, const char *name, size_t n);
tv brr__template_top_getitem(tctx *c, const tnode *at, tv obj, tv key);
tv brr__template_top_slice(tctx *c, const tnode *at, tv obj, tv start, tv stop, tv step);

/* ---- builtins ---- */
tbuiltin brr__template_tfilter_find(const char *name, bool buildrunner);
ttestfn brr__template_ttest_find(const char *name);
/* attribute of a str/dict/list/...: a bound method or a property; false when none */
bool brr__template_tmethod_get(tctx *c, const tnode *at, tv obj, const char *name, size_t n, tv *out);
/* global functions (range, dict, namespace, ...) and buildrunner's */
void brr__template_tglobals_init(tctx *c, tdict *globals, bool buildrunner);
tv brr__template_tfn_new(tctx *c, const char *name, tbuiltin fn, tv self);

/* argument binding: `params` are names; a leading '?' marks optional ones. Missing optional
 * arguments come back as TV_MISSING. `fname` is used in error messages. */
void brr__template_targs_bind(tctx *c, tcall *a, const char *fname, const char *const *params, size_t np,
                tv *out);
#define TARGS(c, a, fname, out, ...)                                                        \
  do {                                                                                     \
    static const char *const p_[] = {__VA_ARGS__};                                         \
    brr__template_targs_bind((c), (a), (fname), p_, sizeof p_ / sizeof p_[0], (out));                    \
  } while (0)
int64_t brr__template_targ_int(tctx *c, const tnode *at, tv v, const char *what);
const char *brr__template_targ_str(tctx *c, const tnode *at, tv v, const char *what, size_t *n);

/* ---- str methods: strmethods.c; dict helpers: methods.c; sorting: seqfilters.c ---- */
tbuiltin brr__template_tstr_method(const char *name, size_t n);
tv brr__template_tstr_replace(tctx *c, const tnode *at, tv s, tv old, tv new_, int64_t count);
/* str.strip/lstrip/rstrip(chars): chars TV_MISSING or None strips whitespace */
tv brr__template_tstr_strip(tctx *c, const tnode *at, tv s, tv chars, bool left, bool right);
/* str.center/ljust/rjust: how 0 center, 1 left, 2 right */
tv brr__template_tstr_pad(tctx *c, const tnode *at, tv s, int64_t width, tv fill, int how);
void brr__template_tdict_update(tctx *c, const tnode *at, tdict *d, tv src);
/* stable sort of v[0..n) by keys[i] (or the values themselves), comparing with < only */
void brr__template_tsort_values(tctx *c, const tnode *at, tv *v, size_t n, const tv *keys, bool reverse);
tv brr__template_tf_seq(tctx *c, tcall *a, int which);
tv brr__template_tpprint(tctx *c, tv v); /* pprint.pformat(v) */
tv brr__template_tf_wordwrap(tctx *c, tcall *a); /* extrafilters.c */
tv brr__template_tf_random(tctx *c, tcall *a);
tv brr__template_tf_urlize(tctx *c, tcall *a);
tv brr__template_tf_lipsum(tctx *c, tcall *a); /* the lipsum() global */

/* ---- python formatting: pyfmt.c ---- */
tv brr__template_tpy_percent(tctx *c, const tnode *at, tv fmt, tv args);   /* str % args */
tv brr__template_tpy_format(tctx *c, const tnode *at, tv fmt, tcall *a);   /* str.format(*a) */

/* ---- regex (re_sub, re_split): regex.c ---- */
tv brr__template_tre_sub(tctx *c, tcall *a);
tv brr__template_tre_split(tctx *c, tcall *a);

/* ---- buildrunner globals: brfuncs.c ---- */
tv brr__template_tbr_read_yaml_file(tctx *c, tcall *a);
tv brr__template_tbr_raise(tctx *c, tcall *a);
tv brr__template_tbr_strftime(tctx *c, tcall *a);
tv brr__template_tbr_checksum(tctx *c, tcall *a);
tv brr__template_tbr_hash_sha1(tctx *c, tcall *a);
tv brr__template_tbr_b64encode(tctx *c, tcall *a);
tv brr__template_tbr_b64decode(tctx *c, tcall *a);

#endif
