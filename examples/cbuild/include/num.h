/* num.h: reading and writing numbers. */
#ifndef TALLY_NUM_H
#define TALLY_NUM_H

#include "common.h"

int num_parse(const char *text, double *out);
void num_format(double x, char *out, size_t size);

#endif
