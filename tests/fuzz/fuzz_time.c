/*
 * fuzz_time.c: the duration parser of herald.conf and --in, and the time
 * parser of herald enqueue --at.  A parsed duration is never negative
 * nor past a year; a parsed time is at most a day before 1970 (a local
 * midnight of 1970-01-01 east of UTC).
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
	if (parse_time(text, &us) == 0 && us < -24LL * 3600 * 1000000)
		abort();
	free(text);
	return 0;
}
