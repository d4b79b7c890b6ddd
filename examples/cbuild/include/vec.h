/* vec.h: a growable array of doubles, and statistics over it. */
#ifndef TALLY_VEC_H
#define TALLY_VEC_H

#include "common.h"

typedef struct {
    double *items;
    size_t len;
    size_t cap;
} Vec;

void vec_init(Vec *v);
void vec_free(Vec *v);
void vec_push(Vec *v, double x);
double vec_sum(const Vec *v);
double vec_mean(const Vec *v);
double vec_min(const Vec *v);
double vec_max(const Vec *v);

#endif
