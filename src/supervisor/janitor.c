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
#include "signals.h"
#include "store.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

/* The advisory lock key that elects the active janitor: "herald" in ASCII. */
#define JANITOR_LOCK_KEY	"114776697284708"
#define JANITOR_ID_BYTES	8
#define JANITOR_ROUND_MS	1000
#define JANITOR_LOCK_RETRY_MS	5000
#define JANITOR_PRUNE_MS	60000
#define JANITOR_EXPIRE_LIMIT	1000
#define JANITOR_RETRY_MIN_MS	100
#define JANITOR_RETRY_MAX_MS	30000
/* What pruning keeps: a week of counters, a minute without heartbeat. */
#define JANITOR_COUNTERS_KEEP_MS	(7LL * 24 * 3600 * 1000)
#define JANITOR_PROCESSES_KEEP_MS	60000

struct janitor {
	const struct hd_config	*config;
	const char		*supervisor_id;
	char			 id[2 * JANITOR_ID_BYTES + 1];
	PGconn			*conn;
	bool			 active;
	bool			 stopping;
	/* The database time returned by the last announce_due(), or "". */
	char			 announced_until[64];

	/* CLOCK_MONOTONIC milliseconds. */
	int64_t			 connect_at_ms;
	int64_t			 connect_delay_ms;
	int			 connect_failures;
	int64_t			 next_lock_ms;
	int64_t			 next_round_ms;
	int64_t			 next_prune_ms;
	int64_t			 next_heartbeat_ms;
};

static void
janitor_disconnect(struct janitor *j)
{
	hd_log_warn("job database connection lost", "active=%d retry_ms=%d",
	    j->active, JANITOR_RETRY_MIN_MS);
	PQfinish(j->conn);
	j->conn = NULL;
	j->active = false;
	j->announced_until[0] = '\0';
	j->connect_delay_ms = JANITOR_RETRY_MIN_MS;
	j->connect_at_ms = hd_monotonic_ms() + j->connect_delay_ms;
	j->connect_failures = 0;
}

/* Log a failed call and drop the connection when it broke. */
static void
janitor_failed(struct janitor *j, const char *operation,
    const struct herald_error *error)
{
	if (error->code == HERALD_ECONNECT ||
	    PQstatus(j->conn) == CONNECTION_BAD) {
		janitor_disconnect(j);
		return;
	}
	hd_log_error("job database error", "operation=%s error=%s sqlstate=%s",
	    operation, herald_strerror(error->code), error->sqlstate);
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
 * janitor itself.
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
	return hd_store_register(j->conn, j->id, "janitor", j->supervisor_id,
	    NULL, error);
}

static void
janitor_connect_failed(struct janitor *j, const struct herald_error *error)
{
	j->connect_failures++;
	if (j->connect_failures == 1)
		hd_log_error("could not connect to job database",
		    "error=%s sqlstate=%s retry_ms=%lld",
		    herald_strerror(error->code), error->sqlstate,
		    (long long)j->connect_delay_ms);
	else
		hd_log_debug("could not connect to job database",
		    "failures=%d retry_ms=%lld", j->connect_failures,
		    (long long)j->connect_delay_ms);
	j->connect_at_ms = hd_monotonic_ms() + j->connect_delay_ms;
	j->connect_delay_ms *= 2;
	if (j->connect_delay_ms > JANITOR_RETRY_MAX_MS)
		j->connect_delay_ms = JANITOR_RETRY_MAX_MS;
}

/* Connect, check the schema and register; -1 when the schema is wrong. */
static int
janitor_connect(struct janitor *j)
{
	struct herald_error	 error;
	PGconn			*conn;
	int64_t			 now;

	memset(&error, 0, sizeof error);
	conn = hd_db_connect(j->config->job_db, "herald janitor", &error);
	if (conn == NULL) {
		janitor_connect_failed(j, &error);
		return 0;
	}
	if (hd_schema_check(conn, HD_SCHEMA_JOB, &error) == -1) {
		if (error.code == HERALD_ESCHEMA) {
			hd_log_schema_mismatch(conn);
			PQfinish(conn);
			return -1;
		}
		PQfinish(conn);
		janitor_connect_failed(j, &error);
		return 0;
	}
	j->conn = conn;
	if (janitor_register(j, &error) == -1) {
		j->conn = NULL;
		PQfinish(conn);
		janitor_connect_failed(j, &error);
		return 0;
	}
	if (j->connect_failures > 0)
		hd_log_info("job database connection restored",
		    "failures=%d", j->connect_failures);
	now = hd_monotonic_ms();
	j->connect_failures = 0;
	j->connect_delay_ms = JANITOR_RETRY_MIN_MS;
	j->next_lock_ms = now;
	j->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
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
		j->next_round_ms = hd_monotonic_ms();
		j->next_prune_ms = j->next_round_ms;
		hd_log_info("janitor active", "janitor_id=%s", j->id);
	} else
		hd_log_debug("janitor standing by", "janitor_id=%s "
		    "retry_ms=%d", j->id, JANITOR_LOCK_RETRY_MS);
	PQclear(res);
}

