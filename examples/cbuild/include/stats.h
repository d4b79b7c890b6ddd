/* stats.h: word and line statistics of a text. */
#ifndef TALLY_STATS_H
#define TALLY_STATS_H

#include "map.h"

typedef struct {
    long lines;
    long blank;
    long longest;
} LineStats;

long count_words(const char *text, Map *counts);
void count_lines(const char *text, LineStats *out);
size_t top_words(const Map *counts, MapEntry **out, size_t most);

#endif
