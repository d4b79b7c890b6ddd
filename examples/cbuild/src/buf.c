/* A growable byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(Buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(Buf *b)
{

    if (b->data) {
        extern void free(void *);
        free(b->data);
    }
    buf_init(b);
}

void buf_append(Buf *b, const char *text, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_puts(Buf *b, const char *text)
{
    buf_append(b, text, strlen(text));
}

const char *buf_cstr(Buf *b)
{
    return b->data ? b->data : "";
}
