/*
 * version.c: the version of libherald, for programs that load it at run
 * time and may get a different build than the header they compiled with.
 */

#include "herald.h"

const char *
herald_version(void)
{
	return HERALD_VERSION;
}
