/*
 * test_enqueue.c: the checks, advisory lock and wake-up of the SQL
 * function herald.enqueue(), called directly, without the checks that
 * herald_enqueue() makes first, and the checks of herald.jobs itself.
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
#include "herald.h"

#define NAME_HINT "Use 1 to 63 characters from A-Z a-z 0-9 _ . : - " \
	"starting with a letter or digit."
#define PRIORITY_HINT "Use a whole number from -32768 to 32767."
#define ATTEMPTS_HINT "Use a whole number from 1 to 1000."
#define RUN_AT_HINT "Use a time from 1970-01-01 00:00:00+00 to " \
	"9999-12-31 23:59:59.999999+00, or NULL for now."
#define EVENT_MESSAGE "event_id and event_type are set by the relay"
#define EVENT_HINT "Pass NULL for both, or publish an event with a unit " \
	"of work."

/*
 * Invalid calls of herald.enqueue() with the message and hint they must
 * raise.  A call with several invalid arguments names the first one in
 * the order task, queue, payload, priority, run_at, max_attempts.
 */
static const struct {
	const char	*args;
	const char	*message;
	const char	*hint;
} bad_calls[] = {
	{ "NULL", "invalid task name \"<NULL>\"", NAME_HINT },
	{ "''", "invalid task name \"\"", NAME_HINT },
	{ "'b c'", "invalid task name \"b c\"", NAME_HINT },
	{ "'-a'", "invalid task name \"-a\"", NAME_HINT },
	{ "'_a'", "invalid task name \"_a\"", NAME_HINT },
	{ "'a/b'", "invalid task name \"a/b\"", NAME_HINT },
	{ "'caf\u00e9'", "invalid task name \"caf\u00e9\"", NAME_HINT },
	{ "E'a\\n'", "invalid task name \"a\n\"", NAME_HINT },
	{ "repeat('t', 64)", "invalid task name \"tttttttttttttttttttttttttt"
	    "tttttttttttttttttttttttttttttttttttttt\"", NAME_HINT },
	{ "repeat('t', 64), 'b c'", "invalid task name", NAME_HINT },
	{ "'t', NULL", "invalid queue name \"<NULL>\"", NAME_HINT },
	{ "'t', ''", "invalid queue name \"\"", NAME_HINT },
	{ "'t', 'q q'", "invalid queue name \"q q\"", NAME_HINT },
	{ "'t', ':q'", "invalid queue name \":q\"", NAME_HINT },
	{ "'t', repeat('q', 64)", "invalid queue name", NAME_HINT },
	{ "'t', 'q/', '3'", "invalid queue name \"q/\"", NAME_HINT },
	{ "'t', 'q', NULL", "payload must be a JSON object or array", NULL },
	{ "'t', 'q', '3'", "payload must be a JSON object or array", NULL },
	{ "'t', 'q', '\"s\"', 40000",
	    "payload must be a JSON object or array", NULL },
	{ "'t', 'q', '{}', 32768", "priority 32768 is out of range",
	    PRIORITY_HINT },
	{ "'t', 'q', '{}', -32769", "priority -32769 is out of range",
	    PRIORITY_HINT },
	{ "'t', 'q', '{}', NULL", "priority <NULL> is out of range",
	    PRIORITY_HINT },
	{ "'t', 'q', '{}', 40000, NULL, 0", "priority 40000 is out of range",
	    PRIORITY_HINT },
	{ "'t', 'q', '{}', 0, 'infinity'", "run_at infinity is out of range",
	    RUN_AT_HINT },
	{ "'t', 'q', '{}', 0, '-infinity'", "run_at -infinity is out of range",
	    RUN_AT_HINT },
	{ "'t', 'q', '{}', 0, '1900-01-01 00:00:00+00'",
	    "run_at 1900-01-01 00:00:00+00 is out of range", RUN_AT_HINT },
	{ "'t', 'q', '{}', 0, '1969-12-31 23:59:59.999999+00'",
	    "run_at 1969-12-31 23:59:59.999999+00 is out of range",
	    RUN_AT_HINT },
	{ "'t', 'q', '{}', 0, '10000-01-01 00:00:00+00'",
	    "run_at 10000-01-01 00:00:00+00 is out of range", RUN_AT_HINT },
	{ "'t', 'q', '{}', 40000, 'infinity'", "priority 40000 is out of range",
	    PRIORITY_HINT },
	{ "'t', 'q', '{}', 0, 'infinity', 0", "run_at infinity is out of range",
	    RUN_AT_HINT },
	{ "'t', 'q', '{}', 0, NULL, 0", "max_attempts 0 is out of range",
	    ATTEMPTS_HINT },
	{ "'t', 'q', '{}', 0, NULL, 1001",
	    "max_attempts 1001 is out of range", ATTEMPTS_HINT },
	{ "'t', 'q', '{}', 0, NULL, NULL",
	    "max_attempts <NULL> is out of range", ATTEMPTS_HINT },
	{ "'t', 'q', '{}', 0, NULL, 10, 'e-1'", EVENT_MESSAGE, EVENT_HINT },
	{ "'t', 'q', '{}', 0, NULL, 10, NULL, 'UserRegistered'",
	    EVENT_MESSAGE, EVENT_HINT },
};

