/* brr_template_render: the engine's entry point, its error unwinding, output buffers and the
 * output-line -> source-line map. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* ---- errors ---- */

static void err_set(tctx *c, unsigned line, unsigned col, int exit_code, const char *fmt, va_list ap) BRR_PRINTF(5, 0);
static void err_set(tctx *c, unsigned line, unsigned col, int exit_code, const char *fmt, va_list ap) {
  free(c->err_msg);
  c->err_msg = brr_xvasprintf(fmt, ap);
  c->err_line = line;
  c->err_col = col;
  c->err_exit = exit_code;
  c->err_tmpl = c->cur;
}

void brr__template_terr_at(tctx *c, unsigned line, unsigned col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_set(c, line, col, BRR_EXIT_CONFIG, fmt, ap);
  va_end(ap);
  longjmp(*c->jb, 1);
}

/* the position an error at `at` is reported at: at run time, Jinja2's line (see tctx) */
static void err_pos(const tctx *c, const tnode *at, unsigned *line, unsigned *col) {
  *line = at ? at->line : 0;
  *col = at ? at->col : 0;
  if (c->running && c->eline && *line != c->eline) {
    *line = c->eline;
    *col = c->ecol;
  }
}

void brr__template_terr(tctx *c, const tnode *at, const char *fmt, ...) {
  va_list ap;
  unsigned line, col;
  err_pos(c, at, &line, &col);
  va_start(ap, fmt);
  err_set(c, line, col, BRR_EXIT_CONFIG, fmt, ap);
  va_end(ap);
  longjmp(*c->jb, 1);
}

static void err_fmt(tctx *c, unsigned line, unsigned col, int code, const char *fmt, ...) BRR_PRINTF(5, 6);
static void err_fmt(tctx *c, unsigned line, unsigned col, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_set(c, line, col, code, fmt, ap);
  va_end(ap);
}

void brr__template_terr_raise(tctx *c, const tnode *at, const char *msg) {
  unsigned line, col;
  err_pos(c, at, &line, &col);
  err_fmt(c, line, col, BRR_EXIT_FAILED, "%s", msg);
  longjmp(*c->jb, 1);
}

/* jinja2.utils.object_type_repr */
static void object_type_repr(tctx *c, tbuf *b, tv obj) {
  if (obj.t == TV_NONE) brr__template_tbuf_adds(c, b, "None");
  else if (obj.t == TV_LOOP) brr__template_tbuf_adds(c, b, "jinja2.runtime.LoopContext object");
  else if (obj.t == TV_NS) brr__template_tbuf_adds(c, b, "jinja2.utils.Namespace object");
  else if (obj.t == TV_DICT && obj.u.d->ordered) brr__template_tbuf_adds(c, b, "collections.OrderedDict object");
  else brr__template_tbuf_printf(c, b, "%s object", brr__template_tv_typename(obj));
}

void brr__template_terr_undef(tctx *c, const tnode *at, tv v) {
  tundef *u = v.t == TV_UNDEF ? v.u.u : NULL;
  tbuf b = {0};
  if (!u) brr__template_tbuf_adds(c, &b, "value is undefined");
  else if (u->hint) brr__template_tbuf_adds(c, &b, u->hint);
  else if (u->obj.t == TV_MISSING) {
    brr__template_tv_repr_to(c, &b, u->name);
    brr__template_tbuf_adds(c, &b, " is undefined");
  } else if (u->name.t != TV_STR) {
    object_type_repr(c, &b, u->obj);
    brr__template_tbuf_adds(c, &b, " has no element ");
    brr__template_tv_repr_to(c, &b, u->name);
  } else {
    tbuf tmp = {0};
    object_type_repr(c, &tmp, u->obj);
    brr__template_tv_repr_to(c, &b, brr__template_tbuf_str(c, &tmp));
    brr__template_tbuf_adds(c, &b, " has no attribute ");
    brr__template_tv_repr_to(c, &b, u->name);
  }
  brr__template_terr(c, at, "%s", brr__template_tbuf_str(c, &b).u.str);
}

