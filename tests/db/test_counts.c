/*
 * test_counts.c: the job counts of migration 013 against a full recount
 * of the jobs.  They are checked after every path that adds, changes or
 * removes a job, with and without a fold in between, under concurrent
 * enqueues, and after migrating a database that already had jobs.
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
#include <time.h>
#include <unistd.h>

#include "herald.h"
#include "db.h"
#include "migrate.h"
#include "dbtest.h"

#define NPRODUCERS	8
#define PRODUCER_JOBS	40

/*
 * The counts as herald computed them before 013: every live job and
 * every dead job, per queue, task and event type.
 */
#define RECOUNT_SQL							\
	"SELECT queue, task, event_type, sum(queued)::bigint AS queued,"\
	"  sum(scheduled)::bigint AS scheduled,"			\
	"  sum(running)::bigint AS running,"				\
	"  sum(retrying)::bigint AS retrying, sum(dead)::bigint AS dead"\
	" FROM (SELECT queue, task, coalesce(event_type, '') AS event_type,"\
	"    count(*) FILTER (WHERE state = 'queued' AND run_at <= now())"\
	"      AS queued,"						\
	"    count(*) FILTER (WHERE state = 'queued' AND run_at > now()"\
	"      AND attempt = 0) AS scheduled,"				\
	"    count(*) FILTER (WHERE state = 'running') AS running,"	\
	"    count(*) FILTER (WHERE state = 'queued' AND run_at > now()"\
	"      AND attempt > 0) AS retrying, 0 AS dead"			\
	"  FROM herald.live_jobs GROUP BY 1, 2, 3"			\
	"  UNION ALL"							\
	"  SELECT queue, task, coalesce(event_type, ''), 0, 0, 0, 0,"	\
	"    count(*) FROM herald.dead_jobs GROUP BY 1, 2, 3) r"	\
	" GROUP BY 1, 2, 3"

#define COUNTS_SQL							\
	"SELECT queue, task, event_type, queued, scheduled, running,"	\
	"  retrying, dead FROM herald.queue_counts()"

/* The queue_health of 012, which read every job. */
#define HEALTH_SQL							\
	"SELECT j.queue,"						\
	"  (extract(epoch FROM now() - min(j.run_at)"			\
	"    FILTER (WHERE j.run_at <= now())) * 1000)::bigint,"	\
	"  count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()"	\
	"    AND j.run_at <= now() + interval '1 minute'),"		\
	"  count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()"	\
	"    AND j.run_at <= now() + interval '5 minutes'),"		\
	"  count(*) FILTER (WHERE j.attempt > 0 AND j.run_at > now()"	\
	"    AND j.run_at <= now() + interval '15 minutes')"		\
	" FROM herald.live_jobs j WHERE j.state = 'queued'"		\
	" GROUP BY j.queue"

#define HEALTH_NEW_SQL							\
	"SELECT queue, oldest_ms, retry_1m, retry_5m, retry_15m"	\
	" FROM herald.queue_health()"					\
	" WHERE queue IN (SELECT queue FROM herald.live_jobs"		\
	"   WHERE state = 'queued')"

#define OLDEST_SQL							\
	"SELECT queue, min(run_at) FROM herald.live_jobs"		\
	" WHERE state = 'queued' AND run_at <= now() GROUP BY queue"

/* Rows of a that b lacks and rows of b that a lacks, in one snapshot. */
#define DIFF_SQL(a, b)							\
	"WITH a AS MATERIALIZED (" a "), b AS MATERIALIZED (" b ")"	\
	" SELECT 'missing' AS side, * FROM (SELECT * FROM a"		\
	"   EXCEPT ALL SELECT * FROM b) x"				\
	" UNION ALL SELECT 'extra', * FROM (SELECT * FROM b"		\
	"   EXCEPT ALL SELECT * FROM a) y"

/* Print the rows of a difference query and return how many there are. */
static int
diff_rows(PGconn *conn, const char *what, const char *sql)
{
	PGresult	*res;
	int		 n, row, col;

	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", what, PQerrorMessage(conn));
	n = PQntuples(res);
	for (row = 0; row < n; row++) {
		fprintf(stderr, "%s:", what);
		for (col = 0; col < PQnfields(res); col++)
			fprintf(stderr, " %s", PQgetvalue(res, row, col));
		fprintf(stderr, "\n");
	}
	PQclear(res);
	return n;
}

/*
 * Check the counts, the oldest due job and the health figures against a
 * recount, then fold and check again when fold is true.
 */
