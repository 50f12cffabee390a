/*
 * test_roles.c: the group roles of the job and application databases,
 * each proven from a login role that is a member of it, for what it may
 * do and for what it may not.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbtest.h"
#include "herald.h"
#include "migrate.h"
#include "table_sql.h"

/* SQLSTATE insufficient_privilege. */
#define DENIED	"42501"

/* The login roles of this run, one per group role: "herald_t_<pid>_<g>". */
static char	login_producer[64], login_worker[64], login_console[64],
		login_viewer[64];

static void
login_name(char *buf, size_t size, const char *group)
{
	snprintf(buf, size, "herald_t_%ld_%s", (long)getpid(), group);
}

/* Create the four login roles; they belong to the cluster, not the test. */
static int
group_setup(void **state)
{
	struct dbtest	*db = dbtest_new();

	(void)state;
	if (db == NULL)
		return -1;
	login_name(login_producer, sizeof login_producer, "producer");
	login_name(login_worker, sizeof login_worker, "worker");
	login_name(login_console, sizeof login_console, "console");
	login_name(login_viewer, sizeof login_viewer, "viewer");
	dbtest_exec(db->conn, "CREATE ROLE %s LOGIN IN ROLE herald_producer",
	    login_producer);
	dbtest_exec(db->conn, "CREATE ROLE %s LOGIN IN ROLE herald_worker",
	    login_worker);
	dbtest_exec(db->conn, "CREATE ROLE %s LOGIN IN ROLE herald_console",
	    login_console);
	dbtest_exec(db->conn, "CREATE ROLE %s LOGIN IN ROLE herald_viewer",
	    login_viewer);
	dbtest_free(db);
	return 0;
}

static int
group_teardown(void **state)
{
	PGconn	*conn;
	char	 sql[512];

	(void)state;
	conn = PQconnectdb(getenv("HERALD_TEST_CONNINFO"));
	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return -1;
	}
	snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s, %s, %s, %s",
	    login_producer, login_worker, login_console, login_viewer);
	PQclear(PQexec(conn, sql));
	PQfinish(conn);
	return 0;
}

/* Connect to the test database as login. */
static PGconn *
connect_as(const struct dbtest *db, const char *login)
{
	char	 conninfo[1024];
	PGconn	*conn;

	snprintf(conninfo, sizeof conninfo, "%s user=%s", db->conninfo, login);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("could not connect as %s: %s", login,
		    PQerrorMessage(conn));
	return conn;
}

/* Fail unless sql fails with SQLSTATE sqlstate. */
static void
assert_sqlstate(PGconn *conn, const char *sql, const char *sqlstate)
{
	PGresult	*res = PQexec(conn, sql);
	const char	*got = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK)
		fail_msg("\"%s\" succeeded, expected SQLSTATE %s", sql,
		    sqlstate);
	if (got == NULL || strcmp(got, sqlstate) != 0)
		fail_msg("\"%s\" failed with %s, expected %s: %s", sql,
		    got != NULL ? got : "no SQLSTATE", sqlstate,
		    PQresultErrorMessage(res));
	PQclear(res);
}

static void
assert_denied(PGconn *conn, const char *sql)
{
	assert_sqlstate(conn, sql, DENIED);
}

/* A dead job with a payload and one failed attempt with output. */
static int64_t
bury_one(PGconn *conn, const char *task)
{
	int64_t	id;

	id = dbtest_int(conn, "SELECT herald.enqueue('%s', 'q',"
	    " '{\"secret\": \"s3cret\"}')", task);
	dbtest_int(conn, "SELECT count(*) FROM herald.claim('q', 'w', 10,"
	    " 60000)");
	dbtest_exec(conn, "SELECT herald.fail(%lld, (SELECT lease_token FROM"
	    " herald.live_jobs WHERE id = %lld), '{\"attempt\": 1, \"outcome\":"
	    " \"failed\", \"exit_code\": 65, \"output\": \"out s3cret\"}',"
	    " true, 0)", (long long)id, (long long)id);
	return id;
}

