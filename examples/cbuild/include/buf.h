/* buf.h: a growable byte buffer. */
#ifndef TALLY_BUF_H
#define TALLY_BUF_H

#include "common.h"

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buf;

void buf_init(Buf *b);
void buf_free(Buf *b);
void buf_append(Buf *b, const char *text, size_t len);
void buf_puts(Buf *b, const char *text);
void buf_printf(Buf *b, const char *fmt, ...);
const char *buf_cstr(Buf *b);

#endif
