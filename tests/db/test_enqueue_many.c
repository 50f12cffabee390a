/*
 * test_enqueue_many.c: bulk enqueue, with and without unique keys,
 * wake-ups only for waiting workers, and batched completion.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald.h"
#include "db.h"
#include "dbtest.h"

#define MANY_KEYS_HINT "Use task, queue, payload, priority, run_at_us " \
	"(Unix time in microseconds) or max_attempts."
#define MANY_RUN_AT_HINT "Use Unix time in microseconds from 0 to " \
	"253402300799999999 (9999-12-31 23:59:59.999999+00), or leave it " \
	"out for now."

/*
 * Count the notifications on channel for queue that conn got, and drop
 * those of other channels.
 */
static int
channel_notifications(PGconn *conn, const char *channel, const char *queue)
{
	PGnotify	*n;
	int		 count = 0;

	assert_int_equal(PQconsumeInput(conn), 1);
	while ((n = PQnotifies(conn)) != NULL) {
		if (strcmp(n->relname, channel) == 0 &&
		    strcmp(n->extra, queue) == 0)
			count++;
		PQfreemem(n);
	}
	return count;
}

/* Count the notifications on channel herald for queue that conn got. */
static int
notifications(PGconn *conn, const char *queue)
{
	return channel_notifications(conn, "herald", queue);
}

/*
 * Register worker w1 of queue q and mark it waiting on conn, which holds
 * the queue's lock from then on, as a waiting worker's connection does.
 */
static void
add_waiter(PGconn *conn)
{
	dbtest_exec(conn, "INSERT INTO herald.processes (id, kind, host, pid, "
	    "queue) VALUES ('w1', 'worker', 'h', 1, 'q')");
	assert_int_equal(dbtest_int(conn,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
}

static void
test_enqueue_many_keeps_order(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[3];
	struct herald_error	 error;
	int64_t			 ids[3];
	char			*text;

	memset(jobs, 0, sizeof jobs);
	jobs[0].task = "first";
	jobs[1].task = "second";
	jobs[1].payload = "{\"n\": 2}";
	jobs[1].options.queue = "mail";
	jobs[1].options.priority = -5;
	jobs[1].options.max_attempts = 3;
	jobs[2].task = "third";
	jobs[2].options.run_at_us = INT64_C(1900000000123456);

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 3, ids, &error),
	    0);

	assert_true(ids[0] < ids[1]);
	assert_true(ids[1] < ids[2]);
	text = dbtest_text(db->conn, "SELECT task || '/' || queue || '/' || "
	    "payload::text || '/' || priority || '/' || max_attempts "
	    "FROM herald.jobs WHERE id = %lld", (long long)ids[1]);
	assert_string_equal(text, "second/mail/{\"n\": 2}/-5/3");
	free(text);
	assert_int_equal(dbtest_int(db->conn, "SELECT (extract(epoch FROM "
	    "run_at) * 1000000)::bigint FROM herald.jobs WHERE id = %lld",
	    (long long)ids[2]), INT64_C(1900000000123456));
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE id = %lld AND task = 'first' AND queue = "
	    "'default' AND max_attempts = 10", (long long)ids[0]), 1);
}

static void
test_enqueue_many_bad_job_adds_none(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[3];
	struct herald_error	 error;

	memset(jobs, 0, sizeof jobs);
	jobs[0].task = "ok";
	jobs[1].task = "ok";
	jobs[2].task = "ok";
	jobs[2].options.queue = "bad queue";

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 3, NULL, &error),
	    -1);

	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "job 3: "));
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_enqueue_many_sql_check_names_job(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;

	res = PQexec(db->conn, "SELECT herald.enqueue_many('[{\"task\": "
	    "\"a\"}, {\"task\": \"b\", \"priority\": 40000}]')");

	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "22023");
	assert_non_null(strstr(PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY), "job 2: priority 40000"));
	PQclear(res);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/*
 * Bad calls of herald.enqueue_many(): the keys and run_at_us of a job
 * are checked before its columns.
 */
static const struct {
	const char	*jobs;
	const char	*message;
	const char	*hint;
} bad_many[] = {
	{ "[{\"task\": \"send\", \"queue\": \"mail\", "
	    "\"run_at\": \"2030-01-01T00:00:00Z\", \"bogus\": 1}]",
	    "job 1: unrecognized key \"bogus\"", MANY_KEYS_HINT },
	{ "[{\"task\": \"a\"}, {\"task\": \"b\", "
	    "\"run_at\": \"2030-01-01T00:00:00Z\"}]",
	    "job 2: unrecognized key \"run_at\"", MANY_KEYS_HINT },
	{ "[{\"task\": \"a\"}, 3]", "job 2: must be a JSON object, not number",
	    NULL },
	{ "[{\"task\": \"a\", \"run_at_us\": -1}]",
	    "job 1: run_at_us -1 is out of range", MANY_RUN_AT_HINT },
	{ "[{\"task\": \"a\"}, {\"task\": \"b\", "
	    "\"run_at_us\": 253402300800000000}]",
	    "job 2: run_at_us 253402300800000000 is out of range",
	    MANY_RUN_AT_HINT },
	{ "[{\"task\": \"a\", \"run_at_us\": 9000000000000000000}]",
	    "job 1: run_at_us 9000000000000000000 is out of range",
	    MANY_RUN_AT_HINT },
	{ "[{\"task\": \"a b\", \"run_at_us\": -1}]",
	    "job 1: invalid task name \"a b\"", NULL },
};