static void
test_producer_enqueues_only(void **state)
{
	struct dbtest			*db = *state;
	PGconn				*conn = connect_as(db, login_producer);
	struct herald_job_options	 options = { .queue = "q" };
	struct herald_error		 error;
	int64_t				 id;

	assert_true(dbtest_int(conn, "SELECT herald.enqueue('mail', 'q',"
	    " '{\"to\": \"a@example.org\"}')") > 0);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.enqueue_many('[{\"task\": \"mail\"}, {\"task\":"
	    " \"mail\"}]')"), 2);
	assert_int_equal(dbtest_int(conn, "SELECT cardinality("
	    "herald.enqueue_arrays(ARRAY['mail', 'mail'], ARRAY['q', 'q']))"),
	    2);
	assert_sqlstate(conn, "SELECT herald.enqueue_arrays(ARRAY['bad task'])",
	    "22023");
	assert_denied(conn, "SELECT herald.enqueue_arrays_fail(ARRAY['a'],"
	    " NULL, NULL, NULL, NULL, NULL)");
	assert_denied(conn, "SELECT herald.enqueue_fail('a', 'q', '{}', 0,"
	    " NULL, 10)");
	assert_int_equal(dbtest_int(conn, "SELECT cardinality("
	    "herald.enqueue_batch(3, ARRAY['mail'], ARRAY['q']))"), 3);
	assert_sqlstate(conn, "SELECT herald.enqueue_batch(2, ARRAY['a b'])",
	    "22023");
	id = dbtest_int(conn, "SELECT herald.enqueue_unique('mail', 'q', '{}',"
	    " 0, NULL, 10, NULL, NULL, 'u1')");
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM unnest("
	    "herald.enqueue_batch_unique(3, ARRAY['mail'], ARRAY['q'], NULL,"
	    " NULL, NULL, NULL, ARRAY['u1', 'u2', 'u2'])) AS i(id)"
	    " WHERE i.id = %lld", (long long)id), 1);
	assert_sqlstate(conn, "SELECT herald.enqueue_batch_unique(1,"
	    " ARRAY['mail'], NULL, NULL, NULL, NULL, NULL, ARRAY[''])",
	    "22023");
	assert_denied(conn, "SELECT herald.take_unique_keys(ARRAY['u3'],"
	    " ARRAY[1::bigint], NULL, NULL)");
	assert_denied(conn, "SELECT herald.batch_spread(ARRAY[1], 2)");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs"), 10);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.unique_keys"), 2);

	/*
	 * herald.new_jobs takes the rows herald.enqueue() accepts, shows
	 * nothing, and takes no id from the producer, which reads its id
	 * from the sequence.
	 */
	assert_true(dbtest_int(conn, "INSERT INTO herald.new_jobs (task,"
	    " queue, payload) VALUES ('mail', 'q', '[1]')"
	    " RETURNING currval('herald.jobs_id_seq')") > 0);
	assert_denied(conn, "SELECT id FROM herald.new_jobs");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task) VALUES"
	    " ('a b')", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, queue)"
	    " VALUES ('mail', repeat('q', 64))", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, payload)"
	    " VALUES ('mail', '3')", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task,"
	    " max_attempts) VALUES ('mail', 0)", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, queue,"
	    " run_at) VALUES ('mail', 'q', 'infinity')", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, queue,"
	    " run_at) VALUES ('mail', 'q', '-infinity')", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, run_at)"
	    " VALUES ('mail', '1900-01-01 00:00:00+00')", "44000");
	assert_sqlstate(conn, "INSERT INTO herald.new_jobs (task, run_at)"
	    " VALUES ('mail', '20000-01-01 00:00:00+00')", "44000");
	assert_true(dbtest_int(conn, "INSERT INTO herald.new_jobs (task,"
	    " run_at) VALUES ('mail', '9999-12-31 23:59:59.999999+00')"
	    " RETURNING currval('herald.jobs_id_seq')") > 0);
	assert_true(dbtest_int(conn, "INSERT INTO herald.new_jobs (task,"
	    " run_at) VALUES ('mail', '1970-01-01 00:00:00+00')"
	    " RETURNING currval('herald.jobs_id_seq')") > 0);
	assert_denied(conn, "INSERT INTO herald.new_jobs (id, task) VALUES"
	    " (1, 'mail')");
	assert_denied(conn, "INSERT INTO herald.inbox (task, queue, payload,"
	    " priority, run_at, max_attempts) VALUES ('mail', 'q', '{}', 0,"
	    " now(), 10)");
	assert_denied(conn, "SELECT payload FROM herald.new_jobs");
	assert_denied(conn, "SELECT count(*) FROM herald.inbox");
	assert_denied(conn, "UPDATE herald.new_jobs SET priority = 1");
	assert_denied(conn, "DELETE FROM herald.new_jobs");
	assert_int_equal(herald_enqueue(conn, "mail", "[1]", &options, &id,
	    &error), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE payload = '[1]'"), 2);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %lld AND queue = 'q'",
	    (long long)id), 1);

	assert_denied(conn, "SELECT payload FROM herald.jobs");
	assert_denied(conn, "SELECT count(*) FROM herald.jobs");
	assert_denied(conn, "SELECT count(*) FROM herald.dead_jobs");
	assert_denied(conn, "INSERT INTO herald.jobs (task, queue)"
	    " VALUES ('mail', 'q')");
	assert_denied(conn, "SELECT * FROM herald.claim('q', 'p', 1, 1000)");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL)");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL, 'u',"
	    " 'h')");
	assert_denied(conn, "SELECT * FROM herald.jobs_redacted");
	PQfinish(conn);
}

