/* brr — source marks, diagnostics (errors and warnings with file:line:col), exit codes.
 * Every layer that reads user input reports into a brr_diags list; the cli prints the list
 * gcc-style and picks the exit code. Nothing is printed from deep inside a module. */
#ifndef BRR_DIAG_H
#define BRR_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "brr/util.h"

/* Exit codes, as buildrunner's (spec §10) plus 2 for usage errors. */
enum {
  BRR_EXIT_OK = 0,
  BRR_EXIT_FAILED = 1,     /* a step failed, processing error */
  BRR_EXIT_USAGE = 2,      /* bad command line, or a flag whose feature is not there yet */
  BRR_EXIT_RESULTS = 69,   /* the results directory cannot be created */
  BRR_EXIT_UNAVAILABLE = 69, /* the Docker engine cannot be reached (or its address is bad) */
  BRR_EXIT_CONFIG = 78,    /* configuration error */
  BRR_EXIT_SIGNAL = 128,   /* + signal number */
};

/* The error codes (BRR_E*) and brr_strerror() are in util.h. */

/* A position in a source file; line and col are 1-based, 0 when unknown. `file` points to a
 * string that outlives the mark (interned by the loader). */
typedef struct brr_mark {
  const char *file;
  unsigned line;
  unsigned col;
} brr_mark;

#define BRR_MARK_NONE ((brr_mark){NULL, 0, 0})

typedef enum { BRR_DIAG_ERROR, BRR_DIAG_WARNING, BRR_DIAG_NOTE } brr_diag_level;

typedef struct brr_diag {
  brr_diag_level level;
  brr_mark mark;
  char *path;     /* dotted key path ("steps.base.build.platforms"), or NULL */
  char *msg;      /* the message, without location */
  char *snippet;  /* optional source line + caret line, or NULL */
  int exit_code;  /* exit code this error implies: BRR_EXIT_CONFIG unless said otherwise */
} brr_diag;

typedef struct brr_diags {
  brr_diag *v;
  size_t n, cap;
  size_t n_errors;
} brr_diags;

#define BRR_DIAGS_INIT {NULL, 0, 0, 0}

/* Add a diagnostic. `path` may be NULL. Returns the new diagnostic (owned by the list). */
brr_diag *brr_diag_add(brr_diags *d, brr_diag_level level, brr_mark mark, const char *path,
                       const char *fmt, ...) BRR_PRINTF(5, 6);
brr_diag *brr_diag_vadd(brr_diags *d, brr_diag_level level, brr_mark mark, const char *path,
                        const char *fmt, va_list ap) BRR_PRINTF(5, 0);
#define brr_diag_error(d, mark, path, ...) brr_diag_add((d), BRR_DIAG_ERROR, (mark), (path), __VA_ARGS__)
#define brr_diag_warn(d, mark, path, ...) brr_diag_add((d), BRR_DIAG_WARNING, (mark), (path), __VA_ARGS__)
/* Attach "source line\n   ^" for `mark` taken from `text` (the file's contents). */
void brr_diag_set_snippet(brr_diag *diag, const char *text, size_t len);
/* Exit code for the first error (BRR_EXIT_CONFIG by default), or 0 when there is none. */
int brr_diags_exit_code(const brr_diags *d);
/* Print as `file:line:col: path: message` (errors) or `file:line:col: warning: message`. */
void brr_diags_print(const brr_diags *d, FILE *out, bool color);
/* Print one diagnostic (same format). */
void brr_diag_print(const brr_diag *diag, FILE *out, bool color);
void brr_diags_clear(brr_diags *d);   /* frees all entries, keeps the list usable */
void brr_diags_free(brr_diags *d);

#endif
