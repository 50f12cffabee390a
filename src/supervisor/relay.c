/*
 * relay.c: the relay process.
 *
 * It waits with LISTEN herald_outbox on the application database, which
 * every unit of work notifies when it commits, and polls once a second in
 * case a notification was lost while it was disconnected.  A full batch
 * is followed by the next one at once, and it is taken ahead: while the
 * job database inserts one batch, a second application connection takes
 * the next, and the two connections swap roles at every batch.  When any
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

struct relay {
	const struct hd_config	*config;
	const char		*supervisor_id;
	char			 id[17];
	char			 origin[HD_OUTBOX_ORIGIN_MAX];
	/* Opened and closed together.  app[0] listens for notifications. */
	PGconn			*app[2];
	PGconn			*job;
	/*
	 * The next batch, taken ahead on one of app with its transaction
	 * open.  next.app is NULL when no batch is taken ahead.
	 */
	struct hd_outbox_take	 next;
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
};

static void
relay_disconnect(struct relay *r)
{
	/*
	 * Closing would also end the transaction, but only once the server
	 * notices.  A relay that stops releases the rows before it exits.
	 */
	hd_outbox_take_rollback(&r->next);
	PQfinish(r->app[0]);
	PQfinish(r->app[1]);
	PQfinish(r->job);
	r->app[0] = NULL;
	r->app[1] = NULL;
	r->job = NULL;
}

/* The application connection without a batch taken ahead, for timers. */
static PGconn *
relay_idle_app(struct relay *r)
{
	return r->next.app == r->app[0] ? r->app[1] : r->app[0];
}

/* Log the first failure of an outage, and only count the rest. */
static void
relay_failed(struct relay *r, const char *operation,
    const struct herald_error *error)
{
	relay_disconnect(r);
	r->connect_failures++;
	r->connect_delay_ms = hd_reconnect_delay_ms(r->connect_failures - 1);
	if (r->connect_failures == 1)
		hd_log_error("relay failed", "operation=%s error=%s "
		    "sqlstate=%s retry_ms=%lld", operation,
		    herald_strerror(error->code), error->sqlstate,
		    (long long)r->connect_delay_ms);
	else
		hd_log_debug("relay failed", "operation=%s sqlstate=%s "
		    "failures=%d retry_ms=%lld", operation, error->sqlstate,
		    r->connect_failures, (long long)r->connect_delay_ms);
	r->connect_at_ms = hd_monotonic_ms() + r->connect_delay_ms;
}

/*
 * Open the connections, check both schemas and LISTEN.  Return 0, or -1
 * when a schema does not match and the relay must exit.
 */
static int
relay_connect(struct relay *r)
{
	struct herald_error	error;
	const char		*operation = "connect";

	memset(&error, 0, sizeof error);
	r->app[0] = hd_db_connect(r->config->app_db, "herald relay", &error);
	if (r->app[0] == NULL)
		goto fail;
	r->app[1] = hd_db_connect(r->config->app_db, "herald relay", &error);
	if (r->app[1] == NULL)
		goto fail;
	r->job = hd_db_connect(r->config->job_db, "herald relay", &error);
	if (r->job == NULL)
		goto fail;

	operation = "schema check";
	if (hd_schema_check(r->job, HD_SCHEMA_JOB, &error) == -1 ||
	    hd_schema_check(r->app[0], HD_SCHEMA_APP, &error) == -1) {
		/* An older schema is waited for, as a database is. */
		if (error.code == HERALD_ESCHEMA &&
		    !hd_schema_behind(r->job, HD_SCHEMA_JOB) &&
		    !hd_schema_behind(r->app[0], HD_SCHEMA_APP)) {
			hd_log_error("database schema version mismatch",
			    "hint=%s", "upgrade heraldd to the version that "
			    "migrated the databases");
			relay_disconnect(r);
			return -1;
		}
		if (error.code == HERALD_ESCHEMA && r->connect_failures == 0)
			hd_log_error("database schema is not current",
			    "hint=%s", "run herald migrate and herald migrate "
			    "--app");
		goto fail;
	}
	operation = "listen";
	if (hd_outbox_origin(r->app[0], r->origin, &error) == -1 ||
	    hd_db_exec(r->app[0], "LISTEN herald_outbox", &error) == -1 ||
	    hd_store_register(r->job, r->id, "relay", r->supervisor_id, NULL,
	    &error) == -1)
		goto fail;
	/* The origin's row must exist before a batch adds its totals to it. */
	operation = "report backlog";
	if (hd_outbox_report(r->app[0], r->job, r->origin, &error) == -1)
		goto fail;

	if (r->connect_failures > 0)
		hd_log_info("relay connections restored", "failures=%d",
		    r->connect_failures);
	else
		hd_log_info("relay ready", "origin=%s relay_id=%s", r->origin,
		    r->id);
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
}

/* Take the batch to relay now, unless the last batch took it ahead. */
static int
relay_take(struct relay *r, struct hd_outbox_take *take,
    struct herald_error *error)
{
	if (r->next.app != NULL) {
		*take = r->next;
		memset(&r->next, 0, sizeof r->next);
		return take->rows;
	}
	if (hd_outbox_take_send(take, r->app[0], HD_OUTBOX_BATCH,
	    HD_OUTBOX_BATCH_BYTES, error) == -1)
		return -1;
	return hd_outbox_take_receive(take, error);
}

