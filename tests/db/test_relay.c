/*
 * test_relay.c: moving outbox rows into the job database exactly once,
 * across crashes between the two commits and with two relays at once.
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
#include "config.h"
#include "migrate.h"
#include "outbox.h"
#include "dbtest.h"

/*
 * Two tasks subscribe to UserRegistered, and no task to Ignored.
 * mail.send subscribes to orders.created: names that only a name or type
 * setting can contain.
 */
static const char relay_config[] =
    "job_db = \"\";\n"
    "queues = { mail = {}; default = {};\n"
    "  mail_v2 = { name = \"mail.v2\"; }; };\n"
    "tasks = {\n"
    "  send = { name = \"mail.send\"; queue = \"mail.v2\";\n"
    "    exec = [ \"/bin/true\" ]; };\n"
    "  send_welcome_email = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
    "    retry = { max_attempts = 3; }; };\n"
    "  provision_account = { queue = \"default\"; exec = [ \"/bin/true\" ]; };\n"
    "};\n"
    "events = { UserRegistered = [ \"send_welcome_email\", "
    "\"provision_account\" ];\n"
    "  orders_created = { type = \"orders.created\";\n"
    "    tasks = [ \"mail.send\" ]; };\n"
    "  AccountClosed = [ ];\n"
    "};\n";

#define EVENTS_MANY	3000
#define EVENTS_PER_UOW	100

struct fixture {
	struct dbtest		*job;
	struct dbtest		*app;
	struct hd_config	*config;
	char			 origin[HD_OUTBOX_ORIGIN_MAX];
};

static int
setup(void **state)
{
	struct fixture		*f;
	struct herald_error	 error;
	char			 path[] = "/tmp/herald-test-relay.XXXXXX";
	char			 message[HD_CONFIG_ERROR_MAX];
	FILE			*fp;
	int			 fd;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return -1;
	f->job = dbtest_new();
	f->app = dbtest_new_bare();
	if (f->job == NULL || f->app == NULL ||
	    hd_migrate(f->app->conn, HD_SCHEMA_APP, &error) == -1 ||
	    hd_outbox_origin(f->app->conn, f->origin, &error) == -1)
		return -1;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(relay_config, fp);
	fclose(fp);
	f->config = hd_config_load(path, message, sizeof message);
	unlink(path);
	if (f->config == NULL) {
		print_error("%s\n", message);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	hd_config_free(f->config);
	dbtest_free(f->app);
	dbtest_free(f->job);
	free(f);
	return 0;
}

/* Publish n events of type in units of work of EVENTS_PER_UOW. */
static void
publish_events(struct fixture *f, const char *type, int n)
{
	struct herald_error	 error;
	struct herald_uow	*uow = NULL;
	char			 payload[64];
	int			 i;

	for (i = 0; i < n; i++) {
		if (uow == NULL) {
			uow = herald_uow_begin(f->app->conn, NULL, &error);
			assert_non_null(uow);
		}
		snprintf(payload, sizeof payload, "{\"user\":%d}", i);
		assert_int_equal(herald_uow_publish(uow, type, payload, NULL,
		    &error), 0);
		if ((i + 1) % EVENTS_PER_UOW == 0 || i + 1 == n) {
			assert_int_equal(herald_uow_commit(uow, &error), 0);
			uow = NULL;
		}
	}
}

/* Relay until the outbox is empty; return the number of batches. */
static int
relay_all(struct fixture *f, PGconn *app, PGconn *job, int limit)
{
	struct hd_outbox_stats	stats;
	struct herald_error	error;
	int			n, batches = 0;

	do {
		n = hd_outbox_relay(app, job, f->config, f->origin, limit,
		    HD_OUTBOX_BATCH_BYTES, HD_OUTBOX_FAULT_NONE, &stats,
		    &error);
		assert_true(n >= 0);
		batches++;
	} while (n > 0);
	return batches;
}

/* Enqueue a job of task with unique key in a unit of work of its own. */
static void
enqueue_keyed(struct fixture *f, const char *task, const char *key,
    unsigned states)
{
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;

	options.unique_key = key;
	options.unique_states = states;
	uow = herald_uow_begin(f->app->conn, NULL, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, task, NULL, &options,
	    &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);
}

/* Fail unless every event became exactly one job per subscribed task. */
static void
assert_jobs_exactly_once(struct fixture *f, int events)
{
	PGconn	*job = f->job->conn;

	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    2 * events);
	assert_int_equal(dbtest_int(job, "SELECT count(DISTINCT (event_id, "
	    "task)) FROM herald.jobs"), 2 * events);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs "
	    "WHERE task = 'send_welcome_email' AND queue = 'mail'"), events);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs "
	    "WHERE task = 'provision_account' AND queue = 'default'"), events);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