static void
test_enqueue_many_sql_rejects_bad_key(void **state)
{
	struct dbtest	*db = *state;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < sizeof bad_many / sizeof bad_many[0]; i++) {
		snprintf(sql, sizeof sql, "SELECT herald.enqueue_many('%s')",
		    bad_many[i].jobs);
		dbtest_assert_invalid(db->conn, sql, bad_many[i].message,
		    bad_many[i].hint);
	}
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/* run_at_us from 0 to the end of 9999 is accepted. */
static void
test_enqueue_many_sql_run_at_edges(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue_many('["
	    "{\"task\": \"a\", \"run_at_us\": 0},"
	    " {\"task\": \"b\", \"run_at_us\": 253402300799999999}]')");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'a'"
	    " AND run_at = '1970-01-01 00:00:00+00'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'b'"
	    " AND run_at = '9999-12-31 23:59:59.999999+00'"), 1);
}

/* A bad call of an enqueue function and the error that it must raise. */
struct bad_call {
	const char	*args;
	const char	*message;
};

/*
 * Call function with the arguments of each case, expect each call to fail
 * with its message and SQLSTATE 22023, and expect no job in the table.
 */
static void
expect_rejected(PGconn *conn, const char *function,
    const struct bad_call *cases, size_t ncases)
{
	PGresult	*res;
	const char	*message;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < ncases; i++) {
		snprintf(sql, sizeof sql, "SELECT %s(%s)", function,
		    cases[i].args);
		res = PQexec(conn, sql);

		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("\"%s\" succeeded", sql);
		message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (strstr(message, cases[i].message) == NULL)
			fail_msg("\"%s\" failed with \"%s\", expected \"%s\"",
			    sql, message, cases[i].message);
		assert_string_equal(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE), "22023");
		PQclear(res);
	}
	assert_int_equal(dbtest_int(conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/* Bad calls of herald.enqueue_arrays(). */
static const struct bad_call bad_arrays[] = {
	{ "ARRAY['a', 'b c']", "job 2: invalid task name \"b c\"" },
	{ "ARRAY['a', NULL]", "job 2: invalid task name \"<NULL>\"" },
	{ "ARRAY['a', repeat('t', 64)]", "job 2: invalid task name" },
	{ "ARRAY['-a']", "job 1: invalid task name \"-a\"" },
	{ "ARRAY['a', 'b'], ARRAY['q', 'q/']",
	    "job 2: invalid queue name \"q/\"" },
	{ "ARRAY['a'], ARRAY[repeat('q', 64)]", "job 1: invalid queue name" },
	{ "ARRAY['a', 'b'], NULL, ARRAY['{}', '3']::jsonb[]",
	    "job 2: payload must be a JSON object or array" },
	{ "ARRAY['a', 'b'], NULL, NULL, ARRAY[0, 40000]",
	    "job 2: priority 40000 is out of range" },
	{ "ARRAY['a', 'b'], NULL, NULL, NULL, NULL, ARRAY[10, 0]",
	    "job 2: max_attempts 0 is out of range" },
	{ "ARRAY['a', 'b'], NULL, NULL, NULL,"
	    " ARRAY[now(), 'infinity']::timestamptz[]",
	    "job 2: run_at infinity is out of range" },
	{ "ARRAY['a'], NULL, NULL, NULL,"
	    " ARRAY['-infinity']::timestamptz[]",
	    "job 1: run_at -infinity is out of range" },
	{ "ARRAY['a', 'b'], NULL, NULL, NULL,"
	    " ARRAY[NULL, '1900-01-01Z']::timestamptz[], ARRAY[10, 0]",
	    "job 2: run_at 1900-01-01 00:00:00+00 is out of range" },
	{ "ARRAY['a', 'b'], ARRAY['q']",
	    "job arrays must have as many elements as the task array (2)" },
	{ "ARRAY['a'], NULL, NULL, NULL, ARRAY[now(), now()]",
	    "job arrays must have as many elements as the task array (1)" },
	{ "NULL", "jobs must have a task array" },
};

static void
test_enqueue_arrays_rejects_bad_job(void **state)
{
	struct dbtest	*db = *state;

	expect_rejected(db->conn, "herald.enqueue_arrays", bad_arrays,
	    sizeof bad_arrays / sizeof bad_arrays[0]);
}

static void
test_enqueue_arrays_fills_defaults(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "CREATE TEMP TABLE ids AS SELECT "
	    "herald.enqueue_arrays(ARRAY['a', 'b', '%s']) AS ids",
	    "t23456789012345678901234567890123456789012345678901234567890123");

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs j, ids WHERE j.id = ANY (ids.ids) AND j.queue = "
	    "'default' AND j.payload = '{}' AND j.priority = 0 AND "
	    "j.max_attempts = 10 AND j.run_at <= now()"), 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs j, ids WHERE j.id = ids.ids[2] AND j.task = 'b'"), 1);

	dbtest_exec(db->conn, "DELETE FROM herald.jobs");
	dbtest_exec(db->conn, "SELECT herald.enqueue_arrays(ARRAY['a', 'b'], "
	    "ARRAY[NULL, 'q'], ARRAY[NULL, '[1]']::jsonb[], ARRAY[NULL, 7], "
	    "ARRAY[NULL, '2100-01-01Z']::timestamptz[], ARRAY[NULL, 2])");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 'a' AND queue = 'default' AND "
	    "payload = '{}' AND priority = 0 AND max_attempts = 10"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 'b' AND queue = 'q' AND payload = "
	    "'[1]' AND priority = 7 AND max_attempts = 2 AND run_at = "
	    "'2100-01-01Z'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT cardinality("
	    "herald.enqueue_arrays('{}'))"), 0);
}

