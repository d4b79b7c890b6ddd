/* Trimming white space. */
#include <ctype.h>
#include <string.h>

#include "str.h"

char *str_trim(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    return text;
}