static void
test_enqueue_rejects_bad_argument(void **state)
{
	struct dbtest	*db = *state;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < sizeof bad_calls / sizeof bad_calls[0]; i++) {
		snprintf(sql, sizeof sql, "SELECT herald.enqueue(%s)",
		    bad_calls[i].args);
		dbtest_assert_invalid(db->conn, sql, bad_calls[i].message,
		    bad_calls[i].hint);
	}

	/* A unique enqueue may not set them either. */
	dbtest_assert_invalid(db->conn, "SELECT herald.enqueue_unique('t',"
	    " 'q', '{}', 0, NULL, 10, 'e-1', 'UserRegistered', 'k', 60000,"
	    " NULL)", EVENT_MESSAGE, EVENT_HINT);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 0);
}

static void
test_enqueue_accepts_edge_values(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue("
	    "'Az09_.:-' || repeat('t', 55), 'q' || repeat('Q', 61) || '9',"
	    " '[1]', -32768, NULL, 1)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld AND length(task) = 63"
	    " AND length(queue) = 63 AND payload = '[1]'"
	    " AND priority = -32768 AND max_attempts = 1",
	    (long long)id), 1);

	id = dbtest_int(db->conn, "SELECT herald.enqueue('9', 'q', '{}',"
	    " 32767, NULL, 1000)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld AND priority = 32767"
	    " AND max_attempts = 1000", (long long)id), 1);
}

/*
 * run_at from 1970 to the end of 9999 is accepted, and a time outside
 * that range is rejected by herald.enqueue_unique() too, even with a key
 * that no job holds yet.
 */
static void
test_enqueue_run_at_range(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;
	int64_t		 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " '1970-01-01 00:00:00+00')");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld"
	    " AND run_at = '1970-01-01 00:00:00+00'", (long long)id), 1);
	id = dbtest_int(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " '9999-12-31 23:59:59.999999+00')");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld"
	    " AND run_at = '9999-12-31 23:59:59.999999+00'", (long long)id), 1);

	res = PQexec(db->conn, "SELECT herald.enqueue_unique('t', 'q', '{}',"
	    " 0, 'infinity', 10, NULL, NULL, 'k')");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "22023");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
	    "run_at infinity is out of range");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT),
	    RUN_AT_HINT);
	PQclear(res);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.unique_keys"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs"), 2);
}

/*
 * Direct writes to herald.jobs that its column domains and its lease
 * check must reject.  Job "first" is queued with attempt 0 and no
 * lease.
 */
static const char *const bad_rows[] = {
	"INSERT INTO herald.jobs (task, queue, state)"
	    " VALUES ('t', 'q', 'done')",
	"INSERT INTO herald.jobs (task, queue, attempt) VALUES ('t', 'q', -1)",
	"INSERT INTO herald.jobs (task, queue, max_attempts)"
	    " VALUES ('t', 'q', 0)",
	"INSERT INTO herald.jobs (task, queue, max_attempts)"
	    " VALUES ('t', 'q', 1001)",
	"INSERT INTO herald.jobs (task, queue, state) VALUES ('t', 'q',"
	    " 'running')",
	"INSERT INTO herald.jobs (task, queue, lease_token) VALUES ('t', 'q',"
	    " 5)",
	"UPDATE herald.jobs SET attempt = attempt - 1 WHERE task = 'first'",
	"UPDATE herald.jobs SET state = 'Queued' WHERE task = 'first'",
	"UPDATE herald.jobs SET max_attempts = max_attempts * 1000"
	    " WHERE task = 'first'",
	"UPDATE herald.jobs SET state = 'running' WHERE task = 'first'",
};