static void
check_counts_fold(PGconn *conn, const char *step, bool fold)
{
	int	n = 0;

	fprintf(stderr, "# %s%s\n", step, fold ? ", folded" : "");
	if (fold)
		dbtest_exec(conn, "SELECT herald.fold_counts()");
	n += diff_rows(conn, "counts", DIFF_SQL(RECOUNT_SQL, COUNTS_SQL));
	n += diff_rows(conn, "oldest", DIFF_SQL(OLDEST_SQL,
	    "SELECT * FROM herald.oldest_ready()"));
	n += diff_rows(conn, "health", DIFF_SQL(HEALTH_SQL, HEALTH_NEW_SQL));
	if (n != 0)
		fail_msg("counts differ from a recount after %s", step);
	if (fold)
		assert_int_equal(dbtest_int(conn, "SELECT count(*)"
		    " FROM herald.job_counts WHERE jobs = 0"), 0);
}

static void
check_counts(PGconn *conn, const char *step)
{
	check_counts_fold(conn, step, false);
	check_counts_fold(conn, step, true);
}

/* Claim up to n jobs of queue into the temporary table claimed. */
static void
claim(PGconn *conn, const char *queue_literal, int n)
{
	dbtest_exec(conn, "INSERT INTO claimed SELECT id, lease_token"
	    " FROM herald.claim(%s, 'w1', %d, 60000)", queue_literal, n);
}

