/*
 * test_started.c: the shared list of the jobs a worker started, as heraldd
 * reads it after the worker died.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>

#include "started.h"

/* Return whether ids lists id. */
static bool
ids_have(const struct hd_started_ids *ids, int64_t id)
{
	int	i;

	for (i = 0; i < ids->n; i++)
		if (ids->ids[i] == id)
			return true;
	return false;
}

static void
test_started_add_and_remove(void **state)
{
	struct hd_started	*s = hd_started_map(1);
	struct hd_started_ids	 ids;

	(void)state;
	assert_non_null(s);
	hd_started_add(s, 10);
	hd_started_add(s, 11);
	hd_started_add(s, 12);
	hd_started_remove(s, 10);
	hd_started_remove(s, 99);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.n, 2);
	assert_true(ids_have(&ids, 11));
	assert_true(ids_have(&ids, 12));
	assert_false(ids_have(&ids, 10));
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* A job started twice is forgotten with one remove. */
static void
test_started_remove_every_copy(void **state)
{
	struct hd_started	*s = hd_started_map(1);
	struct hd_started_ids	 ids;

	(void)state;
	hd_started_add(s, 5);
	hd_started_add(s, 6);
	hd_started_add(s, 5);
	hd_started_remove(s, 5);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.n, 1);
	assert_true(ids_have(&ids, 6));
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* Removing many ids keeps the others, each once, and every copy goes. */
static void
test_started_remove_many(void **state)
{
	static const int64_t	 gone[] = { 42, 9, 2, 5 };
	struct hd_started	*s = hd_started_map(1);
	struct hd_started_ids	 ids;
	int64_t			 id;

	(void)state;
	for (id = 1; id <= 10; id++)
		hd_started_add(s, id);
	hd_started_add(s, 5);
	hd_started_remove_many(s, gone, sizeof gone / sizeof gone[0]);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.n, 7);
	for (id = 1; id <= 10; id++) {
		if (id == 2 || id == 5 || id == 9)
			assert_false(ids_have(&ids, id));
		else
			assert_true(ids_have(&ids, id));
	}
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* Reset empties the list for the next worker. */
static void
test_started_reset_empties(void **state)
{
	struct hd_started	*s = hd_started_map(1);
	struct hd_started_ids	 ids;

	(void)state;
	hd_started_add(s, 1);
	hd_started_reset(s);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.n, 0);
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* A list that ran out of room is not trusted. */
static void
test_started_overflow_unknown(void **state)
{
	struct hd_started	*s = hd_started_map(0);
	struct hd_started_ids	 ids;
	int64_t			 id;

	(void)state;
	for (id = 1; id <= 5000; id++)
		hd_started_add(s, id);
	hd_started_read(s, &ids);
	assert_false(ids.known);
	assert_int_equal(ids.n, 0);
	assert_null(ids.ids);

	hd_started_reset(s);
	hd_started_read(s, &ids);
	assert_true(ids.known);
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* No region (mmap() failed) means the started jobs are unknown. */
/* Handlers that crash at once each name their own job. */
static void
test_started_two_crashes(void **state)
{
	struct hd_started	*s = hd_started_map(4);
	struct hd_started_ids	 ids;

	(void)state;
	hd_started_add(s, 1);
	hd_started_add(s, 2);
	hd_started_add(s, 3);
	hd_started_crash(s, 3, SIGSEGV);
	hd_started_crash(s, 1, SIGABRT);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.ncrashed, 2);
	assert_int_equal(hd_started_crash_signal(&ids, 3), SIGSEGV);
	assert_int_equal(hd_started_crash_signal(&ids, 1), SIGABRT);
	assert_int_equal(hd_started_crash_signal(&ids, 2), 0);
	assert_int_equal(hd_started_crashed_job(&ids), 3);
	hd_started_ids_clear(&ids);

	hd_started_reset(s);
	hd_started_read(s, &ids);
	assert_int_equal(ids.ncrashed, 0);
	assert_int_equal(hd_started_crashed_job(&ids), 0);
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* A crash of a job the list lacks names no job. */
static void
test_started_crash_not_started(void **state)
{
	struct hd_started	*s = hd_started_map(1);
	struct hd_started_ids	 ids;

	(void)state;
	hd_started_add(s, 1);
	hd_started_crash(s, 99, SIGSEGV);

	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(hd_started_crash_signal(&ids, 99), 0);
	assert_int_equal(hd_started_crashed_job(&ids), 0);
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

/* More crashes than the region stores leave every job unknown. */
static void
test_started_too_many_crashes(void **state)
{
	struct hd_started	*s = hd_started_map(8);
	struct hd_started_ids	 ids;
	int64_t			 id;

	(void)state;
	for (id = 1; id <= HD_STARTED_CRASHES + 1; id++)
		hd_started_add(s, id);
	for (id = 1; id <= HD_STARTED_CRASHES + 1; id++)
		hd_started_crash(s, id, SIGSEGV);

	hd_started_read(s, &ids);
	assert_false(ids.known);
	assert_int_equal(hd_started_crash_signal(&ids, 1), 0);
	assert_int_equal(hd_started_crashed_job(&ids), 0);
	hd_started_ids_clear(&ids);
	hd_started_unmap(s);
}

static void
test_started_no_region_unknown(void **state)
{
	struct hd_started_ids	ids;

	(void)state;
	hd_started_add(NULL, 1);
	hd_started_read(NULL, &ids);
	assert_false(ids.known);
	assert_int_equal(ids.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_started_add_and_remove),
		cmocka_unit_test(test_started_remove_every_copy),
		cmocka_unit_test(test_started_remove_many),
		cmocka_unit_test(test_started_reset_empties),
		cmocka_unit_test(test_started_overflow_unknown),
		cmocka_unit_test(test_started_two_crashes),
		cmocka_unit_test(test_started_crash_not_started),
		cmocka_unit_test(test_started_too_many_crashes),
		cmocka_unit_test(test_started_no_region_unknown),
	};

	return cmocka_run_group_tests_name("started", tests, NULL, NULL);
}
