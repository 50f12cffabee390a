/*
 * test_cron.c: cron expressions, their slots in UTC and across
 * daylight-saving changes of fixed zones, and the catch-up search.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cron.h"

/* Instants used below, in Unix seconds (UTC). */
#define T_2024_01_01_1007	INT64_C(1704103620)
#define T_2024_01_01_1015	INT64_C(1704104100)
#define T_2023_01_01	INT64_C(1672531200)
#define T_2024_02_29	INT64_C(1709164800)
#define T_2020_01_01	INT64_C(1577836800)
#define T_2024_01_01	INT64_C(1704067200)
#define T_2024_06_01	INT64_C(1717200000)
#define T_2024_09_01	INT64_C(1725148800)
#define T_2024_09_06	INT64_C(1725580800)
#define T_2024_09_13	INT64_C(1726185600)

static struct hd_cron
parse_ok(const char *text)
{
	struct hd_cron	cron;
	char		error[256] = "";

	print_message("%s\n", text);
	if (hd_cron_parse(text, &cron, error, sizeof error) == -1)
		fail_msg("%s: %s", text, error);
	return cron;
}

static void
test_cron_parses_fields(void **state)
{
	struct hd_cron	c = parse_ok("5,10-12 */6 1 jan-MAR mon-fri");

	(void)state;
	assert_int_equal(c.minutes, (1ULL << 5) | (1ULL << 10) |
	    (1ULL << 11) | (1ULL << 12));
	assert_int_equal(c.hours, (1 << 0) | (1 << 6) | (1 << 12) |
	    (1 << 18));
	assert_int_equal(c.days, 1 << 1);
	assert_int_equal(c.months, (1 << 1) | (1 << 2) | (1 << 3));
	assert_int_equal(c.weekdays, 0x3e);
	assert_false(c.days_any);
	assert_false(c.weekdays_any);
	assert_int_equal(c.every_s, 0);
}

static void
test_cron_sunday_is_0_and_7(void **state)
{
	struct hd_cron	a = parse_ok("0 0 * * 7");
	struct hd_cron	b = parse_ok("0 0 * * 0");
	struct hd_cron	c = parse_ok("0 0 * * 5-7");

	(void)state;
	assert_int_equal(a.weekdays, 1);
	assert_int_equal(b.weekdays, 1);
	assert_int_equal(c.weekdays, (1 << 5) | (1 << 6) | 1);
}

static void
test_cron_shortcuts(void **state)
{
	static const struct {
		const char	*shortcut;
		const char	*expression;
	} rows[] = {
		{ "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" },
		{ "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" }
	};
	struct hd_cron	a, b;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		a = parse_ok(rows[i].shortcut);
		b = parse_ok(rows[i].expression);
		assert_memory_equal(&a, &b, sizeof a);
	}
}

static void
test_cron_every_takes_seconds(void **state)
{
	struct hd_cron	c = parse_ok("@every 5s");

	(void)state;
	assert_int_equal(c.every_s, 5);
	assert_int_equal(hd_cron_next(&c, NULL, 1000), 1005);
	assert_int_equal(hd_cron_next(&c, "Europe/Berlin", 1004), 1005);
	assert_int_equal(hd_cron_latest(&c, NULL, 990, 1004), 1000);
	assert_int_equal(hd_cron_latest(&c, NULL, 1000, 1004), -1);
}

static void
test_cron_rejects_bad_expressions(void **state)
{
	static const char *const rows[] = {
		"61 * * * *",
		"* 24 * * *",
		"* * 0 * *",
		"* * * 13 *",
		"* * * * 8",
		"* * * *",
		"* * * * * *",
		"5-1 * * * *",
		"*/0 * * * *",
		"1,,2 * * * *",
		"x * * * *",
		"* * * foo *",
		"@reboot",
		"@every 500ms",
		"@every 1.5s",
		"@every soon",
		""
	};
	struct hd_cron	cron;
	char		error[256];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("\"%s\"\n", rows[i]);
		error[0] = '\0';
		assert_int_equal(hd_cron_parse(rows[i], &cron, error,
		    sizeof error), -1);
		assert_true(error[0] != '\0');
	}
}

static void
test_cron_error_names_field(void **state)
{
	struct hd_cron	cron;
	char		error[256];

	(void)state;
	assert_int_equal(hd_cron_parse("61 * * * *", &cron, error,
	    sizeof error), -1);
	assert_string_equal(error,
	    "minute field \"61\": out of range (0 to 59)");
}

static void
test_cron_next_in_utc(void **state)
{
	struct hd_cron	quarter = parse_ok("*/15 * * * *");
	struct hd_cron	leap = parse_ok("0 0 29 2 *");
	struct hd_cron	never = parse_ok("0 0 30 2 *");

	(void)state;
	assert_int_equal(hd_cron_next(&quarter, NULL, T_2024_01_01_1007),
	    T_2024_01_01_1015);
	assert_int_equal(hd_cron_next(&quarter, "UTC",
	    T_2024_01_01_1015 - 1), T_2024_01_01_1015);
	assert_int_equal(hd_cron_next(&quarter, NULL, T_2024_01_01_1015),
	    T_2024_01_01_1015 + 900);
	assert_int_equal(hd_cron_next(&leap, NULL, T_2023_01_01),
	    T_2024_02_29);
	assert_int_equal(hd_cron_next(&never, NULL, T_2023_01_01), -1);
}

static void
test_cron_day_fields_match_either(void **state)
{
	struct hd_cron	c = parse_ok("0 0 13 * fri");

	(void)state;
	/* Friday the 6th, then the 13th (also a Friday). */
	assert_int_equal(hd_cron_next(&c, NULL, T_2024_09_01), T_2024_09_06);
	assert_int_equal(hd_cron_next(&c, NULL, T_2024_09_06), T_2024_09_13);
}

