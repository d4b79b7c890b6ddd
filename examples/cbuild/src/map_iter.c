/* Listing the entries of a map. */
#include "map.h"

size_t map_entries(const Map *m, MapEntry **out, size_t most)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        for (MapEntry *e = m->slots[i]; e && n < most; e = e->next)
            out[n++] = e;
    return n;
}
