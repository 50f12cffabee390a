/*
 * test_backoff.c: the retry delay formula and the schedule the console
 * shows.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "herald.h"
#include "backoff.h"

/* Unit 0.5 means no jitter. */
#define NO_JITTER	0.5

static void
test_backoff_defaults_match_design(void **state)
{
	struct hd_retry_policy	p;

	hd_retry_policy_init(&p);

	assert_int_equal(p.max_attempts, 10);
	assert_int_equal(p.base_delay_ms, 5000);
	assert_true(p.factor == 2.0);
	assert_int_equal(p.max_delay_ms, 3600 * 1000);
	assert_true(p.jitter == 0.2);
}

static void
test_backoff_doubles_per_attempt(void **state)
{
	static const struct {
		int	attempt;
		int64_t	delay_ms;
	} rows[] = {
		{ 1, 5000 },
		{ 2, 10000 },
		{ 3, 20000 },
		{ 4, 40000 },
		{ 10, 2560000 },
	};
	struct hd_retry_policy	p;
	size_t			i;

	hd_retry_policy_init(&p);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("attempt %d\n", rows[i].attempt);
		assert_int_equal(hd_backoff_delay_ms(&p, rows[i].attempt,
		    NO_JITTER), rows[i].delay_ms);
	}
}

static void
test_backoff_caps_at_max_delay(void **state)
{
	struct hd_retry_policy	p;

	hd_retry_policy_init(&p);

	assert_int_equal(hd_backoff_delay_ms(&p, 11, NO_JITTER), 3600 * 1000);
	assert_int_equal(hd_backoff_delay_ms(&p, 1000, NO_JITTER), 3600 * 1000);
	assert_int_equal(hd_backoff_delay_ms(&p, 1000, 0.999999),
	    (int64_t)(3600 * 1000 * 1.2 - 1));
}

static void
test_backoff_jitter_bounds(void **state)
{
	struct hd_retry_policy	p;

	hd_retry_policy_init(&p);

	/* unit 0 is the shortest delay, -20 %; unit near 1 the longest. */
	assert_int_equal(hd_backoff_delay_ms(&p, 1, 0.0), 4000);
	assert_int_equal(hd_backoff_delay_ms(&p, 1, 0.75), 5500);
	assert_true(hd_backoff_delay_ms(&p, 1, 0.9999999) <= 6000);
	assert_true(hd_backoff_delay_ms(&p, 1, 0.9999999) >= 5999);
}

static void
test_backoff_unit_out_of_range_is_clamped(void **state)
{
	struct hd_retry_policy	p;

	hd_retry_policy_init(&p);

	assert_int_equal(hd_backoff_delay_ms(&p, 1, -3.0), 4000);
	assert_true(hd_backoff_delay_ms(&p, 1, 7.0) <= 6000);
}

static void
test_backoff_attempt_zero_counts_as_first(void **state)
{
	struct hd_retry_policy	p;

	hd_retry_policy_init(&p);

	assert_int_equal(hd_backoff_delay_ms(&p, 0, NO_JITTER), 5000);
	assert_int_equal(hd_backoff_delay_ms(&p, -5, NO_JITTER), 5000);
}

static void
test_backoff_custom_policy(void **state)
{
	struct hd_retry_policy	p = {
		.max_attempts = 4,
		.base_delay_ms = 100,
		.factor = 3.0,
		.max_delay_ms = 1000,
		.jitter = 0.0,
	};

	assert_int_equal(hd_backoff_delay_ms(&p, 1, 0.0), 100);
	assert_int_equal(hd_backoff_delay_ms(&p, 2, 0.9), 300);
	assert_int_equal(hd_backoff_delay_ms(&p, 3, 0.1), 900);
	assert_int_equal(hd_backoff_delay_ms(&p, 4, 0.5), 1000);
}

static void
test_backoff_factor_one_is_constant(void **state)
{
	struct hd_retry_policy	p = {
		.max_attempts = 5,
		.base_delay_ms = 2500,
		.factor = 1.0,
		.max_delay_ms = 10000,
		.jitter = 0.0,
	};

	assert_int_equal(hd_backoff_delay_ms(&p, 1, NO_JITTER), 2500);
	assert_int_equal(hd_backoff_delay_ms(&p, 50, NO_JITTER), 2500);
}

static void
test_backoff_schedule_lists_remaining(void **state)
{
	struct hd_retry_policy	p;
	int64_t			delays[16];
	int			n;

	hd_retry_policy_init(&p);

	/* After attempt 3 of 10 failed, 7 attempts are left. */
	n = hd_backoff_schedule(&p, 3, delays, 16);

	assert_int_equal(n, 7);
	assert_int_equal(delays[0], 20000);
	assert_int_equal(delays[1], 40000);
	assert_int_equal(delays[6], 1280000);
}

static void
test_backoff_schedule_respects_max(void **state)
{
	struct hd_retry_policy	p;
	int64_t			delays[2];

	hd_retry_policy_init(&p);

	assert_int_equal(hd_backoff_schedule(&p, 1, delays, 2), 2);
	assert_int_equal(delays[1], 10000);
}

static void
test_backoff_schedule_empty_after_last(void **state)
{
	struct hd_retry_policy	p;
	int64_t			delays[4];

	hd_retry_policy_init(&p);

	assert_int_equal(hd_backoff_schedule(&p, 10, delays, 4), 0);
	assert_int_equal(hd_backoff_schedule(&p, 12, delays, 4), 0);
}

static void
test_backoff_random_in_unit_interval(void **state)
{
	double	u;
	int	i;

	for (i = 0; i < 1000; i++) {
		u = hd_backoff_random();
		assert_true(u >= 0.0);
		assert_true(u < 1.0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_defaults_match_design),
		cmocka_unit_test(test_backoff_doubles_per_attempt),
		cmocka_unit_test(test_backoff_caps_at_max_delay),
		cmocka_unit_test(test_backoff_jitter_bounds),
		cmocka_unit_test(test_backoff_unit_out_of_range_is_clamped),
		cmocka_unit_test(test_backoff_attempt_zero_counts_as_first),
		cmocka_unit_test(test_backoff_custom_policy),
		cmocka_unit_test(test_backoff_factor_one_is_constant),
		cmocka_unit_test(test_backoff_schedule_lists_remaining),
		cmocka_unit_test(test_backoff_schedule_respects_max),
		cmocka_unit_test(test_backoff_schedule_empty_after_last),
		cmocka_unit_test(test_backoff_random_in_unit_interval),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
