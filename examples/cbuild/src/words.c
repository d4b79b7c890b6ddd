/* Counting words. */
#include <string.h>

#include "stats.h"
#include "str.h"

long count_words(const char *text, Map *counts)
{
    char word[128];
    size_t n = 0;
    long total = 0;
    for (;; text++) {
        int c = (unsigned char)*text;
        if (c && str_is_word_char(c)) {
            if (n < sizeof word - 1)
                word[n++] = (char)c;
            continue;
        }
        if (n) {
            word[n] = '\0';
            str_lower(word);
            map_add(counts, word, 1);
            total++;
            n = 0;
        }
        if (!c)
            return total;
    }
}
