/*
 * test_claim_rules.c: what herald.claim takes, in what order, and the
 * lease it writes.
 *
 * A paused queue, jobs not yet due, jobs whose cancellation was requested
 * and jobs that a lease lists are left alone.  Jobs come in priority,
 * run_at and id order with one lease that lists them in that order.  A
 * claim waits for a claim of the same queue in progress and reads the
 * lease it wrote.  max_running and rate cap a claim.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "herald.h"
#include "db.h"
#include "store.h"
#include "dbtest.h"

/* Claim up to n jobs of queue as worker "w", failing the test on error. */
static int
claim(PGconn *conn, const char *queue, int n, struct hd_job **jobs)
{
	struct herald_error	error;
	int			got;

	got = hd_store_claim(conn, queue, "w", n, 60000, jobs, &error);
	if (got == -1)
		fail_msg("claim: %s", error.message);
	return got;
}

static int
claim_count(PGconn *conn, const char *queue, int n)
{
	struct hd_job	*jobs = NULL;
	int		 got;

	got = claim(conn, queue, n, &jobs);
	hd_jobs_free(jobs, got);
	return got;
}

/* A paused queue returns no job and writes no lease until resumed. */
static void
test_paused_queue_claims_nothing(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'pq')"
	    " FROM generate_series(1, 3)");
	dbtest_exec(db->conn, "INSERT INTO herald.queues (name, paused)"
	    " VALUES ('pq', true)");
	assert_int_equal(claim_count(db->conn, "pq", 10), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 0);
	/* Other queues are not paused. */
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'other')");
	assert_int_equal(claim_count(db->conn, "other", 10), 1);

	dbtest_exec(db->conn, "UPDATE herald.queues SET paused = false"
	    " WHERE name = 'pq'");
	assert_int_equal(claim_count(db->conn, "pq", 10), 3);
}

/*
 * Jobs come in priority, run_at and id order, with the columns of the
 * job and one lease that lists them in that order.
 */
static void
test_order_columns_and_lease(void **state)
{
	struct dbtest	*db = *state;
	struct hd_job	*jobs = NULL;
	int64_t		 ids[4];
	int		 got, i;

	/* ids[i] is the job expected at position i. */
	ids[3] = dbtest_int(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " payload, priority, run_at, attempt, max_attempts, event_id,"
	    " event_type) VALUES ('t', 'q', '{\"n\": 3}', 5,"
	    " now() - interval '1 hour', 2, 7, 'e1', 'order.placed')"
	    " RETURNING id");
	ids[1] = dbtest_int(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " priority, run_at) VALUES ('t', 'q', 0, now() - interval '1 s')"
	    " RETURNING id");
	ids[0] = dbtest_int(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " priority, run_at) VALUES ('t', 'q', 0, now() - interval '2 s')"
	    " RETURNING id");
	ids[2] = dbtest_int(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " priority, run_at) VALUES ('t', 'q', 0, now() - interval '1 s')"
	    " RETURNING id");
	/* Not due, cancelled or in another queue: left alone. */
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue, run_at)"
	    " VALUES ('t', 'q', now() + interval '1 hour')");
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " cancel_requested_at) VALUES ('t', 'q', now())");
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue)"
	    " VALUES ('t', 'q2')");

	got = claim(db->conn, "q", 10, &jobs);
	assert_int_equal(got, 4);
	for (i = 0; i < got; i++) {
		assert_int_equal(jobs[i].id, ids[i]);
		assert_string_equal(jobs[i].task, "t");
		assert_string_equal(jobs[i].queue, "q");
		assert_int_equal(jobs[i].lease_token, jobs[0].lease_token);
	}
	assert_string_equal(jobs[3].payload, "{\"n\": 3}");
	assert_int_equal(jobs[3].priority, 5);
	assert_int_equal(jobs[3].attempt, 3);
	assert_int_equal(jobs[3].max_attempts, 7);
	assert_string_equal(jobs[3].event_id, "e1");
	assert_string_equal(jobs[3].event_type, "order.placed");
	assert_int_equal(jobs[0].attempt, 1);
	assert_null(jobs[0].event_id);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.leases WHERE token = %lld AND owner = 'w'"
	    " AND queue = 'q' AND pending = 4"
	    " AND job_ids = ARRAY[%lld, %lld, %lld, %lld]::bigint[]"
	    " AND attempted_at <= clock_timestamp()"
	    " AND deadline BETWEEN attempted_at + interval '59 s'"
	    " AND attempted_at + interval '61 s'",
	    (long long)jobs[0].lease_token, (long long)ids[0],
	    (long long)ids[1], (long long)ids[2], (long long)ids[3]), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 1);
	hd_jobs_free(jobs, got);
}

/*
 * Held jobs are skipped.  A claim of 0 jobs or of an empty queue writes
 * no lease.
 */