static void
test_counts_follow_every_path(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*conn = db->conn;
	int64_t		 id;
	int		 i;

	dbtest_exec(conn, "CREATE TEMP TABLE claimed (id bigint,"
	    " token bigint)");
	check_counts(conn, "nothing");

	dbtest_exec(conn, "SELECT herald.enqueue('t1', 'a')"
	    " FROM generate_series(1, 5)");
	/* Jobs of events come from the relay. */
	dbtest_exec(conn, "SELECT herald.relay_arrays('o', '{1,2,3}',"
	    " '{\"{}\",\"{}\",\"{}\"}', '{1,1,1}', NULL,"
	    " '{ev-1,ev-2,ev-3}',"
	    " '{UserRegistered,UserRegistered,UserRegistered}', '{1,2,3}',"
	    " '{t2,t2,t2}', '{a,a,a}', NULL)");
	assert_int_equal(dbtest_int(conn, "SELECT sum(jobs) FROM"
	    " herald.event_counters WHERE event_type = 'UserRegistered'"), 3);
	dbtest_exec(conn, "SELECT herald.enqueue('t1', 'b', '{}', 0,"
	    " now() + interval '10 minutes')");
	dbtest_exec(conn, "SELECT herald.enqueue('t1', 'b', '{}', 0,"
	    " now() + interval '20 seconds')");
	check_counts(conn, "enqueue");

	dbtest_exec(conn, "SELECT herald.enqueue_many(jsonb_build_array("
	    " jsonb_build_object('task', 't3', 'queue', 'b'),"
	    " jsonb_build_object('task', 't3', 'queue', 'b', 'priority', 5),"
	    " jsonb_build_object('task', 't3', 'queue', 'c', 'run_at_us',"
	    "   (extract(epoch FROM now() + interval '3 minutes')"
	    "   * 1000000)::bigint)))");
	check_counts(conn, "enqueue_many");

	/* Direct inserts of no job, one job and jobs of several groups. */
	dbtest_exec(conn, "INSERT INTO herald.jobs (task, queue)"
	    " SELECT 't6', 'f' WHERE false");
	check_counts(conn, "insert of no job");
	dbtest_exec(conn, "INSERT INTO herald.jobs (task, queue, run_at,"
	    " attempt, event_type) VALUES ('t6', 'f', now() + interval"
	    " '5 minutes', 1, 'E')");
	check_counts(conn, "insert of one job");
	dbtest_exec(conn, "INSERT INTO herald.jobs (task, queue, run_at,"
	    " attempt) SELECT 't' || (i %% 2), 'f' || (i %% 3), now()"
	    " + (i %% 4) * interval '1 minute', i %% 2"
	    " FROM generate_series(1, 12) i");
	check_counts(conn, "insert of jobs of several groups");

	claim(conn, "'a'", 4);
	assert_int_equal(dbtest_int(conn, "SELECT count(*) FROM claimed"), 4);
	check_counts(conn, "claim");

	dbtest_exec(conn, "SELECT herald.complete_many(array_agg(id),"
	    " array_agg(token)) FROM (SELECT * FROM claimed ORDER BY id"
	    " LIMIT 1) c");
	dbtest_exec(conn, "DELETE FROM claimed WHERE id = (SELECT min(id)"
	    " FROM claimed)");
	check_counts(conn, "complete_many");

	id = dbtest_int(conn, "SELECT min(id) FROM claimed");
	dbtest_assert_text(dbtest_text(conn, "SELECT herald.fail(id, token,"
	    " '{\"outcome\": \"failed\"}', false, 30000) FROM claimed"
	    " WHERE id = %lld", (long long)id), "retry");
	dbtest_exec(conn, "DELETE FROM claimed WHERE id = %lld",
	    (long long)id);
	check_counts(conn, "fail with retry");

	id = dbtest_int(conn, "SELECT min(id) FROM claimed");
	dbtest_assert_text(dbtest_text(conn, "SELECT herald.fail(id, token,"
	    " '{\"outcome\": \"failed\"}', true, 0) FROM claimed"
	    " WHERE id = %lld", (long long)id), "dead");
	dbtest_exec(conn, "DELETE FROM claimed WHERE id = %lld",
	    (long long)id);
	check_counts(conn, "fail to dead");

	dbtest_exec(conn, "SELECT herald.dead_retry(ARRAY[%lld], NULL, NULL)",
	    (long long)id);
	check_counts(conn, "dead_retry");

	/* The one claimed job left has its lease expire. */
	dbtest_exec(conn, "UPDATE herald.leases"
	    " SET deadline = now() - interval '1 second'");
	dbtest_exec(conn, "SELECT * FROM herald.expire_leases_listed(100)");
	dbtest_exec(conn, "DELETE FROM claimed");
	check_counts(conn, "lease expiry");

	/* Cancel a queued job and a running one. */
	claim(conn, "'b'", 1);
	dbtest_exec(conn, "SELECT herald.cancel(ARRAY[(SELECT id FROM claimed),"
	    " (SELECT max(id) FROM herald.jobs WHERE queue = 'a')],"
	    " 'u', 'h')");
	check_counts(conn, "cancel");
	dbtest_exec(conn, "SELECT herald.finish_cancelled(id, token)"
	    " FROM claimed");
	dbtest_exec(conn, "DELETE FROM claimed");
	check_counts(conn, "cancelled job finished");

	dbtest_exec(conn, "SELECT herald.retry_now(ARRAY(SELECT id"
	    " FROM herald.jobs WHERE run_at > now()), 'u', 'h')");
	check_counts(conn, "retry_now");

	/*
	 * Times set directly: minutes long past (which a fold merges), the
	 * previous and the next minute, and retries in the windows of the
	 * health figures.
	 */
	dbtest_exec(conn, "SELECT herald.enqueue('t4', 'd', '{}', 0,"
	    " now() + i * interval '37 seconds') FROM generate_series(-9, 30) i");
	dbtest_exec(conn, "UPDATE herald.jobs SET attempt = 2"
	    " WHERE queue = 'd' AND id %% 2 = 0");
	check_counts(conn, "times set directly");
	dbtest_exec(conn, "UPDATE herald.jobs SET run_at = run_at"
	    " - interval '1 hour' WHERE queue = 'd' AND id %% 3 = 0");
	check_counts(conn, "times moved back");
	claim(conn, "'d'", 3);
	check_counts(conn, "claim of jobs long due");
	dbtest_exec(conn, "SELECT herald.complete_many(array_agg(id),"
	    " array_agg(token)) FROM claimed");
	dbtest_exec(conn, "DELETE FROM claimed");
	check_counts(conn, "completion of jobs long due");

	/* Jobs due in a second or two become due as time passes. */
	dbtest_exec(conn, "SELECT herald.enqueue('t5', 'e', '{}', 0,"
	    " clock_timestamp() + i * interval '300 ms')"
	    " FROM generate_series(1, 6) i");
	for (i = 0; i < 200; i++) {
		check_counts_fold(conn, "jobs becoming due", i % 2 == 1);
		if (dbtest_int(conn, "SELECT count(*) FROM herald.jobs"
		    " WHERE queue = 'e' AND run_at > clock_timestamp()") == 0)
			break;
		usleep(50000);
	}
	assert_true(i < 200);
	check_counts(conn, "jobs due");

	dbtest_exec(conn, "SELECT herald.dead_purge(NULL, NULL, NULL)");
	dbtest_assert_text(dbtest_text(conn, "SELECT herald.fail(id,"
	    " lease_token, '{}', true, 0) FROM herald.claim('b', 'w1', 1,"
	    " 60000)"), "dead");
	check_counts(conn, "bury");
	dbtest_exec(conn, "DELETE FROM herald.dead_jobs");
	check_counts(conn, "dead purge");

	dbtest_exec(conn, "TRUNCATE herald.dead_jobs");
	dbtest_exec(conn, "TRUNCATE herald.jobs CASCADE");
	check_counts(conn, "truncate");
	assert_int_equal(dbtest_int(conn, "SELECT count(*)"
	    " FROM herald.job_counts"), 0);
}

