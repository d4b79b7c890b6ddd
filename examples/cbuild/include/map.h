/* map.h: a hash map from words to counts. */
#ifndef TALLY_MAP_H
#define TALLY_MAP_H

#include "common.h"

typedef struct MapEntry {
    char *key;
    long count;
    struct MapEntry *next;
} MapEntry;

typedef struct {
    MapEntry **slots;
    size_t nslots;
    size_t len;
} Map;

uint32_t hash_text(const char *text);
void map_init(Map *m, size_t nslots);
void map_free(Map *m);
long map_add(Map *m, const char *key, long by);
long map_get(const Map *m, const char *key);
size_t map_entries(const Map *m, MapEntry **out, size_t most);

#endif
