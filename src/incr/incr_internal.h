/* What the files of the incr module share (private prefix incr_). */
#ifndef BRR_INCR_INTERNAL_H
#define BRR_INCR_INTERNAL_H

#include <stddef.h>

#include "brr/incr.h"

void brr__incr_hex(const unsigned char *md, unsigned n, char hex[BRR_INCR_HEX]);
/* Write `path` whole: a temp file beside it, fsync, rename. 0 or -errno. */
int brr__incr_write_atomic(const char *path, const void *data, size_t len);
/* write(2) until done. 0 or -errno. */
int brr__incr_write_all(int fd, const void *data, size_t len);

#endif