static void
test_jobs_rejects_bad_row(void **state)
{
	struct dbtest	*db = *state;
	PGresult	*res;
	size_t		 i;

	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue)"
	    " VALUES ('first', 'q')");
	for (i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
		res = PQexec(db->conn, bad_rows[i]);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("\"%s\" succeeded", bad_rows[i]);
		assert_string_equal(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE), "23514");
		PQclear(res);
	}
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'first' AND state = 'queued'"
	    " AND attempt = 0 AND max_attempts = 10"
	    " AND lease_token IS NULL"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 1);

	/* The bounds themselves, and a running job with its lease. */
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue, attempt,"
	    " max_attempts, state, lease_token) VALUES ('t', 'q', 0, 1,"
	    " 'running', 7), ('t', 'q', 1000, 1000, 'queued', NULL)");
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 3);
}

/* The views over herald.jobs show the base types, not the domains. */
static void
test_live_jobs_column_types(void **state)
{
	struct dbtest	*db = *state;
	const char	*views[] = { "live_jobs", "jobs_redacted",
			    "live_jobs_redacted" };
	size_t		 i;

	for (i = 0; i < sizeof views / sizeof views[0]; i++)
		assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
		    " pg_attribute WHERE attrelid = 'herald.%s'::regclass"
		    " AND ((attname = 'state' AND atttypid = 'text'::regtype)"
		    " OR (attname IN ('attempt', 'max_attempts')"
		    " AND atttypid = 'integer'::regtype))", views[i]), 3);
}

/* Return 1 when conn's transaction holds the wake-up lock of queue q. */
static int64_t
queue_lock_held(PGconn *conn)
{
	return dbtest_int(conn, "SELECT count(*) FROM pg_locks"
	    " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
	    " AND mode = 'ShareLock' AND granted"
	    " AND classid::integer = herald.wait_lock_class()"
	    " AND objid::integer = hashtext('q')");
}

static void
test_enqueue_locks_queue_only_when_due(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '1 hour')");
	assert_int_equal(queue_lock_held(db->conn), 0);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(queue_lock_held(db->conn), 1);
	dbtest_exec(db->conn, "COMMIT");

	assert_int_equal(queue_lock_held(db->conn), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE queue = 'q'"), 2);
}

/*
 * A worker that starts to wait after the producer's transaction began,
 * but before its enqueue, is seen by that enqueue and woken.
 */
static void
test_enqueue_sees_waiter_of_open_transaction(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*worker = dbtest_connect(db);
	PGnotify	*n;
	int		 count = 0;

	dbtest_exec(worker, "LISTEN herald");
	dbtest_exec(worker, "INSERT INTO herald.processes (id, kind, host,"
	    " pid, queue) VALUES ('w1', 'worker', 'h', 1, 'q')");
	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT count(*) FROM herald.waiters");
	assert_int_equal(dbtest_int(worker,
	    "SELECT herald.wait_begin('w1', 'q')::int"), 1);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "COMMIT");

	dbtest_exec(worker, "SELECT 1");
	assert_int_equal(PQconsumeInput(worker), 1);
	while ((n = PQnotifies(worker)) != NULL) {
		if (strcmp(n->relname, "herald") == 0 &&
		    strcmp(n->extra, "q") == 0)
			count++;
		PQfreemem(n);
	}
	assert_int_equal(count, 1);
	PQfinish(worker);
}

/*
 * herald_enqueue() rejects unique options without a key, and takes the
 * payload limit from its options.
 */
