/*
 * janitor.c: the janitor process.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "db.h"
#include "janitor.h"
#include "log.h"
#include "migrate.h"
#include "periodic.h"
#include "signals.h"
#include "store.h"
#include "child.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

/*
 * The advisory lock key that elects the active janitor.  A janitor of
 * every release must use this value, and herald.janitor_backend_pid()
 * looks for it in pg_locks.
 */
#define JANITOR_LOCK_KEY	"114776697284708"
#define JANITOR_ID_BYTES	8
#define JANITOR_ROUND_MS	1000
/* A standby takes over at most this long after the active one dies. */
#define JANITOR_LOCK_RETRY_MS	2000
/*
 * The server ends a janitor's session idle this long, inside a
 * transaction or, from PostgreSQL 14, outside one (idle_session_timeout).
 * That frees the lock of an active janitor that is frozen (SIGSTOP, a
 * paused host) for a standby.  A live janitor sends a statement every
 * JANITOR_ROUND_MS when active and every JANITOR_LOCK_RETRY_MS on
 * standby, and keeps no transaction open between two of its own
 * statements for longer than they take.
 */
#define JANITOR_IDLE_TIMEOUT	"10s"
#define JANITOR_PRUNE_MS	60000
/*
 * How often the janitor looks for queues with ready jobs and no worker.
 * A queue is named when two looks in a row find it, so that workers
 * that are starting have time to register.
 */
#define JANITOR_UNSERVED_MS	10000
#define JANITOR_EXPIRE_LIMIT	1000
/* Pruning deletes this many rows per statement, for at most this long. */
#define JANITOR_PRUNE_BATCH	500
#define JANITOR_PRUNE_BUDGET_MS	2000
#define JANITOR_REPORT_MAX	4096
/* The wait before storing a report again after a failure; it doubles. */
#define JANITOR_REPORT_RETRY_MS	1000
#define JANITOR_REPORT_RETRY_MAX_MS 30000

/*
 * A queue as the janitor last read it, with a mark.  In the list of
 * pauses, the mark is whether the queue was paused.  In the list of
 * queues without a worker, it is whether that was logged.
 */
struct janitor_queue {
	char	*name;
	bool	 mark;
};

struct janitor {
	const struct hd_config	*config;
	const char		*supervisor_id;
	pid_t			 supervisor_pid;	/* the parent at start */
	char			 id[2 * JANITOR_ID_BYTES + 1];
	/* The janitor this one replaces, until its registration is removed. */
	char			 lost_id[2 * JANITOR_ID_BYTES + 1];
	PGconn			*conn;
	bool			 active;
	bool			 stopping;
	bool			 retiring;	/* replaced by a reload */
	bool			 registered;	/* at the first connection */
	/* The database time returned by the last announce_due(), or "". */
	char			 announced_until[64];

	/* CLOCK_MONOTONIC milliseconds. */
	int64_t			 connect_at_ms;
	int64_t			 connect_delay_ms;
	int			 connect_failures;
	/* When the connection was lost or first failed, or 0. */
	int64_t			 outage_start_ms;
	int64_t			 next_lock_ms;
	int64_t			 next_round_ms;
	int64_t			 next_prune_ms;
	int64_t			 next_prune_processes_ms;
	/* After an outage, no lease expires before this. */
	int64_t			 expire_from_ms;
	int64_t			 next_heartbeat_ms;
	int64_t			 next_ping_ms;

	/* Failed children: the report being read, and the last whole one. */
	int			 report_fd;
	char			 report_in[JANITOR_REPORT_MAX];
	size_t			 report_in_len;
	char			 report[JANITOR_REPORT_MAX];
	bool			 report_pending;	/* not yet stored */
	int64_t			 next_report_ms;	/* CLOCK_MONOTONIC */
	/* Failed attempts in a row to store it, and the SQLSTATE of the last. */
	int			 report_failures;
	char			 report_sqlstate[6];
	int			 exit_status;
	struct hd_periodic	 periodic;
	/* The queues of the last round, to log a pause or a resume. */
	struct janitor_queue	*queues;
	int			 nqueues;
	/* The queues with ready jobs and no worker at the last look. */
	struct janitor_queue	*unserved;
	int			 nunserved;
	int64_t			 next_unserved_ms;
};

static void
janitor_disconnect(struct janitor *j)
{
	j->connect_delay_ms = hd_reconnect_delay_ms(0);
	hd_log_warn("job database connection lost", "active=%d retry_ms=%lld",
	    j->active, (long long)j->connect_delay_ms);
	PQfinish(j->conn);
	j->conn = NULL;
	j->active = false;
	j->announced_until[0] = '\0';
	j->connect_at_ms = hd_monotonic_ms() + j->connect_delay_ms;
	j->connect_failures = 0;
	j->outage_start_ms = hd_monotonic_ms();
	j->report_pending = true;
}

/* Log a failed call and drop the connection when it broke. */
static void
janitor_failed(struct janitor *j, const char *operation,
    const struct herald_error *error)
{
	if (hd_db_error_is_fatal(j->conn, error)) {
		janitor_disconnect(j);
		return;
	}
	hd_log_error("job database error", "operation=%s error=%s sqlstate=%s",
	    operation, hd_error_reason(error), error->sqlstate);
}

