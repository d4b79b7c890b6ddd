/* Splitting a string into words, in place. */
#include <ctype.h>

#include "str.h"

size_t str_split(char *text, char **words, size_t most)
{
    size_t n = 0;
    while (*text && n < most) {
        while (isspace((unsigned char)*text))
            *text++ = '\0';
        if (!*text)
            break;
        words[n++] = text;
        while (*text && !isspace((unsigned char)*text))
            text++;
    }
    return n;
}