static void
test_enqueue_library_options(void **state)
{
	struct dbtest			*db = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	int64_t				 id;
	char				*big;
	size_t				 size = 1500 * 1000;

	options.unique_for_ms = 5000;
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "need a unique_key"));
	options.unique_for_ms = 0;
	options.unique_states = HERALD_UNIQUE_QUEUED;
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	options.unique_states = 0;

	big = malloc(size + 16);
	assert_non_null(big);
	memcpy(big, "{\"pad\": \"", 9);
	memset(big + 9, 'x', size);
	memcpy(big + 9 + size, "\"}", 3);
	assert_int_equal(herald_enqueue(db->conn, "t", big, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	options.payload_max = 2 * 1024 * 1024;
	assert_int_equal(herald_enqueue(db->conn, "t", big, &options, &id,
	    &error), 0);
	free(big);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 1);
}

/*
 * A first call whose statement could not be prepared (here in an aborted
 * transaction) leaves the connection usable: the next call prepares it.
 */
static void
test_enqueue_after_failed_prepare(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGresult		*res;
	int64_t			 id;

	dbtest_exec(db->conn, "BEGIN");
	res = PQexec(db->conn, "SELECT 1 / 0");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	PQclear(res);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EDB);
	dbtest_exec(db->conn, "ROLLBACK");

	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, &id,
	    &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 1);

	/* Pipeline mode is named, not reported as a database error. */
	assert_int_equal(PQenterPipelineMode(db->conn), 1);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "pipeline mode"));
	assert_int_equal(PQexitPipelineMode(db->conn), 1);
}

/*
 * A connection that is not idle or does not send UTF-8 is rejected
 * before any statement: the application's own query keeps its results,
 * and no payload is converted from another encoding byte by byte.
 */
static void
test_enqueue_rejects_busy_or_foreign_connection(void **state)
{
	struct dbtest			*db = *state;
	struct herald_error		 error;
	struct herald_job_options	 options = { .unique_key = "k\xff" };
	struct herald_job		 jobs[2] = {
		{ .task = "t" },
		{ .task = "t", .options = { .unique_key = "k\xff" } }
	};
	PGresult			*res;
	int64_t				 id, ids[2];

	assert_int_equal(PQsendQuery(db->conn, "SELECT 'mine'"), 1);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "query in progress"));
	res = PQgetResult(db->conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "mine");
	PQclear(res);
	assert_null(PQgetResult(db->conn));

	dbtest_exec(db->conn, "SET client_encoding = 'LATIN1'");
	assert_int_equal(herald_enqueue(db->conn, "t",
	    "{\"n\": \"Jos\xc3\xa9\"}", NULL, &id, &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_string_equal(error.message, "connection's client_encoding is "
	    "LATIN1; libherald sends UTF-8, so set client_encoding to UTF8");
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 1, ids, &error),
	    -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 0);
	/* SQL_ASCII converts nothing, so the bytes arrive intact. */
	dbtest_exec(db->conn, "SET client_encoding = 'SQL_ASCII'");
	assert_int_equal(herald_enqueue(db->conn, "t",
	    "{\"n\": \"Jos\xc3\xa9\"}", NULL, &id, &error), 0);
	dbtest_exec(db->conn, "SET client_encoding = 'UTF8'");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM "
	    "herald.live_jobs WHERE payload->>'n' = 'Jos\xc3\xa9'"), 1);
	dbtest_exec(db->conn, "DELETE FROM herald.inbox");

	/* A unique key that is not UTF-8 fails here, as a unit's does. */
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message, "unique key is not valid UTF-8");
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, ids, &error),
	    -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message,
	    "job 2: unique key is not valid UTF-8");
	/* So does a number that PostgreSQL's numeric cannot hold. */
	jobs[1].options.unique_key = NULL;
	jobs[1].payload = "[1e-99999]";
	assert_int_equal(herald_enqueue_many(db->conn, jobs, 2, ids, &error),
	    -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "job 2: payload has a number "
	    "out of the range of PostgreSQL's numeric type"));
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_enqueue_rejects_bad_argument, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_accepts_edge_values, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_run_at_range, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_library_options, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_after_failed_prepare, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_rejects_busy_or_foreign_connection,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_locks_queue_only_when_due, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_sees_waiter_of_open_transaction,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_jobs_rejects_bad_row, dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_live_jobs_column_types, dbtest_setup,
		    dbtest_teardown),
	};

	dbtest_init("enqueue");
	return cmocka_run_group_tests_name("enqueue", tests, NULL, NULL);
}