/*
 * Run a parameterised query; return its result, or NULL after logging
 * the failure.
 */
static PGresult *
janitor_query(struct janitor *j, const char *operation, const char *sql,
    int nparams, const char *const *values)
{
	struct herald_error	 error;
	PGresult		*res;

	res = PQexecParams(j->conn, sql, nparams, NULL, values, NULL, NULL, 0);
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	memset(&error, 0, sizeof error);
	hd_error_from_pg(&error, j->conn, res, operation);
	PQclear(res);
	janitor_failed(j, operation, &error);
	return NULL;
}

/*
 * Register the supervisor (with its pid, the janitor's parent) and the
 * janitor itself, and remove the registration of the janitor it replaces.
 */
static int
janitor_register(struct janitor *j, struct herald_error *error)
{
	static const char sql[] =
	    "INSERT INTO herald.processes (id, kind, host, pid)"
	    " VALUES ($1, 'supervisor', $2, $3)"
	    " ON CONFLICT (id) DO UPDATE"
	    " SET host = excluded.host, pid = excluded.pid,"
	    " heartbeat_at = now()";
	const char	*values[3];
	char		 host[256], pid[32];
	PGresult	*res;

	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "unknown");
	host[sizeof host - 1] = '\0';
	snprintf(pid, sizeof pid, "%ld", (long)getppid());
	values[0] = j->supervisor_id;
	values[1] = host;
	values[2] = pid;
	res = PQexecParams(j->conn, sql, 3, NULL, values, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, j->conn, res, "register supervisor");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (hd_store_register(j->conn, j->id, "janitor", j->supervisor_id,
	    NULL, error) == -1)
		return -1;
	if (j->lost_id[0] != '\0') {
		if (hd_store_unregister(j->conn, j->lost_id, error) == -1)
			return -1;
		j->lost_id[0] = '\0';
	}
	return 0;
}

/*
 * Register at the first connection; after a reconnection, refresh the
 * heartbeats instead, which fails with HERALD_ENOTFOUND when another
 * janitor removed the registrations meanwhile.
 */
static int
janitor_check_in(struct janitor *j, struct herald_error *error)
{
	if (!j->registered) {
		if (janitor_register(j, error) == -1)
			return -1;
		j->registered = true;
		return 0;
	}
	if (hd_store_heartbeat(j->conn, j->supervisor_id, error) == -1 ||
	    hd_store_heartbeat(j->conn, j->id, error) == -1)
		return -1;
	return 0;
}

/*
 * Stop because the registration of this janitor or its supervisor was
 * removed, as happens when their heartbeat stopped for too long; the
 * supervisor starts a new janitor, which registers again.  Return -1.
 */
static int
janitor_removed(struct janitor *j)
{
	hd_log_warn("registration removed, restarting", "janitor_id=%s "
	    "supervisor_id=%s", j->id, j->supervisor_id);
	j->exit_status = HD_EXIT_RESTART;
	return -1;
}

static void
janitor_connect_failed(struct janitor *j, const struct herald_error *error)
{
	char	role[128];

	hd_conninfo_role(j->config->job_db, role, sizeof role);
	j->connect_failures++;
	j->connect_delay_ms = hd_reconnect_delay_after(j->connect_failures,
	    error);
	if (j->outage_start_ms == 0)
		j->outage_start_ms = hd_monotonic_ms();
	if (j->connect_failures == 1 && hd_error_grant_hint(error) != NULL)
		hd_log_error("could not connect to job database",
		    "error=%s sqlstate=%s retry_ms=%lld hint=%s user=%s",
		    hd_error_reason(error), error->sqlstate,
		    (long long)j->connect_delay_ms,
		    hd_error_grant_hint(error), role);
	else if (j->connect_failures == 1)
		hd_log_error("could not connect to job database",
		    "error=%s sqlstate=%s retry_ms=%lld user=%s",
		    hd_error_reason(error), error->sqlstate,
		    (long long)j->connect_delay_ms, role);
	else
		hd_log_debug("could not connect to job database",
		    "sqlstate=%s failures=%d retry_ms=%lld", error->sqlstate,
		    j->connect_failures, (long long)j->connect_delay_ms);
	j->connect_at_ms = hd_monotonic_ms() + j->connect_delay_ms;
}

