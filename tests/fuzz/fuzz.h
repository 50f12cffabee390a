/*
 * fuzz.h: what the fuzz targets share.  Each target defines
 * LLVMFuzzerTestOneInput(), which libFuzzer calls (tests/fuzz/run) or
 * replay.c calls once per corpus file (make check).  A target aborts
 * when a property it checks does not hold.
 */

#ifndef HD_FUZZ_H
#define HD_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copy data into a new NUL-terminated string; the caller frees it. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char	*text = malloc(size + 1);

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

#endif /* HD_FUZZ_H */