/*
 * Relay one batch.  When it reached its limit of rows, the next batch is
 * taken on the other application connection while the job database
 * inserts this one, so the two databases work at once.  The jobs of the
 * next batch are inserted only after this batch's commits, so job ids
 * keep the outbox order.  A batch cut short by its limit of bytes is
 * followed by the next one at once, but not taken ahead.  Its locked
 * rows left behind stay locked until its commit, so a take ahead would
 * skip them and relay them after later rows.
 */
static void
relay_batch(struct relay *r)
{
	struct hd_outbox_take	take;
	struct hd_outbox_stats	stats;
	struct herald_error	error;
	PGconn			*other;
	int			n;

	memset(&error, 0, sizeof error);
	n = relay_take(r, &take, &error);
	if (n == -1) {
		relay_failed(r, "take batch", &error);
		return;
	}
	r->next_batch_ms = hd_monotonic_ms() + RELAY_POLL_MS;
	if (n == 0) {
		r->batch_wanted = false;
		return;
	}

	if (n == HD_OUTBOX_BATCH && !take.more) {
		other = take.app == r->app[0] ? r->app[1] : r->app[0];
		if (hd_outbox_take_send(&r->next, other, HD_OUTBOX_BATCH,
		    HD_OUTBOX_BATCH_BYTES, &error) == -1) {
			hd_outbox_take_rollback(&take);
			relay_failed(r, "take next batch", &error);
			return;
		}
	}
	if (hd_outbox_take_insert(&take, r->job, r->config, r->origin,
	    &stats, &error) == -1) {
		hd_outbox_take_rollback(&take);
		relay_failed(r, "insert jobs", &error);
		return;
	}
	if (r->fault == HD_OUTBOX_FAULT_AFTER_JOB_COMMIT) {
		/* Die as a crash would: the outbox rows stay behind. */
		hd_log_warn("fault injected", "point=%s rows=%d",
		    "relay_after_job_commit", n);
		_exit(EX_SOFTWARE);
	}
	if (hd_outbox_take_commit(&take, &error) == -1) {
		relay_failed(r, "commit batch", &error);
		return;
	}
	relay_log_batch(&stats);

	if (r->next.app == NULL) {
		r->batch_wanted = stats.more;
		return;
	}
	/* An empty take ahead is rolled back at once. */
	n = hd_outbox_take_receive(&r->next, &error);
	if (n == -1) {
		relay_failed(r, "take next batch", &error);
		return;
	}
	r->batch_wanted = n > 0;
}

static void
relay_timers(struct relay *r)
{
	struct herald_error	error;
	int64_t			now = hd_monotonic_ms(), pruned;

	memset(&error, 0, sizeof error);
	if (now >= r->next_report_ms) {
		r->next_report_ms = now + RELAY_REPORT_MS;
		if (hd_outbox_report(relay_idle_app(r), r->job, r->origin,
		    &error) == -1) {
			relay_failed(r, "report backlog", &error);
			return;
		}
	}
	if (now >= r->next_prune_ms) {
		r->next_prune_ms = now + RELAY_PRUNE_MS;
		pruned = hd_outbox_prune(relay_idle_app(r), r->job, r->origin,
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
		if (hd_store_heartbeat(r->job, r->id, &error) == -1) {
			relay_failed(r, "heartbeat", &error);
			return;
		}
	}
	/*
	 * The listening connection may be half-open; the job one is used
	 * at least every RELAY_REPORT_MS.  A batch taken ahead on it keeps
	 * its transaction open, in which SELECT 1 changes nothing.
	 */
	if (now >= r->next_ping_ms) {
		r->next_ping_ms = now + HD_PING_INTERVAL_MS;
		if (hd_db_ping(r->app[0], HD_PING_TIMEOUT_MS, &error) == -1)
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
	if (r->app[0] != NULL) {
		fds[1].fd = PQsocket(r->app[0]);
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
	if (timeout < 0 || (r->app[0] != NULL && r->batch_wanted))
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
	if (r->app[0] == NULL)
		return;
	if (nfds == 2 && (fds[1].revents & POLLIN) &&
	    PQconsumeInput(r->app[0]) == 0) {
		struct herald_error	error;

		hd_error_from_pg(&error, r->app[0], NULL, "listen");
		relay_failed(r, "listen", &error);
		return;
	}
	while ((note = PQnotifies(r->app[0])) != NULL) {
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
hd_relay_main(const struct hd_config *config, const char *supervisor_id)
{
	static const int	 signals[] = { SIGTERM, SIGINT, 0 };
	struct relay		 r;
	struct herald_error	 error;

	memset(&r, 0, sizeof r);
	r.config = config;
	r.supervisor_id = supervisor_id;
	r.connect_delay_ms = RELAY_RETRY_MIN_MS;
	r.fault = relay_fault_from_env();
	hd_random_hex(r.id, 8);
	hd_log_set_role("relay");

	r.sigfd = hd_signals_open(signals);
	if (r.sigfd == -1) {
		hd_log_error("could not open signal pipe", "errno=%d", errno);
		return EX_OSERR;
	}

	while (!r.stopping) {
		if (r.app[0] == NULL) {
			if (hd_monotonic_ms() >= r.connect_at_ms &&
			    relay_connect(&r) == -1)
				return EX_CONFIG;
		} else if (r.batch_wanted)
			relay_batch(&r);
		if (r.app[0] != NULL)
			relay_timers(&r);
		relay_wait(&r);
	}

	if (r.job != NULL) {
		memset(&error, 0, sizeof error);
		(void)hd_store_unregister(r.job, r.id, &error);
	}
	relay_disconnect(&r);
	hd_signals_close();
	hd_log_info("relay stopped", NULL);
	return 0;
}