/* Connect, check the schema and register; -1 when the schema is wrong. */
static int
janitor_connect(struct janitor *j)
{
	struct herald_error	 error;
	PGconn			*conn;
	PGresult		*res;
	int64_t			 now;

	memset(&error, 0, sizeof error);
	conn = hd_db_connect(j->config->job_db, "herald janitor", &error);
	if (conn == NULL) {
		janitor_connect_failed(j, &error);
		return 0;
	}
	if (hd_schema_check(conn, HD_SCHEMA_JOB, &error) == -1) {
		if (error.code != HERALD_ESCHEMA) {
			PQfinish(conn);
			janitor_connect_failed(j, &error);
			return 0;
		}
		/* An older schema is waited for, as a database is. */
		if (!hd_log_schema_mismatch(conn, HD_SCHEMA_JOB)) {
			PQfinish(conn);
			return -1;
		}
		PQfinish(conn);
		j->connect_failures++;
		j->connect_delay_ms =
		    hd_reconnect_delay_ms(j->connect_failures);
		j->connect_at_ms = hd_monotonic_ms() + j->connect_delay_ms;
		return 0;
	}
	res = PQexec(conn, "SELECT set_config("
	    "'idle_in_transaction_session_timeout', '" JANITOR_IDLE_TIMEOUT
	    "', false), CASE WHEN "
	    "current_setting('server_version_num')::int >= 140000 THEN "
	    "set_config('idle_session_timeout', '" JANITOR_IDLE_TIMEOUT "', "
	    "false) END");
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, conn, res, "set idle timeout");
		PQclear(res);
		PQfinish(conn);
		janitor_connect_failed(j, &error);
		return 0;
	}
	PQclear(res);
	j->conn = conn;
	if (janitor_check_in(j, &error) == -1) {
		j->conn = NULL;
		PQfinish(conn);
		if (error.code == HERALD_ENOTFOUND)
			return janitor_removed(j);
		janitor_connect_failed(j, &error);
		return 0;
	}
	now = hd_monotonic_ms();
	/*
	 * Leases may have run out during an outage that cost a renewal,
	 * which workers send every third of the lease, while their workers
	 * were cut off, not gone.  Those reconnect within HD_RECONNECT_MAX_MS
	 * and renew them at once, so expiring leases waits twice that: a job
	 * that never started is not charged a lost attempt, and one that
	 * finished in the meantime does not run again.  A shorter loss of
	 * the janitor's own connection delays nothing.
	 */
	if (j->outage_start_ms != 0 &&
	    now - j->outage_start_ms >= j->config->lease_ms / 3)
		j->expire_from_ms = now + 2 * HD_RECONNECT_MAX_MS;
	/* As a worker does, also when the first attempt succeeds. */
	if (j->outage_start_ms != 0)
		hd_log_info("job database connection restored",
		    "failures=%d outage_ms=%lld", j->connect_failures,
		    (long long)(now - j->outage_start_ms));
	j->outage_start_ms = 0;
	j->connect_failures = 0;
	j->next_lock_ms = now;
	j->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
	j->next_ping_ms = now + HD_PING_INTERVAL_MS;
	return 0;
}

static void
janitor_try_lock(struct janitor *j)
{
	const char	*values[1] = { JANITOR_LOCK_KEY };
	PGresult	*res;

	j->next_lock_ms = hd_monotonic_ms() + JANITOR_LOCK_RETRY_MS;
	res = janitor_query(j, "lock", "SELECT pg_try_advisory_lock($1)",
	    1, values);
	if (res == NULL)
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		j->active = true;
		hd_periodic_reset(&j->periodic);
		j->next_round_ms = hd_monotonic_ms();
		j->next_prune_ms = j->next_round_ms;
		/*
		 * After an outage every process's heartbeat is old.  Give
		 * the live ones a reconnection and a heartbeat before their
		 * registrations count as stale.
		 */
		j->next_prune_processes_ms = j->next_round_ms +
		    HD_RECONNECT_MAX_MS + HD_HEARTBEAT_MS;
		j->next_unserved_ms = j->next_round_ms + JANITOR_UNSERVED_MS;
		hd_log_info("janitor active", "janitor_id=%s", j->id);
	} else
		hd_log_debug("janitor standing by", "janitor_id=%s "
		    "retry_ms=%d", j->id, JANITOR_LOCK_RETRY_MS);
	PQclear(res);
}

/*
 * Wake the workers of queues whose jobs became due since last round.
 * The first round after a (re)connection has no last round, so it wakes
 * every queue with a due job that no worker holds, since a job may have
 * become due while the janitor was away.
 */
