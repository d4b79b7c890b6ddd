/* Statistics over a Vec. */
#include "vec.h"

double vec_sum(const Vec *v)
{
    double total = 0;
    for (size_t i = 0; i < v->len; i++)
        total += v->items[i];
    return total;
}

double vec_mean(const Vec *v)
{
    return v->len ? vec_sum(v) / (double)v->len : 0.0;
}

double vec_min(const Vec *v)
{
    double m = v->len ? v->items[0] : 0.0;
    for (size_t i = 1; i < v->len; i++)
        if (v->items[i] < m)
            m = v->items[i];
    return m;
}

double vec_max(const Vec *v)
{
    double m = v->len ? v->items[0] : 0.0;
    for (size_t i = 1; i < v->len; i++)
        if (v->items[i] > m)
            m = v->items[i];
    return m;
}