static void
test_worker_claims_and_finishes(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*conn = connect_as(db, login_worker);
	int64_t		 id, token;

	dbtest_int(db->conn, "SELECT herald.enqueue('mail', 'q')");
	id = dbtest_int(db->conn, "SELECT herald.enqueue('mail', 'q')");
	dbtest_exec(conn, "INSERT INTO herald.processes (id, kind, host, pid)"
	    " VALUES ('w1', 'worker', 'h', 1)");
	dbtest_exec(conn, "UPDATE herald.processes SET heartbeat_at = now()"
	    " WHERE id = 'w1'");
	/* The jobs wait in the inbox, which the worker empties only. */
	assert_denied(conn, "INSERT INTO herald.inbox (task, queue, payload,"
	    " priority, run_at, max_attempts) VALUES ('mail', 'q', '{}', 0,"
	    " now(), 0)");
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w1', 10, 60000)"), 2);
	/* One claim, one lease for both jobs. */
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.renew_leases('w1', ARRAY(SELECT lease_token FROM"
	    " herald.live_jobs), 60000)"), 1);
	token = dbtest_int(conn, "SELECT lease_token FROM herald.live_jobs"
	    " WHERE id = %lld", (long long)id);
	assert_int_equal(dbtest_int(conn, "SELECT herald.complete(%lld,"
	    " %lld)::int", (long long)id, (long long)token), 1);
	dbtest_exec(conn, "SELECT herald.fail(id, lease_token, '{}', true, 0)"
	    " FROM herald.live_jobs");
	assert_int_equal(dbtest_int(conn, "SELECT herald.expire_leases(10)"),
	    0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.dead_jobs"), 1);

	assert_denied(conn, "CREATE TABLE herald.extra (id int)");
	assert_denied(conn, "DROP TABLE herald.jobs");
	assert_denied(conn, "ALTER TABLE herald.jobs ADD COLUMN extra int");
	assert_denied(conn, "CREATE FUNCTION herald.f() RETURNS int"
	    " LANGUAGE sql AS 'SELECT 1'");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL)");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL, 'u',"
	    " 'h')");
	assert_denied(conn, "SELECT herald.dead_purge(NULL, NULL, NULL)");
	assert_denied(conn, "SELECT herald.set_paused('q', true, 'u', 'h')");
	assert_denied(conn, "INSERT INTO herald.audit (action, rows)"
	    " VALUES ('forged', 0)");
	assert_denied(conn, "INSERT INTO herald.migrations (version, name)"
	    " VALUES (999, 'forged.sql')");
	PQfinish(conn);
}

