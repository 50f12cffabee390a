/*
 * test_format.c: the console's text of durations, relative times, clock
 * times and retry schedules.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "backoff.h"
#include "format.h"

/* 2026-03-04 14:00:00 UTC, a Wednesday. */
#define NOW	((time_t)1772632800)

static int
setup_utc(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void
test_format_relative_times(void **state)
{
	static const struct {
		int64_t		 delta_ms;
		const char	*text;
	} rows[] = {
		{ 40000, "in 40s" },
		{ 80000, "in 1m20s" },
		{ -12000, "12s ago" },
		{ 999, "now" },
		{ -999, "now" },
		{ 3600000, "in 1h" },
	};
	char	buf[64];
	size_t	i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("delta %lld ms\n", (long long)rows[i].delta_ms);
		hd_fmt_relative(rows[i].delta_ms, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].text);
	}
}

static void
test_format_age_rounds_below_second(void **state)
{
	char	buf[32];

	hd_fmt_age(400, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
	hd_fmt_age(80000, buf, sizeof(buf));
	assert_string_equal(buf, "1m20s");
}

static void
test_format_clock_same_day(void **state)
{
	char	buf[32];

	hd_fmt_clock(NOW + 23 * 60, NOW, buf, sizeof(buf));
	assert_string_equal(buf, "14:23");
}

static void
test_format_clock_other_days(void **state)
{
	char	buf[32];

	hd_fmt_clock(NOW + 86400, NOW, buf, sizeof(buf));
	assert_string_equal(buf, "Thu 14:00");
	hd_fmt_clock(NOW + 30 * 86400, NOW, buf, sizeof(buf));
	assert_string_equal(buf, "2026-04-03 14:00");
}

static void
test_format_schedule_whole(void **state)
{
	static const int64_t	delays[] = { 80000, 160000, 320000 };
	char			buf[256];

	hd_fmt_schedule(delays, 3, NOW + 23 * 60, NOW, 0, 200, buf,
	    sizeof(buf));

	assert_string_equal(buf, "then 1m20s, 2m40s, 5m20s, dead at about "
	    "14:23 if every attempt fails");
}

static void
test_format_schedule_elides_to_width(void **state)
{
	static const int64_t	delays[] = { 80000, 160000, 320000, 640000 };
	char			buf[256];

	hd_fmt_schedule(delays, 4, NOW + 23 * 60, NOW, 0, 68, buf,
	    sizeof(buf));

	assert_string_equal(buf, "then 1m20s, 2m40s, ..., dead at about "
	    "14:23 if every attempt fails");
	assert_true(strlen(buf) <= 68);
}

static void
test_format_schedule_compact(void **state)
{
	static const int64_t	delays[] = { 80000, 160000, 320000, 640000 };
	char			buf[256];

	hd_fmt_schedule(delays, 4, NOW + 23 * 60, NOW, 1, 30, buf,
	    sizeof(buf));

	assert_string_equal(buf, "then 1m20s, ..., dead ~14:23");
}

static void
test_format_schedule_last_attempt(void **state)
{
	char	buf[64];

	hd_fmt_schedule(NULL, 0, NOW, NOW, 0, 60, buf, sizeof(buf));
	assert_string_equal(buf, "last attempt, dead if it fails");
	hd_fmt_schedule(NULL, 0, NOW, NOW, 1, 60, buf, sizeof(buf));
	assert_string_equal(buf, "last attempt");
}

static void
test_format_schedule_never_exceeds_width(void **state)
{
	static const int64_t	delays[] = { 80000, 160000 };
	char			buf[256];

	hd_fmt_schedule(delays, 2, NOW, NOW, 0, 10, buf, sizeof(buf));

	assert_int_equal(strlen(buf), 10);
}

/* The schedule the console shows comes from the workers' backoff code. */
static void
test_format_schedule_from_backoff(void **state)
{
	struct hd_retry_policy	policy;
	int64_t			delays[16], total = 0;
	char			buf[256];
	int			n, i;

	hd_retry_policy_init(&policy);
	policy.max_attempts = 5;

	/* Attempt 2 failed, attempt 3 is next: attempts 4 and 5 remain. */
	n = hd_backoff_schedule(&policy, 3, delays, 16);
	for (i = 0; i < n; i++)
		total += delays[i];
	hd_fmt_schedule(delays, n, NOW + total / 1000, NOW, 0, 200, buf,
	    sizeof(buf));

	assert_int_equal(n, 2);
	assert_string_equal(buf, "then 20s, 40s, dead at about 14:01 if "
	    "every attempt fails");
}

static void
test_format_count_plural(void **state)
{
	char	buf[32];

	hd_fmt_count(1, "dead job", "dead jobs", buf, sizeof(buf));
	assert_string_equal(buf, "1 dead job");
	hd_fmt_count(3, "dead job", "dead jobs", buf, sizeof(buf));
	assert_string_equal(buf, "3 dead jobs");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_format_relative_times),
		cmocka_unit_test(test_format_age_rounds_below_second),
		cmocka_unit_test(test_format_clock_same_day),
		cmocka_unit_test(test_format_clock_other_days),
		cmocka_unit_test(test_format_schedule_whole),
		cmocka_unit_test(test_format_schedule_elides_to_width),
		cmocka_unit_test(test_format_schedule_compact),
		cmocka_unit_test(test_format_schedule_last_attempt),
		cmocka_unit_test(test_format_schedule_never_exceeds_width),
		cmocka_unit_test(test_format_schedule_from_backoff),
		cmocka_unit_test(test_format_count_plural),
	};

	return cmocka_run_group_tests_name("format", tests, setup_utc, NULL);
}
