/*
 * fuzz_sanitize.c: the console's text sanitizer.  Whatever the bytes, the
 * characters it lets through are printable: no C0 or C1 control and no
 * DEL, and they fit the width.
 */

#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <wchar.h>

#include "format.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	wchar_t		 buf[128];
	char		*text = fuzz_string(data, size);
	size_t		 n, i;
	int		 cols, sum = 0;

	if (!ready) {
		if (setlocale(LC_ALL, "C.UTF-8") == NULL)
			abort();
		ready = 1;
	}
	n = hd_text_sanitize(text, 60, buf, sizeof buf / sizeof buf[0],
	    &cols);
	if (n >= sizeof buf / sizeof buf[0] || buf[n] != L'\0' || cols > 60)
		abort();
	for (i = 0; i < n; i++) {
		if (buf[i] < 0x20 || (buf[i] >= 0x7f && buf[i] <= 0x9f) ||
		    wcwidth(buf[i]) < 0)
			abort();
		sum += wcwidth(buf[i]);
	}
	if (sum != cols)
		abort();
	free(text);
	return 0;
}
