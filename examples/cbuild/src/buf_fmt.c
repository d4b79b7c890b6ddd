/* Formatted appends to a buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

void buf_printf(Buf *b, const char *fmt, ...)
{
    char small[256];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (n < 0)
        die("cannot format", fmt);
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(args, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, args);
    va_end(args);
    buf_append(b, big, (size_t)n);

    free(big);
}
