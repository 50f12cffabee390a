/*
 * test_log.c: logfmt formatting and escaping.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "log.h"

static char	line[HD_LOG_LINE_MAX];

static const char * __attribute__((format(printf, 3, 4)))
format_line(enum hd_log_level level, const char *msg, const char *fields,
    ...)
{
	va_list	ap;

	va_start(ap, fields);
	hd_log_format(line, sizeof line, level, msg, fields, ap);
	va_end(ap);
	return line;
}

/* Return the text after "role=test pid=N ", the fields of the line. */
static const char *
fields_of(const char *formatted)
{
	const char	*p;

	p = strstr(formatted, " pid=");
	assert_non_null(p);
	p = strchr(p + 1, ' ');
	return p == NULL ? "" : p + 1;
}

static int
setup(void **state)
{
	hd_log_init("test", HD_LOG_INFO);
	return 0;
}

static void
test_log_prefix_fields(void **state)
{
	char	expected[64];

	format_line(HD_LOG_INFO, "job completed", NULL);

	snprintf(expected, sizeof expected,
	    "level=info msg=\"job completed\" role=test pid=%ld",
	    (long)getpid());
	assert_string_equal(line, expected);
}

static void
test_log_integer_conversions(void **state)
{
	format_line(HD_LOG_WARN, "x", "a=%d b=%lld c=%zu d=%u e=%ld f=%x",
	    -3, 1234567890123LL, (size_t)7, 8u, -9L, 255u);

	assert_string_equal(fields_of(line),
	    "a=-3 b=1234567890123 c=7 d=8 e=-9 f=ff");
}

static void
test_log_bare_string_stays_bare(void **state)
{
	format_line(HD_LOG_INFO, "x", "task=%s", "send_welcome_email");

	assert_string_equal(fields_of(line), "task=send_welcome_email");
}

static void
test_log_quotes_and_escapes(void **state)
{
	static const struct {
		const char	*name;
		const char	*value;
		const char	*expected;
	} rows[] = {
		{ "space", "a b", "v=\"a b\"" },
		{ "quote", "say \"hi\"", "v=\"say \\\"hi\\\"\"" },
		{ "newline", "a\nlevel=error", "v=\"a\\nlevel=error\"" },
		{ "equals", "k=v", "v=\"k=v\"" },
		{ "backslash", "a\\b", "v=\"a\\\\b\"" },
		{ "control", "a\x01" "b", "v=\"a\\x01b\"" },
		{ "empty", "", "v=\"\"" },
	};
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].name);
		format_line(HD_LOG_INFO, "x", "v=%s", rows[i].value);
		assert_string_equal(fields_of(line), rows[i].expected);
	}
}

static void
test_log_null_string_is_null(void **state)
{
	const char *volatile	none = NULL;

	format_line(HD_LOG_INFO, "x", "event_type=%s", none);

	assert_string_equal(fields_of(line), "event_type=null");
}

static void
test_log_float_precision(void **state)
{
	format_line(HD_LOG_INFO, "x", "a=%.1f b=%.3f", 2.25, 0.5);

	assert_string_equal(fields_of(line), "a=2.2 b=0.500");
}

static void
test_log_percent_literal(void **state)
{
	format_line(HD_LOG_INFO, "x", "load=%d%%", 50);

	assert_string_equal(fields_of(line), "load=50%");
}

static void
test_log_long_line_is_truncated(void **state)
{
	char	big[HD_LOG_LINE_MAX * 2];
	size_t	len;

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';

	format_line(HD_LOG_INFO, "x", "v=%s", big);
	len = strlen(line);

	assert_true(len < sizeof line);
	assert_string_equal(line + len - strlen(" truncated=1"),
	    " truncated=1");
}

static void
test_log_level_names_round_trip(void **state)
{
	enum hd_log_level	level;

	assert_int_equal(hd_log_level_parse("debug", &level), 0);
	assert_int_equal(level, HD_LOG_DEBUG);
	assert_string_equal(hd_log_level_name(HD_LOG_WARN), "warn");
	assert_int_equal(hd_log_level_parse("verbose", &level), -1);
}

/*
 * Log one info and one error line with standard error sent to a
 * temporary file, JOURNAL_STREAM set to journal_stream ("match" stands
 * for the file's own device and inode), and store what was written in
 * out.
 */