static void
test_relay_expands_events(void **state)
{
	struct fixture	*f = *state;
	char		*row;

	publish_events(f, "UserRegistered", 3);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	assert_jobs_exactly_once(f, 3);
	row = dbtest_text(f->job->conn, "SELECT event_type || ' ' || "
	    "max_attempts || ' ' || (payload->>'user') FROM herald.jobs WHERE "
	    "task = 'send_welcome_email' ORDER BY id LIMIT 1");
	assert_string_equal(row, "UserRegistered 3 0");
	free(row);
	/* The event id in the job is the one in the outbox. */
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE event_id ~ '^[0-9a-f-]{36}$'"), 6);
}

/* An event type with a dot reaches the task named by its group. */
static void
test_relay_routes_dotted_event_type(void **state)
{
	struct fixture	*f = *state;

	publish_events(f, "orders.created", 2);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.jobs"), 2);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 'mail.send' AND queue = 'mail.v2' AND "
	    "event_type = 'orders.created'"), 2);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

static void
test_relay_explicit_job_keeps_options(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;
	char				*row;

	options.priority = -5;
	options.max_attempts = 7;
	uow = herald_uow_begin(f->app->conn, NULL, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, "provision_account",
	    "{\"x\":1}", &options, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "unconfigured_task", NULL,
	    NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	row = dbtest_text(f->job->conn, "SELECT queue || ' ' || priority || "
	    "' ' || max_attempts FROM herald.jobs WHERE task = "
	    "'provision_account'");
	assert_string_equal(row, "default -5 7");
	free(row);
	row = dbtest_text(f->job->conn, "SELECT queue FROM herald.jobs WHERE "
	    "task = 'unconfigured_task'");
	assert_string_equal(row, "default");
	free(row);
}

static void
test_relay_drops_unsubscribed_event(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;

	publish_events(f, "Ignored", 4);

	assert_int_equal(hd_outbox_relay(f->app->conn, f->job->conn,
	    f->config, f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_NONE, &stats, &error), 4);

	assert_int_equal(stats.dropped, 4);
	assert_int_equal(stats.ndropped_types, 1);
	assert_string_equal(stats.dropped_types[0], "Ignored");
	assert_int_equal(stats.dropped_counts[0], 4);
	assert_int_equal(dbtest_int(f->job->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

/*
 * A job that names no queue and whose task the configuration lacks goes
 * to the default queue, and its task is named for the warning.  A job
 * that names its queue may be for another host's task, so it is not.
 */
static void
test_relay_names_unknown_task(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 elsewhere = { .queue = "mail" };
	struct hd_outbox_stats		 stats;
	struct herald_error		 error;
	struct herald_uow		*uow;

	uow = herald_uow_begin(f->app->conn, NULL, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, "send_welcom_email", NULL,
	    NULL, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "send_welcom_email", NULL,
	    NULL, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "other_host_task", NULL,
	    &elsewhere, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "send_welcome_email", NULL,
	    NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	assert_int_equal(hd_outbox_relay(f->app->conn, f->job->conn,
	    f->config, f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_NONE, &stats, &error), 4);

	assert_int_equal(stats.jobs, 4);
	assert_int_equal(stats.nunknown_tasks, 1);
	assert_string_equal(stats.unknown_tasks[0], "send_welcom_email");
	assert_int_equal(stats.unknown_counts[0], 2);
}

/*
 * A type listed with no task is dropped on purpose: it is counted but
 * not named for the warning.
 */
static void
test_relay_drops_listed_event_quietly(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;

	publish_events(f, "AccountClosed", 3);

	assert_int_equal(hd_outbox_relay(f->app->conn, f->job->conn,
	    f->config, f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_NONE, &stats, &error), 3);

	assert_int_equal(stats.dropped, 3);
	assert_int_equal(stats.ndropped_types, 0);
	assert_int_equal(dbtest_int(f->job->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/*
 * Every other batch dies after the job-database commit: the application
 * connection is closed with the transaction open, as a crash would leave
 * it, and a new relay connection picks the rows up again.
 */
static void
test_relay_crash_between_commits(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;
	PGconn			*app;
	int			 n, batch = 0, crashes = 0;

	publish_events(f, "UserRegistered", EVENTS_MANY);
	app = dbtest_connect(f->app);
	assert_int_equal(hd_outbox_report(f->app->conn, f->job->conn,
	    f->origin, &error), 0);

	/*
	 * The server ends a closed connection's transaction a moment later,
	 * and until then SKIP LOCKED passes its rows over: loop on the
	 * outbox, not on the first empty batch.
	 */
	while (dbtest_int(f->app->conn, "SELECT count(*) FROM herald.outbox")
	    > 0) {
		enum hd_outbox_fault fault = batch % 2 == 0 ?
		    HD_OUTBOX_FAULT_AFTER_JOB_COMMIT : HD_OUTBOX_FAULT_NONE;

		n = hd_outbox_relay(app, f->job->conn, f->config, f->origin,
		    250, HD_OUTBOX_BATCH_BYTES, fault, &stats, &error);
		assert_true(n >= 0);
		if (n > 0 && fault == HD_OUTBOX_FAULT_AFTER_JOB_COMMIT) {
			PQfinish(app);
			app = dbtest_connect(f->app);
			crashes++;
		}
		batch++;
	}
	PQfinish(app);

	assert_true(crashes >= EVENTS_MANY / 250 / 2);
	assert_jobs_exactly_once(f, EVENTS_MANY);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.relayed"), EVENTS_MANY);
	/* A batch that crashed after its jobs' commit is counted once. */
	assert_int_equal(dbtest_int(f->job->conn, "SELECT relayed_total FROM "
	    "herald.relay_status"), 2 * EVENTS_MANY);
}

static void
test_relay_two_relays_at_once(void **state)
{
	struct fixture	*f = *state;
	pid_t		 pids[2];
	int		 i, status;

	publish_events(f, "UserRegistered", EVENTS_MANY);

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			PGconn	*app = PQconnectdb(f->app->conninfo);
			PGconn	*job = PQconnectdb(f->job->conninfo);
			struct hd_outbox_stats	stats;
			struct herald_error	error;
			int			n;

			do {
				n = hd_outbox_relay(app, job, f->config,
				    f->origin, 50, HD_OUTBOX_BATCH_BYTES,
				    HD_OUTBOX_FAULT_NONE, &stats, &error);
			} while (n > 0);
			_exit(n == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	assert_jobs_exactly_once(f, EVENTS_MANY);
}

static void
test_relay_report_records_backlog(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;

	publish_events(f, "UserRegistered", 5);
	publish_events(f, "Ignored", 2);

	assert_int_equal(hd_outbox_report(f->app->conn, f->job->conn,
	    f->origin, &error), 0);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT backlog FROM "
	    "herald.relay_status"), 7);
	/* Each batch adds its jobs and dropped events to the origin's row. */
	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT relayed_total FROM "
	    "herald.relay_status"), 10);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT dropped_total FROM "
	    "herald.relay_status"), 2);
	/* A report updates the backlog and keeps the totals. */
	assert_int_equal(hd_outbox_report(f->app->conn, f->job->conn,
	    f->origin, &error), 0);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT backlog FROM "
	    "herald.relay_status"), 0);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT relayed_total FROM "
	    "herald.relay_status"), 10);
}

