/*
 * test_started.c: the shared list of the jobs a worker started, as heraldd
 * reads it after the worker died.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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
		cmocka_unit_test(test_started_no_region_unknown),
	};

	return cmocka_run_group_tests_name("started", tests, NULL, NULL);
}
