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
		{ "host=/tmp connect_timeout=abc", false,
		    "invalid connect_timeout \"abc\"; use a whole number" },
		{ "host=/tmp connect_timeout=' 10 ' keepalives_idle=-1", true,
		    "" },
		{ "host=/tmp keepalives=1x", false,
		    "invalid keepalives \"1x\"; use a whole number" },
		{ "host=/tmp tcp_user_timeout=99999999999", false,
		    "invalid tcp_user_timeout \"99999999999\"; use a whole "
		    "number" },
		{ "host=a,b,c port=5432,,5433", true, "" },
		{ "host=/tmp port=0", false, "invalid port \"0\"; use 1 to 65535" },
		{ "host=a,b port=5432,x", false,
		    "invalid port \"5432,x\"; use 1 to 65535" },
		{ "postgres://db:70000/jobs", false,
		    "invalid port \"70000\"; use 1 to 65535" },
		{ "host=/tmp sslmode=verify_full", false,
		    "invalid sslmode \"verify_full\"; use disable, allow, "
		    "prefer, require, verify-ca or verify-full" },
		{ "postgres://db/jobs?target_session_attrs=primary", true, "" },
		{ "host=/tmp target_session_attrs=master", false,
		    "invalid target_session_attrs \"master\"; use any, "
		    "read-write, read-only, primary, standby or "
		    "prefer-standby" },
		{ "host=/tmp gssencmode=on", false, "invalid gssencmode \"on\"; "
		    "use disable, prefer or require" },
		{ "host=/tmp channel_binding=Require", false,
		    "invalid channel_binding \"Require\"; use disable, prefer "
		    "or require" },
		{ "host=/tmp ssl_min_protocol_version=tlsv1.3", true, "" },
		{ "host=/tmp ssl_min_protocol_version=TLSv1.4", false,
		    "invalid ssl_min_protocol_version \"TLSv1.4\"; use TLSv1, "
		    "TLSv1.1, TLSv1.2 or TLSv1.3" },
		{ "postgres://db/jobs?ssl_max_protocol_version=tls1.2", false,
		    "invalid ssl_max_protocol_version \"tls1.2\"; use TLSv1, "
		    "TLSv1.1, TLSv1.2 or TLSv1.3" },
		{ "host=/tmp ssl_min_protocol_version=TLSv1 "
		    "ssl_max_protocol_version=TLSv1", true, "" },
		{ "host=/tmp ssl_min_protocol_version=TLSv1.3 "
		    "ssl_max_protocol_version=TLSv1.2", false,
		    "ssl_min_protocol_version \"TLSv1.3\" is above "
		    "ssl_max_protocol_version \"TLSv1.2\"" },
		{ "host=/tmp ssl_min_protocol_version=TLSv1.1 "
		    "ssl_max_protocol_version=TLSv1", false,
		    "ssl_min_protocol_version \"TLSv1.1\" is above "
		    "ssl_max_protocol_version \"TLSv1\"" },
		{ "host=a,b port=1,2,3", false,
		    "port lists 3 ports for 2 hosts; give one port for all "
		    "hosts or one per host" },
		{ "host=a port=5432,", false,
		    "port lists 2 ports for 1 host; give one port for all "
		    "hosts or one per host" },
		{ "host=a,b port=5432", true, "" },
		{ "host=a,b hostaddr=10.0.0.1", false,
		    "host lists 2 names but hostaddr 1 address; give one name "
		    "per address" },
		{ "hostaddr=10.0.0.1,10.0.0.2 port=1,2,3", false,
		    "port lists 3 ports for 2 hosts; give one port for all "
		    "hosts or one per host" },
		{ "host=a,b hostaddr=10.0.0.1,10.0.0.2 port=1,2", true, "" },
		{ "postgres://a:1,b:2/jobs", true, "" },
		/* Without a host in the string, PGHOST decides how many. */
		{ "port=1,2", true, "" },
		/* libpq's other messages can quote the string: none is kept. */
		{ "host='x password=s3cret", false, "" },
		{ "password=s3cret host", false, "" },
		{ "postgres://app:s3cret@[db/jobs", false, "" },
	};
	char	reason[160];
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].conninfo);
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
