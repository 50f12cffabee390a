/*
 * test_migrate.c: migrations of the job and application schemas.
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
#include "migrate.h"
#include "dbtest.h"

/* Tables, indexes and sequences of schema herald. */
#define HERALD_RELATIONS_SQL \
	"SELECT count(*) FROM pg_class c JOIN pg_namespace n" \
	" ON n.oid = c.relnamespace WHERE n.nspname = 'herald'"

static int
newest_job_version(void)
{
	return hd_job_migrations[hd_job_migrations_count - 1].version;
}

static void
test_migrate_fresh_applies_all(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	int			 applied, version;

	applied = hd_migrate(db->conn, HD_SCHEMA_JOB, &error);

	assert_int_equal(applied, hd_job_migrations_count);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.migrations"), hd_job_migrations_count);
	assert_int_equal(hd_schema_version(db->conn, HD_SCHEMA_JOB, &version,
	    &error), 0);
	assert_int_equal(version, newest_job_version());
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_migrate_twice_applies_none(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error),
	    hd_job_migrations_count);

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.migrations"), hd_job_migrations_count);
}

static void
test_migrate_newer_rejected(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	char			 expected[256];
	int			 newer = newest_job_version() + 6;
	int64_t			 relations;

	dbtest_exec(db->conn, "INSERT INTO herald.migrations (version, name)"
	    " VALUES (%d, '%03d_future.sql')", newer, newer);
	relations = dbtest_int(db->conn, HERALD_RELATIONS_SQL);

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error), -1);

	assert_int_equal(error.code, HERALD_ESCHEMA);
	snprintf(expected, sizeof(expected),
	    "job database schema is at version %d, newer than this herald (version %d); upgrade herald",
	    newer, newest_job_version());
	assert_string_equal(error.message, expected);
	assert_int_equal(PQtransactionStatus(db->conn), PQTRANS_IDLE);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.migrations"),
	    hd_job_migrations_count + 1);
	assert_int_equal(dbtest_int(db->conn, HERALD_RELATIONS_SQL), relations);
}

static void
test_schema_check_fresh_fails(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	assert_int_equal(hd_schema_check(db->conn, HD_SCHEMA_JOB, &error), -1);
	assert_int_equal(error.code, HERALD_ESCHEMA);
	assert_non_null(strstr(error.message, "herald migrate"));

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error),
	    hd_job_migrations_count);
	assert_int_equal(hd_schema_check(db->conn, HD_SCHEMA_JOB, &error), 0);
}

static void
test_schema_check_newer_fails(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	dbtest_exec(db->conn, "INSERT INTO herald.migrations (version, name)"
	    " VALUES (%d, 'future.sql')", newest_job_version() + 1);

	assert_int_equal(hd_schema_check(db->conn, HD_SCHEMA_JOB, &error), -1);
	assert_int_equal(error.code, HERALD_ESCHEMA);
	assert_non_null(strstr(error.message, "upgrade herald"));
}

static void
test_migrate_app_without_migrations(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	int			 version = -1;

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_APP, &error),
	    hd_app_migrations_count);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.app_migrations"),
	    hd_app_migrations_count);
	assert_int_equal(hd_schema_version(db->conn, HD_SCHEMA_APP, &version,
	    &error), 0);
	assert_int_equal(version, hd_app_migrations_count > 0 ?
	    hd_app_migrations[hd_app_migrations_count - 1].version : 0);
	assert_int_equal(hd_schema_check(db->conn, HD_SCHEMA_APP, &error), 0);
}

static void
test_migrate_in_transaction_rejected(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	dbtest_exec(db->conn, "BEGIN");

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_int_equal(PQtransactionStatus(db->conn), PQTRANS_INTRANS);
	dbtest_exec(db->conn, "ROLLBACK");
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM pg_namespace WHERE nspname = 'herald'"), 0);
}

/* Migrate in a child with its own connection; exit with the count. */
static void
migrate_child(const struct dbtest *db)
{
	struct herald_error	 error;
	PGconn			*conn;
	int			 applied;

	conn = PQconnectdb(db->conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		_exit(100);
	applied = hd_migrate(conn, HD_SCHEMA_JOB, &error);
	PQfinish(conn);
	_exit(applied < 0 ? 101 : applied);
}

static void
test_migrate_concurrent_once(void **state)
{
	struct dbtest	*db = *state;
	pid_t		 pids[4];
	int		 i, status, total = 0;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0)
			migrate_child(db);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_in_range(WEXITSTATUS(status), 0,
		    hd_job_migrations_count);
		total += WEXITSTATUS(status);
	}

	assert_int_equal(total, hd_job_migrations_count);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.migrations"), hd_job_migrations_count);
}