/* Bad calls of herald.enqueue_batch(). */
static const struct bad_call bad_batches[] = {
	{ "2, ARRAY['a', 'b c']", "job 2: invalid task name \"b c\"" },
	{ "2, ARRAY['-a']", "job 1: invalid task name \"-a\"" },
	{ "2, ARRAY[NULL]::text[]", "job 1: invalid task name \"<NULL>\"" },
	{ "3, ARRAY['a'], ARRAY['q/']", "job 1: invalid queue name \"q/\"" },
	{ "2, ARRAY['a'], ARRAY['q', 'q/']",
	    "job 2: invalid queue name \"q/\"" },
	{ "2, ARRAY['a'], NULL, ARRAY['3']::jsonb[]",
	    "job 1: payload must be a JSON object or array" },
	{ "2, ARRAY['a'], NULL, NULL, ARRAY[40000]",
	    "job 1: priority 40000 is out of range" },
	{ "2, ARRAY['a'], NULL, NULL, NULL, NULL, ARRAY[0]",
	    "job 1: max_attempts 0 is out of range" },
	{ "2, ARRAY['a'], NULL, NULL, NULL,"
	    " ARRAY['infinity']::timestamptz[]",
	    "job 1: run_at infinity is out of range" },
	{ "2, ARRAY['a'], NULL, NULL, NULL,"
	    " ARRAY[now(), '20000-01-01Z']::timestamptz[]",
	    "job 2: run_at 20000-01-01 00:00:00+00 is out of range" },
	{ "3, ARRAY['a', 'b']",
	    "job arrays must have one element or as many as there are jobs (3)" },
	{ "1, ARRAY['a'], NULL, NULL, NULL, ARRAY[now(), now()]",
	    "job arrays must have one element or as many as there are jobs (1)" },
	{ "-1, ARRAY['a']", "job count -1 is out of range" },
	{ "NULL, ARRAY['a']", "job count <NULL> is out of range" },
	{ "2, NULL", "jobs must have a task array" },
};

static void
test_enqueue_batch_rejects_bad_job(void **state)
{
	struct dbtest	*db = *state;

	expect_rejected(db->conn, "herald.enqueue_batch", bad_batches,
	    sizeof bad_batches / sizeof bad_batches[0]);
}

/* An array of one element gives its value to every job. */
static void
test_enqueue_batch_spreads_one_element(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "CREATE TEMP TABLE ids AS SELECT "
	    "herald.enqueue_batch(3, ARRAY['t'], NULL, "
	    "ARRAY['{\"n\": 1}', '{\"n\": 2}', '{\"n\": 3}']::jsonb[], "
	    "ARRAY[5], ARRAY['2100-01-01Z']::timestamptz[], NULL) AS ids");

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs j, ids WHERE j.id = ANY (ids.ids) AND j.task = 't' "
	    "AND j.queue = 'default' AND j.priority = 5 AND j.run_at = "
	    "'2100-01-01Z' AND j.max_attempts = 10"), 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs j, ids, generate_series(1, 3) i WHERE j.id = "
	    "ids.ids[i] AND (j.payload->>'n')::int = i"), 3);

	/* Every array of one element: still as many jobs as the count. */
	dbtest_exec(db->conn, "DELETE FROM herald.jobs");
	assert_int_equal(dbtest_int(db->conn, "SELECT cardinality("
	    "herald.enqueue_batch(4, ARRAY['t'], ARRAY['q'], "
	    "ARRAY['[1]']::jsonb[], ARRAY[1], NULL, ARRAY[2]))"), 4);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 't' AND queue = 'q' AND payload = "
	    "'[1]' AND priority = 1 AND max_attempts = 2"), 4);
	assert_int_equal(dbtest_int(db->conn, "SELECT cardinality("
	    "herald.enqueue_batch(0, ARRAY['t']))"), 0);
}