static void
test_console_reads_and_acts(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*conn = connect_as(db, login_console);
	char		*text, *user;
	int64_t		 dead, queued;

	dead = bury_one(db->conn, "mail");
	bury_one(db->conn, "mail");
	queued = dbtest_int(db->conn, "SELECT herald.enqueue('later', 'q',"
	    " '{\"secret\": \"s3cret\"}', run_at => now() + interval '1h')");

	text = dbtest_text(conn, "SELECT payload->>'secret' FROM"
	    " herald.dead_jobs WHERE id = %lld", (long long)dead);
	assert_string_equal(text, "s3cret");
	free(text);
	text = dbtest_text(conn, "SELECT errors->0->>'output' FROM"
	    " herald.dead_jobs WHERE id = %lld", (long long)dead);
	assert_string_equal(text, "out s3cret");
	free(text);
	assert_int_equal(dbtest_int(conn,
	    "SELECT count(*) FROM herald.live_jobs"), 1);

	dbtest_exec(conn, "BEGIN");
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.lock_dead_jobs(ARRAY[%lld])", (long long)dead), 1);
	assert_int_equal(dbtest_int(conn, "SELECT herald.record_action("
	    "'dead retry', NULL, NULL, ARRAY[%lld], NULL,"
	    " herald.dead_retry(ARRAY[%lld], NULL, NULL), 'op', 'host')",
	    (long long)dead, (long long)dead), 1);
	dbtest_exec(conn, "COMMIT");
	text = dbtest_text(conn, "SELECT errors->-1->>'output' FROM"
	    " herald.jobs WHERE id = %lld", (long long)dead);
	assert_non_null(strstr(text, login_console));
	free(text);
	assert_int_equal(dbtest_int(conn, "SELECT herald.dead_purge(NULL,"
	    " NULL, NULL)"), 1);
	dead = bury_one(db->conn, "mail");
	assert_int_equal(dbtest_int(conn, "SELECT herald.dead_retry(NULL,"
	    " NULL, NULL, 'op', 'host')"), 1);
	text = dbtest_text(conn, "SELECT errors->-1->>'output' FROM"
	    " herald.jobs WHERE id = %lld", (long long)dead);
	assert_non_null(strstr(text, "(op@host"));
	free(text);
	assert_int_equal(dbtest_int(conn, "SELECT herald.set_paused('q', true,"
	    " 'op', 'host')::int"), 1);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM herald.cancel("
	    "ARRAY[%lld], 'op', 'host')", (long long)queued), 1);
	user = dbtest_text(conn, "SELECT string_agg(DISTINCT db_user, ',')"
	    " FROM herald.audit");
	assert_string_equal(user, login_console);
	free(user);

	assert_denied(conn, "SELECT * FROM herald.claim('q', 'c', 1, 1000)");
	assert_denied(conn, "SELECT herald.enqueue('mail')");
	assert_denied(conn, "UPDATE herald.jobs SET priority = 1");
	assert_denied(conn, "DELETE FROM herald.dead_jobs");
	assert_denied(conn, "INSERT INTO herald.audit (action, rows)"
	    " VALUES ('forged', 0)");
	assert_denied(conn, "UPDATE herald.queues SET paused = false");
	assert_denied(conn, "SELECT id FROM herald.jobs FOR UPDATE");
	PQfinish(conn);
}

