/* rpn.h: a reverse Polish notation calculator. */
#ifndef TALLY_RPN_H
#define TALLY_RPN_H

#include "common.h"
#include "config.h"

typedef struct {
    double items[TALLY_STACK_MAX];
    size_t len;
} Stack;

typedef enum { TOK_NUMBER, TOK_OP, TOK_END, TOK_BAD } TokKind;

typedef struct {
    TokKind kind;
    double value;
    char op[8];
} Token;

void stack_init(Stack *s);
int stack_push(Stack *s, double x);
int stack_pop(Stack *s, double *x);
const char *rpn_next(const char *text, Token *tok);
int op_apply(const char *op, Stack *s);
int rpn_eval(const char *text, double *result, const char **error);

#endif