static void
janitor_announce(struct janitor *j)
{
	const char	*values[1];
	PGresult	*res;

	values[0] = j->announced_until[0] != '\0' ? j->announced_until : NULL;
	res = janitor_query(j, "announce_due",
	    "SELECT herald.announce_due($1)", 1, values);
	if (res == NULL)
		return;
	snprintf(j->announced_until, sizeof j->announced_until, "%s",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
}

/*
 * Fold the job count changes that the triggers of herald.jobs and
 * herald.dead_jobs appended into herald.job_counts, so that the readers
 * of the counts add up few rows.
 */
static void
janitor_fold_counts(struct janitor *j)
{
	PGresult	*res;

	res = janitor_query(j, "fold_counts", "SELECT herald.fold_counts()",
	    0, NULL);
	if (res == NULL)
		return;
	PQclear(res);
}

/*
 * Run one pruning function in batches of JANITOR_PRUNE_BATCH rows until a
 * batch comes back short or budget_end_ms passes; return the rows
 * deleted, or -1 after a failure.  keep, the function's first argument,
 * is a retention in milliseconds or a row count.  Each batch commits on
 * its own, so no lock is held long and the rows a worker holds are
 * skipped.
 */
static int64_t
janitor_prune_batches(struct janitor *j, const char *operation,
    const char *sql, int64_t keep, int64_t budget_end_ms)
{
	const char	*values[2];
	char		 keep_text[32], limit[32];
	PGresult	*res;
	int64_t		 total = 0, n;

	snprintf(keep_text, sizeof keep_text, "%lld", (long long)keep);
	snprintf(limit, sizeof limit, "%d", JANITOR_PRUNE_BATCH);
	values[0] = keep_text;
	values[1] = limit;
	do {
		res = janitor_query(j, operation, sql, 2, values);
		if (res == NULL)
			return -1;
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		total += n;
	} while (n == JANITOR_PRUNE_BATCH && hd_monotonic_ms() < budget_end_ms);
	return total;
}

/*
 * Record the retention this janitor applies in herald.retention, where
 * the console shows it on the dead-letter screen.
 */
static int
janitor_publish_retention(struct janitor *j)
{
	const struct hd_config	*c = j->config;
	const char		*values[4];
	char			 text[4][32];
	PGresult		*res;

	snprintf(text[0], sizeof text[0], "%lld", (long long)c->keep_dead_ms);
	snprintf(text[1], sizeof text[1], "%lld",
	    (long long)c->keep_dead_rows);
	snprintf(text[2], sizeof text[2], "%lld",
	    (long long)c->keep_counters_ms);
	snprintf(text[3], sizeof text[3], "%lld",
	    (long long)c->keep_hourly_ms);
	values[0] = text[0];
	values[1] = text[1];
	values[2] = text[2];
	values[3] = text[3];
	res = janitor_query(j, "publish_retention",
	    "WITH p AS (INSERT INTO herald.retention AS r"
	    " (dead_ms, dead_rows, counters_ms, hourly_ms)"
	    " VALUES ($1, $2, $3, $4)"
	    " ON CONFLICT (singleton) DO UPDATE"
	    " SET dead_ms = excluded.dead_ms, dead_rows = excluded.dead_rows,"
	    " counters_ms = excluded.counters_ms,"
	    " hourly_ms = excluded.hourly_ms, updated_at = now()"
	    " RETURNING 1) SELECT count(*) FROM p", 4, values);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Delete counters and dead jobs past their retention and the
 * registrations whose heartbeat stopped.  A retention of 0 keeps rows
 * forever.  Per-minute counters roll up into hourly ones as they go
 * (herald.roll_up_counters).  Dead jobs go by age first, then the oldest
 * beyond the row limit.
 */
static void
janitor_prune(struct janitor *j)
{
	const struct hd_config	*c = j->config;
	const char		*values[1];
	int64_t			 end = hd_monotonic_ms() + JANITOR_PRUNE_BUDGET_MS;
	int64_t			 counters = 0, hourly = 0, dead = 0, over = 0;
	PGresult		*res;

	if (janitor_publish_retention(j) == -1)
		return;
	if (c->keep_counters_ms > 0)
		counters = janitor_prune_batches(j, "prune_counters",
		    "SELECT herald.prune_counters($1, $2)",
		    c->keep_counters_ms, end);
	if (counters != -1 && c->keep_hourly_ms > 0)
		hourly = janitor_prune_batches(j, "prune_counters_hourly",
		    "SELECT herald.prune_counters_hourly($1, $2)",
		    c->keep_hourly_ms, end);
	if (counters != -1 && hourly != -1 && c->keep_dead_ms > 0)
		dead = janitor_prune_batches(j, "prune_dead",
		    "SELECT herald.prune_dead($1, $2)", c->keep_dead_ms, end);
	/* NOTE: this reads the index of dead_jobs up to the row limit. */
	if (counters != -1 && hourly != -1 && dead != -1 &&
	    c->keep_dead_rows > 0)
		over = janitor_prune_batches(j, "prune_dead_rows",
		    "SELECT herald.prune_dead_rows($1, $2)", c->keep_dead_rows,
		    end);
	if (counters == -1 || hourly == -1 || dead == -1 || over == -1)
		return;

	values[0] = "5000";
	res = janitor_query(j, "prune_unique_keys",
	    "SELECT herald.prune_unique_keys($1)", 1, values);
	if (res == NULL)
		return;
	PQclear(res);
	if (counters > 0 || hourly > 0 || dead > 0 || over > 0)
		hd_log_info("pruned", "counters=%lld hourly_counters=%lld "
		    "dead_jobs=%lld dead_jobs_over_limit=%lld",
		    (long long)counters, (long long)hourly, (long long)dead,
		    (long long)over);
}

/* Remove the registrations of processes whose heartbeat stopped. */
static void
janitor_prune_processes(struct janitor *j)
{
	const char	*values[1];
	char		 keep[32];
	int64_t		 processes;
	PGresult	*res;

	snprintf(keep, sizeof keep, "%lld",
	    (long long)j->config->keep_processes_ms);
	values[0] = keep;
	res = janitor_query(j, "prune_processes",
	    "SELECT herald.prune_processes($1)", 1, values);
	if (res == NULL)
		return;
	processes = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (processes > 0)
		hd_log_info("pruned", "processes=%lld", (long long)processes);
}

/*
 * Delete the cancelled jobs that went back to their queue and enqueue
 * the periodic jobs that are due.
 */
static void
janitor_scheduling(struct janitor *j)
{
	struct herald_error	 error;
	const char		*values[1] = { "1000" };
	PGresult		*res;
	int			 n;

	res = janitor_query(j, "purge_cancelled",
	    "SELECT herald.purge_cancelled($1)", 1, values);
	if (res == NULL)
		return;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0)
		hd_log_info("cancelled jobs deleted", "jobs=%s",
		    PQgetvalue(res, 0, 0));
	PQclear(res);

	memset(&error, 0, sizeof error);
	n = hd_periodic_run(&j->periodic, j->conn, &error);
	if (n == -1)
		janitor_failed(j, "periodic", &error);
}

static void
janitor_free_list(struct janitor_queue **list, int *n)
{
	int	i;

	for (i = 0; i < *n; i++)
		free((*list)[i].name);
	free(*list);
	*list = NULL;
	*n = 0;
}

static void
janitor_free_queues(struct janitor *j)
{
	janitor_free_list(&j->queues, &j->nqueues);
	janitor_free_list(&j->unserved, &j->nunserved);
}

/*
 * Return the mark of queue name in the n entries of list: 1 or 0, or -1
 * when the list lacks the queue.
 */
static int
janitor_list_mark(const struct janitor_queue *list, int n, const char *name)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return list[i].mark;
	return -1;
}

