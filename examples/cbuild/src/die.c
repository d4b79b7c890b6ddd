/* Fatal errors. */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

void die(const char *what, const char *detail)
{
    if (detail)
        fprintf(stderr, "tally: %s: %s\n", what, detail);
    else
        fprintf(stderr, "tally: %s\n", what);
    exit(2);
}
