/* The calculator's stack. */
#include "rpn.h"

void stack_init(Stack *s)
{
    s->len = 0;
}

int stack_push(Stack *s, double x)
{
    if (s->len == TALLY_STACK_MAX)
        return 0;
    s->items[s->len++] = x;
    return 1;
}

int stack_pop(Stack *s, double *x)
{
    if (!s->len)
        return 0;
    *x = s->items[--s->len];
    return 1;
}