static void
test_relay_prune_keeps_recent_keys(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;

	publish_events(f, "UserRegistered", 5);
	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	assert_int_equal(hd_outbox_prune(f->app->conn, f->job->conn,
	    f->origin, &error), 0);

	/*
	 * A batch with an id above the least left in the outbox could still
	 * be sent again, however old it is.
	 */
	publish_events(f, "UserRegistered", 2);
	assert_null(dbtest_text(f->job->conn, "SELECT herald.relay_record("
	    "'%s', ARRAY[(SELECT max(outbox_id) + 10 FROM herald.relayed)])",
	    f->origin));
	dbtest_exec(f->job->conn, "UPDATE herald.relayed_batches SET "
	    "relayed_at = now() - interval '2 hours'");
	assert_int_equal(hd_outbox_prune(f->app->conn, f->job->conn,
	    f->origin, &error), 5);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.relayed"), 1);
}

/*
 * A batch ends with the first row whose predecessors' payloads reach
 * max_bytes, and stats.more reports the rows left behind.  A row larger
 * than max_bytes still goes, alone.
 */
static void
test_relay_byte_limit_cuts_batch(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;
	PGconn			*app = f->app->conn, *job = f->job->conn;

	/* Payloads of 12 bytes of text each: {"u": "001"}. */
	publish_events(f, "UserRegistered", 5);
	dbtest_exec(app, "UPDATE herald.outbox SET payload = "
	    "jsonb_build_object('u', lpad(id::text, 3, '0'))");
	assert_int_equal(dbtest_int(app, "SELECT sum(octet_length("
	    "payload::text)) FROM herald.outbox"), 5 * 12);

	/* Two rows make 24 bytes, under 25, so the third goes too. */
	assert_int_equal(hd_outbox_relay(app, job, f->config, f->origin,
	    HD_OUTBOX_BATCH, 25, HD_OUTBOX_FAULT_NONE, &stats, &error), 3);
	assert_true(stats.more);
	assert_int_equal(dbtest_int(app, "SELECT count(*) FROM "
	    "herald.outbox"), 2);
	assert_int_equal(hd_outbox_relay(app, job, f->config, f->origin,
	    HD_OUTBOX_BATCH, 1, HD_OUTBOX_FAULT_NONE, &stats, &error), 1);
	assert_true(stats.more);
	assert_int_equal(hd_outbox_relay(app, job, f->config, f->origin,
	    HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES, HD_OUTBOX_FAULT_NONE,
	    &stats, &error), 1);
	assert_false(stats.more);

	assert_jobs_exactly_once(f, 5);
	/* The jobs keep the order of the outbox. */
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM (SELECT "
	    "payload->>'u' AS u, lag(payload->>'u') OVER (ORDER BY id) AS prev "
	    "FROM herald.jobs WHERE task = 'provision_account') o "
	    "WHERE u < prev"), 0);
}

