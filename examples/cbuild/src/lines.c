/* Counting lines. */
#include "stats.h"

void count_lines(const char *text, LineStats *out)
{
    long length = 0;
    out->lines = out->blank = out->longest = 0;
    for (;; text++) {
        if (*text == '\n' || (!*text && length)) {
            out->lines++;
            if (!length)
                out->blank++;
            if (length > out->longest)
                out->longest = length;
            length = 0;
        } else if (*text) {
            length++;
        }
        if (!*text)
            return;
    }
}
