/*
 * test_check.c: herald_check_name, herald_check_payload and
 * herald_strerror.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herald.h"

struct name_case {
	const char	*label;
	const char	*name;
	const char	*message;	/* NULL: the name is valid */
};

static const struct name_case name_cases[] = {
	{ "one letter", "a", NULL },
	{ "one digit", "7", NULL },
	{ "snake case", "send_welcome_email", NULL },
	{ "every punctuation", "mail.v2:high-prio_x", NULL },
	{ "63 characters",
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk",
	    NULL },
	{ "null", NULL, "missing task name" },
	{ "empty", "", "task name is empty" },
	{ "64 characters",
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
	    "task name \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\" is 64 bytes long, over the limit of 63" },
	{ "40 two-byte characters",
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    "task name \"\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3...\" is 80 bytes long, over the limit of 63" },
	{ "leading underscore", "_mail",
	    "invalid task name \"_mail\": a name must start with a letter or digit, not '_'" },
	{ "leading dash", "-mail",
	    "invalid task name \"-mail\": a name must start with a letter or digit, not '-'" },
	{ "slash", "mail/send",
	    "invalid task name \"mail/send\": character '/' at position 5 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
	{ "space", "send mail",
	    "invalid task name \"send mail\": a space at position 5 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
	{ "newline", "mail\n",
	    "invalid task name \"mail\\x0a\": byte 0x0a at position 5 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
	{ "non-ascii", "caf\xc3\xa9",
	    "invalid task name \"caf\\xc3\\xa9\": byte 0xc3 at position 4 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
	{ "escape after a bad character", "a\"b\x1b[31m",
	    "invalid task name \"a\"b\\x1b[31m\": character '\"' at position 2 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
	{ "space and a control byte", "a b\x07",
	    "invalid task name \"a b\\x07\": a space at position 2 is not allowed; use A-Z a-z 0-9 _ . : - starting with a letter or digit" },
};

struct payload_case {
	const char	*label;
	const char	*payload;
	size_t		 max_bytes;
	const char	*message;	/* NULL: the payload is valid */
};

static const struct payload_case payload_cases[] = {
	{ "empty object", "{}", 1024, NULL },
	{ "empty array", "[]", 1024, NULL },
	{ "nested", "{\"a\": [1, 2.5, {\"b\": null}], \"c\": \"\\u00e9\"}",
	    1024, NULL },
	{ "whitespace around", " \n{ }\n", 1024, NULL },
	{ "integer past 64 bits", "{\"n\": 123456789012345678901234567890}",
	    1024, NULL },
	{ "number past a double", "{\"a\": 1e400, \"b\": [-1.5E+999, 2]}",
	    1024, NULL },
	{ "number past a double, as text", "{\"a\": \"1e400\"}", 1024, NULL },
	{ "numbers at numeric's limits", "[1e131071, 1e-16383, 0e200000]",
	    1024, NULL },
	{ "number past numeric's scale", "{\"a\": [1,\n 1.50e-16382]}", 1024,
	    "payload has a number out of the range of PostgreSQL's numeric type (at most 131072 digits before the decimal point and 16383 after) at line 2, column 2 (byte 12)" },
	{ "number past numeric's weight", "[1e131072]", 1024,
	    "payload has a number out of the range of PostgreSQL's numeric type (at most 131072 digits before the decimal point and 16383 after) at line 1, column 2 (byte 2)" },
	{ "number past a double alone", "1e400", 1024,
	    "payload must be a JSON object or array, not a number" },
	{ "error after a number past a double", "{\"a\": 1e400, \"b\": tru}",
	    1024,
	    "payload is not valid JSON: invalid token near 'tru' at line 1, column 21 (byte 21)" },
	{ "duplicate key after a number past a double",
	    "{\"a\": 1e400, \"a\": 2}", 1024,
	    "payload has duplicate key \"a\" at line 1, column 16 (byte 16); PostgreSQL jsonb would keep only the last value" },
	{ "malformed exponent", "{\"a\": 1e400, \"b\": 1e}", 1024,
	    "payload is not valid JSON: invalid token near '1e' at line 1, column 20 (byte 20)" },
	{ "utf-8 text", "{\"name\": \"caf\xc3\xa9\"}", 1024, NULL },
	{ "exactly the limit", "{\"a\":1}", 7, NULL },
	{ "one byte over", "{\"a\":1}", 6,
	    "payload is 7 bytes, over the limit of 6" },
	{ "null pointer", NULL, 1024, "missing payload" },
	{ "empty", "", 1024,
	    "payload is empty; use a JSON object or array such as {}" },
	{ "only white space", " \n\t ", 1024,
	    "payload is empty; use a JSON object or array such as {}" },
	{ "number", "42", 1024,
	    "payload must be a JSON object or array, not a number" },
	{ "string", "\"hello\"", 1024,
	    "payload must be a JSON object or array, not a string" },
	{ "boolean", "true", 1024,
	    "payload must be a JSON object or array, not a boolean" },
	{ "null", "null", 1024,
	    "payload must be a JSON object or array, not null" },
	{ "unclosed object", "{\"a\": 12", 1024,
	    "payload is not valid JSON: '}' expected near end of file at line 1, column 8 (byte 8)" },
	{ "trailing comma", "{\"a\": 1,}", 1024,
	    "payload is not valid JSON: string or '}' expected near '}' at line 1, column 9 (byte 9)" },
	{ "error on line 2", "{\n \"a\": tru }", 1024,
	    "payload is not valid JSON: invalid token near 'tru' at line 2, column 9 (byte 11)" },
	{ "trailing garbage", "{} x", 1024,
	    "payload is not valid JSON: end of file expected near 'x' at line 1, column 4 (byte 4)" },
	{ "trailing control byte", "{}\x01", 1024,
	    "payload is not valid JSON: end of file expected near control byte 0x01 at line 1, column 3 (byte 3)" },
	{ "token with a digit", "{\"a\": CANARY2}", 1024,
	    "payload is not valid JSON: invalid token near 'CANARY2' at line 1, column 12 (byte 12)" },
	{ "token of 26 letters", "{\"a\": CANARYVALUEVALUEVALUEVALUE}", 1024,
	    "payload is not valid JSON: invalid token near 'CANARYVALUEVALUEVALUEVALUE' at line 1, column 32 (byte 32)" },
	{ "token over 40 bytes",
	    "{\"a\": ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ}", 1024,
	    "payload is not valid JSON: invalid token near 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN...' at line 1, column 58 (byte 58)" },
	{ "token after a value", "{\"a\": 1 CANARY2}", 1024,
	    "payload is not valid JSON: '}' expected near 'CANARY2' at line 1, column 14 (byte 14)" },
	{ "number run into letters", "{\"a\": 12abc}", 1024,
	    "payload is not valid JSON: '}' expected near '12abc' at line 1, column 11 (byte 11)" },
	{ "nul escape", "{\"a\": \"x\\u0000\"}", 1024,
	    "payload contains \\u0000, which PostgreSQL jsonb does not accept, at line 1, column 15 (byte 15)" },
	{ "invalid utf-8", "{\"a\": \"\xff\"}", 1024,
	    "payload is not valid JSON: unable to decode byte 0xff near '\"' at line 1, column 7 (byte 7)" },
	{ "duplicate key", "{\"to\": 1, \"to\": 2}", 1024,
	    "payload has duplicate key \"to\" at line 1, column 14 (byte 14); PostgreSQL jsonb would keep only the last value" },
	{ "duplicate nested key", "[{\"a\": {\"b\": 1,\n \"b\": 2}}]", 1024,
	    "payload has duplicate key \"b\" at line 2, column 4 (byte 20); PostgreSQL jsonb would keep only the last value" },
	{ "same key in two objects", "[{\"a\": 1}, {\"a\": 2}]", 1024, NULL },
};

static void
test_check_name_table(void **state)
{
	struct herald_error	error;
	size_t			i;
	int			rc;

	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];

		print_message("name: %s\n", c->label);
		memset(&error, 0, sizeof(error));
		rc = herald_check_name("task", c->name, &error);
		if (c->message == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(error.code, HERALD_EINVAL);
		assert_string_equal(error.message, c->message);
		assert_string_equal(error.sqlstate, "");
	}
}

static void
test_check_name_uses_what(void **state)
{
	struct herald_error	error;

	assert_int_equal(herald_check_name("queue", "", &error), -1);

	assert_string_equal(error.message, "queue name is empty");

	/* Without what, a message contains "name" once. */
	assert_int_equal(herald_check_name(NULL, "x y", &error), -1);
	assert_string_equal(error.message, "invalid name \"x y\": a space at "
	    "position 2 is not allowed; use A-Z a-z 0-9 _ . : - starting "
	    "with a letter or digit");
}

static void
test_check_name_null_error(void **state)
{
	assert_int_equal(herald_check_name("task", "a b", NULL), -1);
	assert_int_equal(herald_check_name("task", "ab", NULL), 0);
}

static void
test_check_payload_table(void **state)
{
	struct herald_error	error;
	size_t			i;
	int			rc;

	for (i = 0; i < sizeof(payload_cases) / sizeof(payload_cases[0]);
	    i++) {
		const struct payload_case *c = &payload_cases[i];

		print_message("payload: %s\n", c->label);
		memset(&error, 0, sizeof(error));
		rc = herald_check_payload(c->payload, c->max_bytes, &error);
		if (c->message == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(error.code, HERALD_EINVAL);
		assert_string_equal(error.message, c->message);
	}
}

static int
big_payload_setup(void **state)
{
	size_t	 len = 2000000;
	char	*payload;

	payload = malloc(len + 1);
	if (payload == NULL)
		return -1;
	memset(payload, ' ', len);
	payload[0] = '[';
	payload[len - 1] = ']';
	payload[len] = '\0';
	*state = payload;
	return 0;
}

static int
big_payload_teardown(void **state)
{
	free(*state);
	return 0;
}

static void
test_check_payload_over_limit(void **state)
{
	struct herald_error	error;

	assert_int_equal(herald_check_payload(*state, HERALD_PAYLOAD_MAX,
	    &error), -1);

	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message,
	    "payload is 2000000 bytes, over the limit of 1048576");
}

static void
test_check_payload_big_allowed(void **state)
{
	struct herald_error	error;

	assert_int_equal(herald_check_payload(*state, 2000000, &error), 0);
}

static void
test_strerror_every_code(void **state)
{
	enum herald_code	code;
	const char		*text;

	for (code = HERALD_OK; code <= HERALD_ESTATE; code++) {
		text = herald_strerror(code);
		print_message("code %d: %s\n", code, text);
		assert_non_null(text);
		assert_string_not_equal(text, "unrecognized error code");
	}
	assert_string_equal(herald_strerror(HERALD_EINVAL),
	    "invalid argument");
	assert_string_equal(herald_strerror((enum herald_code)99),
	    "unrecognized error code");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_name_table),
		cmocka_unit_test(test_check_name_uses_what),
		cmocka_unit_test(test_check_name_null_error),
		cmocka_unit_test(test_check_payload_table),
		cmocka_unit_test_setup_teardown(test_check_payload_over_limit,
		    big_payload_setup, big_payload_teardown),
		cmocka_unit_test_setup_teardown(test_check_payload_big_allowed,
		    big_payload_setup, big_payload_teardown),
		cmocka_unit_test(test_strerror_every_code),
	};

	return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