/* A producer: enqueue PRODUCER_JOBS jobs, one per transaction. */
static int
producer_run(const char *conninfo, int n)
{
	struct herald_job_options	options = { 0 };
	struct herald_error		error;
	PGconn				*conn;
	int64_t				 id;
	int				 i;

	if ((conn = hd_db_connect(conninfo, "producer", &error)) == NULL)
		return 10;
	options.queue = n % 2 == 0 ? "even" : "odd";
	for (i = 0; i < PRODUCER_JOBS; i++) {
		options.run_at_us = i % 4 == 0 ? (int64_t)(time(NULL) + 600) *
		    1000000 : 0;
		if (herald_enqueue(conn, "t", NULL, &options, &id,
		    &error) == -1)
			return 11;
	}
	PQfinish(conn);
	return 0;
}

static void
test_counts_concurrent_enqueues(void **state)
{
	struct dbtest	*db = *state;
	pid_t		 pids[NPRODUCERS];
	int		 i, status, running;

	for (i = 0; i < NPRODUCERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0)
			_exit(producer_run(db->conninfo, i));
	}
	/* Fold while they enqueue, as the janitor does. */
	do {
		dbtest_exec(db->conn, "SELECT herald.fold_counts()");
		running = 0;
		for (i = 0; i < NPRODUCERS; i++) {
			if (pids[i] == 0)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) == 0) {
				running++;
				continue;
			}
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			pids[i] = 0;
		}
	} while (running > 0);

	assert_int_equal(dbtest_int(db->conn, "SELECT sum(queued + scheduled)"
	    " FROM herald.queue_counts()"), NPRODUCERS * PRODUCER_JOBS);
	check_counts(db->conn, "concurrent enqueues");
}

/* Apply the migrations up to version last, as hd_migrate would. */
static void
migrate_up_to(PGconn *conn, int last)
{
	PGresult	*res;
	int		 i;

	dbtest_exec(conn, "CREATE SCHEMA herald");
	dbtest_exec(conn, "CREATE TABLE herald.migrations ("
	    " version integer PRIMARY KEY, name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())");
	for (i = 0; i < hd_job_migrations_count &&
	    hd_job_migrations[i].version <= last; i++) {
		res = PQexec(conn, hd_job_migrations[i].sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", hd_job_migrations[i].name,
			    PQerrorMessage(conn));
		PQclear(res);
		dbtest_exec(conn, "INSERT INTO herald.migrations (version, name)"
		    " VALUES (%d, 'before')", hd_job_migrations[i].version);
	}
}

static void
test_counts_migrated_from_jobs_present(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	migrate_up_to(db->conn, 12);
	dbtest_exec(db->conn, "INSERT INTO herald.jobs (task, queue,"
	    " run_at, attempt, event_type) SELECT 't' || (i %% 3),"
	    " 'q' || (i %% 2), now() + (i %% 5 - 2) * interval '1 minute',"
	    " i %% 2, CASE WHEN i %% 4 = 0 THEN 'E' END"
	    " FROM generate_series(1, 200) i");
	dbtest_exec(db->conn, "SELECT herald.claim('q0', 'w1', 7, 60000)");
	dbtest_exec(db->conn, "SELECT herald.bury(id, '{}', 'permanent')"
	    " FROM herald.jobs WHERE id <= 20 AND queue = 'q1'");

	assert_int_equal(hd_migrate(db->conn, HD_SCHEMA_JOB, &error),
	    hd_job_migrations_count - 12);
	check_counts(db->conn, "migration");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t0', 'q0')");
	dbtest_exec(db->conn, "DELETE FROM herald.jobs WHERE id %% 7 = 0");
	check_counts(db->conn, "changes after the migration");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_counts_follow_every_path,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_counts_concurrent_enqueues,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_counts_migrated_from_jobs_present,
		    dbtest_setup_bare, dbtest_teardown),
	};

	dbtest_init("counts");
	return cmocka_run_group_tests_name("counts", tests, NULL, NULL);
}