/*
 * Apply the job migrations up to version on conn, each in a transaction
 * with its row in herald.migrations, as hd_migrate() does.
 */
static void
migrate_to(PGconn *conn, int version)
{
	const struct hd_migration	*m;
	PGresult			*res;
	int				 i;

	dbtest_exec(conn, "CREATE SCHEMA herald;"
	    " CREATE TABLE herald.migrations (version integer PRIMARY KEY,"
	    "  name text NOT NULL,"
	    "  applied_at timestamptz NOT NULL DEFAULT now())");
	for (i = 0; i < hd_job_migrations_count; i++) {
		m = &hd_job_migrations[i];
		if (m->version > version)
			break;
		dbtest_exec(conn, "BEGIN");
		res = PQexec(conn, m->sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", m->name, PQerrorMessage(conn));
		PQclear(res);
		dbtest_exec(conn, "INSERT INTO herald.migrations (version, name)"
		    " VALUES (%d, 'test')", m->version);
		dbtest_exec(conn, "COMMIT");
	}
}

/*
 * A database at version 27 with live jobs, migrated by another role than
 * the one that ran 007, whose default privileges then do not apply.  The
 * jobs stay, and herald_worker claims them and a job of the inbox.
 */
static void
test_migrate_from_027_keeps_jobs(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	char			 role[64];

	migrate_to(db->conn, 27);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q', '{}', 0,"
	    " now() + interval '1 hour')");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w1', 1, 60000)"), 1);

	snprintf(role, sizeof role, "herald_t_owner_%ld", (long)getpid());
	dbtest_exec(db->conn, "CREATE ROLE %s SUPERUSER NOLOGIN", role);
	dbtest_exec(db->conn, "SET ROLE %s", role);
	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error),
	    hd_job_migrations_count - 27);
	dbtest_exec(db->conn, "RESET ROLE");

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg(state,"
	    " ' ' ORDER BY id) FROM herald.live_jobs"),
	    "running queued queued");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'q')");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.inbox"), 1);
	dbtest_exec(db->conn, "SET ROLE herald_worker");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('q', 'w2', 10, 60000)"), 2);
	dbtest_exec(db->conn, "RESET ROLE");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE state = 'running'"), 3);

	dbtest_exec(db->conn, "REASSIGN OWNED BY %s TO CURRENT_USER;"
	    " DROP OWNED BY %s; DROP ROLE %s", role, role, role);
}

/*
 * Keys that relays recorded in herald.relayed, one row per outbox id,
 * move to herald.relayed_batches, so a batch sent again after the
 * upgrade still makes no job of them.
 */
static void
test_migrate_from_039_keeps_relayed_keys(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	migrate_to(db->conn, 39);
	dbtest_exec(db->conn, "INSERT INTO herald.relayed (origin, outbox_id)"
	    " SELECT 'a', g FROM generate_series(1, 2500) AS g");
	dbtest_exec(db->conn, "INSERT INTO herald.relayed (origin, outbox_id)"
	    " VALUES ('b', 7)");

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error),
	    hd_job_migrations_count - 39);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.relayed_batches WHERE origin = 'a'"), 3);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(DISTINCT"
	    " outbox_id) FROM herald.relayed WHERE origin = 'a'"), 2500);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.relay_arrays("
	    "'a', '{2500,2501}', array_fill('{}'::jsonb, '{2}'), NULL, NULL,"
	    " NULL, NULL, '{1,2}', '{t,t}', '{q,q}', NULL)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.relay_arrays("
	    "'b', '{7}', array_fill('{}'::jsonb, '{1}'), NULL, NULL, NULL,"
	    " NULL, '{1}', '{t}', '{q}', NULL)"), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_fresh_applies_all,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_twice_applies_none,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_newer_rejected,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_schema_check_fresh_fails,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_schema_check_newer_fails,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_app_without_migrations,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_in_transaction_rejected,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_concurrent_once,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_from_027_keeps_jobs,
		    dbtest_setup_bare, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_from_039_keeps_relayed_keys,
		    dbtest_setup_bare, dbtest_teardown),
	};

	dbtest_init("migrate");
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