/* Jobs that are all alike are sent as one value per column. */
static void
test_enqueue_many_alike_jobs(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[5];
	struct herald_error	 error;
	int64_t			 ids[5];
	int			 i;

	memset(jobs, 0, sizeof jobs);
	for (i = 0; i < 5; i++) {
		jobs[i].task = "mail";
		jobs[i].payload = "{\"to\": \"a\"}";
		jobs[i].options.queue = "q";
		jobs[i].options.priority = 3;
		jobs[i].options.run_at_us = INT64_C(4102444800000000);
	}
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 5, ids, &error),
	    0);
	for (i = 1; i < 5; i++)
		assert_true(ids[i] > ids[i - 1]);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE id BETWEEN %lld AND %lld AND task = 'mail' "
	    "AND queue = 'q' AND payload->>'to' = 'a' AND priority = 3 AND "
	    "run_at = '2100-01-01Z'", (long long)ids[0], (long long)ids[4]),
	    5);

	/* One job unlike the others in one column only. */
	jobs[3].options.priority = -2;
	jobs[4].payload = NULL;
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 5, ids, &error),
	    0);
	assert_int_equal(dbtest_int(db->conn, "SELECT priority FROM "
	    "herald.jobs WHERE id = %lld", (long long)ids[3]), -2);
	assert_int_equal(dbtest_int(db->conn, "SELECT priority FROM "
	    "herald.jobs WHERE id = %lld", (long long)ids[2]), 3);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload FROM "
	    "herald.jobs WHERE id = %lld", (long long)ids[4]), "{}");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload->>'to' "
	    "FROM herald.jobs WHERE id = %lld", (long long)ids[0]), "a");
}

static void
test_enqueue_many_payload_round_trip(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[2];
	struct herald_error	 error;
	int64_t			 ids[2];

	memset(jobs, 0, sizeof jobs);
	jobs[0].task = "t";
	jobs[0].payload = "{\"name\": \"Zo\xc3\xab \\\"q\\\" \\\\ "
	    "\\u00e9\", \"list\": [1, 2.5, null]}";
	jobs[1].task = "t";
	jobs[1].payload = "[]";

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, ids, &error),
	    0);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload->>'name' "
	    "FROM herald.jobs WHERE id = %lld", (long long)ids[0]),
	    "Zo\xc3\xab \"q\" \\ \xc3\xa9");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload->'list' "
	    "FROM herald.jobs WHERE id = %lld", (long long)ids[0]),
	    "[1, 2.5, null]");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT payload "
	    "FROM herald.jobs WHERE id = %lld", (long long)ids[1]), "[]");
}

static void
test_enqueue_many_later_stays_silent(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[2];
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);

	dbtest_exec(listener, "LISTEN herald");
	add_waiter(listener);
	memset(jobs, 0, sizeof jobs);
	jobs[0].task = jobs[1].task = "t";
	jobs[0].options.queue = jobs[1].options.queue = "q";
	jobs[0].options.run_at_us = jobs[1].options.run_at_us =
	    INT64_C(4102444800000000);

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 0);

	/* One job due now wakes the queue, once. */
	jobs[1].options.run_at_us = 0;
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);
	PQfinish(listener);
}

static void
test_enqueue_many_none_is_noop(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	assert_int_equal(herald_enqueue_many(db->conn, NULL, 0, NULL, &error),
	    0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_enqueue_silent_without_waiter(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[2];
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);

	dbtest_exec(listener, "LISTEN herald");
	memset(jobs, 0, sizeof jobs);
	jobs[0].task = jobs[1].task = "t";
	jobs[0].options.queue = jobs[1].options.queue = "q";

	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");

	assert_int_equal(notifications(listener, "q"), 0);
	PQfinish(listener);
}

static void
test_enqueue_wakes_waiter_once(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job	 jobs[2];
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);

	dbtest_exec(listener, "LISTEN herald");
	add_waiter(listener);
	memset(jobs, 0, sizeof jobs);
	jobs[0].task = jobs[1].task = "t";
	jobs[0].options.queue = jobs[1].options.queue = "q";

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	dbtest_exec(db->conn, "BEGIN");
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(db->conn, "COMMIT");
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	dbtest_exec(listener, "SELECT herald.wait_end('w1')");
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 0);
	PQfinish(listener);
}

static void
test_wait_begin_fails_during_enqueue(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*worker = dbtest_connect(db);

	dbtest_exec(db->conn, "INSERT INTO herald.processes (id, kind, host, "
	    "pid, queue) VALUES ('w1', 'worker', 'h', 1, 'q')");
	dbtest_exec(db->conn, "BEGIN");
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);

	/* The producer has not committed: the worker must look again. */
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 0);
	dbtest_exec(db->conn, "COMMIT");
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	assert_int_equal(dbtest_int(worker,
	    "SELECT count(*) FROM herald.waiters WHERE queue = 'q'"), 1);
	PQfinish(worker);
}

/* Register worker id of queue q. */
static void
add_process(PGconn *conn, const char *id)
{
	dbtest_exec(conn, "INSERT INTO herald.processes (id, kind, host, "
	    "pid, queue) VALUES ('%s', 'worker', 'h', 1, 'q')", id);
}

/* Count the advisory locks that the session of conn holds. */
static int64_t
advisory_locks(PGconn *conn)
{
	return dbtest_int(conn, "SELECT count(*) FROM pg_locks"
	    " WHERE locktype = 'advisory' AND pid = pg_backend_pid()");
}