/*
 * Log each queue paused or resumed since the last round, and in the first
 * round each paused queue, so that heraldd's log shows why a queue's jobs
 * wait.  A pause from the console, from herald queue or from SQL all
 * change herald.queues, which this reads.
 */
static void
janitor_watch_pauses(struct janitor *j)
{
	struct janitor_queue	*queues;
	const char		*name;
	PGresult		*res;
	int			 row, n, was;

	res = janitor_query(j, "read_queues", "SELECT name, paused FROM "
	    "herald.queues", 0, NULL);
	if (res == NULL)
		return;
	n = PQntuples(res);
	queues = hd_xcalloc(n > 0 ? (size_t)n : 1, sizeof *queues);
	for (row = 0; row < n; row++) {
		name = PQgetvalue(res, row, 0);
		queues[row].name = hd_xstrdup(name);
		queues[row].mark = PQgetvalue(res, row, 1)[0] == 't';
		was = janitor_list_mark(j->queues, j->nqueues, name);
		if (queues[row].mark && was != 1)
			hd_log_info("queue paused", "queue=%s", name);
		else if (!queues[row].mark && was == 1)
			hd_log_info("queue resumed", "queue=%s", name);
	}
	PQclear(res);
	janitor_free_list(&j->queues, &j->nqueues);
	j->queues = queues;
	j->nqueues = n;
}

/*
 * Log a warning for each queue that is not paused and has ready jobs and
 * no registered worker on any host, at two looks in a row.  Such a queue
 * was removed from every configuration while it held jobs, or a producer
 * got its name wrong.  Each is logged once until it has a worker or no
 * ready job again.
 */
static void
janitor_watch_unserved(struct janitor *j)
{
	struct janitor_queue	*unserved;
	const char		*name;
	PGresult		*res;
	int			 row, n, was;

	res = janitor_query(j, "read_unserved_queues",
	    "SELECT c.queue, sum(c.queued)::bigint FROM herald.queue_counts() c"
	    " WHERE NOT EXISTS (SELECT FROM herald.processes p"
	    "  WHERE p.kind = 'worker' AND p.queue = c.queue)"
	    " AND NOT EXISTS (SELECT FROM herald.queues q"
	    "  WHERE q.name = c.queue AND q.paused)"
	    " GROUP BY c.queue HAVING sum(c.queued) > 0", 0, NULL);
	if (res == NULL)
		return;
	n = PQntuples(res);
	unserved = hd_xcalloc(n > 0 ? (size_t)n : 1, sizeof *unserved);
	for (row = 0; row < n; row++) {
		name = PQgetvalue(res, row, 0);
		/* Found at the last look (0) but not logged yet. */
		was = janitor_list_mark(j->unserved, j->nunserved, name);
		if (was == 0)
			hd_log_warn("queue has no worker", "queue=%s ready=%s",
			    name, PQgetvalue(res, row, 1));
		unserved[row].name = hd_xstrdup(name);
		unserved[row].mark = was != -1;
	}
	PQclear(res);
	janitor_free_list(&j->unserved, &j->nunserved);
	j->unserved = unserved;
	j->nunserved = n;
}

/*
 * Take back the jobs of expired leases with a lost attempt, and delay
 * those queued again by their task's retry delay, in one transaction.
 * Return the number of jobs, stored in *leases with their delays in
 * *delays_ms (0 for a dead job), or -1.
 */
