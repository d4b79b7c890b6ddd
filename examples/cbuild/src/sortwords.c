/* The most frequent words, most frequent first, then in alphabetical order. */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int by_count(const void *a, const void *b)
{
    const MapEntry *x = *(MapEntry *const *)a, *y = *(MapEntry *const *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->key, y->key);
}

size_t top_words(const Map *counts, MapEntry **out, size_t most)
{
    MapEntry **all = xmalloc((counts->len ? counts->len : 1) * sizeof *all);
    size_t n = map_entries(counts, all, counts->len);
    qsort(all, n, sizeof *all, by_count);
    if (n > most)
        n = most;
    memcpy(out, all, n * sizeof *all);
    free(all);
    return n;
}