/*
 * One waiting worker of a queue holds its lock; another finds it taken.
 * When the holder stops waiting it notifies channel herald_handover,
 * not herald, on which producers wake the holder, and the other takes
 * the lock over.
 */
static void
test_wait_lock_passes_to_other_waiter(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*a = dbtest_connect(db);
	PGconn			*b = dbtest_connect(db);

	add_process(db->conn, "w1");
	add_process(db->conn, "w2");
	dbtest_exec(b, "LISTEN herald; LISTEN herald_handover");
	assert_int_equal(dbtest_int(a,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	assert_int_equal(dbtest_int(b,
	    "SELECT herald.wait_begin('w2', 'q')::int"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.waiters WHERE queue = 'q'"), 2);

	/* The holder's lock wakes every listener, b included. */
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(b, "SELECT 1");
	assert_int_equal(notifications(b, "q"), 1);

	dbtest_exec(a, "SELECT herald.wait_end('w1')");
	dbtest_exec(b, "SELECT 1");
	assert_int_equal(notifications(b, "q"), 0);
	dbtest_exec(a, "SELECT herald.wait_begin('w1', 'q')");
	dbtest_exec(a, "SELECT herald.wait_end('w1')");
	dbtest_exec(b, "SELECT 1");
	assert_int_equal(channel_notifications(b, "herald_handover", "q"), 1);
	assert_int_equal(advisory_locks(a), 0);
	assert_int_equal(dbtest_int(b,
	    "SELECT herald.wait_begin('w2', 'q')::int"), 1);
	PQfinish(a);
	PQfinish(b);
}

/* wait_end drops the lock however often wait_begin took it. */
static void
test_wait_end_drops_lock_taken_twice(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*worker = dbtest_connect(db);

	add_process(db->conn, "w1");
	dbtest_exec(db->conn, "LISTEN herald");
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	dbtest_exec(worker, "SELECT herald.wait_end('w1')");
	assert_int_equal(advisory_locks(worker), 0);

	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(db->conn, "SELECT 1");
	assert_int_equal(notifications(db->conn, "q"), 0);
	PQfinish(worker);
}

/*
 * A wait_begin that fails leaves no lock behind.  Such a lock would make
 * producers notify the queue until the connection ends.
 */
static void
test_wait_begin_error_leaves_no_lock(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;

	/* No row in herald.processes: the insert into herald.waiters fails. */
	res = PQexec(db->conn, "SELECT herald.wait_begin('nobody', 'q')");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	PQclear(res);
	assert_int_equal(advisory_locks(db->conn), 0);
}

/*
 * A producer at REPEATABLE READ whose snapshot predates the waiting
 * worker still wakes it, through herald_enqueue and herald.enqueue().
 */
static void
test_enqueue_repeatable_read_wakes_waiter(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);

	dbtest_exec(listener, "LISTEN herald");
	dbtest_exec(db->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	dbtest_exec(db->conn, "SELECT count(*) FROM herald.waiters");
	add_waiter(listener);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(db->conn, "COMMIT");
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	dbtest_exec(db->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	dbtest_exec(db->conn, "SELECT count(*) FROM herald.waiters");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "COMMIT");
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);
	PQfinish(listener);
}

/*
 * A job due within a minute wakes a waiting worker, through herald_enqueue
 * and herald.enqueue(), so that its claim learns when the job is due.  A
 * job due later does not.
 */
static void
test_enqueue_soon_wakes_waiter(void **state)
{
	struct dbtest		*db = *state;
	struct herald_job_options options = { .queue = "q" };
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);
	int64_t			 now_us;

	dbtest_exec(listener, "LISTEN herald");
	add_waiter(listener);
	now_us = dbtest_int(db->conn, "SELECT (extract(epoch FROM now())"
	    " * 1000000)::bigint");

	options.run_at_us = now_us + INT64_C(2000000);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	options.run_at_us = now_us + INT64_C(3600000000);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, NULL,
	    &error), 0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 0);

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '2 seconds')");
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '1 hour')");
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.inbox WHERE queue = 'q'"), 4);
	PQfinish(listener);
}

/* Enqueue one job of task t with unique key key through herald_enqueue. */
static int64_t
enqueue_one_unique(PGconn *conn, const char *key)
{
	struct herald_job_options	options = { 0 };
	struct herald_error		error;
	int64_t				id = -1;

	options.unique_key = key;
	if (herald_enqueue(conn, "t", NULL, &options, &id, &error) == -1)
		fail_msg("herald_enqueue: %s", error.message);
	return id;
}

/* Fill jobs[0] .. jobs[n - 1] as jobs of task t with the keys given. */
static void
unique_jobs(struct herald_job *jobs, const char *const *keys, size_t n)
{
	size_t	i;

	memset(jobs, 0, n * sizeof *jobs);
	for (i = 0; i < n; i++) {
		jobs[i].task = "t";
		jobs[i].options.unique_key = keys[i];
	}
}

