/*
 * relay.c: the relay process.
 *
 * It waits with LISTEN herald_outbox on the application database, which
 * every unit of work notifies when it commits, and polls once a second in
 * case a notification was lost while it was disconnected.  A full batch
 * is followed by the next one at once.  Two batches are in flight at a
 * time, each in a lane of two connections: one to the application
 * database, whose transaction holds the batch's rows until the job
 * database has committed its jobs, and one to the job database.  While
 * one lane's jobs are inserted, the other lane takes its next batch or
 * inserts too, so both databases and both cores work at once.  When any
 * connection fails, all are closed and opened again with a growing delay:
 * a batch whose application transaction was cut short is simply sent
 * again.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "relay.h"
#include "signals.h"
#include "store.h"
#include "child.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

#define RELAY_POLL_MS		1000
#define RELAY_REPORT_MS		1000
#define RELAY_PRUNE_MS		60000
#define RELAY_RETRY_MIN_MS	100
#define RELAY_LANES		2
/*
 * The time a relay's session may sit idle inside a transaction at most.
 * A live relay's application session waits there for its batch's jobs to
 * commit in the job database.  A lock on herald.jobs held longer than
 * this ends it too.  The batch is then taken again later, and its origin
 * keys keep its jobs relayed once.
 */
#define RELAY_IDLE_TIMEOUT	"60s"

/*
 * A batch in flight.  app's transaction holds the taken rows until job
 * has inserted and committed their jobs.
 */
struct relay_lane {
	PGconn			*app;
	PGconn			*job;
	struct hd_outbox_take	 take;
	struct hd_outbox_stats	 stats;
	bool			 inserting;	/* the insert was sent */
};

struct relay {
	const struct hd_config	*config;
	const char		*supervisor_id;
	char			 id[17];
	/* The relay this one replaces, until its registration is removed. */
	char			 lost_id[17];
	char			 origin[HD_OUTBOX_ORIGIN_MAX];
	/*
	 * Opened and closed together.  The application connection of lane
	 * 0 listens for notifications.  Batches go to the lanes in turn,
	 * so the lane of the next batch holds the older one in flight.
	 */
	struct relay_lane	 lanes[RELAY_LANES];
	int			 turn;
	int			 sigfd;
	bool			 stopping;
	bool			 batch_wanted;
	enum hd_outbox_fault	 fault;

	/* CLOCK_MONOTONIC milliseconds. */
	int64_t			 next_batch_ms;
	int64_t			 next_report_ms;
	int64_t			 next_prune_ms;
	int64_t			 next_heartbeat_ms;
	int64_t			 next_ping_ms;
	int64_t			 connect_at_ms;
	int64_t			 connect_delay_ms;
	int			 connect_failures;
	int64_t			 outage_start_ms;	/* the first failure */
	bool			 ready;		/* connected and listening */
	bool			 error_logged;	/* an error of this outage */
};

static bool
relay_connected(const struct relay *r)
{
	return r->lanes[0].app != NULL;
}

static void
relay_disconnect(struct relay *r)
{
	struct relay_lane	*lane;
	int			 i;

	for (i = 0; i < RELAY_LANES; i++) {
		lane = &r->lanes[i];
		/*
		 * Closing would also end the transaction, but only once the
		 * server notices.  A relay that stops releases the rows before
		 * it exits.  An insert still in flight may yet commit, and its
		 * batch is then sent again and found relayed.
		 */
		hd_outbox_take_rollback(&lane->take);
		PQfinish(lane->app);
		PQfinish(lane->job);
		memset(lane, 0, sizeof *lane);
	}
	r->turn = 0;
	r->ready = false;
}

/*
 * Return whether error came of a lost connection, or of a server that
 * shuts down, rather than of a statement or of a failed connect.
 */
static bool
relay_connection_lost(const struct relay *r, const struct herald_error *error)
{
	int	i;

	if (!r->ready)
		return false;
	for (i = 0; i < RELAY_LANES; i++)
		if (PQstatus(r->lanes[i].app) == CONNECTION_BAD ||
		    PQstatus(r->lanes[i].job) == CONNECTION_BAD)
			return true;
	return hd_db_error_is_fatal(r->lanes[0].job, error);
}

/*
 * Log a failure and schedule the reconnection.  As for workers and the
 * janitor, a lost connection is a warning.  The first other failure of an
 * outage is an error, since a failed connect may name a database that
 * does not exist or a wrong password.  Later failures are only counted.
 */
