/*
 * fuzz_time.c: the duration parser of herald.conf and --in, and the time
 * parser of herald enqueue --at.  A parsed duration is never negative
 * nor past a year; a parsed time is from 1970 to the end of 9999, the
 * range of herald_enqueue().
 */

#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"

/* parse_time() is static in the command; take it with the file. */
#include "../../src/cli/cmd_enqueue.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text = fuzz_string(data, size);
	int64_t	 ms, us;

	if (hd_parse_duration_ms(text, &ms) == 0 &&
	    (ms < 0 || ms > 366LL * 24 * 3600 * 1000))
		abort();
	if (parse_time(text, &us) == 0 && (us < 0 || us > TIME_MAX_US))
		abort();
	free(text);
	return 0;
}