static void
test_relay_explicit_job_keeps_run_at(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;

	/* 2030-01-02 03:04:05.123456 UTC */
	options.run_at_us = INT64_C(1893553445123456);
	uow = herald_uow_begin(f->app->conn, NULL, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, "provision_account", NULL,
	    &options, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "send_welcome_email", NULL,
	    NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 'provision_account' AND run_at = "
	    "'2030-01-02 03:04:05.123456+00'"), 1);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.jobs WHERE task = 'send_welcome_email' AND run_at <= "
	    "now()"), 1);
}

/*
 * An outbox row written with plain SQL may have a run_at outside the
 * range of the job database.  The relay clamps it instead of failing
 * every batch: infinity to the end of 9999, a time before 1970 to 1970.
 */
static void
test_relay_clamps_outbox_run_at(void **state)
{
	struct fixture	*f = *state;

	dbtest_exec(f->app->conn, "INSERT INTO herald.outbox (kind, task,"
	    " queue, payload, run_at) VALUES"
	    " ('job', 'late', 'q', '{}', 'infinity'),"
	    " ('job', 'early', 'q', '{}', '-infinity'),"
	    " ('job', 'old', 'q', '{}', '1900-01-01 00:00:00+00'),"
	    " ('job', 'now', 'q', '{}', NULL)");

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	assert_int_equal(dbtest_int(f->app->conn, "SELECT count(*) FROM"
	    " herald.outbox"), 0);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'late'"
	    " AND run_at = '9999-12-31 23:59:59.999999+00'"), 1);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task IN ('early', 'old')"
	    " AND run_at = '1970-01-01 00:00:00+00'"), 2);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'now' AND run_at > '2000-01-01Z'"
	    " AND run_at <= now()"), 1);
}

/*
 * A relay killed after sending a batch to the job database leaves that
 * batch to commit there while its outbox rows are already free again.  A
 * second relay that sends them meanwhile waits for the first batch, and
 * then makes jobs of its other rows only.
 */
static void
test_relay_waits_for_uncommitted_copy(void **state)
{
	struct fixture	*f = *state;
	PGconn		*job = f->job->conn, *other = dbtest_connect(f->job);
	PGresult	*res;

	dbtest_exec(job, "BEGIN");
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o',"
	    " '{1,2,3}', array_fill('{}'::jsonb, '{3}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3}', '{t,t,t}', '{q,q,q}', NULL)"), 3);
	assert_int_equal(PQsendQuery(other, "SELECT herald.relay_arrays('o',"
	    " '{2,3,4}', array_fill('{}'::jsonb, '{3}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3}', '{t,t,t}', '{q,q,q}', NULL)"), 1);
	assert_true(dbtest_waits_for_lock(job, other));
	dbtest_exec(job, "COMMIT");

	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    4);
	dbtest_assert_text(dbtest_text(job, "SELECT string_agg(outbox_id::text,"
	    " ',' ORDER BY outbox_id) FROM herald.relayed"), "1,2,3,4");
	PQfinish(other);
}

/*
 * The relay keeps two batches in flight.  The second one inserts its
 * jobs while the first one holds the origin's lock, and waits only to
 * record its ids, so the two inserts run at once.
 */
static void
test_relay_inserts_before_lock(void **state)
{
	struct fixture	*f = *state;
	PGconn		*job = f->job->conn, *other = dbtest_connect(f->job);
	PGresult	*res;

	dbtest_exec(job, "BEGIN");
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o',"
	    " '{4,5,6}', array_fill('{}'::jsonb, '{3}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3}', '{t,t,t}', '{q,q,q}', NULL)"), 3);
	assert_int_equal(PQsendQuery(other, "SELECT herald.relay_arrays('o',"
	    " '{1,2,3}', array_fill('{}'::jsonb, '{3}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3}', '{t,t,t}', '{q,q,q}', NULL)"), 1);
	assert_true(dbtest_waits_for_lock(job, other));
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM pg_locks"
	    " WHERE pid = %d AND relation = 'herald.jobs'::regclass"
	    " AND mode = 'RowExclusiveLock' AND granted",
	    PQbackendPID(other)), 1);
	dbtest_exec(job, "COMMIT");

	/* The batch with the lower ids commits last and copies nothing. */
	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "3");
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    6);
	dbtest_assert_text(dbtest_text(job, "SELECT string_agg(outbox_ids::text,"
	    " ' ' ORDER BY first_id) FROM herald.relayed_batches"),
	    "{1,2,3} {4,5,6}");
	PQfinish(other);
}

/*
 * Ids below the greatest one relayed are new when they committed after a
 * batch with greater ids was taken.  Only the ids relayed before make no
 * job.
 */