static void
relay_failed(struct relay *r, const char *operation,
    const struct herald_error *error)
{
	bool	lost = relay_connection_lost(r, error);

	relay_disconnect(r);
	r->connect_failures++;
	r->connect_delay_ms = hd_reconnect_delay_after(r->connect_failures - 1,
	    error);
	if (r->outage_start_ms == 0)
		r->outage_start_ms = hd_monotonic_ms();
	if (lost || !r->error_logged) {
		hd_log_at(lost ? HD_LOG_WARN : HD_LOG_ERROR, "relay failed",
		    "operation=%s error=%s sqlstate=%s retry_ms=%lld",
		    operation, hd_error_reason(error), error->sqlstate,
		    (long long)r->connect_delay_ms);
		r->error_logged = !lost;
	} else
		hd_log_debug("relay failed", "operation=%s sqlstate=%s "
		    "failures=%d retry_ms=%lld", operation, error->sqlstate,
		    r->connect_failures, (long long)r->connect_delay_ms);
	r->connect_at_ms = hd_monotonic_ms() + r->connect_delay_ms;
}

/*
 * Set idle_in_transaction_session_timeout on conn.  Builds with fault
 * injection take another value from HERALD_FAULT_RELAY_IDLE_TIMEOUT, so
 * that a test need not wait a minute.
 */
