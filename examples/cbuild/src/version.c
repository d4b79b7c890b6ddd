/* The version. */
#include "config.h"
#include "text.h"

const char *tally_version(void)
{
    return "tally " TALLY_VERSION;
}
