/* A chained hash map from words to counts. */
#include <stdlib.h>
#include <string.h>

#include "map.h"

void map_init(Map *m, size_t nslots)
{
    m->slots = xmalloc(nslots * sizeof *m->slots);
    memset(m->slots, 0, nslots * sizeof *m->slots);
    m->nslots = nslots;
    m->len = 0;
}

void map_free(Map *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        MapEntry *e = m->slots[i];
        while (e) {
            MapEntry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->len = 0;
}

long map_add(Map *m, const char *key, long by)
{
    MapEntry **slot = &m->slots[hash_text(key) % m->nslots];
    for (MapEntry *e = *slot; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->count += by;
    MapEntry *e = xmalloc(sizeof *e);
    e->key = xstrdup(key);
    e->count = by;
    e->next = *slot;
    *slot = e;
    m->len++;
    return by;
}

long map_get(const Map *m, const char *key)
{
    for (MapEntry *e = m->slots[hash_text(key) % m->nslots]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->count;
    return 0;
}
