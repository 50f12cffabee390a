/*
 * fuzz_logfmt.c: the logfmt writer's quoting of field values.  Whatever a
 * value holds, a line stays one line: no newline, no carriage return and
 * no other control byte.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "fuzz.h"

static size_t
format(char *buf, size_t size, const char *fields, ...)
{
	va_list	ap;
	size_t	len;

	va_start(ap, fields);
	len = hd_log_format(buf, size, HD_LOG_WARN, "fuzzed value", fields,
	    ap);
	va_end(ap);
	return len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 line[2048], small[24];
	char	*value = fuzz_string(data, size);
	size_t	 len, i;

	len = format(line, sizeof line, "job_id=%d error=%s queue=%s", 42,
	    value, value);
	if (len >= sizeof line || line[len] != '\0')
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			abort();
	len = format(small, sizeof small, "error=%s", value);
	if (len >= sizeof small || small[len] != '\0')
		abort();
	free(value);
	return 0;
}