static int
janitor_expire(struct janitor *j, struct hd_expired_lease **leases,
    int64_t **delays_ms, struct herald_error *error)
{
	struct hd_lost_delay	*lost = NULL;
	size_t			 nlost = 0;
	int			 i, n;

	*leases = NULL;
	*delays_ms = NULL;
	if (hd_db_exec(j->conn, "BEGIN", error) == -1)
		return -1;
	n = hd_store_expire_leases_listed(j->conn, JANITOR_EXPIRE_LIMIT,
	    leases, error);
	if (n == -1)
		goto fail;
	lost = hd_xcalloc((size_t)n + 1, sizeof *lost);
	*delays_ms = hd_xcalloc((size_t)n + 1, sizeof **delays_ms);
	for (i = 0; i < n; i++) {
		if ((*leases)[i].dead)
			continue;
		lost[nlost].id = (*leases)[i].id;
		lost[nlost].attempt = (*leases)[i].attempt;
		lost[nlost].delay_ms = (*delays_ms)[i] =
		    hd_config_retry_delay_ms(j->config, (*leases)[i].task,
		    (*leases)[i].attempt);
		nlost++;
	}
	if (hd_store_delay_lost(j->conn, lost, nlost, error) == -1 ||
	    hd_db_exec(j->conn, "COMMIT", error) == -1)
		goto fail;
	free(lost);
	return n;

fail:
	if (PQstatus(j->conn) == CONNECTION_OK &&
	    PQtransactionStatus(j->conn) != PQTRANS_IDLE)
		PQclear(PQexec(j->conn, "ROLLBACK"));
	free(lost);
	free(*leases);
	free(*delays_ms);
	*leases = NULL;
	*delays_ms = NULL;
	return -1;
}

/* One round of the active janitor. */
static void
janitor_round(struct janitor *j)
{
	struct herald_error	 error;
	struct hd_expired_lease	*leases = NULL;
	int64_t			*delays_ms = NULL;
	int			 i, n;
	int64_t			 now = hd_monotonic_ms();

	j->next_round_ms = now + JANITOR_ROUND_MS;
	memset(&error, 0, sizeof error);
	n = now < j->expire_from_ms ? 0 : janitor_expire(j, &leases,
	    &delays_ms, &error);
	if (n == -1) {
		janitor_failed(j, "expire_leases", &error);
		return;
	}
	for (i = 0; i < n; i++) {
		hd_log_warn("job lease expired", "job_id=%lld task=%s queue=%s "
		    "attempt=%d status=%s delay_ms=%lld",
		    (long long)leases[i].id, leases[i].task, leases[i].queue,
		    leases[i].attempt, leases[i].dead ? "dead" : "retrying",
		    (long long)delays_ms[i]);
		/* Alerts look for this line, which workers write too. */
		if (leases[i].dead)
			hd_log_warn("job dead", "job_id=%lld task=%s queue=%s "
			    "attempt=%d reason=lost", (long long)leases[i].id,
			    leases[i].task, leases[i].queue, leases[i].attempt);
	}
	free(leases);
	free(delays_ms);
	if (n > 0)
		hd_log_warn("expired leases", "jobs=%d", n);
	janitor_announce(j);
	if (j->conn != NULL)
		janitor_watch_pauses(j);
	if (j->conn != NULL)
		janitor_fold_counts(j);
	if (j->conn != NULL)
		janitor_scheduling(j);
	if (j->conn != NULL && now >= j->next_prune_ms) {
		j->next_prune_ms = now + JANITOR_PRUNE_MS;
		janitor_prune(j);
	}
	if (j->conn != NULL && now >= j->next_prune_processes_ms) {
		j->next_prune_processes_ms = now + JANITOR_PRUNE_MS;
		janitor_prune_processes(j);
	}
	if (j->conn != NULL && now >= j->next_unserved_ms) {
		j->next_unserved_ms = now + JANITOR_UNSERVED_MS;
		janitor_watch_unserved(j);
	}
}

static int
janitor_heartbeat(struct janitor *j)
{
	struct herald_error	error;

	j->next_heartbeat_ms = hd_monotonic_ms() + HD_HEARTBEAT_MS;
	memset(&error, 0, sizeof error);
	if (janitor_check_in(j, &error) == -1) {
		if (error.code == HERALD_ENOTFOUND)
			return janitor_removed(j);
		janitor_failed(j, "heartbeat", &error);
	}
	return 0;
}

static int64_t
janitor_next_ms(const struct janitor *j)
{
	int64_t	next;

	if (j->conn == NULL)
		return j->connect_at_ms;
	next = j->next_heartbeat_ms;
	if (j->active && j->next_round_ms < next)
		next = j->next_round_ms;
	if (!j->active && j->next_lock_ms < next)
		next = j->next_lock_ms;
	if (j->next_ping_ms < next)
		next = j->next_ping_ms;
	if (j->report_pending && j->next_report_ms < next)
		next = j->next_report_ms;
	return next;
}

/*
 * Read what the supervisor sent about its failed children.  An empty
 * line ends each report; the last complete one is stored at the next
 * step.
 */
