/* Reading a number: all of the text must be one. */
#include <errno.h>
#include <stdlib.h>

#include "num.h"

int num_parse(const char *text, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE)
        return 0;
    *out = x;
    return 1;
}
