/* Evaluating an RPN expression. */
#include "rpn.h"

int rpn_eval(const char *text, double *result, const char **error)
{
    Stack s;
    Token tok;
    stack_init(&s);
    for (;;) {
        text = rpn_next(text, &tok);
        switch (tok.kind) {
        case TOK_END:
            if (s.len != 1) {
                *error = "the expression does not leave exactly one number";
                return 0;
            }
            *result = s.items[0];
            return 1;
        case TOK_NUMBER:
            if (!stack_push(&s, tok.value)) {
                *error = "too many numbers on the stack";
                return 0;
            }
            break;
        case TOK_OP:
            if (!op_apply(tok.op, &s)) {
                *error = "an operator is unknown, lacks operands, or divides by zero";
                return 0;
            }
            break;
        case TOK_BAD:
            *error = "a token is too long";
            return 0;
        }
    }
}