static void
test_enqueue_many_unique_held_key(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "k", NULL };
	struct herald_job	 jobs[2];
	struct herald_error	 error;
	int64_t			 holder, ids[2];

	holder = enqueue_one_unique(db->conn, "k");
	unique_jobs(jobs, keys, 2);

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, ids, &error),
	    0);

	assert_int_equal(ids[0], holder);
	assert_true(ids[1] > holder);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 2);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT job_id FROM herald.unique_keys WHERE key = 'k'"), holder);
}

/* Two jobs of one batch with one key: the later gets the first's id. */
static void
test_enqueue_many_unique_key_twice(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "a", "b", "a", "a", "b" };
	struct herald_job	 jobs[5];
	struct herald_error	 error;
	int64_t			 ids[5];

	unique_jobs(jobs, keys, 5);

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 5, ids, &error),
	    0);

	assert_true(ids[0] < ids[1]);
	assert_int_equal(ids[2], ids[0]);
	assert_int_equal(ids[3], ids[0]);
	assert_int_equal(ids[4], ids[1]);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 2);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT job_id FROM herald.unique_keys WHERE key = 'a'"), ids[0]);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT job_id FROM herald.unique_keys WHERE key = 'b'"), ids[1]);
}

/* Jobs with and without keys keep their order and their own columns. */
static void
test_enqueue_many_unique_mixed(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { NULL, "a", NULL, "b", "holder" };
	struct herald_job	 jobs[5];
	struct herald_error	 error;
	int64_t			 holder, ids[5];
	int			 i;

	holder = enqueue_one_unique(db->conn, "holder");
	unique_jobs(jobs, keys, 5);
	for (i = 0; i < 5; i++)
		jobs[i].options.priority = i;
	jobs[1].options.queue = "mail";
	jobs[1].payload = "{\"n\": 1}";
	jobs[3].options.unique_for_ms = 3600000;
	jobs[3].options.unique_states = HERALD_UNIQUE_RUNNING;

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 5, ids, &error),
	    0);

	for (i = 1; i < 4; i++)
		assert_true(ids[i] > ids[i - 1]);
	assert_int_equal(ids[4], holder);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 5);
	for (i = 0; i < 4; i++)
		assert_int_equal(dbtest_int(db->conn, "SELECT priority FROM "
		    "herald.jobs WHERE id = %lld", (long long)ids[i]), i);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT queue || ' ' || "
	    "payload::text FROM herald.jobs WHERE id = %lld",
	    (long long)ids[1]), "mail {\"n\": 1}");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT states::text || ' ' "
	    "|| (until > now() + interval '59 minutes') FROM "
	    "herald.unique_keys WHERE key = 'b' AND job_id = %lld",
	    (long long)ids[3]), "{running} true");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT states::text || ' ' "
	    "|| (until IS NULL) FROM herald.unique_keys WHERE key = 'a' AND "
	    "job_id = %lld", (long long)ids[1]), "{queued,running} true");
}

/*
 * A job that holds its key only while running does not hold it while
 * queued, so herald_enqueue() called for each job in turn adds the next
 * job with the key; the batch must do the same.
 */
static void
test_enqueue_many_unique_running_only(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "r", "r", "r", "r" };
	struct herald_job	 jobs[4];
	struct herald_error	 error;
	int64_t			 ids[4];

	unique_jobs(jobs, keys, 4);
	jobs[0].options.unique_states = HERALD_UNIQUE_RUNNING;
	jobs[1].options.unique_states = HERALD_UNIQUE_RUNNING;
	jobs[2].options.unique_states = HERALD_UNIQUE_QUEUED;

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 4, ids, &error),
	    0);

	assert_true(ids[0] < ids[1]);
	assert_true(ids[1] < ids[2]);
	assert_int_equal(ids[3], ids[2]);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 3);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT job_id FROM herald.unique_keys WHERE key = 'r'"), ids[2]);
	dbtest_assert_text(dbtest_text(db->conn, "SELECT states::text FROM "
	    "herald.unique_keys WHERE key = 'r'"), "{queued}");

	/* A period holds the key whatever the states. */
	jobs[0].options.unique_key = jobs[1].options.unique_key = "p";
	jobs[0].options.unique_for_ms = 60000;
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, ids, &error),
	    0);
	assert_int_equal(ids[1], ids[0]);
}

/* Each bad unique option rejects the whole batch and adds nothing. */
static void
test_enqueue_many_unique_bad_adds_none(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "a", NULL, "c" };
	struct herald_job	 jobs[3];
	struct herald_error	 error;
	char			 long_key[HERALD_UNIQUE_KEY_MAX + 2];
	int			 i;

	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	for (i = 0; i < 4; i++) {
		unique_jobs(jobs, keys, 3);
		if (i == 0)
			jobs[2].options.unique_key = "";
		else if (i == 1)
			jobs[2].options.unique_key = long_key;
		else if (i == 2)
			jobs[2].options.unique_for_ms = -1;
		else
			jobs[2].options.unique_states = 0x4;

		assert_int_equal(herald_enqueue_many(db->conn, jobs, 3, NULL,
		    &error), -1);

		print_message("case %d: %s\n", i, error.message);
		assert_int_equal(error.code, HERALD_EINVAL);
		assert_non_null(strstr(error.message, "job 3: unique"));
	}
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.unique_keys"), 0);
}

