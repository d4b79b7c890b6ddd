/* text.h: checksums and UTF-8. */
#ifndef TALLY_TEXT_H
#define TALLY_TEXT_H

#include "common.h"

uint32_t crc32_text(const char *text, size_t len);
size_t utf8_length(const char *text);
const char *tally_version(void);

#endif