/* Wake the workers of queues whose jobs became due since last round. */
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

static void
janitor_prune(struct janitor *j)
{
	const char	*values[2];
	char		 counters[32], processes[32];
	PGresult	*res;

	snprintf(counters, sizeof counters, "%lld", JANITOR_COUNTERS_KEEP_MS);
	snprintf(processes, sizeof processes, "%d",
	    JANITOR_PROCESSES_KEEP_MS);
	values[0] = counters;
	values[1] = processes;
	res = janitor_query(j, "prune",
	    "SELECT counters, processes FROM herald.prune($1, $2)", 2, values);
	if (res == NULL)
		return;
	if (PQntuples(res) == 1 && (strcmp(PQgetvalue(res, 0, 0), "0") != 0 ||
	    strcmp(PQgetvalue(res, 0, 1), "0") != 0))
		hd_log_info("pruned", "counters=%s processes=%s",
		    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
}

/* One round of the active janitor. */
static void
janitor_round(struct janitor *j)
{
	struct herald_error	error;
	int			n;
	int64_t			now = hd_monotonic_ms();

	j->next_round_ms = now + JANITOR_ROUND_MS;
	memset(&error, 0, sizeof error);
	n = hd_store_expire_leases(j->conn, JANITOR_EXPIRE_LIMIT, &error);
	if (n == -1) {
		janitor_failed(j, "expire_leases", &error);
		return;
	}
	if (n > 0)
		hd_log_warn("expired leases", "jobs=%d", n);
	janitor_announce(j);
	if (j->conn != NULL && now >= j->next_prune_ms) {
		j->next_prune_ms = now + JANITOR_PRUNE_MS;
		janitor_prune(j);
	}
}

static void
janitor_heartbeat(struct janitor *j)
{
	struct herald_error	error;

	j->next_heartbeat_ms = hd_monotonic_ms() + HD_HEARTBEAT_MS;
	memset(&error, 0, sizeof error);
	if (hd_store_heartbeat(j->conn, j->supervisor_id, &error) == -1 ||
	    hd_store_heartbeat(j->conn, j->id, &error) == -1) {
		/* A row pruned during an outage is written again. */
		if (error.code == HERALD_ENOTFOUND &&
		    janitor_register(j, &error) == 0)
			return;
		janitor_failed(j, "heartbeat", &error);
	}
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
	return next;
}

static void
janitor_wait(struct janitor *j, int sigfd)
{
	struct pollfd	pfd = { .fd = sigfd, .events = POLLIN };
	int64_t		timeout = janitor_next_ms(j) - hd_monotonic_ms();

	if (timeout < 0)
		timeout = 0;
	if (poll(&pfd, 1, (int)timeout) > 0) {
		hd_signals_drain();
		if (hd_signals_take(SIGTERM) || hd_signals_take(SIGINT))
			j->stopping = true;
	}
}

/* One pass over whatever is due. */
static int
janitor_step(struct janitor *j)
{
	int64_t	now = hd_monotonic_ms();

	if (j->conn == NULL) {
		if (now >= j->connect_at_ms && janitor_connect(j) == -1)
			return -1;
		return 0;
	}
	if (!j->active && now >= j->next_lock_ms)
		janitor_try_lock(j);
	if (j->conn != NULL && j->active && now >= j->next_round_ms)
		janitor_round(j);
	if (j->conn != NULL && now >= j->next_heartbeat_ms)
		janitor_heartbeat(j);
	return 0;
}

int
hd_janitor_main(const struct hd_config *config, const char *supervisor_id)
{
	static const int	signals[] = { SIGTERM, SIGINT, SIGHUP, 0 };
	struct herald_error	error;
	struct janitor		j;
	int			sigfd, status = 0;

	memset(&j, 0, sizeof j);
	j.config = config;
	j.supervisor_id = supervisor_id;
	j.connect_delay_ms = JANITOR_RETRY_MIN_MS;
	hd_random_hex(j.id, JANITOR_ID_BYTES);

	sigfd = hd_signals_open(signals);
	if (sigfd == -1) {
		hd_log_error("could not open signal pipe", "error=%s",
		    strerror(errno));
		return EX_OSERR;
	}

	while (!j.stopping) {
		if (janitor_step(&j) == -1) {
			status = EX_CONFIG;
			break;
		}
		janitor_wait(&j, sigfd);
	}

	/* The supervisor stops with its janitor, so both rows go. */
	if (j.conn != NULL) {
		memset(&error, 0, sizeof error);
		if (hd_store_unregister(j.conn, j.id, &error) == -1 ||
		    hd_store_unregister(j.conn, supervisor_id, &error) == -1)
			janitor_failed(&j, "unregister", &error);
	}
	PQfinish(j.conn);
	hd_signals_close();
	return status;
}