/* Europe/Berlin springs forward on 2024-03-31: 02:00 CET is 03:00 CEST. */
static void
test_cron_skipped_time_runs_at_gap_end(void **state)
{
	struct hd_cron	daily = parse_ok("30 2 * * *");
	struct hd_cron	half = parse_ok("*/30 * * * *");
	int64_t		gap_end = INT64_C(1711846800);	/* 01:00 UTC */

	(void)state;
	/* 02:30 does not exist that night: once at 03:00 CEST. */
	assert_int_equal(hd_cron_next(&daily, "Europe/Berlin",
	    INT64_C(1711800000)), gap_end);
	/* The next night it is 02:30 CEST, 00:30 UTC. */
	assert_int_equal(hd_cron_next(&daily, "Europe/Berlin", gap_end),
	    INT64_C(1711931400));
	/* 02:00, 02:30 and 03:00 all fall on the gap's end, once. */
	assert_int_equal(hd_cron_next(&half, "Europe/Berlin",
	    INT64_C(1711845600)), gap_end);
	assert_int_equal(hd_cron_next(&half, "Europe/Berlin", gap_end),
	    INT64_C(1711848600));
}

/* Europe/Berlin falls back on 2024-10-27: 03:00 CEST is 02:00 CET. */
static void
test_cron_repeated_time_runs_once(void **state)
{
	struct hd_cron	daily = parse_ok("30 2 * * *");
	struct hd_cron	half = parse_ok("*/30 * * * *");
	int64_t		first = INT64_C(1729989000);	/* 00:30 UTC */

	(void)state;
	assert_int_equal(hd_cron_next(&daily, "Europe/Berlin",
	    INT64_C(1729944000)), first);
	/* Not again at 02:30 CET (01:30 UTC), but the next night. */
	assert_int_equal(hd_cron_next(&daily, "Europe/Berlin", first),
	    INT64_C(1730079000));
	/* Every half hour: 02:30 CEST, then 03:00 CET; 02:00 and 02:30
	 * CET are wall times that already ran. */
	assert_int_equal(hd_cron_next(&half, "Europe/Berlin", first),
	    first + 3 * 1800);
}

/* America/New_York springs forward on 2024-03-10 at 02:00 EST. */
static void
test_cron_new_york_spring_forward(void **state)
{
	struct hd_cron	c = parse_ok("0 2 * * *");

	(void)state;
	assert_int_equal(hd_cron_next(&c, "America/New_York",
	    INT64_C(1709985600)), INT64_C(1710054000));
	/* 02:00 EDT the next day is 06:00 UTC. */
	assert_int_equal(hd_cron_next(&c, "America/New_York",
	    INT64_C(1710054000)), INT64_C(1710054000) + 23 * 3600);
}

static void
test_cron_latest_finds_newest_missed(void **state)
{
	struct hd_cron	five = parse_ok("*/5 * * * *");
	struct hd_cron	yearly = parse_ok("@yearly");

	(void)state;
	/* After 62 minutes away the newest slot is 60 minutes on. */
	assert_int_equal(hd_cron_latest(&five, NULL, T_2024_01_01,
	    T_2024_01_01 + 62 * 60), T_2024_01_01 + 60 * 60);
	/* A slot exactly at now counts, one exactly at after does not. */
	assert_int_equal(hd_cron_latest(&five, NULL, T_2024_01_01,
	    T_2024_01_01 + 300), T_2024_01_01 + 300);
	assert_int_equal(hd_cron_latest(&five, NULL, T_2024_01_01,
	    T_2024_01_01 + 299), -1);
	/* Four years away: only the newest New Year. */
	assert_int_equal(hd_cron_latest(&yearly, NULL, T_2020_01_01,
	    T_2024_06_01), T_2024_01_01);
	assert_int_equal(hd_cron_latest(&yearly, NULL, T_2024_01_01,
	    T_2024_06_01), -1);
}

static void
test_cron_restores_tz(void **state)
{
	struct hd_cron	c = parse_ok("0 * * * *");

	(void)state;
	setenv("TZ", "Asia/Tokyo", 1);
	(void)hd_cron_next(&c, "Europe/Berlin", T_2024_01_01);
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
	(void)hd_cron_next(&c, "Europe/Berlin", T_2024_01_01);
	assert_null(getenv("TZ"));
}

static void
test_cron_zone_names(void **state)
{
	(void)state;
	assert_true(hd_cron_zone_valid("UTC"));
	assert_true(hd_cron_zone_valid("Europe/Berlin"));
	assert_false(hd_cron_zone_valid("Mars/Olympus_Mons"));
	assert_false(hd_cron_zone_valid("../../etc/passwd"));
	assert_false(hd_cron_zone_valid("/etc/localtime"));
	assert_false(hd_cron_zone_valid(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_parses_fields),
		cmocka_unit_test(test_cron_sunday_is_0_and_7),
		cmocka_unit_test(test_cron_shortcuts),
		cmocka_unit_test(test_cron_every_takes_seconds),
		cmocka_unit_test(test_cron_rejects_bad_expressions),
		cmocka_unit_test(test_cron_error_names_field),
		cmocka_unit_test(test_cron_next_in_utc),
		cmocka_unit_test(test_cron_day_fields_match_either),
		cmocka_unit_test(test_cron_skipped_time_runs_at_gap_end),
		cmocka_unit_test(test_cron_repeated_time_runs_once),
		cmocka_unit_test(test_cron_new_york_spring_forward),
		cmocka_unit_test(test_cron_latest_finds_newest_missed),
		cmocka_unit_test(test_cron_restores_tz),
		cmocka_unit_test(test_cron_zone_names),
	};

	return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
