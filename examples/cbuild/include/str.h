/* str.h: small string helpers. */
#ifndef TALLY_STR_H
#define TALLY_STR_H

#include "common.h"

char *str_trim(char *text);
size_t str_split(char *text, char **words, size_t most);
void str_lower(char *text);
int str_is_word_char(int c);

#endif
