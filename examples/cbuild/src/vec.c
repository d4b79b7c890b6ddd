/* A growable array of doubles. */
#include <stdlib.h>

#include "vec.h"

void vec_init(Vec *v)
{
    v->items = NULL;
    v->len = 0;
    v->cap = 0;
}

void vec_free(Vec *v)
{
    free(v->items);
    vec_init(v);
}

void vec_push(Vec *v, double x)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->items = xrealloc(v->items, v->cap * sizeof *v->items);
    }
    v->items[v->len++] = x;
}