static int
relay_set_idle_timeout(PGconn *conn, struct herald_error *error)
{
	const char	*values[1] = { RELAY_IDLE_TIMEOUT };
	PGresult	*res;

#ifdef HD_FAULT_INJECTION
	const char	*fault = getenv("HERALD_FAULT_RELAY_IDLE_TIMEOUT");

	if (fault != NULL && fault[0] != '\0')
		values[0] = fault;
#endif
	res = PQexecParams(conn, "SELECT set_config("
	    "'idle_in_transaction_session_timeout', $1, false)", 1, NULL,
	    values, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, "set idle timeout");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * Open the connections, check both schemas and LISTEN.  Return 0, or -1
 * when a schema does not match and the relay must exit.
 */
static int
relay_connect(struct relay *r)
{
	struct herald_error	 error;
	struct relay_lane	*first = &r->lanes[0];
	const char		*operation;
	PGconn			*conn;
	enum hd_schema		 schema;
	int			 i;

	memset(&error, 0, sizeof error);
	for (i = 0; i < RELAY_LANES; i++) {
		operation = "connect to application database";
		r->lanes[i].app = hd_db_connect(r->config->app_db,
		    "herald relay", &error);
		if (r->lanes[i].app == NULL)
			goto fail;
		operation = "connect to job database";
		r->lanes[i].job = hd_db_connect(r->config->job_db,
		    "herald relay", &error);
		if (r->lanes[i].job == NULL)
			goto fail;
		/*
		 * A relay frozen inside a batch (SIGSTOP, a paused host)
		 * would hold its outbox rows, and a transaction that holds
		 * back vacuum, for as long as it stays frozen.  The server
		 * ends such a session instead; the rows go to another relay,
		 * and the origin keys keep the jobs relayed once.
		 */
		operation = "set idle timeout";
		if (relay_set_idle_timeout(r->lanes[i].app, &error) == -1 ||
		    relay_set_idle_timeout(r->lanes[i].job, &error) == -1)
			goto fail;
	}

	operation = "schema check";
	for (i = 0; i < 2; i++) {
		conn = i == 0 ? first->job : first->app;
		schema = i == 0 ? HD_SCHEMA_JOB : HD_SCHEMA_APP;
		if (hd_schema_check(conn, schema, &error) == 0)
			continue;
		if (error.code != HERALD_ESCHEMA)
			goto fail;
		/* An older schema is waited for, as a database is. */
		if (!hd_log_schema_mismatch(conn, schema)) {
			relay_disconnect(r);
			return -1;
		}
		goto fail;
	}
	operation = "listen";
	if (hd_outbox_origin(first->app, r->origin, &error) == -1 ||
	    hd_db_exec(first->app, "LISTEN herald_outbox", &error) == -1 ||
	    hd_store_register(first->job, r->id, "relay", r->supervisor_id,
	    NULL, &error) == -1)
		goto fail;
	operation = "remove replaced relay";
	if (r->lost_id[0] != '\0') {
		if (hd_store_unregister(first->job, r->lost_id, &error) == -1)
			goto fail;
		r->lost_id[0] = '\0';
	}
	/* The origin's row must exist before a batch adds its totals to it. */
	operation = "report backlog";
	if (hd_outbox_report(first->app, first->job, r->origin, &error) == -1)
		goto fail;

	if (r->connect_failures > 0)
		hd_log_info("relay connections restored", "failures=%d "
		    "outage_ms=%lld", r->connect_failures,
		    (long long)(hd_monotonic_ms() - r->outage_start_ms));
	else
		hd_log_info("relay ready", "origin=%s relay_id=%s", r->origin,
		    r->id);
	r->ready = true;
	r->error_logged = false;
	r->outage_start_ms = 0;
	r->connect_failures = 0;
	r->connect_delay_ms = RELAY_RETRY_MIN_MS;
	r->batch_wanted = true;
	r->next_report_ms = hd_monotonic_ms() + RELAY_REPORT_MS;
	r->next_heartbeat_ms = hd_monotonic_ms() + HD_HEARTBEAT_MS;
	r->next_ping_ms = hd_monotonic_ms() + HD_PING_INTERVAL_MS;
	return 0;

fail:
	relay_failed(r, operation, &error);
	return 0;
}

static void
relay_log_batch(const struct hd_outbox_stats *stats)
{
	int	i;

	hd_log_info("outbox batch relayed", "rows=%lld jobs=%lld "
	    "skipped=%lld dropped=%lld", (long long)stats->rows,
	    (long long)stats->jobs, (long long)stats->skipped,
	    (long long)stats->dropped);
	for (i = 0; i < stats->ndropped_types; i++)
		hd_log_warn("events dropped", "event_type=%s count=%lld "
		    "reason=%s", stats->dropped_types[i],
		    (long long)stats->dropped_counts[i], "no_subscribers");
	for (i = 0; i < stats->nunknown_tasks; i++)
		hd_log_warn("job task not configured", "task=%s count=%lld "
		    "queue=%s", stats->unknown_tasks[i],
		    (long long)stats->unknown_counts[i], HERALD_DEFAULT_QUEUE);
}

/*
 * Finish the batch in flight in lane: wait for its jobs to commit, then
 * commit the deletion of its outbox rows.  0, or -1 after relay_failed().
 */
static int
relay_settle(struct relay *r, struct relay_lane *lane)
{
	struct herald_error	error;

	if (!lane->inserting)
		return 0;
	lane->inserting = false;
	memset(&error, 0, sizeof error);
	if (hd_outbox_take_insert_receive(lane->job, &lane->stats,
	    &error) == -1) {
		relay_failed(r, "insert and commit jobs", &error);
		return -1;
	}
	if (r->fault == HD_OUTBOX_FAULT_AFTER_JOB_COMMIT) {
		/* Die as a crash would: the outbox rows stay behind. */
		hd_log_warn("fault injected", "point=%s rows=%lld",
		    "relay_after_job_commit", (long long)lane->stats.rows);
		_exit(EX_SOFTWARE);
	}
	if (hd_outbox_take_commit(&lane->take, &error) == -1) {
		relay_failed(r, "delete relayed outbox rows", &error);
		return -1;
	}
	relay_log_batch(&lane->stats);
	return 0;
}

/* Settle every lane, the older batch first.  0, or -1. */
static int
relay_settle_all(struct relay *r)
{
	int	i;

	for (i = 0; i < RELAY_LANES; i++)
		if (relay_settle(r, &r->lanes[(r->turn + i) % RELAY_LANES]) ==
		    -1)
			return -1;
	return 0;
}

/*
 * Take a batch in the lane whose turn it is and send its jobs to the job
 * database, or settle the lane's older batch first.  Each call does one
 * of the two, so a signal is seen between them.  A full batch leaves its
 * insert in flight and passes the turn, so the next batch is taken while
 * the job database inserts this one.  A short batch, or an empty take,
 * settles every lane: the outbox is drained for now.
 *
 * The jobs of two batches in flight are inserted at once, so their ids
 * may interleave.  Their run_at, the start of each insert's transaction
 * unless a row sets its own, keeps the order of the batches, and with it
 * the order in which workers claim them.  A batch cut short by its limit
 * of bytes leaves locked rows behind, which a take in the other lane
 * would skip and so relay after later rows.  Such a batch is settled
 * before the next take.
 */
static void
relay_batch(struct relay *r)
{
	struct relay_lane	*lane = &r->lanes[r->turn];
	struct relay_lane	*other = &r->lanes[(r->turn + 1) % RELAY_LANES];
	struct herald_error	 error;
	int			 n;

	if (lane->inserting) {
		(void)relay_settle(r, lane);
		return;
	}
	if (other->inserting && other->take.more &&
	    relay_settle(r, other) == -1)
		return;

	memset(&error, 0, sizeof error);
	if (hd_outbox_take_send(&lane->take, lane->app, HD_OUTBOX_BATCH,
	    HD_OUTBOX_BATCH_BYTES, &error) == -1 ||
	    (n = hd_outbox_take_receive(&lane->take, &error)) == -1) {
		relay_failed(r, "take outbox rows", &error);
		return;
	}
	r->next_batch_ms = hd_monotonic_ms() + RELAY_POLL_MS;
	if (n == 0) {
		r->batch_wanted = false;
		(void)relay_settle_all(r);
		return;
	}

	if (hd_outbox_take_insert_send(&lane->take, lane->job, r->config,
	    r->origin, &lane->stats, &error) == -1) {
		relay_failed(r, "insert and commit jobs", &error);
		return;
	}
	lane->inserting = true;
	r->turn = (r->turn + 1) % RELAY_LANES;
	if (n == HD_OUTBOX_BATCH || lane->stats.more) {
		r->batch_wanted = true;
		return;
	}
	r->batch_wanted = false;
	(void)relay_settle_all(r);
}

/*
 * The lane whose connections the timers use, with nothing in flight: the
 * lane of the next batch, settled early.  NULL after relay_failed().
 */
static struct relay_lane *
relay_idle_lane(struct relay *r)
{
	struct relay_lane	*lane = &r->lanes[r->turn];

	if (relay_settle(r, lane) == -1)
		return NULL;
	return lane;
}

static void
relay_timers(struct relay *r)
{
	struct herald_error	 error;
	struct relay_lane	*lane;
	int64_t			 now = hd_monotonic_ms(), pruned;

	if (now < r->next_report_ms && now < r->next_prune_ms &&
	    now < r->next_heartbeat_ms && now < r->next_ping_ms)
		return;
	if ((lane = relay_idle_lane(r)) == NULL)
		return;
	memset(&error, 0, sizeof error);
	if (now >= r->next_report_ms) {
		r->next_report_ms = now + RELAY_REPORT_MS;
		if (hd_outbox_report(lane->app, lane->job, r->origin,
		    &error) == -1) {
			relay_failed(r, "report backlog", &error);
			return;
		}
	}
	/*
	 * The other lane's application transaction may have deleted its
	 * rows without committing.  This lane's does not see that, so it
	 * reads the outbox as it is committed.
	 */
	if (now >= r->next_prune_ms) {
		r->next_prune_ms = now + RELAY_PRUNE_MS;
		pruned = hd_outbox_prune(lane->app, lane->job, r->origin,
		    &error);
		if (pruned == -1) {
			relay_failed(r, "prune origin keys", &error);
			return;
		}
		if (pruned > 0)
			hd_log_debug("relayed origin keys pruned",
			    "count=%lld", (long long)pruned);
	}
	if (now >= r->next_heartbeat_ms) {
		r->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
		if (hd_store_heartbeat(lane->job, r->id, &error) == -1) {
			relay_failed(r, "heartbeat", &error);
			return;
		}
	}
	/*
	 * The listening connection may be half-open, and only a ping shows
	 * it.  A batch it holds keeps its transaction open, in which SELECT
	 * 1 changes nothing.
	 */
	if (now >= r->next_ping_ms) {
		r->next_ping_ms = now + HD_PING_INTERVAL_MS;
		if (hd_db_ping(r->lanes[0].app, HD_PING_TIMEOUT_MS,
		    &error) == -1)
			relay_failed(r, "ping", &error);
	}
}

/* Wait for a notification, a signal or the next timer. */
static void
relay_wait(struct relay *r)
{
	struct pollfd	fds[2];
	PGnotify	*note;
	int64_t		timeout, now = hd_monotonic_ms();
	nfds_t		nfds = 1;

	fds[0].fd = r->sigfd;
	fds[0].events = POLLIN;
	if (relay_connected(r)) {
		fds[1].fd = PQsocket(r->lanes[0].app);
		fds[1].events = POLLIN;
		nfds = 2;
		timeout = r->next_batch_ms;
		if (r->next_report_ms < timeout)
			timeout = r->next_report_ms;
		if (r->next_heartbeat_ms < timeout)
			timeout = r->next_heartbeat_ms;
		if (r->next_ping_ms < timeout)
			timeout = r->next_ping_ms;
	} else
		timeout = r->connect_at_ms;
	timeout -= now;
	if (timeout < 0 || (relay_connected(r) && r->batch_wanted))
		timeout = 0;

	if (poll(fds, nfds, (int)timeout) == -1) {
		if (errno != EINTR)
			hd_log_error("poll failed", "errno=%d", errno);
		return;
	}
	if (fds[0].revents & POLLIN) {
		hd_signals_drain();
		if (hd_signals_take(SIGTERM) || hd_signals_take(SIGINT))
			r->stopping = true;
	}
	if (!relay_connected(r))
		return;
	if (nfds == 2 && (fds[1].revents & POLLIN) &&
	    PQconsumeInput(r->lanes[0].app) == 0) {
		struct herald_error	error;

		hd_error_from_pg(&error, r->lanes[0].app, NULL, "listen");
		relay_failed(r, "listen", &error);
		return;
	}
	while ((note = PQnotifies(r->lanes[0].app)) != NULL) {
		r->batch_wanted = true;
		PQfreemem(note);
	}
	if (hd_monotonic_ms() >= r->next_batch_ms)
		r->batch_wanted = true;
}

/*
 * In builds with fault injection, HERALD_FAULT=relay_after_job_commit
 * makes the relay die after the job-database commit of a non-empty batch,
 * before it deletes the batch from the outbox.  With HERALD_FAULT_ONCE
 * naming a file, only the relay that creates that file dies, so the
 * restarted relay can finish the batch.
 */
static enum hd_outbox_fault
relay_fault_from_env(void)
{
#ifdef HD_FAULT_INJECTION
	const char	*fault = getenv("HERALD_FAULT");
	const char	*once = getenv("HERALD_FAULT_ONCE");
	int		 fd;

	if (fault == NULL || strcmp(fault, "relay_after_job_commit") != 0)
		return HD_OUTBOX_FAULT_NONE;
	if (once != NULL) {
		fd = open(once, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd == -1)
			return HD_OUTBOX_FAULT_NONE;
		close(fd);
	}
	return HD_OUTBOX_FAULT_AFTER_JOB_COMMIT;
#else
	return HD_OUTBOX_FAULT_NONE;
#endif
}

int
hd_relay_main(const struct hd_config *config, const char *supervisor_id,
    const char *id, const char *lost_id)
{
	static const int	 signals[] = { SIGTERM, SIGINT, 0 };
	struct relay		 r;
	struct herald_error	 error;

	memset(&r, 0, sizeof r);
	r.config = config;
	r.supervisor_id = supervisor_id;
	r.connect_delay_ms = RELAY_RETRY_MIN_MS;
	r.fault = relay_fault_from_env();
	if (id != NULL && strlen(id) < sizeof r.id)
		snprintf(r.id, sizeof r.id, "%s", id);
	else
		hd_random_hex(r.id, 8);
	if (lost_id != NULL && lost_id[0] != '\0' &&
	    strlen(lost_id) < sizeof r.lost_id)
		snprintf(r.lost_id, sizeof r.lost_id, "%s", lost_id);
	hd_log_set_role("relay");

	r.sigfd = hd_signals_open(signals);
	if (r.sigfd == -1) {
		hd_log_error("could not open signal pipe", "errno=%d", errno);
		return EX_OSERR;
	}

	while (!r.stopping) {
		if (!relay_connected(&r)) {
			if (hd_monotonic_ms() >= r.connect_at_ms &&
			    relay_connect(&r) == -1)
				return EX_CONFIG;
		} else if (r.batch_wanted)
			relay_batch(&r);
		if (relay_connected(&r))
			relay_timers(&r);
		relay_wait(&r);
	}

	/* Batches in flight are finished, so their rows leave the outbox. */
	if (relay_connected(&r) && relay_settle_all(&r) == 0) {
		memset(&error, 0, sizeof error);
		(void)hd_store_unregister(r.lanes[0].job, r.id, &error);
	}
	relay_disconnect(&r);
	hd_signals_close();
	hd_log_info("relay stopped", NULL);
	return 0;
}
