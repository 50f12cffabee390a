/*
 * test_inbox.c: herald.inbox, where herald.enqueue() puts a job that no
 * waiting worker needs at once.  Each test checks that a job there is
 * seen, counted, claimed, cancelled and moved as one in herald.jobs is.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbtest.h"

/* Count the notifications on channel herald for queue q that conn got. */
static int
notified(PGconn *conn, const char *q)
{
	PGnotify	*n;
	int		 count = 0;

	dbtest_exec(conn, "SELECT 1");
	assert_int_equal(PQconsumeInput(conn), 1);
	while ((n = PQnotifies(conn)) != NULL) {
		if (strcmp(n->relname, "herald") == 0 &&
		    strcmp(n->extra, q) == 0)
			count++;
		PQfreemem(n);
	}
	return count;
}

static int64_t
in_inbox(PGconn *conn, int64_t id)
{
	return dbtest_int(conn, "SELECT count(*) FROM herald.inbox"
	    " WHERE id = %lld", (long long)id);
}

static int64_t
in_jobs(PGconn *conn, int64_t id)
{
	return dbtest_int(conn, "SELECT count(*) FROM herald.jobs"
	    " WHERE id = %lld", (long long)id);
}

/*
 * Return the first value of the query sent on conn, or fail the test when
 * the query failed.
 */
static int64_t
sent_result(PGconn *conn)
{
	PGresult	*res;
	int64_t		 value;

	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s", PQresultErrorMessage(res));
	assert_int_equal(PQntuples(res), 1);
	value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	assert_null(PQgetResult(conn));
	return value;
}

/*
 * With no worker waiting, a job goes to the inbox without a notification.
 * Once a worker waits, the next job goes to herald.jobs and wakes it.
 */
static void
test_inbox_only_without_waiter(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*worker = dbtest_connect(db);
	int64_t		 first, second, later;

	dbtest_exec(worker, "LISTEN herald");
	first = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(in_inbox(db->conn, first), 1);
	assert_int_equal(in_jobs(db->conn, first), 0);
	assert_int_equal(notified(worker, "q"), 0);

	dbtest_exec(worker, "INSERT INTO herald.processes (id, kind, host,"
	    " pid, queue) VALUES ('w1', 'worker', 'h', 1, 'q')");
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	second = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(in_inbox(db->conn, second), 0);
	assert_int_equal(in_jobs(db->conn, second), 1);
	assert_int_equal(notified(worker, "q"), 1);

	/* A job due later sends no notification, even to a waiter. */
	later = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q', '{}',"
	    " 0, now() + interval '1 hour')");
	assert_int_equal(in_inbox(db->conn, later), 1);
	assert_int_equal(notified(worker, "q"), 0);
	assert_true(first < second);
	assert_true(second < later);
	PQfinish(worker);
}

/*
 * A claim moves the inbox of its queue first, so it takes jobs from both
 * places in priority, run_at and id order.  Another queue's inbox stays.
 */
static void
test_inbox_claim_order(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 a, b, c, other;

	a = dbtest_int(db->conn, "SELECT herald.enqueue('a', 'q')");
	dbtest_exec(db->conn, "SELECT herald.move_inbox(NULL, NULL)");
	b = dbtest_int(db->conn, "SELECT herald.enqueue('b', 'q', '{}', -1)");
	c = dbtest_int(db->conn, "SELECT herald.enqueue('c', 'q')");
	other = dbtest_int(db->conn, "SELECT herald.enqueue('o', 'other')");
	assert_int_equal(in_jobs(db->conn, a), 1);
	assert_int_equal(in_inbox(db->conn, b), 1);
	assert_int_equal(in_inbox(db->conn, c), 1);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(task,"
	    " ',') FROM (SELECT task FROM herald.claim('q', 'w', 10, 60000))"
	    " c"), "b,a,c");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.inbox WHERE queue = 'q'"), 0);
	assert_int_equal(in_inbox(db->conn, other), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE state = 'running' AND id IN (%lld, %lld,"
	    " %lld)", (long long)a, (long long)b, (long long)c), 3);
}

/* The counts and the oldest due job include the inbox. */
static void
test_inbox_counted(void **state)
{
	struct dbtest	*db = *state;
	const char	*counts = "SELECT queued || '/' || scheduled FROM"
			    " herald.queue_counts() WHERE queue = 'q'";

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() - interval '1 minute')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '1 hour')");
	dbtest_assert_text(dbtest_text(db->conn, "%s", counts), "2/1");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.oldest_ready() WHERE queue = 'q'"
	    " AND oldest <= now() - interval '1 minute'"), 1);

	dbtest_exec(db->conn, "SELECT herald.move_inbox('q', NULL)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.inbox"), 0);
	dbtest_assert_text(dbtest_text(db->conn, "%s", counts), "2/1");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.oldest_ready() WHERE queue = 'q'"
	    " AND oldest <= now() - interval '1 minute'"), 1);
}

