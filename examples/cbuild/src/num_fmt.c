/* Writing a number: as an integer when it is one. */
#include <math.h>
#include <stdio.h>

#include "num.h"

void num_format(double x, char *out, size_t size)
{
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(out, size, "%.0f", x);
    else
        snprintf(out, size, "%.6g", x);
}
