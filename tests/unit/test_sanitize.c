/*
 * test_sanitize.c: the console's text sanitizer, which stands between
 * stored payloads or handler output and the terminal.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <cmocka.h>

#include "format.h"

/* Sanitize text into width columns and return it as UTF-8 (static). */
static const char *
sanitized(const char *text, int width, int *cols)
{
	static char	out[1024];
	wchar_t		buf[256];

	hd_text_sanitize(text, width, buf, sizeof buf / sizeof buf[0], cols);
	assert_true(wcstombs(out, buf, sizeof out) != (size_t)-1);
	return out;
}

static void
test_sanitize_replaces_controls(void **state)
{
	static const struct {
		const char	*name;
		const char	*text;
		const char	*expected;
	} rows[] = {
		{ "plain text", "hello", "hello" },
		{ "cursor movement", "a\033[2J\033[Hb", "a?[2J?[Hb" },
		{ "terminal title", "\033]0;owned\007x", "?]0;owned?x" },
		{ "newline and tab", "a\nb\tc\r", "a?b?c?" },
		{ "delete", "a\177b", "a?b" },
		{ "C1 CSI", "a\xc2\x9b" "31mb", "a?31mb" },
		{ "C1 OSC", "\xc2\x9d" "0;t\xc2\x9c", "?0;t?" },
		{ "invalid byte", "a\xff" "b", "a?b" },
		{ "cut sequence", "ab\xe2\x82", "ab??" },
		{ "overlong slash", "\xc0\xaf", "??" },
		{ "accents kept", "caf\xc3\xa9", "caf\xc3\xa9" },
	};
	const char	*out;
	size_t		 i;
	int		 cols;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].name);
		out = sanitized(rows[i].text, 80, &cols);
		assert_string_equal(out, rows[i].expected);
		assert_null(strchr(out, '\033'));
	}
}

static void
test_sanitize_clips_to_width(void **state)
{
	int	cols;

	assert_string_equal(sanitized("abcdef", 4, &cols), "abcd");
	assert_int_equal(cols, 4);
	/* A wide character that does not fit whole is left out. */
	assert_string_equal(sanitized("ab\xe6\xbc\xa2", 3, &cols), "ab");
	assert_int_equal(cols, 2);
	assert_string_equal(sanitized("ab\xe6\xbc\xa2", 4, &cols),
	    "ab\xe6\xbc\xa2");
	assert_int_equal(cols, 4);
	assert_string_equal(sanitized("abc", 0, &cols), "");
	assert_int_equal(cols, 0);
}

static void
test_sanitize_fills_small_buffer(void **state)
{
	wchar_t	buf[4];
	int	cols;

	assert_int_equal(hd_text_sanitize("abcdef", 80, buf, 4, &cols), 3);
	assert_int_equal(buf[3], L'\0');
	assert_int_equal(cols, 3);
	assert_int_equal(hd_text_sanitize("abc", 80, buf, 0, &cols), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_replaces_controls),
		cmocka_unit_test(test_sanitize_clips_to_width),
		cmocka_unit_test(test_sanitize_fills_small_buffer),
	};

	if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
		fprintf(stderr, "test_sanitize: the C.UTF-8 locale is missing\n");
		return 1;
	}
	return cmocka_run_group_tests_name("sanitize", tests, NULL, NULL);
}