/* Cancel, retry-now and herald job's lock find a job in the inbox. */
static void
test_inbox_actions(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 due, later, locked;

	due = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	later = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q', '{}',"
	    " 0, now() + interval '1 hour')");
	locked = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");

	assert_int_equal(dbtest_int(db->conn, "SELECT herald.cancel("
	    "ARRAY[%lld::bigint], 'u', 'h')", (long long)due), due);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld", (long long)due), 0);

	assert_int_equal(dbtest_int(db->conn, "SELECT herald.retry_now("
	    "ARRAY[%lld::bigint], 'u', 'h')", (long long)later), later);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE id = %lld AND run_at <= now()",
	    (long long)later), 1);

	/* The lock lists a job of the inbox and leaves it there. */
	dbtest_assert_text(dbtest_text(db->conn, "SELECT state FROM"
	    " herald.lock_jobs(ARRAY[%lld::bigint])", (long long)locked),
	    "queued");
	assert_int_equal(in_inbox(db->conn, locked), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.lock_jobs(ARRAY[%lld, %lld]::bigint[])",
	    (long long)locked, (long long)later), 2);
	assert_int_equal(dbtest_int(db->conn, "SELECT id FROM"
	    " herald.lock_jobs(ARRAY[%lld, %lld]::bigint[]) LIMIT 1",
	    (long long)locked, (long long)later), later);
}

/*
 * The janitor's round moves every queue's inbox and announces the queues
 * whose moved jobs are due.
 */
static void
test_inbox_announced(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*worker = dbtest_connect(db);

	dbtest_exec(worker, "LISTEN herald");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q1')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q2', '{}', 0,"
	    " now() + interval '1 hour')");
	dbtest_exec(db->conn, "SELECT herald.announce_due(NULL)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.inbox"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 2);
	assert_int_equal(notified(worker, "q1"), 1);
	assert_int_equal(notified(worker, "q2"), 0);
	PQfinish(worker);
}

/*
 * A janitor's first round after it connects has no previous round to
 * count from: it announces each queue with a due job that no worker
 * holds, whenever that job became due.  Later rounds announce only the
 * jobs that became due since the last one.
 */
static void
test_inbox_announced_first_round(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*worker = dbtest_connect(db);

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'due')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'held')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'later', '{}', 0,"
	    " now() + interval '1 hour')");
	dbtest_exec(db->conn, "SELECT herald.announce_due(NULL)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('held', 'w', 1, 60000)"), 1);
	dbtest_exec(db->conn, "UPDATE herald.jobs SET run_at = now() -"
	    " interval '1 hour' WHERE queue = 'due'");

	dbtest_exec(worker, "LISTEN herald");
	dbtest_exec(db->conn, "SELECT herald.announce_due(now())");
	assert_int_equal(notified(worker, "due"), 0);
	dbtest_exec(db->conn, "SELECT herald.announce_due(NULL)");
	assert_int_equal(notified(worker, "due"), 1);
	assert_int_equal(notified(worker, "held"), 0);
	assert_int_equal(notified(worker, "later"), 0);
	PQfinish(worker);
}

/*
 * herald job cancel locks the jobs, prompts for confirmation and cancels
 * them in one transaction.  A claim of the queue in between neither waits
 * for the confirmation nor deadlocks with the cancel.
 */
static void
test_inbox_lock_claim_cancel(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*worker = dbtest_connect(db);
	int64_t		 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "BEGIN");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT state FROM"
	    " herald.lock_jobs(ARRAY[%lld::bigint])", (long long)id),
	    "queued");

	assert_int_equal(PQsendQuery(worker, "SELECT count(*) FROM"
	    " herald.claim('q', 'w', 10, 60000)"), 1);
	assert_int_equal(dbtest_waits_for_lock(db->conn, worker), 0);
	assert_int_equal(sent_result(worker), 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT herald.cancel("
	    "ARRAY[%lld::bigint], 'u', 'h')", (long long)id), id);
	dbtest_exec(db->conn, "COMMIT");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE id = %lld AND cancel_requested_at IS NOT NULL",
	    (long long)id), 1);
	PQfinish(worker);
}

/*
 * A worker completes a job and then claims in one transaction, as its
 * cycle does.  herald job cancel of that job and of a job in the inbox
 * waits for the worker and does not deadlock with its claim.
 */
