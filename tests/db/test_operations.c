/*
 * test_operations.c: the on-call controls against a real PostgreSQL:
 * bulk retry by filter, retry with an edited payload, retry now, the
 * queue-health signals, the vacuum blocker and retention.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "herald.h"
#include "store.h"
#include "util.h"

#include "dbtest.h"

/* Insert n dead jobs of task with ids from first, died ago_s seconds ago. */
static void
add_dead(PGconn *conn, int64_t first, int n, const char *task, int exit_code,
    const char *output, int ago_s)
{
	dbtest_exec(conn,
	    "INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,"
	    " attempt, max_attempts, created_at, died_at, reason, errors)"
	    " SELECT g, '%s', 'q', '{\"n\": 1}', 0, 3, 3, now(),"
	    "  now() - interval '%d seconds', 'exhausted',"
	    "  jsonb_build_array(jsonb_build_object('attempt', 3,"
	    "   'outcome', 'failed', 'exit_code', %d, 'output', '%s'))"
	    " FROM generate_series(%" PRId64 ", %" PRId64 ") g",
	    task, ago_s, exit_code, output, first, first + n - 1);
}

static void
test_bulk_retry_matches_dry_run(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_dead_filter	 filter = { .task = "mail", .grep = "SMTP",
				    .has_exit_status = true, .exit_status = 75,
				    .older_than_ms = 60000 };
	PGconn			*other;
	int64_t			 counted, retried;

	add_dead(db->conn, 1, 30, "mail", 75, "smtp timeout", 600);
	add_dead(db->conn, 101, 5, "mail", 1, "smtp timeout", 600);
	add_dead(db->conn, 201, 5, "mail", 75, "disk full", 600);
	add_dead(db->conn, 301, 5, "mail", 75, "smtp timeout", 5);
	add_dead(db->conn, 401, 5, "sms", 75, "smtp timeout", 600);
	other = dbtest_connect(db);

	dbtest_exec(db->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	counted = hd_dead_count(db->conn, &filter, &error);
	/* Matching jobs die while the operator reads the count. */
	add_dead(other, 1001, 20, "mail", 75, "smtp timeout", 600);
	retried = hd_dead_retry(db->conn, &filter, &error);
	dbtest_exec(db->conn, "COMMIT");

	assert_int_equal(counted, 30);
	assert_int_equal(retried, counted);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM herald.jobs"
	    " WHERE id BETWEEN 1 AND 30"), 30);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.dead_jobs WHERE id >= 1001"), 20);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.dead_jobs"), 20 + 20);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT filter"
	    " FROM herald.audit WHERE action = 'dead retry'"),
	    "older_than_ms=60000 exit_status=75 grep=SMTP");
	PQfinish(other);
}

static void
test_edited_payload_not_json_refused(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	add_dead(db->conn, 7, 1, "mail", 1, "boom", 10);

	assert_int_equal(hd_dead_retry_edited(db->conn, 7, "{\"n\": ",
	    HERALD_PAYLOAD_MAX, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(hd_dead_retry_edited(db->conn, 7, "42",
	    HERALD_PAYLOAD_MAX, &error), -1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.dead_jobs WHERE id = 7 AND payload = '{\"n\": 1}'"),
	    1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.audit"), 0);
}

static void
test_edited_payload_keeps_original(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	add_dead(db->conn, 8, 1, "mail", 1, "boom", 10);

	assert_int_equal(hd_dead_retry_edited(db->conn, 8, "{\"n\": 2}",
	    HERALD_PAYLOAD_MAX, &error), 1);
	assert_int_equal(hd_dead_retry_edited(db->conn, 9, "{}",
	    HERALD_PAYLOAD_MAX, &error), 0);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload::text"
	    " FROM herald.jobs WHERE id = 8"), "{\"n\": 2}");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT"
	    " jsonb_path_query_array(errors, '$[*].outcome')::text"
	    " FROM herald.jobs WHERE id = 8"),
	    "[\"failed\", \"edited\", \"retried\"]");
	/* Neither the edit nor the retry is an attempt of its own. */
	dbtest_assert_text(dbtest_text(db->conn, "SELECT"
	    " jsonb_path_query_array(errors, '$[*].attempt')::text"
	    " FROM herald.jobs WHERE id = 8"), "[3, 3, 3]");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT (errors->-2->"
	    "'payload')::text FROM herald.jobs WHERE id = 8"), "{\"n\": 1}");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.jobs j, herald.audit a WHERE j.id = 8"
	    " AND j.errors->-1->>'output' LIKE"
	    "  format('retried from the dead-letter queue by %%s (%%s@%%s',"
	    "  a.db_user, a.os_user, a.host) || '%%'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.audit WHERE action = 'dead retry edited'"
	    " AND ids = '{8}' AND os_user IS NOT NULL"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.jobs_redacted WHERE id = 8"
	    " AND errors::text LIKE '%%payload%%'"), 0);
}

static void
test_retry_now_moves_waiting_only(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	int64_t			 ids[3];

	ids[0] = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q',"
	    " run_at => now() + interval '1 hour')");
	ids[1] = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q')");
	ids[2] = 999999;
	dbtest_exec(db->conn, "UPDATE herald.jobs SET attempt = 2"
	    " WHERE id = %" PRId64, ids[0]);

	assert_int_equal(hd_job_retry_now(db->conn, ids, 3, &error), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.jobs WHERE id = %" PRId64 " AND run_at <= now()",
	    ids[0]), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT rows FROM herald.audit"
	    " WHERE action = 'job retry now'"), 1);
}