static void
test_viewer_sees_no_payload(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*conn = connect_as(db, login_viewer);
	char		*text;
	int64_t		 dead;

	dead = bury_one(db->conn, "mail");
	dbtest_int(db->conn, "SELECT herald.enqueue('mail', 'q',"
	    " '{\"secret\": \"s3cret\"}')");
	assert_denied(conn, "SELECT payload FROM herald.inbox");
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM herald.inbox"
	    " WHERE queue = 'q'"), 1);
	text = dbtest_text(conn, "SELECT string_agg(coalesce(payload::text,"
	    " '') || errors::text, '') FROM herald.live_jobs_redacted");
	assert_null(strstr(text, "s3cret"));
	free(text);
	dbtest_exec(db->conn, "SELECT herald.move_inbox(NULL, NULL)");

	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM herald.jobs"
	    " WHERE state = 'queued'"), 1);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.dead_jobs WHERE reason = 'permanent'"), 1);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.dead_jobs_redacted WHERE payload IS NULL"), 1);
	text = dbtest_text(conn, "SELECT errors::text FROM"
	    " herald.dead_jobs_redacted WHERE id = %lld", (long long)dead);
	assert_non_null(strstr(text, "\"outcome\": \"failed\""));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "output"));
	free(text);
	text = dbtest_text(conn, "SELECT string_agg(coalesce(payload::text,"
	    " '') || errors::text, '') FROM herald.jobs_redacted");
	assert_null(strstr(text, "s3cret"));
	free(text);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM"
	    " herald.counters"), 1);

	assert_denied(conn, "SELECT payload FROM herald.jobs");
	assert_denied(conn, "SELECT errors FROM herald.jobs");
	assert_denied(conn, "SELECT payload FROM herald.dead_jobs");
	assert_denied(conn, "SELECT errors FROM herald.dead_jobs");
	assert_denied(conn, "SELECT * FROM herald.dead_jobs");
	assert_denied(conn, "SELECT count(*) FROM herald.audit");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL)");
	assert_denied(conn, "SELECT herald.dead_retry(NULL, NULL, NULL, 'u',"
	    " 'h')");
	assert_denied(conn, "SELECT herald.set_paused('q', true, 'v', 'h')");
	assert_denied(conn, "SELECT count(*) FROM herald.cancel(ARRAY[1::bigint],"
	    " 'v', 'h')");
	assert_denied(conn, "SELECT herald.enqueue('mail')");
	assert_denied(conn, "SELECT count(*) FROM"
	    " herald.lock_dead_jobs(ARRAY[1::bigint])");
	PQfinish(conn);
}

/*
 * Run HD_SQL_TABLE_HEALTH as login and check that it returns jobs, then
 * inbox with live_inbox live tuples and autovacuum_off.
 */
static void
assert_table_health(const struct dbtest *db, const char *login,
    const char *live_inbox, const char *autovacuum_off)
{
	PGconn		*conn = connect_as(db, login);
	PGresult	*res = PQexec(conn, HD_SQL_TABLE_HEALTH);

	print_message("as %s\n", login);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("table health as %s failed: %s", login,
		    PQresultErrorMessage(res));
	assert_int_equal(PQntuples(res), 2);
	assert_string_equal(PQgetvalue(res, 0, HD_TH_TABLE), "jobs");
	assert_string_equal(PQgetvalue(res, 1, HD_TH_TABLE), "inbox");
	assert_string_equal(PQgetvalue(res, 1, HD_TH_LIVE), live_inbox);
	assert_string_equal(PQgetvalue(res, 1, HD_TH_DEAD), "0");
	assert_true(PQgetisnull(res, 1, HD_TH_AUTOVACUUM_MS));
	assert_true(PQgetisnull(res, 0, HD_TH_AUTOVACUUM_OFF));
	if (autovacuum_off == NULL)
		assert_true(PQgetisnull(res, 1, HD_TH_AUTOVACUUM_OFF));
	else
		assert_string_equal(PQgetvalue(res, 1, HD_TH_AUTOVACUUM_OFF),
		    autovacuum_off);
	PQclear(res);
	PQfinish(conn);
}

/*
 * The viewer and the console read the tuples and vacuums of the job
 * tables from PostgreSQL's statistics, which need no grant.
 */
