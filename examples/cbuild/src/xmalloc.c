/* Allocation that cannot fail: it dies instead. */
#include <stdlib.h>
#include <string.h>

#include "common.h"

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die("out of memory", NULL);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        die("out of memory", NULL);
    return p;
}

char *xstrdup(const char *text)
{
    size_t n = strlen(text) + 1;
    return memcpy(xmalloc(n), text, n);
}