static void
test_relay_takes_late_ids(void **state)
{
	struct fixture	*f = *state;
	PGconn		*job = f->job->conn;

	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o',"
	    " '{1,2,5}', array_fill('{}'::jsonb, '{3}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3}', '{t,t,t}', '{q,q,q}', NULL)"), 3);
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o',"
	    " '{3,4,5,6}', array_fill('{}'::jsonb, '{4}'), NULL, NULL, NULL,"
	    " NULL, '{1,2,3,4}', '{t,t,t,t}', '{q,q,q,q}', NULL)"), 3);
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('p',"
	    " '{5}', array_fill('{}'::jsonb, '{1}'), NULL, NULL, NULL,"
	    " NULL, '{1}', '{t}', '{q}', NULL)"), 1);

	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    7);
	dbtest_assert_text(dbtest_text(job, "SELECT string_agg(origin || "
	    "outbox_ids::text, ' ' ORDER BY origin, first_id) FROM "
	    "herald.relayed_batches"), "o{1,2,5} o{3,4,6} p{5}");
}

/* Both relay functions reject a malformed batch and change nothing. */
static void
test_relay_arrays_reject_bad_batch(void **state)
{
	static const struct {
		const char	*sql;
		const char	*message;
	} cases[] = {
		{ "SELECT herald.relay_arrays(NULL, '{1}', NULL, NULL, NULL,"
		  " NULL, NULL, '{1}', '{t}', '{q}', NULL)",
		  "relay batch must have an origin, outbox ids, rows, tasks"
		  " and queues" },
		{ "SELECT herald.relay_arrays('o', '{1,2}', '{\"{}\"}', NULL,"
		  " NULL, NULL, NULL, '{1}', '{t}', '{q}', NULL)",
		  "outbox row arrays must have as many elements as the id"
		  " array (2)" },
		{ "SELECT herald.relay_arrays('o', '{1}', NULL, NULL, NULL,"
		  " NULL, NULL, '{1}', '{t,u}', '{q}', NULL)",
		  "job arrays must have as many elements as the row array"
		  " (1)" },
		{ "SELECT herald.relay_arrays('o', '{1}', NULL, NULL, NULL,"
		  " NULL, NULL, '{2}', '{t}', '{q}', NULL)",
		  "job rows must be positions in the id array, from 1 to 1" },
		{ "SELECT herald.relay_arrays_unique('o', '{1}', NULL, NULL,"
		  " NULL, NULL, NULL, '{1}', '{t}', '{q}', NULL, '{a,b}', NULL,"
		  " NULL)",
		  "job arrays must have as many elements as the row array"
		  " (1)" },
		{ "SELECT herald.relay_arrays_unique('o', '{1}', NULL,"
		  " '{1,2}', NULL, NULL, NULL, '{1}', '{t}', '{q}', NULL, NULL,"
		  " NULL, NULL)",
		  "outbox row arrays must have as many elements as the id"
		  " array (1)" },
	};
	struct fixture	*f = *state;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("%s\n", cases[i].sql);
		dbtest_assert_invalid(f->job->conn, cases[i].sql,
		    cases[i].message, NULL);
	}
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 0);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.relayed"), 0);
}

/* A batch whose jobs the job database rejects stays in the outbox. */
static void
test_relay_failed_insert_keeps_rows(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;

	publish_events(f, "UserRegistered", 5);
	dbtest_exec(f->job->conn, "ALTER TABLE herald.jobs ADD CONSTRAINT "
	    "jobs_test_check CHECK (queue <> 'mail') NOT VALID");

	assert_int_equal(hd_outbox_relay(f->app->conn, f->job->conn,
	    f->config, f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_NONE, &stats, &error), -1);

	assert_int_equal(error.code, HERALD_EDB);
	assert_string_equal(error.sqlstate, "23514");
	assert_int_equal(PQtransactionStatus(f->app->conn), PQTRANS_IDLE);
	assert_int_equal(dbtest_int(f->app->conn, "SELECT count(*) FROM "
	    "herald.outbox"), 5);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM "
	    "herald.relayed"), 0);

	dbtest_exec(f->job->conn, "ALTER TABLE herald.jobs DROP CONSTRAINT "
	    "jobs_test_check");
	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);
	assert_jobs_exactly_once(f, 5);
}

/*
 * A take sent on a second connection while the first one's batch is open
 * skips that batch's rows and takes the next ones in id order.  Its
 * rollback leaves those rows unlocked in the outbox.
 */