size_t brr__template_tctx_track(tctx *c, void (*fn)(void *), void *p) {
  if (c->ntrack == c->captrack) {
    c->captrack = c->captrack ? c->captrack * 2 : 8;
    c->track = brr_xrealloc(c->track, c->captrack * sizeof *c->track);
  }
  c->track[c->ntrack] = (ttrack){fn, p};
  return c->ntrack++;
}

void brr__template_tctx_untrack(tctx *c, size_t id) {
  ttrack *t = &c->track[id];
  if (t->fn) t->fn(t->p);
  t->fn = NULL;
  while (c->ntrack && !c->track[c->ntrack - 1].fn) c->ntrack--;
}

/* ---- memory ----
 * A render allocates many small objects and frees them all at once. They come from chunks
 * mapped with MAP_POPULATE: zeroed by the kernel and faulted in one go, where touching
 * malloc'd memory page by page costs a fault per page (a large part of a big render). */

typedef struct tchunk {
  struct tchunk *next;
  size_t size, used, pad; /* 32 bytes: what follows stays 16-byte aligned */
} tchunk;

#define CHUNK_MIN ((size_t)64 << 10)
#define CHUNK_MAX ((size_t)1 << 20) /* populated memory a render does not use is wasted work */

#if defined(__SANITIZE_ADDRESS__)
#define TALLOC_PER_OBJECT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TALLOC_PER_OBJECT 1
#endif
#endif

#ifdef TALLOC_PER_OBJECT
/* AddressSanitizer builds: every object its own allocation, so overflows are caught and a
 * released iteration's objects are really freed (a use after release is reported) */
static void chunks_free(tctx *c) {
  for (tchunk *k = c->chunks, *next; k; k = next) {
    c->mem -= k->size;
    next = k->next;
    free(k);
  }
  c->chunks = NULL;
}

tmark brr__template_tmark_get(tctx *c) { return (tmark){c->chunks, 0}; }

void brr__template_tmark_release(tctx *c, tmark m) {
  while (c->chunks != m.chunk) {
    tchunk *k = c->chunks;
    c->chunks = k->next;
    c->mem -= k->size;
    free(k);
  }
}

void *brr__template_talloc(tctx *c, size_t n) {
  tchunk *k = brr_xcalloc(1, sizeof *k + n);
  k->size = sizeof *k + n;
  c->mem += k->size;
  if (c->mem > c->peak) c->peak = c->mem;
  k->next = c->chunks;
  c->chunks = k;
  return k + 1;
}
#else
static void chunks_free(tctx *c) {
  for (int list = 0; list < 2; list++)
    for (tchunk *k = list ? c->spare : c->chunks, *next; k; k = next) {
      next = k->next;
      munmap(k, k->size);
    }
  c->chunks = c->spare = NULL;
}

tmark brr__template_tmark_get(tctx *c) { return (tmark){c->chunks, c->chunks ? c->chunks->used : 0}; }

void brr__template_tmark_release(tctx *c, tmark m) {
  /* chunks taken since the mark go to the spare list (pad: how much of one is dirty) */
  while (c->chunks && c->chunks != m.chunk) {
    tchunk *k = c->chunks;
    c->chunks = k->next;
    k->pad = k->used;
    k->next = c->spare;
    c->spare = k;
  }
  if (m.chunk) { /* brr__template_talloc hands out zeroed memory */
    memset((char *)m.chunk + m.used, 0, m.chunk->used - m.used);
    m.chunk->used = m.used;
  }
}

static tchunk *chunk_new(tctx *c, size_t size) {
  for (tchunk **p = &c->spare; *p; p = &(*p)->next)
    if ((*p)->size >= size) {
      tchunk *k = *p;
      *p = k->next;
      size_t ksize = k->size;
      memset(k, 0, k->pad);
      k->size = ksize;
      return k;
    }
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    fprintf(stderr, "brr: out of memory\n");
    abort();
  }
  tchunk *k = m;
  k->size = size;
  c->mem += size; /* mapped memory: released chunks are kept for reuse */
  if (c->mem > c->peak) c->peak = c->mem;
  return k;
}

