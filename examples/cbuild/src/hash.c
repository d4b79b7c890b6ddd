/* FNV-1a, the hash of the word map. */
#include "map.h"

uint32_t hash_text(const char *text)
{
    uint32_t h = 2166136261u;
    for (; *text; text++) {
        h ^= (unsigned char)*text;
        h *= 16777619u;
    }
    return h;
}
