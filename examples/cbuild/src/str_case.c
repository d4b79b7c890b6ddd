/* Letter case and word characters. */
#include <ctype.h>

#include "str.h"

void str_lower(char *text)
{
    for (; *text; text++)
        *text = (char)tolower((unsigned char)*text);
}

int str_is_word_char(int c)
{
    return isalnum(c) || c == '\'' || c >= 0x80;
}