/* A key rejected by the server takes back the keys and jobs before it. */
static void
test_enqueue_batch_unique_bad_adds_none(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;

	res = PQexec(db->conn, "SELECT herald.enqueue_batch_unique(3, "
	    "ARRAY['t'], NULL, NULL, NULL, NULL, NULL, ARRAY['a', NULL, "
	    "repeat('k', 256)])");

	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "22023");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
	    "job 3: unique key must have 1 to 255 characters");
	PQclear(res);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.unique_keys"), 0);
}

/* Bad calls of herald.enqueue_batch_unique() and the errors they raise. */
static const struct {
	const char	*args;
	const char	*message;
} bad_unique_batches[] = {
	{ "2, ARRAY['a', 'b c'], NULL, NULL, NULL, NULL, NULL, ARRAY['k']",
	    "job 2: invalid task name \"b c\"" },
	{ "2, ARRAY['a'], NULL, NULL, ARRAY[0, 40000], NULL, NULL, "
	    "ARRAY['k', 'l']", "job 2: priority 40000 is out of range" },
	{ "2, ARRAY['a'], NULL, NULL, NULL, "
	    "ARRAY[now(), '-infinity']::timestamptz[], NULL, ARRAY['k']",
	    "job 2: run_at -infinity is out of range" },
	{ "2, ARRAY['a'], NULL, NULL, NULL, NULL, NULL, ARRAY['k', '']",
	    "job 2: unique key must have 1 to 255 characters" },
	{ "2, ARRAY['a'], NULL, NULL, NULL, NULL, NULL, ARRAY['k', 'l'], "
	    "ARRAY[0, -5]", "job 2: unique period -5 ms is negative" },
	{ "2, ARRAY['a'], NULL, NULL, NULL, NULL, NULL, ARRAY['k'], NULL, "
	    "ARRAY['queued,done']",
	    "job 1: unique states \"queued,done\" must be queued, running or both" },
	{ "1, ARRAY['a'], NULL, NULL, NULL, NULL, NULL, ARRAY['k'], NULL, "
	    "ARRAY['']",
	    "job 1: unique states \"\" must be queued, running or both" },
	{ "3, ARRAY['a'], NULL, NULL, NULL, NULL, NULL, ARRAY['k', 'l']",
	    "job arrays must have one element or as many as there are jobs (3)" },
	{ "-1, ARRAY['a']", "job count -1 is out of range" },
	{ "2, NULL", "jobs must have a task array" },
};

static void
test_enqueue_batch_unique_rejects_bad_job(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;
	const char	*message;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < sizeof bad_unique_batches /
	    sizeof bad_unique_batches[0]; i++) {
		snprintf(sql, sizeof sql,
		    "SELECT herald.enqueue_batch_unique(%s)",
		    bad_unique_batches[i].args);
		res = PQexec(db->conn, sql);

		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("\"%s\" succeeded", sql);
		message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (strstr(message, bad_unique_batches[i].message) == NULL)
			fail_msg("\"%s\" failed with \"%s\", expected \"%s\"",
			    sql, message, bad_unique_batches[i].message);
		assert_string_equal(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE), "22023");
		PQclear(res);
	}
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/* A batch whose key a transaction holds waits for it, then gets its job. */
static void
test_enqueue_many_unique_waits_for_key(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*other = dbtest_connect(db);
	PGresult	*res;
	struct pollfd	 pfd;
	char		*expected;
	int64_t		 first;

	dbtest_exec(db->conn, "BEGIN");
	first = enqueue_one_unique(db->conn, "k");
	assert_int_equal(PQsendQuery(other, "SELECT "
	    "herald.enqueue_batch_unique(2, ARRAY['t'], NULL, NULL, NULL, "
	    "NULL, NULL, ARRAY['j', 'k'])"), 1);

	/* It blocks on the key's row: no result within 300 ms. */
	pfd.fd = PQsocket(other);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 300), 0);

	dbtest_exec(db->conn, "COMMIT");
	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	expected = dbtest_text(db->conn, "SELECT '{' || (SELECT job_id FROM "
	    "herald.unique_keys WHERE key = 'j') || ',%lld}'",
	    (long long)first);
	assert_string_equal(PQgetvalue(res, 0, 0), expected);
	free(expected);
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 2);
	PQfinish(other);
}

/* Only jobs that are added wake their queue, as herald_enqueue's do. */
static void
test_enqueue_many_unique_wakes_when_added(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "a", "b" };
	struct herald_job	 jobs[2];
	struct herald_error	 error;
	PGconn			*listener = dbtest_connect(db);

	dbtest_exec(listener, "LISTEN herald");
	add_waiter(listener);
	unique_jobs(jobs, keys, 2);
	jobs[0].options.queue = jobs[1].options.queue = "q";

	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 1);

	/* Both keys are held now: nothing is added or notified. */
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, NULL, &error),
	    0);
	dbtest_exec(listener, "SELECT 1");
	assert_int_equal(notifications(listener, "q"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 2);
	PQfinish(listener);
}

