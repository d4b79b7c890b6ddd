/* config.h: build-time settings. */
#ifndef TALLY_CONFIG_H
#define TALLY_CONFIG_H

#define TALLY_VERSION "1.2.0"
#define TALLY_STACK_MAX 64
#define TALLY_TOP_WORDS 5

#endif