static void
test_oldest_claimable_ignores_scheduled(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'later',"
	    " run_at => now() + interval '1 day')");
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue, attempt,"
	    " run_at) VALUES ('t', 'later', 1, now() + interval '30 seconds'),"
	    " ('t', 'later', 1, now() + interval '4 minutes'),"
	    " ('t', 'now', 0, now() - interval '90 seconds')");

	assert_true(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.queue_health() WHERE queue = 'later'"
	    " AND oldest_ms IS NULL") == 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT retry_1m"
	    " FROM herald.queue_health() WHERE queue = 'later'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT retry_5m"
	    " FROM herald.queue_health() WHERE queue = 'later'"), 2);
	assert_true(dbtest_int(db->conn, "SELECT oldest_ms"
	    " FROM herald.queue_health() WHERE queue = 'now'") >= 90000);
}

static void
test_open_transaction_is_vacuum_blocker(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*holder;
	int		 pid;

	holder = dbtest_connect(db);
	dbtest_exec(holder, "SET application_name = 'held-open'");
	dbtest_exec(holder, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	dbtest_exec(holder, "SELECT count(*) FROM herald.jobs");
	pid = PQbackendPID(holder);

	assert_int_equal(dbtest_int(db->conn, "SELECT blocker_pid"
	    " FROM herald.database_health()"), pid);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT blocker_application"
	    " FROM herald.database_health()"), "held-open");
	assert_true(dbtest_int(db->conn, "SELECT blocker_age_ms"
	    " FROM herald.database_health()") >= 0);
	/* The age is the holder's transaction age, read just after it. */
	dbtest_assert_text(dbtest_text(db->conn, "SELECT abs(b.age_ms -"
	    " (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)"
	    "  ::bigint) < 1000"
	    " FROM herald.vacuum_blocker() b, pg_stat_activity a"
	    " WHERE a.pid = %d", pid), "t");

	/*
	 * The backend ends a moment after the connection closes, and other
	 * tests of the same server may hold snapshots of their own: wait for
	 * the holder to go, then check that it is no longer the blocker.
	 */
	PQfinish(holder);
	for (int i = 0; i < 500 && dbtest_int(db->conn, "SELECT count(*)"
	    " FROM pg_stat_activity WHERE pid = %d", pid) > 0; i++)
		usleep(10000);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.database_health()"
	    " WHERE blocker_pid IS DISTINCT FROM %d", pid), 1);
}

static void
test_retention_prunes_by_policy(void **state)
{
	struct dbtest	*db = *state;

	/* By age: 30 days kept, so only the 31-day-old rows go. */
	add_dead(db->conn, 1, 3, "mail", 1, "x", 31 * 86400);
	add_dead(db->conn, 11, 3, "mail", 1, "x", 29 * 86400);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.prune_dead("
	    "30::bigint * 86400000, 500)"), 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT min(id)"
	    " FROM herald.dead_jobs"), 11);

	/* By count: the newest 4 of 8 stay, and batches stop at the limit. */
	add_dead(db->conn, 21, 5, "mail", 1, "x", 100);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.prune_dead_rows("
	    "4, 3)"), 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.prune_dead_rows("
	    "4, 3)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.prune_dead_rows("
	    "4, 3)"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.dead_jobs WHERE id BETWEEN 22 AND 25"), 4);

	/* Per-minute counters roll up into hours; hours past 30 days go. */
	dbtest_exec(db->conn, "INSERT INTO herald.counters (minute, queue,"
	    " task, completed) VALUES"
	    " (date_trunc('hour', now()) - interval '2 days', 'q', 't', 5),"
	    " (date_trunc('hour', now()) - interval '2 days'"
	    "  + interval '1 minute', 'q', 't', 7),"
	    " (date_trunc('minute', now()), 'q', 't', 1)");
	dbtest_exec(db->conn, "INSERT INTO herald.counters_hourly (hour, queue,"
	    " task, completed) VALUES (now() - interval '31 days', 'q', 't', 9)");
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.prune_counters("
	    "86400000, 500)"), 2);
	assert_int_equal(dbtest_int(db->conn, "SELECT completed"
	    " FROM herald.counters_hourly"
	    " WHERE hour = date_trunc('hour', now()) - interval '2 days'"), 12);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.counters"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald."
	    "prune_counters_hourly(30::bigint * 86400000, 500)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.counters_hourly"), 1);
}

static void
test_expired_leases_counted(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "WITH j AS (INSERT INTO herald.jobs (task, queue)"
	    " VALUES ('t', 'q') RETURNING id)"
	    " INSERT INTO herald.leases (token, owner, queue, deadline,"
	    "  attempted_at, job_ids, pending)"
	    " SELECT 1, 'w', 'q', now() - interval '1 second',"
	    "  now() - interval '1 minute', ARRAY[id], 1 FROM j");

	assert_int_equal(dbtest_int(db->conn, "SELECT herald.expire_leases(10)"),
	    1);
	assert_int_equal(dbtest_int(db->conn, "SELECT expired_1h"
	    " FROM herald.queue_health() WHERE queue = 'q'"), 1);
}

#define DBTEST(f) \
	cmocka_unit_test_setup_teardown(f, dbtest_setup, dbtest_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		DBTEST(test_bulk_retry_matches_dry_run),
		DBTEST(test_edited_payload_not_json_refused),
		DBTEST(test_edited_payload_keeps_original),
		DBTEST(test_retry_now_moves_waiting_only),
		DBTEST(test_oldest_claimable_ignores_scheduled),
		DBTEST(test_open_transaction_is_vacuum_blocker),
		DBTEST(test_retention_prunes_by_policy),
		DBTEST(test_expired_leases_counted),
	};

	dbtest_init("operations");
	return cmocka_run_group_tests_name("operations", tests, NULL, NULL);
}