#define SAME_RUNS	60
#define SAME_JOBS	6

/*
 * Enqueue jobs one by one or as a batch in one transaction, and roll
 * back.  With held_a set, a job with key "a" is enqueued first, and ids[i]
 * is -1 where job i got that job's id.
 */
static void
enqueue_and_roll_back(PGconn *conn, const struct herald_job *jobs,
    bool held_a, bool batch, int64_t *ids)
{
	struct herald_error	error;
	int64_t			first = 0;
	size_t			i;

	dbtest_exec(conn, "BEGIN");
	if (held_a)
		first = enqueue_one_unique(conn, "a");
	if (batch) {
		if (herald_enqueue_many(conn, jobs, SAME_JOBS, ids,
		    &error) == -1)
			fail_msg("herald_enqueue_many: %s", error.message);
	} else {
		for (i = 0; i < SAME_JOBS; i++)
			if (herald_enqueue(conn, jobs[i].task, NULL,
			    &jobs[i].options, &ids[i], &error) == -1)
				fail_msg("herald_enqueue: %s", error.message);
	}
	dbtest_exec(conn, "ROLLBACK");
	for (i = 0; i < SAME_JOBS; i++)
		if (held_a && ids[i] == first)
			ids[i] = -1;
}

/*
 * In random batches of keys, states and periods, two jobs share an id
 * exactly when they do when herald_enqueue() enqueues the jobs one by
 * one, and a job gets the id of a job enqueued before exactly then too.
 */
static void
test_enqueue_many_unique_matches_single(void **state)
{
	struct dbtest		*db = *state;
	static const char	*const keys[] = { "a", "b", NULL };
	struct herald_job	 jobs[SAME_JOBS];
	int64_t			 single[SAME_JOBS], batch[SAME_JOBS];
	unsigned		 seed = 1;
	size_t			 i, j;
	int			 run;

	for (run = 0; run < SAME_RUNS; run++) {
		memset(jobs, 0, sizeof jobs);
		for (i = 0; i < SAME_JOBS; i++) {
			seed = seed * 1103515245 + 12345;
			jobs[i].task = "t";
			jobs[i].options.unique_key = keys[(seed >> 16) % 3];
			/* Without a key, the unique options must be 0. */
			if (jobs[i].options.unique_key == NULL)
				continue;
			jobs[i].options.unique_states = (seed >> 20) % 4;
			jobs[i].options.unique_for_ms =
			    (seed >> 24) % 4 == 0 ? 60000 : 0;
		}

		enqueue_and_roll_back(db->conn, jobs, run % 2 == 0, false,
		    single);
		enqueue_and_roll_back(db->conn, jobs, run % 2 == 0, true,
		    batch);

		for (i = 0; i < SAME_JOBS; i++) {
			assert_int_equal(batch[i] == -1, single[i] == -1);
			for (j = 0; j < i; j++)
				if ((batch[i] == batch[j]) !=
				    (single[i] == single[j]))
					fail_msg("run %d: jobs %zu and %zu",
					    run, j + 1, i + 1);
		}
	}
}

static void
test_complete_many_checks_tokens(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 a, b;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q') "
	    "FROM generate_series(1, 2)");
	dbtest_exec(db->conn, "CREATE TEMP TABLE c AS "
	    "SELECT id, lease_token FROM herald.claim('q', 'w', 2, 60000)");
	a = dbtest_int(db->conn, "SELECT min(id) FROM c");
	b = dbtest_int(db->conn, "SELECT max(id) FROM c");

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.complete_many(ARRAY[%lld, %lld], ARRAY[(SELECT "
	    "lease_token FROM c WHERE id = %lld), -1])", (long long)a,
	    (long long)b, (long long)a), 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE id = %lld", (long long)a), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE id = %lld AND state = 'running'",
	    (long long)b), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT sum(completed) FROM "
	    "herald.counters WHERE queue = 'q' AND task = 't'"), 1);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_sql_rejects_bad_key, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_sql_run_at_edges, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_many_keeps_order,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_bad_job_adds_none, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_sql_check_names_job, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_arrays_rejects_bad_job, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_arrays_fills_defaults, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_batch_rejects_bad_job, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_batch_spreads_one_element, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_many_alike_jobs,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_payload_round_trip, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_later_stays_silent, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_many_none_is_noop,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_silent_without_waiter, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_wakes_waiter_once,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_begin_fails_during_enqueue, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_lock_passes_to_other_waiter, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_end_drops_lock_taken_twice, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_begin_error_leaves_no_lock, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_repeatable_read_wakes_waiter, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_soon_wakes_waiter, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_matches_single, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_complete_many_checks_tokens, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_held_key, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_key_twice, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_mixed, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_running_only, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_bad_adds_none, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_batch_unique_bad_adds_none, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_batch_unique_rejects_bad_job, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_waits_for_key, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_many_unique_wakes_when_added, dbtest_setup,
		    dbtest_teardown),
	};

	dbtest_init("enqueue_many");
	return cmocka_run_group_tests_name("enqueue_many", tests, NULL, NULL);
}