void *brr__template_talloc(tctx *c, size_t n) {
  n = (n + 15) & ~(size_t)15;
  tchunk *k = c->chunks;
  if (!k || k->size - k->used < n) {
    size_t size = k ? k->size * 2 : CHUNK_MIN;
    if (size > CHUNK_MAX) size = CHUNK_MAX;
    if (size < n + sizeof *k + 16) size = (n + sizeof *k + 16 + 4095) & ~(size_t)4095;
    tchunk *nk = chunk_new(c, size);
    size = nk->size;
    nk->used = (sizeof *nk + 15) & ~(size_t)15;
    if (k && k->size - k->used > size - n - nk->used) { /* keep filling the roomier chunk */
      nk->next = k->next;
      k->next = nk;
      nk->used += n;
      return (char *)nk + nk->used - n;
    }
    nk->next = k;
    c->chunks = k = nk;
  }
  void *p = (char *)k + k->used;
  k->used += n;
  return p;
}
#endif

void *brr__template_tgrow(tctx *c, void *old, size_t old_bytes, size_t new_bytes) {
  if (new_bytes <= old_bytes) return old;
  void *p = brr__template_talloc(c, new_bytes);
  if (old && old_bytes) memcpy(p, old, old_bytes);
  return p;
}

char *brr__template_tstrndup(tctx *c, const char *s, size_t n) {
  char *p = brr__template_talloc(c, n + 1);
  if (n) memcpy(p, s, n);
  return p;
}

char *brr__template_tstrdup(tctx *c, const char *s) { return brr__template_tstrndup(c, s, strlen(s)); }

char *brr__template_tprintf(tctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *m = brr_xvasprintf(fmt, ap);
  va_end(ap);
  char *r = brr__template_tstrdup(c, m);
  free(m);
  return r;
}

/* ---- arena buffers ---- */

/* Python grows strings until memory runs out; brr stops a runaway template earlier */
#define MAX_STRING ((size_t)128 << 20)

void brr__template_tstr_check_size(tctx *c, const tnode *at, uint64_t bytes) {
  if (bytes > MAX_STRING) brr__template_terr(c, at, "string too large (brr allows %zu MiB)", MAX_STRING >> 20);
}

static void tbuf_reserve(tctx *c, tbuf *b, size_t extra) {
  if (b->n + extra + 1 <= b->cap) return;
  if (b->n + extra > MAX_STRING) brr__template_terr(c, NULL, "string too large (brr allows %zu MiB)", MAX_STRING >> 20);
  /* most strings are built once and short: start at the size asked for */
  size_t nc = b->cap ? b->cap * 2 : (b->n + extra + 1 + 15) & ~(size_t)15;
  while (nc < b->n + extra + 1) nc *= 2;
  if (b == c->main) { /* the caller's buffer: realloc grows it in place */
    c->out_buf->len = b->n;
    brr_buf_reserve(c->out_buf, nc - b->n - 1);
    b->p = c->out_buf->data;
    b->cap = c->out_buf->cap;
  } else {
    char *np = brr__template_talloc(c, nc);
    if (b->n) memcpy(np, b->p, b->n);
    b->p = np;
  }
  b->cap = nc;
}

void brr__template_tbuf_add(tctx *c, tbuf *b, const char *p, size_t n) {
  tbuf_reserve(c, b, n);
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
}

void brr__template_tbuf_addc(tctx *c, tbuf *b, char ch) { brr__template_tbuf_add(c, b, &ch, 1); }
void brr__template_tbuf_adds(tctx *c, tbuf *b, const char *s) { brr__template_tbuf_add(c, b, s, strlen(s)); }

void brr__template_tbuf_printf(tctx *c, tbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    brr__template_tbuf_add(c, b, tmp, (size_t)n);
    return;
  }
  tbuf_reserve(c, b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)n;
}

tv brr__template_tbuf_str(tctx *c, tbuf *b) {
  (void)c;
  /* brr__template_tbuf_add keeps the text NUL-terminated */
  return b->p ? tv_str_nocopy(b->p, b->n) : tv_str_nocopy("", 0);
}

/* ---- output ---- */