static void
test_inbox_lock_while_completing(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*cli = dbtest_connect(db);
	char		 sql[128];
	int64_t		 done, queued, token;

	done = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	token = dbtest_int(db->conn, "SELECT lease_token FROM"
	    " herald.claim('q', 'w', 1, 60000)");
	queued = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(in_inbox(db->conn, queued), 1);

	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT herald.complete_many(ARRAY[%lld::bigint],"
	    " ARRAY[%lld::bigint])", (long long)done, (long long)token);
	dbtest_exec(cli, "BEGIN");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM"
	    " herald.lock_jobs(ARRAY[%lld, %lld]::bigint[])",
	    (long long)done, (long long)queued);
	assert_int_equal(PQsendQuery(cli, sql), 1);
	assert_int_equal(dbtest_waits_for_lock(db->conn, cli), 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w', 10, 60000)"), 1);
	dbtest_exec(db->conn, "COMMIT");
	assert_int_equal(sent_result(cli), 1);
	dbtest_exec(cli, "COMMIT");
	PQfinish(cli);
}

/*
 * The same cycle against retry-now of that job and of a scheduled job in
 * the inbox: retry-now waits for the worker and does not deadlock with
 * its claim.
 */
static void
test_inbox_retry_now_while_completing(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*cli = dbtest_connect(db);
	char		 sql[160];
	int64_t		 done, later, token;

	done = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	token = dbtest_int(db->conn, "SELECT lease_token FROM"
	    " herald.claim('q', 'w', 1, 60000)");
	later = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '1 hour')");
	assert_int_equal(in_inbox(db->conn, later), 1);

	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT herald.complete_many(ARRAY[%lld::bigint],"
	    " ARRAY[%lld::bigint])", (long long)done, (long long)token);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM"
	    " herald.retry_now(ARRAY[%lld, %lld]::bigint[], 'op', 'host')",
	    (long long)done, (long long)later);
	assert_int_equal(PQsendQuery(cli, sql), 1);
	assert_int_equal(dbtest_waits_for_lock(db->conn, cli), 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w', 10, 60000)"), 0);
	dbtest_exec(db->conn, "COMMIT");
	assert_int_equal(sent_result(cli), 1);
	assert_int_equal(in_jobs(db->conn, later), 1);
	PQfinish(cli);
}

/*
 * A move takes at most 10000 jobs, the oldest first, so a claim after a
 * long backlog holds its lock for one batch.  It returns the queues of
 * the due jobs it moved.
 */
static void
test_inbox_move_bounded(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 first, last;

	first = dbtest_int(db->conn, "SELECT min(herald.enqueue('t', 'q'))"
	    " FROM generate_series(1, 10001)");
	last = first + 10000;
	assert_int_equal(in_inbox(db->conn, last), 1);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(q, ',')"
	    " FROM herald.move_inbox('q', NULL) AS m(q)"), "q");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE id BETWEEN %lld AND %lld", (long long)first,
	    (long long)last), 10000);
	assert_int_equal(in_inbox(db->conn, last), 1);

	/* A claim moves a batch before it claims. */
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w', 10, 60000)"), 10);
	assert_int_equal(in_jobs(db->conn, last), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs"), 10001);
}

/* Return how many sequential scans of herald.inbox the statistics count. */
static int64_t
inbox_seq_scans(PGconn *conn)
{
	dbtest_exec(conn, "SELECT pg_stat_force_next_flush()");
	return dbtest_int(conn, "SELECT seq_scan FROM pg_stat_user_tables"
	    " WHERE relid = 'herald.inbox'::regclass");
}

/*
 * A claim of a queue with no job in the inbox reads the inbox's index,
 * also once PostgreSQL caches a generic plan of the claim after five
 * calls.  An EXISTS scanned the whole inbox then: 12 ms a claim with
 * 200000 jobs of other queues in it.
 */
static void
test_inbox_claim_reads_index(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 before;
	int		 i;

	dbtest_exec(db->conn, "INSERT INTO herald.inbox (task, queue,"
	    " payload, priority, run_at, max_attempts) SELECT 't', 'q' ||"
	    " (g %% 2), '{}', 0, now(), 10 FROM generate_series(1, 200000) g");
	dbtest_exec(db->conn, "ANALYZE herald.inbox");
	before = inbox_seq_scans(db->conn);
	for (i = 0; i < 10; i++)
		assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
		    " herald.claim('empty', 'w', 10, 60000)"), 0);
	assert_int_equal(inbox_seq_scans(db->conn), before);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_inbox_only_without_waiter, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_claim_order, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_counted, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_actions, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_announced, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_announced_first_round, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_move_bounded, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_claim_reads_index, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_retry_now_while_completing, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_lock_claim_cancel, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_inbox_lock_while_completing, dbtest_setup,
		    dbtest_teardown),
	};

	dbtest_init("inbox");
	return cmocka_run_group_tests_name("inbox", tests, NULL, NULL);
}
