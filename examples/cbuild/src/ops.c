/* The calculator's operators. */
#include <math.h>
#include <string.h>

#include "rpn.h"

int op_apply(const char *op, Stack *s)
{
    double a, b;
    if (strcmp(op, "neg") == 0 || strcmp(op, "sqrt") == 0) {
        if (!stack_pop(s, &a))
            return 0;
        return stack_push(s, op[0] == 'n' ? -a : sqrt(a));
    }
    if (!stack_pop(s, &b) || !stack_pop(s, &a))
        return 0;
    if (strcmp(op, "+") == 0)
        return stack_push(s, a + b);
    if (strcmp(op, "-") == 0)
        return stack_push(s, a - b);
    if (strcmp(op, "*") == 0)
        return stack_push(s, a * b);
    if (strcmp(op, "/") == 0)
        return b != 0 && stack_push(s, a / b);
    if (strcmp(op, "^") == 0)
        return stack_push(s, pow(a, b));
    return 0;
}
