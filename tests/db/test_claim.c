/*
 * test_claim.c: concurrent claimers never get the same job.
 *
 * Forked processes, each with its own connection, claim in small batches
 * and complete until the queue is empty.  Each writes the ids it claimed
 * to a file of its own, and the parent checks that each job was claimed
 * exactly once.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "herald.h"
#include "db.h"
#include "store.h"
#include "dbtest.h"

#define NJOBS		5000
#define NCLAIMERS	4
#define BATCH		10

/* Exit statuses of a claimer that failed. */
enum claimer_exit {
	CLAIMER_OK = 0,
	CLAIMER_CONNECT = 10,
	CLAIMER_CLAIM,
	CLAIMER_COMPLETE,
	CLAIMER_WRITE
};

/* Claim and complete until nothing is due; write each id to out. */
static int
claimer_run(const char *conninfo, const char *worker, FILE *out)
{
	struct herald_error	 error;
	struct hd_job		*jobs;
	PGconn			*conn;
	int			 n, i, rc = CLAIMER_OK;

	conn = hd_db_connect(conninfo, worker, &error);
	if (conn == NULL)
		return CLAIMER_CONNECT;
	while (rc == CLAIMER_OK) {
		n = hd_store_claim(conn, "default", worker, BATCH, 60000,
		    &jobs, &error);
		if (n <= 0) {
			rc = n == 0 ? CLAIMER_OK : CLAIMER_CLAIM;
			break;
		}
		for (i = 0; i < n && rc == CLAIMER_OK; i++) {
			int64_t	id = jobs[i].id;

			if (fwrite(&id, sizeof(id), 1, out) != 1)
				rc = CLAIMER_WRITE;
			else if (hd_store_complete(conn, &jobs[i], &error) != 1)
				rc = CLAIMER_COMPLETE;
		}
		hd_jobs_free(jobs, n);
	}
	PQfinish(conn);
	if (fflush(out) != 0)
		rc = CLAIMER_WRITE;
	return rc;
}

static int
compare_ids(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Read ids from file into ids[n .. max - 1]; return how many. */
static size_t
read_ids(FILE *file, int64_t *ids, size_t n, size_t max)
{
	size_t	got;

	rewind(file);
	got = fread(ids + n, sizeof(*ids), max - n, file);
	return got;
}

static void
test_claim_concurrent_once(void **state)
{
	struct dbtest	*db = *state;
	FILE		*files[NCLAIMERS];
	pid_t		 pids[NCLAIMERS];
	int64_t		*ids, first;
	size_t		 n = 0, i;
	char		 worker[32];
	int		 status;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'default')"
	    " FROM generate_series(1, %d)", NJOBS);
	first = dbtest_int(db->conn, "SELECT min(id) FROM herald.live_jobs");

	for (i = 0; i < NCLAIMERS; i++) {
		files[i] = tmpfile();
		assert_non_null(files[i]);
		snprintf(worker, sizeof(worker), "claimer-%zu", i);
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0)
			_exit(claimer_run(db->conninfo, worker, files[i]));
	}

	/* Room for one extra id, so a duplicate past NJOBS is seen. */
	ids = calloc(NJOBS + 1, sizeof(*ids));
	assert_non_null(ids);
	for (i = 0; i < NCLAIMERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), CLAIMER_OK);
		n += read_ids(files[i], ids, n, NJOBS + 1);
		fclose(files[i]);
	}

	assert_int_equal(n, NJOBS);
	qsort(ids, n, sizeof(*ids), compare_ids);
	for (i = 0; i < n; i++)
		if (ids[i] != first + (int64_t)i)
			fail_msg("claimed id %lld at %zu, expected %lld",
			    (long long)ids[i], i, (long long)(first + i));
	free(ids);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT sum(completed) FROM herald.counters"), NJOBS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_concurrent_once,
		    dbtest_setup, dbtest_teardown),
	};

	dbtest_init("claim");
	return cmocka_run_group_tests_name("claim", tests, NULL, NULL);
}