static void
log_to_file(const char *journal_stream, char *out, size_t size)
{
	char		 path[] = "/tmp/herald-test-log.XXXXXX";
	char		 stream[64];
	struct stat	 st;
	ssize_t		 n;
	int		 fd, saved;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fstat(fd, &st), 0);
	if (journal_stream != NULL && strcmp(journal_stream, "match") == 0) {
		snprintf(stream, sizeof stream, "%ju:%ju",
		    (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
		journal_stream = stream;
	}
	if (journal_stream != NULL)
		assert_int_equal(setenv("JOURNAL_STREAM", journal_stream, 1),
		    0);
	else
		assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);

	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_true(dup2(fd, STDERR_FILENO) != -1);
	hd_log_init("test", HD_LOG_INFO);
	hd_log(HD_LOG_INFO, "job completed", "job_id=%d", 42);
	hd_log(HD_LOG_ERROR, "job failed", NULL);
	assert_true(dup2(saved, STDERR_FILENO) != -1);
	close(saved);
	hd_log_init("test", HD_LOG_INFO);

	n = pread(fd, out, size - 1, 0);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
	assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
}

static void
test_log_journal_stream_prefixes_priority(void **state)
{
	char	out[1024], expected[256];

	log_to_file("match", out, sizeof out);

	snprintf(expected, sizeof expected,
	    "<6>level=info msg=\"job completed\" role=test pid=%ld "
	    "job_id=42\n"
	    "<3>level=error msg=\"job failed\" role=test pid=%ld\n",
	    (long)getpid(), (long)getpid());
	assert_string_equal(out, expected);
}

static void
test_log_other_stream_has_no_priority(void **state)
{
	static const char *const streams[] = {
		NULL, "", "1:1", "garbage", "12:34x"
	};
	char	out[1024];
	size_t	i;

	for (i = 0; i < sizeof streams / sizeof streams[0]; i++) {
		print_message("JOURNAL_STREAM=%s\n",
		    streams[i] != NULL ? streams[i] : "(unset)");
		log_to_file(streams[i], out, sizeof out);
		assert_memory_equal(out, "time=", 5);
		assert_memory_equal(out + 30, "level=info ", 11);
		assert_non_null(strstr(out, "Z level=error "));
	}
}

/* Outside the journal each line starts with the current time in UTC. */
static void
test_log_other_stream_starts_with_time(void **state)
{
	char		 out[1024], tail;
	struct tm	 tm;
	time_t		 before, after, logged;
	int		 ms;

	before = time(NULL);
	log_to_file(NULL, out, sizeof out);
	after = time(NULL);

	memset(&tm, 0, sizeof tm);
	assert_int_equal(sscanf(out, "time=%4d-%2d-%2dT%2d:%2d:%2d.%3d%c",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &ms, &tail), 8);
	assert_int_equal(tail, 'Z');
	assert_true(ms >= 0 && ms <= 999);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	logged = timegm(&tm);
	assert_true(logged >= before);
	assert_true(logged <= after);
}

static void
test_log_is_journal_checks_inode(void **state)
{
	char		stream[64];
	struct stat	st;
	int		fd;

	fd = open("/dev/null", O_WRONLY);
	assert_true(fd != -1);
	assert_int_equal(fstat(fd, &st), 0);

	snprintf(stream, sizeof stream, "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
	assert_true(hd_log_is_journal(fd));

	snprintf(stream, sizeof stream, "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino + 1);
	assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
	assert_false(hd_log_is_journal(fd));

	close(fd);
	assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_log_prefix_fields, setup),
		cmocka_unit_test_setup(test_log_integer_conversions, setup),
		cmocka_unit_test_setup(test_log_bare_string_stays_bare, setup),
		cmocka_unit_test_setup(test_log_quotes_and_escapes, setup),
		cmocka_unit_test_setup(test_log_null_string_is_null, setup),
		cmocka_unit_test_setup(test_log_float_precision, setup),
		cmocka_unit_test_setup(test_log_percent_literal, setup),
		cmocka_unit_test_setup(test_log_long_line_is_truncated, setup),
		cmocka_unit_test_setup(test_log_level_names_round_trip, setup),
		cmocka_unit_test(test_log_journal_stream_prefixes_priority),
		cmocka_unit_test(test_log_other_stream_has_no_priority),
		cmocka_unit_test(test_log_other_stream_starts_with_time),
		cmocka_unit_test(test_log_is_journal_checks_inode),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
