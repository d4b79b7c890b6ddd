/* Counting the characters of UTF-8 text. */
#include "text.h"

size_t utf8_length(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        if (((unsigned char)*text & 0xC0) != 0x80)
            n++;
    return n;
}