void brr__template_temit(tctx *c, const char *p, size_t n, unsigned line, bool data) {
  if (c->out == c->main && c->want_map) {
    if (c->cur != c->main_tmpl) { /* another template's output: the main file's statement */
      line = c->ext_line;
      data = false;
    }
    for (size_t i = 0; i < n;) {
      if (c->at_line_start) {
        if (c->nmap == c->capmap) {
          c->capmap = c->capmap ? c->capmap * 2 : 64;
          c->map = brr_xrealloc(c->map, c->capmap * sizeof *c->map);
        }
        c->map[c->nmap++] = line;
        c->at_line_start = false;
      }
      const char *nl = memchr(p + i, '\n', n - i);
      if (!nl) break;
      i = (size_t)(nl - p) + 1;
      c->at_line_start = true;
      if (data) line++;
    }
  }
  brr__template_tbuf_add(c, c->out, p, n);
}

void brr__template_temit_value(tctx *c, tv v, unsigned line) {
  if (v.t == TV_STR) {
    brr__template_temit(c, v.u.str, v.slen, line, false);
    return;
  }
  if (c->out != c->main || !c->want_map) {
    brr__template_tv_str_to(c, c->out, v);
    return;
  }
  tbuf tmp = {0};
  brr__template_tv_str_to(c, &tmp, v);
  brr__template_temit(c, tmp.p ? tmp.p : "", tmp.n, line, false);
}

tv brr__template_tcapture(tctx *c, tframe *f, const tnodes *body) {
  tbuf *saved = c->out;
  tbuf *b = brr__template_talloc(c, sizeof *b);
  c->out = b;
  brr__template_texec_body(c, f, body);
  c->out = saved;
  return brr__template_tbuf_str(c, b);
}

/* ---- context lookup ---- */

tv brr__template_tresolve_h(tctx *c, const char *name, size_t n, uint64_t h) {
  tv *v = brr__template_td_gets_h(c->ctxvars, name, n, h);
  if (!v && c->vars) v = brr__template_td_gets_h(c->vars, name, n, h);
  if (!v) v = brr__template_td_gets_h(c->globals, name, n, h);
  return v ? *v : BRR__TEMPLATE_TV_MISSING_V;
}

tv brr__template_tresolve(tctx *c, const char *name, size_t n) { return brr__template_tresolve_h(c, name, n, brr__template_tstr_hash(name, n)); }

/* ---- recursion and the stack ---- */

static size_t stack_budget(void) {
  static _Thread_local size_t cached; /* the main thread's answer comes from /proc: keep it */
  if (cached) return cached;
  size_t size = (size_t)8 << 20;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    size_t s = 0;
    if (pthread_attr_getstacksize(&attr, &s) == 0 && s) size = s;
    pthread_attr_destroy(&attr);
  }
  return cached = size / 2;
}

void brr__template_tstack_check(tctx *c, const tnode *at) {
  /* the frame address, not a local's: AddressSanitizer may keep locals on a heap "fake stack" */
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (c->stack_base > here && c->stack_base - here > c->stack_budget) brr__template_terr(c, at, "maximum recursion depth exceeded");
}

/* ---- entry ---- */

static void free_track(tctx *c) {
  while (c->ntrack) {
    ttrack *t = &c->track[--c->ntrack];
    if (t->fn) t->fn(t->p);
  }
  free(c->track);
}

static int report(tctx *c, const char *file, brr_diags *d) {
  brr_mark m = {file, c->err_line, c->err_col};
  brr_diag *g = brr_diag_error(d, m, NULL, "%s", c->err_msg ? c->err_msg : "template error");
  g->exit_code = c->err_exit;
  if (c->src) brr_diag_set_snippet(g, c->src, c->srclen);
  return c->err_exit == BRR_EXIT_FAILED ? BRR_EFAILED : BRR_ECONFIG;
}

/* Text with no {{, {% or {# and no \r: Jinja2 gives it back as it is, less one trailing newline. */
static bool plain_text(const char *s, size_t n) {
  if (memchr(s, '\r', n)) return false;
  for (const char *p = s, *end = s + n; (p = memchr(p, '{', (size_t)(end - p))) && p + 1 < end; p++)
    if (p[1] == '{' || p[1] == '%' || p[1] == '#') return false;
  return true;
}