static void
test_relay_take_ahead_next_rows(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_take	 first, ahead;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;
	PGconn			*second;

	publish_events(f, "UserRegistered", 5);
	second = dbtest_connect(f->app);

	assert_int_equal(hd_outbox_take_send(&first, f->app->conn, 2,
	    HD_OUTBOX_BATCH_BYTES, &error), 0);
	assert_int_equal(hd_outbox_take_receive(&first, &error), 2);
	assert_int_equal(hd_outbox_take_send(&ahead, second, 2,
	    HD_OUTBOX_BATCH_BYTES, &error), 0);
	assert_int_equal(hd_outbox_take_insert(&first, f->job->conn,
	    f->config, f->origin, &stats, &error), 0);
	assert_int_equal(stats.jobs, 4);
	assert_int_equal(hd_outbox_take_receive(&ahead, &error), 2);

	/* The ids of the batch taken ahead follow the first batch's. */
	assert_true(strtoll(PQgetvalue(ahead.res, 0, 0), NULL, 10) >
	    strtoll(PQgetvalue(first.res, 1, 0), NULL, 10));
	assert_true(strtoll(PQgetvalue(ahead.res, 1, 0), NULL, 10) >
	    strtoll(PQgetvalue(ahead.res, 0, 0), NULL, 10));
	assert_int_equal(hd_outbox_take_commit(&first, &error), 0);
	assert_null(first.app);

	hd_outbox_take_rollback(&ahead);
	assert_null(ahead.app);
	assert_int_equal(PQtransactionStatus(second), PQTRANS_IDLE);
	assert_int_equal(dbtest_int(f->app->conn, "SELECT count(*) FROM"
	    " (SELECT 1 FROM herald.outbox FOR UPDATE SKIP LOCKED) o"), 3);
	PQfinish(second);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);
	assert_jobs_exactly_once(f, 5);
}

/* Run sql on conn and return the SQLSTATE of its error, "" if none. */
static char *
sql_error_state(PGconn *conn, const char *sql)
{
	static char	 state[6];
	PGresult	*res = PQexec(conn, sql);
	const char	*s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(state, sizeof state, "%s", s != NULL ? s : "");
	PQclear(res);
	return state;
}

static void
test_relay_arrays_rejects_bad_batches(void **state)
{
	struct fixture	*f = *state;
	PGconn		*job = f->job->conn;

	/* A job's row beyond the id array. */
	assert_string_equal(sql_error_state(job, "SELECT herald.relay_arrays("
	    "'o', '{1,2}', NULL, NULL, NULL, NULL, NULL, '{1,3}', '{a,b}', "
	    "'{q,q}', NULL)"), "22023");
	/* A row array shorter than the ids. */
	assert_string_equal(sql_error_state(job, "SELECT herald.relay_arrays("
	    "'o', '{1,2}', '{\"{}\"}', NULL, NULL, NULL, NULL, '{1}', '{a}', "
	    "'{q}', NULL)"), "22023");
	/* A job array shorter than the rows of jobs. */
	assert_string_equal(sql_error_state(job, "SELECT herald.relay_arrays("
	    "'o', '{1}', NULL, NULL, NULL, NULL, NULL, '{1,1}', '{a,b}', "
	    "'{q}', NULL)"), "22023");
	/* No id array. */
	assert_string_equal(sql_error_state(job, "SELECT herald.relay_arrays("
	    "'o', NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{}', '{}', "
	    "NULL)"), "22023");

	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM "
	    "herald.relayed"), 0);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    0);
	/* Well-formed, the same call inserts. */
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o', "
	    "'{1,2}', '{\"{}\",\"[]\"}', NULL, NULL, NULL, NULL, '{1,2,2}', "
	    "'{a,b,c}', '{q,q,r}', NULL)"), 3);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs "
	    "WHERE payload = '[]' AND max_attempts = 10 AND priority = 0"),
	    2);
}

/*
 * A batch that repeats rows of an earlier one makes jobs of its new rows
 * only.  A relay that died between its two commits sends such a batch.
 */
static void
test_relay_arrays_skips_relayed_rows(void **state)
{
	struct fixture	*f = *state;
	PGconn		*job = f->job->conn;

	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o', "
	    "'{1,2}', '{\"{}\",\"{}\"}', NULL, NULL, NULL, NULL, '{1,2}', "
	    "'{a,b}', '{q,q}', NULL)"), 2);
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o', "
	    "'{2,3}', '{\"{}\",\"{}\"}', NULL, NULL, NULL, NULL, '{1,2,2}', "
	    "'{c,d,e}', '{q,q,q}', NULL)"), 2);
	assert_int_equal(dbtest_int(job, "SELECT herald.relay_arrays('o', "
	    "'{1,3}', '{\"{}\",\"{}\"}', NULL, NULL, NULL, NULL, '{1,2}', "
	    "'{f,g}', '{q,q}', NULL)"), 0);

	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM "
	    "herald.relayed"), 3);
	dbtest_assert_text(dbtest_text(job, "SELECT string_agg(task, ','"
	    " ORDER BY id) FROM herald.jobs"), "a,b,d,e");
}

/*
 * The relay logs in with a role of herald_worker in both databases, which
 * must be enough to lock, delete and insert a batch.
 */
static void
worker_connect(struct fixture *f, char *login, size_t size, PGconn **app,
    PGconn **job)
{
	char	conninfo[1024];

	snprintf(login, size, "herald_t_%ld_relay", (long)getpid());
	dbtest_exec(f->app->conn, "CREATE ROLE %s LOGIN IN ROLE herald_worker",
	    login);
	snprintf(conninfo, sizeof conninfo, "%s user=%s", f->app->conninfo,
	    login);
	*app = PQconnectdb(conninfo);
	snprintf(conninfo, sizeof conninfo, "%s user=%s", f->job->conninfo,
	    login);
	*job = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(*app), CONNECTION_OK);
	assert_int_equal(PQstatus(*job), CONNECTION_OK);
}

