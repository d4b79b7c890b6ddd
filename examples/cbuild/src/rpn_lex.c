/* Reading the calculator's tokens. */
#include <ctype.h>
#include <string.h>

#include "num.h"
#include "rpn.h"

const char *rpn_next(const char *text, Token *tok)
{
    while (isspace((unsigned char)*text))
        text++;
    if (!*text) {
        tok->kind = TOK_END;
        return text;
    }
    const char *start = text;
    while (*text && !isspace((unsigned char)*text))
        text++;
    size_t n = (size_t)(text - start);
    char word[64];
    if (n >= sizeof word) {
        tok->kind = TOK_BAD;
        return text;
    }
    memcpy(word, start, n);
    word[n] = '\0';
    if (num_parse(word, &tok->value)) {
        tok->kind = TOK_NUMBER;
    } else if (n < sizeof tok->op) {
        tok->kind = TOK_OP;
        memcpy(tok->op, word, n + 1);
    } else {
        tok->kind = TOK_BAD;
    }
    return text;
}