static void
test_viewer_reads_table_health(void **state)
{
	struct dbtest	*db = *state;

	dbtest_int(db->conn, "SELECT herald.enqueue('mail', 'q')");
	dbtest_exec(db->conn, "SELECT pg_stat_force_next_flush()");
	assert_table_health(db, login_viewer, "1", NULL);
	assert_table_health(db, login_console, "1", NULL);

	dbtest_exec(db->conn, "ALTER TABLE herald.inbox"
	    " SET (autovacuum_enabled = false)");
	assert_table_health(db, login_viewer, "1",
	    "autovacuum_enabled = false");
}

/*
 * Every function that runs as its owner pins search_path, and PUBLIC may
 * execute nothing in the schema.
 */
static void
test_functions_pin_search_path(void **state)
{
	struct dbtest	*db = *state;
	char		*names;

	assert_true(dbtest_int(db->conn, "SELECT count(*) FROM pg_proc"
	    " WHERE pronamespace = 'herald'::regnamespace AND prosecdef") >= 7);
	names = dbtest_text(db->conn, "SELECT string_agg(proname, ',') FROM"
	    " pg_proc WHERE pronamespace = 'herald'::regnamespace"
	    " AND prosecdef AND NOT coalesce(proconfig::text LIKE"
	    " '%%search_path=pg_catalog, herald, pg_temp%%', false)");
	assert_null(names);
	names = dbtest_text(db->conn, "SELECT string_agg(proname, ',') FROM"
	    " pg_proc p WHERE pronamespace = 'herald'::regnamespace"
	    " AND has_function_privilege('public', p.oid, 'EXECUTE')");
	assert_null(names);
}

/* The roles exist after the first migration; a second database works. */
static void
test_second_database_migrates(void **state)
{
	struct dbtest	*first = *state, *second;

	(void)first;
	second = dbtest_new();
	assert_non_null(second);
	assert_int_equal(dbtest_int(second->conn, "SELECT count(*) FROM"
	    " pg_roles WHERE rolname IN ('herald_producer', 'herald_worker',"
	    " 'herald_console', 'herald_viewer') AND NOT rolcanlogin"), 4);
	dbtest_free(second);
}

static void
test_app_outbox_producer_only(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGconn			*producer, *worker, *console;
	char			*origin;

	assert_true(hd_migrate(db->conn, HD_SCHEMA_APP, &error) > 0);
	producer = connect_as(db, login_producer);
	worker = connect_as(db, login_worker);
	console = connect_as(db, login_console);

	dbtest_exec(producer, "INSERT INTO herald.outbox (kind, task, payload)"
	    " VALUES ('job', 'mail', '{}')");
	assert_denied(producer, "SELECT payload FROM herald.outbox");
	assert_denied(producer, "DELETE FROM herald.outbox");
	assert_int_equal(dbtest_int(worker, "SELECT count(*) FROM"
	    " herald.outbox"), 1);
	origin = dbtest_text(worker, "SELECT herald.outbox_origin()");
	assert_non_null(origin);
	free(origin);
	dbtest_exec(worker, "DELETE FROM herald.outbox");
	assert_denied(worker, "INSERT INTO herald.outbox (kind, task, payload)"
	    " VALUES ('job', 'mail', '{}')");
	assert_denied(console, "SELECT count(*) FROM herald.outbox");
	assert_denied(console, "INSERT INTO herald.outbox (kind, task,"
	    " payload) VALUES ('job', 'mail', '{}')");
	PQfinish(producer);
	PQfinish(worker);
	PQfinish(console);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_producer_enqueues_only,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_worker_claims_and_finishes,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_console_reads_and_acts,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_viewer_sees_no_payload,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_viewer_reads_table_health,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_functions_pin_search_path,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_database_migrates,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_app_outbox_producer_only,
		    dbtest_setup_bare, dbtest_teardown),
	};

	dbtest_init("roles");
	return cmocka_run_group_tests_name("roles", tests, group_setup,
	    group_teardown);
}