static void
test_relay_as_worker_role(void **state)
{
	struct fixture	*f = *state;
	PGconn		*app, *job;
	char		 login[64];

	worker_connect(f, login, sizeof login, &app, &job);
	publish_events(f, "UserRegistered", 5);

	relay_all(f, app, job, HD_OUTBOX_BATCH);

	PQfinish(app);
	PQfinish(job);
	dbtest_exec(f->app->conn, "DROP ROLE %s", login);
	assert_jobs_exactly_once(f, 5);
}

/* herald_worker may also take the keys of a keyed batch. */
static void
test_relay_unique_as_worker_role(void **state)
{
	struct fixture	*f = *state;
	PGconn		*app, *job;
	char		 login[64];

	worker_connect(f, login, sizeof login, &app, &job);
	enqueue_keyed(f, "provision_account", "account:1", 0);
	enqueue_keyed(f, "provision_account", "account:1", 0);

	relay_all(f, app, job, HD_OUTBOX_BATCH);

	PQfinish(app);
	PQfinish(job);
	dbtest_exec(f->app->conn, "DROP ROLE %s", login);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 1);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

/*
 * Rows written to the outbox with plain SQL are checked as libherald
 * checks them, so no row can fail every batch of the relay.
 */
static void
test_outbox_rejects_bad_rows(void **state)
{
	static const char *const rows[] = {
		"'job', NULL, NULL, 'bad task!', NULL, '{}', NULL",
		"'job', NULL, NULL, 'mail', 'bad queue!', '{}', NULL",
		"'job', NULL, NULL, 'mail', NULL, '3', NULL",
		"'job', NULL, NULL, 'mail', NULL, '{}', 0",
		"'job', NULL, NULL, 'mail', NULL, '{}', 1001",
		"'event', gen_random_uuid(), 'Bad Type', NULL, NULL, '{}', NULL",
	};
	struct fixture	*f = *state;
	PGresult	*res;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO herald.outbox (kind,"
		    " event_id, event_type, task, queue, payload, max_attempts)"
		    " VALUES (%s)", rows[i]);
		res = PQexec(f->app->conn, sql);
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE), "23514");
		PQclear(res);
	}
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);

	dbtest_exec(f->app->conn, "INSERT INTO herald.outbox (kind, task,"
	    " queue, payload, max_attempts) VALUES ('job', 'mail.send-1',"
	    " 'q:1', '[]', 1000)");
	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'mail.send-1'"), 1);
}

/*
 * A keyed job of a unit of work is relayed once, and a second one with
 * its key, in a later batch or in the same one, makes no job while the
 * first is queued.  Its outbox row is still recorded as relayed.
 */
static void
test_relay_unique_key_held(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;
	PGconn			*job = f->job->conn;

	enqueue_keyed(f, "provision_account", "account:1", 0);
	relay_all(f, f->app->conn, job, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    1);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs j"
	    " JOIN herald.unique_keys u ON u.job_id = j.id"
	    " WHERE u.key = 'account:1' AND j.state = 'queued'"), 1);

	enqueue_keyed(f, "provision_account", "account:1", 0);
	assert_int_equal(hd_outbox_relay(f->app->conn, job, f->config,
	    f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_NONE, &stats, &error), 1);
	assert_int_equal(stats.jobs, 0);
	assert_int_equal(stats.skipped, 1);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    1);

	/* Two with a new key in one batch, the second held by the first. */
	enqueue_keyed(f, "provision_account", "account:2", 0);
	enqueue_keyed(f, "provision_account", "account:2", 0);
	relay_all(f, f->app->conn, job, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"),
	    2);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM"
	    " herald.relayed"), 4);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);

	/* A key held only while running passes a queued job. */
	enqueue_keyed(f, "provision_account", "account:3",
	    HERALD_UNIQUE_RUNNING);
	enqueue_keyed(f, "provision_account", "account:3",
	    HERALD_UNIQUE_RUNNING);
	relay_all(f, f->app->conn, job, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(job, "SELECT count(*) FROM herald.jobs"
	    " WHERE task = 'provision_account'"), 4);
}

/*
 * Keyed jobs, plain jobs and events in one batch: the keyed path makes
 * the same jobs as herald.relay_arrays(), with ids in outbox order.
 */