static void
janitor_read_report(struct janitor *j)
{
	size_t	i, line_start, report_start;
	ssize_t	n;

	for (;;) {
		n = read(j->report_fd, j->report_in + j->report_in_len,
		    sizeof j->report_in - j->report_in_len);
		if (n <= 0)
			break;
		j->report_in_len += (size_t)n;
		line_start = report_start = 0;
		for (i = 0; i < j->report_in_len; i++) {
			if (j->report_in[i] != '\n')
				continue;
			if (i == line_start) {
				memcpy(j->report, j->report_in + report_start,
				    i - report_start);
				j->report[i - report_start] = '\0';
				j->report_pending = true;
				/* A new report may store where the last failed. */
				j->next_report_ms = 0;
				report_start = i + 1;
			}
			line_start = i + 1;
		}
		memmove(j->report_in, j->report_in + report_start,
		    j->report_in_len - report_start);
		j->report_in_len -= report_start;
		/* A report longer than the buffer is dropped. */
		if (j->report_in_len == sizeof j->report_in)
			j->report_in_len = 0;
	}
	if (n == 0) {
		close(j->report_fd);
		j->report_fd = -1;
	}
}

/* Append a quoted element to the array literal in array (size bytes). */
static void
array_append(char *array, size_t size, const char *value)
{
	size_t	len = strlen(array), vlen = strlen(value);

	if (len + vlen + 4 >= size)
		return;
	if (len > 1)
		array[len++] = ',';
	array[len++] = '"';
	memcpy(array + len, value, vlen);
	len += vlen;
	array[len++] = '"';
	array[len] = '\0';
}

static void
janitor_report_stored(struct janitor *j)
{
	if (j->report_failures > 0)
		hd_log_info("failed children stored", "failures=%d",
		    j->report_failures);
	j->report_pending = false;
	j->report_failures = 0;
	j->report_sqlstate[0] = '\0';
}

/*
 * Keep the report that could not be stored for a retry after a growing
 * wait, so that an error that repeats does not run the statement in a
 * loop.  The error is logged at the first failure and when its SQLSTATE
 * differs from the last attempt's, and at level debug otherwise.
 */
static void
janitor_report_failed(struct janitor *j, const struct herald_error *error)
{
	int64_t	delay_ms = JANITOR_REPORT_RETRY_MS;
	int	i;

	if (hd_db_error_is_fatal(j->conn, error)) {
		janitor_disconnect(j);
		return;
	}
	j->report_failures++;
	for (i = 1; i < j->report_failures &&
	    delay_ms < JANITOR_REPORT_RETRY_MAX_MS; i++)
		delay_ms *= 2;
	if (delay_ms > JANITOR_REPORT_RETRY_MAX_MS)
		delay_ms = JANITOR_REPORT_RETRY_MAX_MS;
	j->next_report_ms = hd_monotonic_ms() + delay_ms;
	if (j->report_failures == 1 ||
	    strcmp(j->report_sqlstate, error->sqlstate) != 0)
		hd_log_error("job database error", "operation=%s error=%s "
		    "sqlstate=%s failures=%d retry_ms=%lld",
		    "set_failed_children", hd_error_reason(error),
		    error->sqlstate, j->report_failures, (long long)delay_ms);
	else
		hd_log_debug("job database error", "operation=%s "
		    "sqlstate=%s failures=%d retry_ms=%lld",
		    "set_failed_children", error->sqlstate,
		    j->report_failures, (long long)delay_ms);
	snprintf(j->report_sqlstate, sizeof j->report_sqlstate, "%s",
	    error->sqlstate);
}

/*
 * Store the last report in herald.failed_children, and remove the
 * registrations that the failed children left: no replacement comes to
 * remove them, and they would show as processes that still run.
 */
static void
janitor_store_report(struct janitor *j)
{
	char		 roles[JANITOR_REPORT_MAX], queues[JANITOR_REPORT_MAX];
	char		 counts[JANITOR_REPORT_MAX], line[JANITOR_REPORT_MAX];
	char		 ids[JANITOR_REPORT_MAX];
	char		 role[16], queue[128], id[64], *p, *next;
	const char	*values[5];
	int		 failures;
	PGresult	*res;

	strcpy(roles, "{");
	strcpy(queues, "{");
	strcpy(counts, "{");
	strcpy(ids, "{");
	for (p = j->report; *p != '\0'; p = next) {
		next = strchr(p, '\n');
		next = next != NULL ? next + 1 : p + strlen(p);
		snprintf(line, sizeof line, "%.*s", (int)(next - p), p);
		/* role and queue are names that check_name() allowed. */
		if (sscanf(line, "%15s %127s %d %63s", role, queue, &failures,
		    id) != 4)
			continue;
		array_append(roles, sizeof roles, role);
		array_append(queues, sizeof queues,
		    strcmp(queue, "-") == 0 ? "" : queue);
		snprintf(line, sizeof line, "%d", failures);
		array_append(counts, sizeof counts, line);
		if (strcmp(id, "-") != 0)
			array_append(ids, sizeof ids, id);
	}
	strcat(roles, "}");
	strcat(queues, "}");
	strcat(counts, "}");
	strcat(ids, "}");
	values[0] = j->supervisor_id;
	values[1] = roles;
	values[2] = queues;
	values[3] = counts;
	values[4] = ids;
	res = PQexecParams(j->conn, "WITH gone AS (DELETE FROM "
	    "herald.processes WHERE supervisor_id = $1 AND id = ANY "
	    "($5::text[])) SELECT herald.set_failed_children($1, "
	    "$2::text[], $3::text[], $4::integer[])", 5, NULL, values, NULL,
	    NULL, 0);
	if (hd_db_ok(res))
		janitor_report_stored(j);
	else {
		struct herald_error	error;

		memset(&error, 0, sizeof error);
		hd_error_from_pg(&error, j->conn, res, "failed children");
		janitor_report_failed(j, &error);
	}
	PQclear(res);
}

