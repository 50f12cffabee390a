/*
 * test_conninfo.c: connection strings checked, and shown without their
 * passwords.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conninfo.h"

static void
test_conninfo_masks_forms(void **state)
{
	static const struct {
		const char	*name;
		const char	*conninfo;
		const char	*expected;
	} rows[] = {
		{ "keyword", "host=/run/postgresql dbname=jobs password=s3cret",
		    "password=******** dbname=jobs host=/run/postgresql" },
		{ "quoted", "dbname=jobs password='two words' user=app",
		    "user=app password=******** dbname=jobs" },
		{ "uri user info", "postgresql://app:s3cret@db.example/jobs",
		    "user=app password=******** dbname=jobs host=db.example" },
		{ "uri query", "postgres:///jobs?host=/tmp&password=s3cret",
		    "password=******** dbname=jobs host=/tmp" },
		{ "key passphrase", "dbname=jobs sslpassword=s3cret",
		    "dbname=jobs sslpassword=********" },
		{ "no password", "service=herald", "service=herald" },
		{ "empty", "", "" },
		{ "quoted value kept", "dbname='my jobs' application_name=a\\'b",
		    "dbname='my jobs' application_name='a\\'b'" },
	};
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char	*masked;

		print_message("%s\n", rows[i].name);
		masked = hd_conninfo_mask(rows[i].conninfo);
		assert_non_null(masked);
		assert_null(strstr(masked, "s3cret"));
		assert_null(strstr(masked, "two words"));
		assert_string_equal(masked, rows[i].expected);
		free(masked);
	}
}

static void
test_conninfo_invalid_is_null(void **state)
{
	assert_null(hd_conninfo_mask("password=s3cret dbname"));
	assert_null(hd_conninfo_mask("nosuchkeyword=1 password=s3cret"));
	assert_null(hd_conninfo_mask("postgresql://app:s3cret@[::1/jobs"));
}

static void
test_conninfo_parses_reason(void **state)
{
	static const struct {
		const char	*conninfo;
		bool		 parses;
		const char	*reason;
	} rows[] = {
		{ "host=/tmp dbname=jobs", true, "" },
		{ "postgres://app:s3cret@db/jobs?sslmode=require", true, "" },
		{ "host=/tmp bogus_keyword=1 password=s3cret", false,
		    "unknown option \"bogus_keyword\"" },
		{ "postgres://app:s3cret@db/jobs?sslmod=require", false,
		    "unknown option \"sslmod\"" },
		/* libpq's other messages can quote the string: none is kept. */
		{ "host='x password=s3cret", false, "" },
		{ "password=s3cret host", false, "" },
		{ "postgres://app:s3cret@[db/jobs", false, "" },
	};
	char	reason[96];
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(reason, 'x', sizeof reason);
		assert_int_equal(hd_conninfo_parses(rows[i].conninfo, reason,
		    sizeof reason), rows[i].parses);
		assert_string_equal(reason, rows[i].reason);
		assert_null(strstr(reason, "s3cret"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conninfo_masks_forms),
		cmocka_unit_test(test_conninfo_invalid_is_null),
		cmocka_unit_test(test_conninfo_parses_reason),
	};

	return cmocka_run_group_tests_name("conninfo", tests, NULL, NULL);
}
