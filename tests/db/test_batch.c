/*
 * test_batch.c: the worker's pipelined completion and claim.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "herald.h"
#include "batch.h"
#include "store.h"
#include "dbtest.h"

static void
test_batch_claims_in_order(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int			 n;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', priority => p) "
	    "FROM unnest(ARRAY[3, 1, 2]) p");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);

	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 10, 60000,
	    false, &jobs, &error);

	assert_int_equal(n, 3);
	assert_int_equal(jobs[0].priority, 1);
	assert_int_equal(jobs[2].priority, 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE state = 'running' AND lease_owner = 'w'"),
	    3);
	hd_jobs_free(jobs, n);
}

static void
test_batch_completes_and_claims(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs, *more;
	const struct hd_job	*done[2];
	bool			 completed[2];
	int			 n;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q') "
	    "FROM generate_series(1, 5)");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);
	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 2, 60000,
	    false, &jobs, &error);
	assert_int_equal(n, 2);
	/* The second job's lease went to someone else. */
	jobs[1].lease_token = -1;
	done[0] = &jobs[0];
	done[1] = &jobs[1];

	n = hd_batch_cycle(db->conn, done, 2, completed, "q", "w", 10, 60000,
	    false, &more, &error);

	assert_int_equal(n, 3);
	assert_true(completed[0]);
	assert_false(completed[1]);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs"), 4);
	assert_int_equal(dbtest_int(db->conn, "SELECT completed FROM "
	    "herald.counters WHERE queue = 'q' AND task = 't'"), 1);
	hd_jobs_free(jobs, 2);
	hd_jobs_free(more, n);
}

static void
test_batch_failure_changes_nothing(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs, *more;
	const struct hd_job	*done[1];
	bool			 completed[1];
	int			 n;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);
	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 1, 60000,
	    false, &jobs, &error);
	assert_int_equal(n, 1);
	done[0] = &jobs[0];

	/* A constraint fails the claim that follows the completion. */
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "ALTER TABLE herald.leases ADD CONSTRAINT "
	    "no_claim CHECK (pending < 0) NOT VALID");
	n = hd_batch_cycle(db->conn, done, 1, completed, "q", "w", 1, 60000,
	    false, &more, &error);
	dbtest_exec(db->conn, "ALTER TABLE herald.leases DROP CONSTRAINT "
	    "no_claim");

	assert_int_equal(n, -1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE state = 'running'"), 1);
	assert_int_equal(hd_batch_cycle(db->conn, done, 1, completed, "q", "w",
	    0, 60000, false, &more, &error), 0);
	assert_true(completed[0]);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE state = 'queued'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs"), 1);
	hd_jobs_free(jobs, 1);
}

static void
test_batch_wait_begin_and_end(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	dbtest_exec(db->conn, "INSERT INTO herald.processes (id, kind, host, "
	    "pid, queue) VALUES ('w', 'worker', 'h', 1, 'q')");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);

	assert_int_equal(hd_batch_wait_begin(db->conn, "w", "q", &error), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.waiters WHERE worker_id = 'w' AND queue = 'q'"), 1);
	assert_int_equal(hd_batch_wait_end(db->conn, "w", "q", &error),
	    0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.waiters"), 0);
}

/*
 * A claim also returns the time until the earliest job of its queue due
 * later, whatever its priority, skipping a job whose cancel is pending,
 * and no time for a queue without such a job or a paused one.
 */
static void
test_batch_claim_returns_next_due(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 due_ms;
	int			 n;

	dbtest_exec(db->conn, "SELECT herald.enqueue('now', 'q')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('soon', 'q', '{}', 5,"
	    " clock_timestamp() + interval '2 seconds')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('later', 'q', '{}', -1,"
	    " clock_timestamp() + interval '1 hour')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('cancelled', 'q', '{}',"
	    " 0, clock_timestamp() + interval '1 second')");
	dbtest_exec(db->conn, "SELECT herald.move_inbox(NULL, NULL)");
	dbtest_exec(db->conn, "UPDATE herald.jobs SET cancel_requested_at ="
	    " now() WHERE task = 'cancelled'");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);

	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 10, 60000,
	    true, &jobs, &error);
	assert_int_equal(hd_batch_next_due(db->conn, &due_ms, &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(jobs[0].task, "now");
	assert_true(due_ms > 1000);
	assert_true(due_ms <= 2000);
	hd_jobs_free(jobs, n);

	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "other", "w", 10, 60000,
	    true, &jobs, &error);
	assert_int_equal(hd_batch_next_due(db->conn, &due_ms, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(due_ms, -1);

	dbtest_exec(db->conn, "INSERT INTO herald.queues (name, paused)"
	    " VALUES ('q', true)");
	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 10, 60000,
	    true, &jobs, &error);
	assert_int_equal(hd_batch_next_due(db->conn, &due_ms, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(due_ms, -1);
}

/*
 * The next due time is read in a transaction after the claim's.  It
 * counts from the claim's now(), so a job that became due between the two
 * makes the worker claim again at once instead of waiting for a poll.
 */
static void
test_batch_next_due_counts_from_claim(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 due_ms;
	int			 n;

	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue, run_at)"
	    " VALUES ('between', 'q', now() - interval '1 second')");
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.next_due_ms('q',"
	    " now() - interval '2 seconds')"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.next_due_ms('q') AS d WHERE d IS NULL"), 1);

	/* A claim stores its now() for the read that follows it. */
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);
	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 10, 60000,
	    true, &jobs, &error);
	assert_int_equal(n, 1);
	hd_jobs_free(jobs, n);
	assert_int_equal(hd_batch_next_due(db->conn, &due_ms, &error), 0);
	assert_int_equal(due_ms, -1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.leases WHERE attempted_at >="
	    " current_setting('herald.claimed_at')::timestamptz"
	    " AND current_setting('herald.claimed_at')::timestamptz"
	    " > now() - interval '1 minute'"), 1);
}