/* Check that an idle connection still responds. */
static void
janitor_ping(struct janitor *j)
{
	struct herald_error	error;

	j->next_ping_ms = hd_monotonic_ms() + HD_PING_INTERVAL_MS;
	memset(&error, 0, sizeof error);
	if (hd_db_ping(j->conn, HD_PING_TIMEOUT_MS, &error) == -1)
		janitor_failed(j, "ping", &error);
}

static void
janitor_wait(struct janitor *j, int sigfd)
{
	struct pollfd	pfd[2];
	int64_t		timeout = janitor_next_ms(j) - hd_monotonic_ms();
	nfds_t		nfds = 1;

	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	if (j->report_fd != -1) {
		pfd[1].fd = j->report_fd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		nfds = 2;
	}
	if (timeout < 0)
		timeout = 0;
	if (poll(pfd, nfds, (int)timeout) <= 0)
		return;
	if (pfd[0].revents != 0) {
		hd_signals_drain();
		if (hd_signals_take(SIGTERM) || hd_signals_take(SIGINT))
			j->stopping = true;
		if (hd_signals_take(SIGUSR1)) {
			j->stopping = true;
			j->retiring = true;
		}
	}
	if (nfds == 2 && pfd[1].revents != 0)
		janitor_read_report(j);
}

/* One pass over whatever is due; -1 when the janitor must exit. */
static int
janitor_step(struct janitor *j)
{
	int64_t	now = hd_monotonic_ms();

	if (j->conn == NULL) {
		if (now >= j->connect_at_ms && janitor_connect(j) == -1)
			return -1;
		return 0;
	}
	if (now >= j->next_ping_ms)
		janitor_ping(j);
	if (j->conn != NULL && !j->active && now >= j->next_lock_ms)
		janitor_try_lock(j);
	if (j->conn != NULL && j->active && now >= j->next_round_ms)
		janitor_round(j);
	if (j->conn != NULL && now >= j->next_heartbeat_ms &&
	    janitor_heartbeat(j) == -1)
		return -1;
	if (j->conn != NULL && j->report_pending && now >= j->next_report_ms)
		janitor_store_report(j);
	return 0;
}

int
hd_janitor_main(const struct hd_config *config, const char *supervisor_id,
    const char *id, const char *lost_id, int report_fd)
{
	static const int	signals[] = {
		SIGTERM, SIGINT, SIGHUP, SIGUSR1, 0
	};
	struct herald_error	error;
	struct janitor		j;
	int			sigfd, status = 0;
	bool			supervisor_gone;

	memset(&j, 0, sizeof j);
	j.config = config;
	j.supervisor_id = supervisor_id;
	j.supervisor_pid = getppid();
	j.report_fd = report_fd;
	if (id != NULL && strlen(id) < sizeof j.id)
		snprintf(j.id, sizeof j.id, "%s", id);
	else
		hd_random_hex(j.id, JANITOR_ID_BYTES);
	if (lost_id != NULL && lost_id[0] != '\0' &&
	    strlen(lost_id) < sizeof j.lost_id)
		snprintf(j.lost_id, sizeof j.lost_id, "%s", lost_id);
	hd_periodic_init(&j.periodic, config);

	sigfd = hd_signals_open(signals);
	if (sigfd == -1) {
		hd_log_error("could not open signal pipe", "error=%s",
		    strerror(errno));
		return EX_OSERR;
	}

	while (!j.stopping) {
		if (janitor_step(&j) == -1) {
			status = j.exit_status != 0 ? j.exit_status :
			    EX_CONFIG;
			break;
		}
		janitor_wait(&j, sigfd);
	}

	/*
	 * The supervisor stops with its janitor, so both rows go, unless a
	 * reload replaced the janitor (SIGUSR1) and the supervisor runs on.
	 * A supervisor that died keeps its row, so that the console shows it
	 * dead until its registration is pruned.
	 */
	supervisor_gone = getppid() != j.supervisor_pid;
	if (supervisor_gone)
		hd_log_warn("supervisor gone, its registration kept",
		    "supervisor_id=%s supervisor_pid=%ld", supervisor_id,
		    (long)j.supervisor_pid);
	if (j.conn != NULL && status == 0) {
		memset(&error, 0, sizeof error);
		if (hd_store_unregister(j.conn, j.id, &error) == -1 ||
		    (!j.retiring && !supervisor_gone &&
		    hd_store_unregister(j.conn, supervisor_id, &error) == -1))
			janitor_failed(&j, "unregister", &error);
	}
	PQfinish(j.conn);
	hd_periodic_release(&j.periodic);
	janitor_free_queues(&j);
	if (j.report_fd != -1)
		close(j.report_fd);
	hd_signals_close();
	return status;
}