static void
test_held_jobs_skipped(void **state)
{
	struct dbtest	*db = *state;
	struct hd_job	*first = NULL, *second = NULL;
	int		 nfirst, nsecond, i, j;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')"
	    " FROM generate_series(1, 5)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.claim('q', 'w', 0, 60000)"), 0);
	assert_int_equal(claim_count(db->conn, "empty", 10), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 0);

	nfirst = claim(db->conn, "q", 3, &first);
	assert_int_equal(nfirst, 3);
	nsecond = claim(db->conn, "q", 10, &second);
	assert_int_equal(nsecond, 2);
	for (i = 0; i < nfirst; i++)
		for (j = 0; j < nsecond; j++)
			assert_true(first[i].id != second[j].id);
	assert_true(first[0].lease_token != second[0].lease_token);
	assert_int_equal(claim_count(db->conn, "q", 10), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 2);
	hd_jobs_free(first, nfirst);
	hd_jobs_free(second, nsecond);
}

/*
 * A claim waits while another claim of its queue is in progress, then
 * reads that claim's lease and takes the other jobs.
 */
static void
test_claim_waits_and_sees_lease(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*other = dbtest_connect(db);
	PGresult	*res;
	struct pollfd	 pfd;
	int64_t		 held;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')"
	    " FROM generate_series(1, 4)");
	dbtest_exec(db->conn, "BEGIN");
	held = dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.claim('q', 'w1', 2, 60000)");
	assert_int_equal(held, 2);
	assert_int_equal(PQsendQuery(other, "SELECT count(*), min(id)"
	    " FROM herald.claim('q', 'w2', 10, 60000)"), 1);

	/* It waits for the lock of the queue's claims. */
	pfd.fd = PQsocket(other);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 300), 0);

	dbtest_exec(db->conn, "COMMIT");
	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "2");
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " (SELECT unnest(job_ids) FROM herald.leases) u"), 4);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(DISTINCT id)"
	    " FROM herald.held_jobs"), 4);
	PQfinish(other);
}

/*
 * Two hosts that store a queue's first limits at once: the second waits
 * for the first and names it as the host whose limits it replaced.
 */
static void
test_store_limits_concurrent_first(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*other = dbtest_connect(db);
	PGresult	*res;
	struct pollfd	 pfd;

	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT herald.store_queue_limits('hq', 5, NULL,"
	    " 'host-a')");
	assert_int_equal(PQsendQuery(other, "SELECT changed,"
	    " coalesce(previous_host, '(none)'), previous_max_running"
	    " FROM herald.store_queue_limits('hq', 7, NULL, 'host-b')"), 1);

	pfd.fd = PQsocket(other);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 300), 0);

	dbtest_exec(db->conn, "COMMIT");
	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "t");
	assert_string_equal(PQgetvalue(res, 0, 1), "host-a");
	assert_string_equal(PQgetvalue(res, 0, 2), "5");
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.queue_limits WHERE queue = 'hq' AND max_running = 7"
	    " AND stored_by = 'host-b'"), 1);
	PQfinish(other);
}

/* max_running counts the held jobs that still exist. */
static void
test_max_running_caps_claim(void **state)
{
	struct dbtest	*db = *state;
	struct hd_job	*jobs = NULL;
	struct herald_error	 error;
	int		 got;

	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('lq', 3, NULL)");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'lq')"
	    " FROM generate_series(1, 10)");
	got = claim(db->conn, "lq", 2, &jobs);
	assert_int_equal(got, 2);
	assert_int_equal(claim_count(db->conn, "lq", 10), 1);
	assert_int_equal(claim_count(db->conn, "lq", 10), 0);
	/* A completed job leaves its id in the lease but frees a place. */
	assert_int_equal(hd_store_complete(db->conn, &jobs[0], &error), 1);
	assert_int_equal(claim_count(db->conn, "lq", 10), 1);
	assert_int_equal(claim_count(db->conn, "lq", 10), 0);
	hd_jobs_free(jobs, got);
}

/* The bucket starts full, loses what a claim takes and refills. */
static void
test_rate_bucket_written(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('rq', NULL, 4)");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'rq')"
	    " FROM generate_series(1, 20)");
	assert_int_equal(claim_count(db->conn, "rq", 3), 3);
	/* About one token is left. */
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.queue_limits WHERE queue = 'rq'"
	    " AND tokens >= 1 AND tokens < 1.5"
	    " AND refilled_at > now() - interval '1 minute'"), 1);
	/* A bucket refilled two seconds ago contains at most 4 tokens. */
	dbtest_exec(db->conn, "UPDATE herald.queue_limits SET tokens = 0,"
	    " refilled_at = clock_timestamp() - interval '2 s'"
	    " WHERE queue = 'rq'");
	assert_int_equal(claim_count(db->conn, "rq", 20), 4);
	assert_int_equal(claim_count(db->conn, "rq", 20), 0);
	/* A claim that takes nothing leaves the bucket alone. */
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.queue_limits WHERE queue = 'rq' AND tokens < 1"),
	    1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_paused_queue_claims_nothing, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_order_columns_and_lease,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_held_jobs_skipped,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_limits_concurrent_first, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_claim_waits_and_sees_lease, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_max_running_caps_claim,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_rate_bucket_written,
		    dbtest_setup, dbtest_teardown),
	};

	dbtest_init("claim_rules");
	return cmocka_run_group_tests_name("claim rules", tests, NULL,
	    NULL);
}
