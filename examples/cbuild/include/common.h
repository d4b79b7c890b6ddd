/* common.h: what every part of tally uses: sizes, allocation that cannot fail, and fatal errors. */
#ifndef TALLY_COMMON_H
#define TALLY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_UNUSED(x) ((void)(x))
#define TALLY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *text);
void die(const char *what, const char *detail);

#endif