/*
 * The jobs of one claim share a lease.  Expiry takes back those that did
 * not end, p_limit at a time, and a late completion changes nothing.
 */
static void
test_batch_lease_expiry_takes_back_rest(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q') "
	    "FROM generate_series(1, 3)");
	dbtest_exec(db->conn, "CREATE TEMP TABLE c AS "
	    "SELECT id, lease_token FROM herald.claim('q', 'w', 3, 60000)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(DISTINCT "
	    "lease_token) FROM c"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.complete_many(ARRAY(SELECT min(id) FROM c), "
	    "ARRAY(SELECT min(lease_token) FROM c))"), 1);
	dbtest_exec(db->conn, "UPDATE herald.leases "
	    "SET deadline = clock_timestamp() - interval '1 second'");

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.expire_leases(1)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE state = 'running'"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.expire_leases(10)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.leases"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE state = 'queued' AND attempt = 1 "
	    "AND errors->0->>'outcome' = 'lost'"), 2);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.complete_many(ARRAY(SELECT max(id) FROM c), "
	    "ARRAY(SELECT min(lease_token) FROM c))"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.claim('q', 'w2', 10, 60000) WHERE attempt = 2"), 2);
}

/*
 * Record the synchronous_commit setting in force when a transaction that
 * inserted a lease or deleted jobs commits: deferred triggers run just
 * before the commit.
 */
static void
record_commit_settings(PGconn *conn)
{
	dbtest_exec(conn, "CREATE TABLE commit_settings (tbl text, "
	    "setting text)");
	dbtest_exec(conn, "CREATE FUNCTION record_commit_setting() "
	    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	    "INSERT INTO commit_settings VALUES (TG_TABLE_NAME, "
	    "current_setting('synchronous_commit')); RETURN NULL; END $$");
	dbtest_exec(conn, "CREATE CONSTRAINT TRIGGER record_claim AFTER "
	    "INSERT ON herald.leases DEFERRABLE INITIALLY DEFERRED "
	    "FOR EACH ROW EXECUTE FUNCTION record_commit_setting()");
	dbtest_exec(conn, "CREATE CONSTRAINT TRIGGER record_completion AFTER "
	    "DELETE ON herald.jobs DEFERRABLE INITIALLY DEFERRED "
	    "FOR EACH ROW EXECUTE FUNCTION record_commit_setting()");
}

static void
test_batch_claim_alone_skips_flush(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int			 n;

	record_commit_settings(db->conn);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);

	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 10, 60000,
	    false, &jobs, &error);

	assert_int_equal(n, 1);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(setting, "
	    "',') FROM commit_settings WHERE tbl = 'leases'"), "off");
	/* The setting ended with the claim's transaction. */
	dbtest_assert_text(dbtest_text(db->conn, "SELECT "
	    "current_setting('synchronous_commit')"), "on");
	hd_jobs_free(jobs, n);
}

static void
test_batch_completion_waits_for_flush(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs, *more;
	const struct hd_job	*done[2];
	bool			 completed[2];
	int			 n;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q') "
	    "FROM generate_series(1, 3)");
	assert_int_equal(hd_batch_prepare(db->conn, &error), 0);
	n = hd_batch_cycle(db->conn, NULL, 0, NULL, "q", "w", 2, 60000,
	    false, &jobs, &error);
	assert_int_equal(n, 2);
	record_commit_settings(db->conn);
	done[0] = &jobs[0];
	done[1] = &jobs[1];

	/* A completion alone, then a completion with a claim. */
	n = hd_batch_cycle(db->conn, done, 1, completed, "q", "w", 0, 60000,
	    false, &more, &error);
	assert_int_equal(n, 0);
	assert_true(completed[0]);
	n = hd_batch_cycle(db->conn, done + 1, 1, completed + 1, "q", "w", 10,
	    60000, false, &more, &error);

	assert_int_equal(n, 1);
	assert_true(completed[1]);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(setting, "
	    "',') FROM commit_settings WHERE tbl = 'jobs'"), "on,on");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(setting, "
	    "',') FROM commit_settings WHERE tbl = 'leases'"), "on");
	hd_jobs_free(jobs, 2);
	hd_jobs_free(more, n);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_claims_in_order,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_completes_and_claims, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_failure_changes_nothing, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_claim_returns_next_due, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_next_due_counts_from_claim, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_batch_wait_begin_and_end,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_lease_expiry_takes_back_rest, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_claim_alone_skips_flush, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_completion_waits_for_flush, dbtest_setup,
		    dbtest_teardown),
	};

	dbtest_init("batch");
	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