static void
test_relay_unique_mixed_batch(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;
	char				*row;

	uow = herald_uow_begin(f->app->conn, NULL, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, "mail.send", "{\"n\":1}",
	    NULL, &error), 0);
	options.unique_key = "k";
	options.priority = 3;
	assert_int_equal(herald_uow_enqueue(uow, "mail.send", "{\"n\":2}",
	    &options, &error), 0);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered",
	    "{\"n\":3}", NULL, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "mail.send", "{\"n\":4}",
	    &options, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "unconfigured_task",
	    "{\"n\":5}", NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);

	row = dbtest_text(f->job->conn, "SELECT string_agg(concat_ws(' ',"
	    " payload->>'n', task, queue, priority, max_attempts,"
	    " event_type), ', ' ORDER BY id) FROM herald.jobs");
	assert_string_equal(row, "1 mail.send mail.v2 0 10, "
	    "2 mail.send mail.v2 3 10, "
	    "3 send_welcome_email mail 0 3 UserRegistered, "
	    "3 provision_account default 0 10 UserRegistered, "
	    "5 unconfigured_task default 0 10");
	free(row);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.unique_keys WHERE key = 'k'"), 1);
}

/*
 * A relay that dies between the job database's commit and the
 * application's resends its batch, which takes no key again and makes
 * no second job.
 */
static void
test_relay_unique_crash_resend(void **state)
{
	struct fixture		*f = *state;
	struct hd_outbox_stats	 stats;
	struct herald_error	 error;
	PGconn			*app;
	int			 n;

	enqueue_keyed(f, "provision_account", "account:9", 0);
	publish_events(f, "UserRegistered", 2);
	app = dbtest_connect(f->app);
	n = hd_outbox_relay(app, f->job->conn, f->config, f->origin,
	    HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
	    HD_OUTBOX_FAULT_AFTER_JOB_COMMIT, &stats, &error);
	assert_int_equal(n, 3);
	PQfinish(app);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 5);

	/* The rows come back once the server ends the dead transaction. */
	app = dbtest_connect(f->app);
	while (dbtest_int(f->app->conn, "SELECT count(*) FROM herald.outbox")
	    > 0)
		assert_true(hd_outbox_relay(app, f->job->conn, f->config,
		    f->origin, HD_OUTBOX_BATCH, HD_OUTBOX_BATCH_BYTES,
		    HD_OUTBOX_FAULT_NONE, &stats, &error) >= 0);
	PQfinish(app);

	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 5);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE task = 'provision_account' AND event_id IS"
	    " NULL"), 1);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.relayed"), 3);
}

/*
 * A relay of an earlier version takes its batch without the keys.  Its
 * delete of a keyed row fails, so the row stays for a relay that reads
 * keys; rows without a key are deleted as before.
 */
static void
test_relay_old_relay_refuses_keyed_rows(void **state)
{
	struct fixture	*f = *state;
	PGresult	*res;

	enqueue_keyed(f, "provision_account", "account:1", 0);
	res = PQexec(f->app->conn, "DELETE FROM herald.outbox");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "55000");
	PQclear(res);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 1);

	publish_events(f, "UserRegistered", 1);
	dbtest_exec(f->app->conn, "DELETE FROM herald.outbox"
	    " WHERE unique_key IS NULL");
	relay_all(f, f->app->conn, f->job->conn, HD_OUTBOX_BATCH);
	assert_int_equal(dbtest_int(f->job->conn, "SELECT count(*) FROM"
	    " herald.jobs"), 1);
}

/* The keys of an outbox row are checked as herald_enqueue checks them. */
static void
test_outbox_rejects_bad_keys(void **state)
{
	static const char *const rows[] = {
		"'job', 'mail', '', NULL, NULL",
		"'job', 'mail', NULL, 10, NULL",
		"'job', 'mail', 'k', -1, NULL",
		"'job', 'mail', 'k', NULL, 'done'",
		"'job', 'mail', NULL, NULL, 'queued'",
	};
	struct fixture	*f = *state;
	PGresult	*res;
	char		 sql[512];
	size_t		 i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO herald.outbox (kind,"
		    " task, unique_key, unique_for_ms, unique_states, payload)"
		    " VALUES (%s, '{}')", rows[i]);
		res = PQexec(f->app->conn, sql);
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE), "23514");
		PQclear(res);
	}
	res = PQexec(f->app->conn, "INSERT INTO herald.outbox (kind,"
	    " event_id, event_type, payload, unique_key) VALUES ('event',"
	    " gen_random_uuid(), 'UserRegistered', '{}', 'k')");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "23514");
	PQclear(res);
	assert_int_equal(dbtest_int(f->app->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_relay_expands_events,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_routes_dotted_event_type, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_explicit_job_keeps_options, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_drops_unsubscribed_event, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_drops_listed_event_quietly, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_names_unknown_task, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_crash_between_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_two_relays_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_report_records_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_prune_keeps_recent_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_byte_limit_cuts_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_explicit_job_keeps_run_at, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_clamps_outbox_run_at, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_waits_for_uncommitted_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_inserts_before_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_takes_late_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_arrays_reject_bad_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_failed_insert_keeps_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_take_ahead_next_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_arrays_rejects_bad_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_arrays_skips_relayed_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_as_worker_role,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_rejects_bad_rows,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_unique_key_held,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_unique_as_worker_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_unique_mixed_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_unique_crash_resend,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_old_relay_refuses_keyed_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_rejects_bad_keys,
		    setup, teardown),
	};

	dbtest_init("relay");
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