/* What the engine makes of plain text (lex prepare + one data token), without the engine:
 * the same bytes and the same line map (line i of the output is line i of the source). */
static void render_plain(const char *src, size_t len, const brr_tmpl_env *env, brr_buf *out,
                         unsigned **line_map, size_t *n_lines) {
  size_t n = len && src[len - 1] == '\n' ? len - 1 : len;
  if (n) brr_buf_append(out, src, n);
  if (line_map) {
    size_t lines = 0;
    for (const char *p = src, *end = src + n; (p = memchr(p, '\n', (size_t)(end - p))); p++) lines++;
    if (n && src[n - 1] != '\n') lines++;
    *n_lines = lines;
    *line_map = brr_xmalloc((lines ? lines : 1) * sizeof **line_map);
    for (size_t i = 0; i < lines; i++) (*line_map)[i] = (unsigned)(i + 1);
  }
  if (env && env->peak_bytes) *env->peak_bytes = 0;
}

int brr_template_render(const char *src, size_t len, const char *file, const brr_tmpl_env *env,
                        brr_buf *out, unsigned **line_map, size_t *n_lines, brr_diags *d) {
  static const brr_tmpl_env no_env = {0};
  if (plain_text(src, len)) {
    render_plain(src, len, env, out, line_map, n_lines);
    return 0;
  }
  tctx *c = brr_xcalloc(1, sizeof *c);
  jmp_buf jb;
  c->a = brr_arena_new();
  c->env = env ? env : &no_env;
  c->file = file;
  c->br = c->env->buildrunner_globals;
  c->diags = d;
  c->jb = &jb;
  c->want_map = line_map != NULL;
  c->stack_base = (uintptr_t)__builtin_frame_address(0);
  c->stack_budget = stack_budget();
  c->at_line_start = true;
  int rc = 0;
  if (setjmp(jb) == 0) {
    ttmpl *mt = brr__template_ttmpl_new(c, file ? file : "<template>");
    c->cur = c->main_tmpl = mt;
    brr__template_ttmpl_parse(c, mt, src, len);
    c->ctxvars = brr__template_tv_dict(c).u.d;
    c->globals = brr__template_tv_dict(c).u.d;
    brr__template_tglobals_init(c, c->globals, c->br);
    if (c->env->vars && c->env->vars->type == BRR_VAL_MAP) c->vars = brr__template_tv_from_brr(c, c->env->vars).u.d;
    if (c->br) { /* buildrunner puts these in the render context, over its env dict */
      if (!c->vars) c->vars = brr__template_tv_dict(c).u.d;
      static const char *const ctx_fns[] = {"read_yaml_file", "raise", "strftime"};
      for (size_t i = 0; i < BRR_ARRAY_LEN(ctx_fns); i++) {
        tv *g = brr__template_td_gets(c->globals, ctx_fns[i], strlen(ctx_fns[i]));
        brr__template_td_sets(c, c->vars, ctx_fns[i], *g);
      }
    }
    /* the output goes straight into `out`; an error truncates it back */
    c->out_buf = out;
    c->out_base = out->len;
    c->main = brr__template_talloc(c, sizeof *c->main);
    c->main->p = out->data;
    c->main->n = out->len;
    c->main->cap = out->cap;
    c->out = c->main;
    c->blocks = brr__template_tblocks_new(c, mt);
    c->running = true;
    brr__template_texec_root(c, mt);
    out->len = c->main->n;
    if (line_map) {
      *n_lines = c->nmap;
      *line_map = brr_xmalloc((c->nmap ? c->nmap : 1) * sizeof **line_map);
      if (c->nmap) memcpy(*line_map, c->map, c->nmap * sizeof **line_map);
    }
  } else {
    rc = report(c, file, d);
    if (c->out_buf) {
      out->len = c->out_base;
      if (out->data) out->data[out->len] = '\0';
    }
    if (line_map) {
      *line_map = NULL;
      *n_lines = 0;
    }
  }
  free_track(c);
  free(c->map);
  free(c->chain);
  if (c->env->peak_bytes) *c->env->peak_bytes = c->peak;
  free(c->err_msg);
  chunks_free(c);
  brr_arena_free(c->a);
  free(c);
  return rc;
}
