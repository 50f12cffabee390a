/*
 * worker.c: a worker process, which claims the jobs of one queue and runs
 * them with their exec or module handlers.
 *
 * One poll() loop waits on the job database socket (LISTEN herald), the
 * handlers' pipes and the signal pipe.  Handler exits arrive as SIGCHLD
 * through the signal pipe and are collected with waitpid(-1, WNOHANG).
 * pidfd_open() would cost a descriptor per handler and gain nothing here.
 * Database calls are synchronous: a worker may block on the database,
 * the supervisor never does.
 *
 * Module handlers run on a pool of threads (module.h), whose results
 * arrive through an eventfd in the same poll() set.  A claim may take
 * more jobs than there are free slots when jobs finish fast.  Jobs of
 * module tasks go to the pool at once, which runs at most concurrency of
 * them at a time; the others wait in w->pending for a free slot.  Either
 * way their leases are renewed like those of running jobs.  The next
 * claim goes out when half of the jobs claimed are left, so the pool's
 * threads keep working during its round trip.  Finished jobs wait in
 * w->done, and their completion goes out with the next claim in one
 * pipelined round trip (batch.h).  A module job that fails, or that
 * comes back from the pool unfinished (its timeout, a stop), waits in a
 * slot of w->results until its result is recorded.  A job whose handler
 * ran past its timeout then stays on its lease in w->abandoned until the
 * worker exits, because its handler may still run.  While claims come
 * back short the worker keeps a row in herald.waiters and, unless another
 * worker of the queue does, holds the queue's wait lock, so that
 * producers notify the queue.  Only the holder claims as soon as a
 * notification comes, and the others claim a little later.  The holder
 * gives the lock up when a notification finds no slot free and when it
 * stops or recycles, and another waiting worker takes it over at once.
 * With a backlog a worker removes its row and drops the lock, and
 * producers send no notification.  Each claim also returns when the
 * queue's next job due later is due, and after a short claim the worker
 * waits only until then if that comes before its next poll.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "batch.h"
#include "db.h"
#include "exec.h"
#include "log.h"
#include "migrate.h"
#include "module.h"
#include "signals.h"
#include "store.h"
#include "child.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

#define WORKER_ID_BYTES		8
/* PATH, LANG, seven HERALD_ variables, the task's env and NULL. */
#define WORKER_ENV_MAX		(10 + HD_TASK_ENV_MAX)
#define WORKER_RETRY_MIN_MS	100
#define WORKER_RETRY_MAX_MS	30000
/*
 * A result the job database rejects this many times in a row, over about
 * 25 s of backoff, is given up: the job is left to its lease, whose
 * expiry counts a lost attempt, and its slot is freed.
 */
#define WORKER_RECORD_TRIES	8
/*
 * Jobs claimed beyond the free slots that wait this long for one, behind
 * handlers that run long, are put back in the queue, where an idle
 * worker takes them.  Until its next claim the worker then keeps no more
 * jobs than its free slots.
 */
#define WORKER_WAITING_MAX_MS	1000
#define WORKER_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
/* Maximum number of jobs one claim takes, however fast they finish. */
#define WORKER_CLAIM_MAX	1000
/*
 * Maximum number of unfinished jobs a worker keeps: two claims, so that
 * one still runs while the next is on its way.
 */
#define WORKER_HOLD_MAX		(2 * WORKER_CLAIM_MAX)
/* A worker keeps about this many ms of work, judged by its last claims. */
#define WORKER_HOLD_MS		200
/* First wait before herald.wait_begin is tried again after it failed. */
#define WORKER_WAIT_RETRY_MS	2
/*
 * Delay of the claim that a notification requests from a worker waiting
 * without the wait lock.  The holder claims at once, so this claim finds
 * nothing unless no worker held the lock.
 */
#define WORKER_NOTIFIED_DELAY_MS	50
/*
 * Shortest wait for a job due later.  When a queue's limit lets no job
 * run, jobs that keep coming due wake the worker at most this often.
 */
#define WORKER_DUE_MIN_MS	10
/*
 * Finished jobs are recorded with the next claim, or on their own once
 * this many wait or the first has waited WORKER_DONE_WAIT_MS.
 */
#define WORKER_DONE_MAX		500
#define WORKER_DONE_WAIT_MS	20
/*
 * How long a worker stays without jobs before it returns its free memory
 * to the system.  The delay is long enough that a steady trickle of jobs
 * never pays for a trim.
 */
#define WORKER_TRIM_IDLE_MS	1000

enum slot_state {
	SLOT_FREE = 0,
	SLOT_RUNNING,		/* the handler runs */
	SLOT_FINISHED		/* the result waits to be recorded */
};

/* One job a worker holds, from its claim until its result is recorded. */
struct slot {
	enum slot_state	 state;
	struct hd_job	 job;
	struct hd_exec	 exec;
	bool		 ran;		/* exec holds a started handler */
	bool		 release;	/* put the job back, record nothing */
	int64_t		 release_delay_ms; /* delay until the job put back is due */
	bool		 lost;		/* the lease went to another worker */
	bool		 reserved;	/* holds a place of the pool */
	bool		 cancelled;	/* an operator cancelled the job */
	bool		 abandoned;	/* its module handler still runs */
	int64_t		 retry_delay_ms; /* the handler's, or 0: backoff */
	bool		 record_failed;	/* the database rejected its result */
	int		 record_tries;	/* rejections of its result so far */
	struct hd_attempt attempt;
	char		 output[HD_EXEC_TAIL_MAX + 1];
	char		*env[WORKER_ENV_MAX];
};

struct worker {
	const struct hd_config		*config;
	const struct hd_queue_config	*queue;
	const char			*supervisor_id;
	pid_t				 parent;	/* heraldd, at start */
	char				 id[2 * WORKER_ID_BYTES + 1];
	/* The dead worker this one replaces, whose jobs it takes back. */
	const char			*lost_id;
	/*
	 * The jobs that lost_id started.  When NULL or not known, every job
	 * of lost_id counts an attempt.
	 */
	const struct hd_started_ids	*lost_started;
	/*
	 * The jobs whose handler started here and whose result is not
	 * recorded yet, shared with heraldd for the replacing worker.
	 */
	struct hd_started		*started;
	char				 app_name[128];
	PGconn				*conn;
	int				 sigfd;
	struct slot			*slots;
	int				 nslots;
	struct hd_module_pool		*pool;		/* NULL until needed */
	/* Module jobs back from the pool whose result needs recording. */
	struct slot			**results;
	int				 nresults;
	/* The handler of the module task started last. */
	const struct hd_task_config	*module_task;
	herald_module_handler_fn	*module_handler;

	/* Jobs claimed beyond the free slots, started in claim order. */
	struct hd_job			*pending;
	int				 npending;
	int64_t				 pending_at_ms;	/* their claim */
	bool				 waiting_checked; /* since the claim */
	int				 pending_next;
	/*
	 * Jobs whose module handler ran past its timeout and may still run
	 * on a thread of this process.  Their attempts are recorded as
	 * abandoned, and their leases are renewed until the worker exits,
	 * so that no other worker starts them meanwhile.
	 */
	struct hd_job			*abandoned;
	int				 nabandoned;
	/* Finished jobs whose completion goes out with the next claim. */
	struct hd_job			*done;
	int64_t				*done_ms;	/* their durations */
	int				 ndone;
	int64_t				 done_since_ms;	/* the first's finish */
	/* Jobs a claim may take beyond the free slots; adapts. */
	int				 claim_extra;
	/* How long claimed jobs wait for a slot before they are put back. */
	int64_t				 waiting_max_ms;
	int64_t				 claimed_at_ms;
	int64_t				 finished;	/* since then */
	int64_t				 finished_ms;	/* their run time */
	bool				 waiting;	/* holds the wait lock */
	/*
	 * A row in herald.waiters, but the wait lock is taken: by another
	 * worker, or in shared mode by a producer's open transaction.
	 */
	bool				 wait_refused;
	/* Notified while holding the lock with no slot free: give it up. */
	bool				 hand_over;
	/* Notified with no slot free: claim once a slot is free. */
	bool				 claim_when_free;
	/*
	 * The leases held were renewed on this connection, by token and
	 * owner.  Until then the worker records and claims nothing: a claim
	 * that committed without a WAL flush may have been undone by a
	 * server crash, and its token handed to another claim.
	 */
	bool				 leases_checked;
	int64_t				 wait_retry_ms;

	/* CLOCK_MONOTONIC milliseconds. */
	int64_t				 next_poll_ms;
	int64_t				 next_extend_ms;
	int64_t				 next_heartbeat_ms;
	int64_t				 connect_at_ms;
	/* When the worker's last job ended, or 0 while it has jobs. */
	int64_t				 idle_since_ms;
	bool				 trimmed;	/* since it went idle */
	int64_t				 connect_delay_ms;
	int				 connect_failures;
	int64_t				 record_at_ms;
	int64_t				 record_delay_ms;
	/* When results the database rejected are tried again. */
	int64_t				 rejected_at_ms;
	int64_t				 rejected_delay_ms;
	int64_t				 stop_deadline_ms;
	int64_t				 next_ping_ms;
	int64_t				 outage_start_ms;

	/* Jobs claimed so far, for max_jobs. */
	int64_t				 jobs_claimed;
	/* Why the worker stops claiming and exits: NULL when it does not. */
	const char			*recycle_reason;

	bool				 ever_connected;
	bool				 removed;	/* registration gone */
	bool				 claim_wanted;
	bool				 stopping;
	bool				 killing;
	int				 exit_status;
};

static int64_t
grow_delay(int64_t delay_ms)
{
	delay_ms *= 2;
	return delay_ms > WORKER_RETRY_MAX_MS ? WORKER_RETRY_MAX_MS : delay_ms;
}

static int
worker_count(const struct worker *w, enum slot_state state)
{
	int	i, n = 0;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].state == state)
			n++;
	return n;
}

static int
worker_pending(const struct worker *w)
{
	return w->npending - w->pending_next;
}

static int
worker_held(const struct worker *w)
{
	return w->nslots - worker_count(w, SLOT_FREE) + worker_pending(w) +
	    w->ndone + w->nresults +
	    (w->pool != NULL ? hd_module_pool_held(w->pool) : 0);
}

/* Jobs whose leases the worker renews: those it holds and abandoned ones. */
static int
worker_leases(const struct worker *w)
{
	return worker_held(w) + w->nabandoned;
}

/* Handlers running: exec handlers and module handlers. */
static int
worker_running(const struct worker *w)
{
	return worker_count(w, SLOT_RUNNING) +
	    (w->pool != NULL ? hd_module_pool_running(w->pool) : 0);
}

/* Jobs held that are not finished: waiting to start or running. */
static int
worker_unfinished(const struct worker *w)
{
	return worker_count(w, SLOT_RUNNING) + worker_pending(w) +
	    (w->pool != NULL ? hd_module_pool_unfinished(w->pool) : 0);
}

/* Return whether every slot runs a job or waits for one to start. */
static bool
worker_slots_full(const struct worker *w)
{
	return worker_unfinished(w) >= w->nslots;
}

/* Drop the connection after a failure; the loop reconnects later. */
static void
worker_disconnect(struct worker *w)
{
	w->connect_delay_ms = hd_reconnect_delay_ms(0);
	hd_log_warn("job database connection lost",
	    "queue=%s held_jobs=%d retry_ms=%lld", w->queue->name,
	    worker_held(w), (long long)w->connect_delay_ms);
	PQfinish(w->conn);
	w->conn = NULL;
	w->outage_start_ms = hd_monotonic_ms();
	w->connect_at_ms = w->outage_start_ms + w->connect_delay_ms;
	w->connect_failures = 0;
}

/*
 * Handle a failed store call: a broken connection is dropped, anything
 * else is logged with its SQLSTATE (never the server's message).
 */
static void
worker_store_failed(struct worker *w, const char *operation,
    const struct herald_error *error)
{
	if (hd_db_error_is_fatal(w->conn, error)) {
		if (w->conn != NULL)
			worker_disconnect(w);
		return;
	}
	hd_log_error("job database error", "queue=%s operation=%s "
	    "error=%s sqlstate=%s", w->queue->name, operation,
	    hd_error_reason(error), error->sqlstate);
}

/*
 * Request a claim for a notification of the queue, on channel herald or,
 * when handover is set, herald_handover.  Only the holder of the wait
 * lock claims at once on herald, because the claims of every idle worker
 * would run side by side and wait for each other's claim lock.  A worker
 * refused the lock claims a little later, in case no worker held it when
 * the notification was sent.  A worker with no slot free leaves the job
 * to an idle one and claims once a slot is free, and gives the lock up
 * if it holds it.
 *
 * NOTE: the lock's key is a hash of the queue's name, so two queues whose
 * names have the same hash share one lock.  The jobs of the queue whose
 * worker does not hold it start WORKER_NOTIFIED_DELAY_MS late, and up to
 * a janitor round (about 1 s) late after the holder gives the lock up,
 * because the hand-over names the other queue.
 */
static void
worker_notified(struct worker *w, bool handover)
{
	int64_t	at;

	if (worker_slots_full(w)) {
		w->claim_when_free = true;
		w->hand_over = w->waiting;
		return;
	}
	if (w->wait_refused && !handover) {
		at = hd_monotonic_ms() + WORKER_NOTIFIED_DELAY_MS;
		if (at < w->next_poll_ms)
			w->next_poll_ms = at;
		return;
	}
	w->claim_wanted = true;
}

static void
worker_drain_notifies(struct worker *w)
{
	PGnotify	*n;

	while ((n = PQnotifies(w->conn)) != NULL) {
		if (strcmp(n->relname, "herald") == 0 &&
		    strcmp(n->extra, w->queue->name) == 0)
			worker_notified(w, false);
		/* The holder gave the wait lock up: the others claim at once. */
		if (strcmp(n->relname, "herald_handover") == 0 &&
		    strcmp(n->extra, w->queue->name) == 0)
			worker_notified(w, true);
		/* A job of this worker was cancelled: renew (and learn) now. */
		if (strcmp(n->relname, "herald_cancel") == 0 &&
		    strcmp(n->extra, w->id) == 0)
			w->next_extend_ms = 0;
		PQfreemem(n);
	}
}

static void
worker_connect_failed(struct worker *w, const struct herald_error *error)
{
	char	role[128];

	hd_conninfo_role(w->config->job_db, role, sizeof role);
	w->connect_failures++;
	w->connect_delay_ms = hd_reconnect_delay_after(w->connect_failures,
	    error);
	if (w->connect_failures == 1 && hd_error_grant_hint(error) != NULL)
		hd_log_error("could not connect to job database",
		    "queue=%s error=%s sqlstate=%s retry_ms=%lld hint=%s "
		    "user=%s", w->queue->name, hd_error_reason(error),
		    error->sqlstate, (long long)w->connect_delay_ms,
		    hd_error_grant_hint(error), role);
	else if (w->connect_failures == 1)
		hd_log_error("could not connect to job database",
		    "queue=%s error=%s sqlstate=%s retry_ms=%lld user=%s",
		    w->queue->name, hd_error_reason(error),
		    error->sqlstate, (long long)w->connect_delay_ms, role);
	else
		hd_log_debug("could not connect to job database",
		    "queue=%s sqlstate=%s failures=%d retry_ms=%lld",
		    w->queue->name, error->sqlstate, w->connect_failures,
		    (long long)w->connect_delay_ms);
	w->connect_at_ms = hd_monotonic_ms() + w->connect_delay_ms;
}

/*
 * Register at the first connection.  After a reconnection refresh the
 * heartbeat instead, which fails with HERALD_ENOTFOUND when the janitor
 * removed the registration meanwhile.
 */
static int
worker_check_in(struct worker *w, PGconn *conn, struct herald_error *error)
{
	if (w->removed)
		return 0;
	if (!w->ever_connected)
		return hd_store_register(conn, w->id, "worker",
		    w->supervisor_id, w->queue->name, error);
	return hd_store_heartbeat(conn, w->id, error);
}

/*
 * Stop claiming and exit once the jobs held are done, so the supervisor
 * starts a fresh worker at once.
 */
static void
worker_recycle(struct worker *w, const char *reason)
{
	if (w->recycle_reason != NULL)
		return;
	w->recycle_reason = reason;
	w->exit_status = HD_EXIT_RESTART;
	hd_log_info("worker recycling", "queue=%s reason=%s jobs=%lld "
	    "running=%d", w->queue->name, reason, (long long)w->jobs_claimed,
	    worker_held(w));
}

static void	worker_begin_stop(struct worker *, const char *);

/*
 * Stop because the janitor removed this worker's registration, as it
 * does when the heartbeat stopped for too long.  The supervisor starts a
 * new worker, which registers again.
 */
static void
worker_removed(struct worker *w)
{
	hd_log_warn("registration removed, restarting", "queue=%s "
	    "worker_id=%s held_jobs=%d", w->queue->name, w->id,
	    worker_held(w));
	w->removed = true;
	if (!w->stopping)
		worker_begin_stop(w, "registration_removed");
	w->exit_status = HD_EXIT_RESTART;
	/* A new connection is still needed to record the jobs held. */
	w->connect_at_ms = hd_monotonic_ms() + hd_reconnect_delay_ms(0);
}

/*
 * Store the queue's limits from the configuration in herald.queue_limits,
 * where the claims of every host read them.  Limits that another host
 * stored are replaced with a warning: the hosts' files disagree, and the
 * limits change at each start of a worker of either.
 */
static int
worker_publish_limits(struct worker *w, PGconn *conn,
    struct herald_error *error)
{
	const char	*values[4], *previous_host;
	char		 limit[16], rate[32], rate_text[32], host[256];
	PGresult	*res;
	bool		 changed, replaced;

	hd_hostname(host, sizeof host);
	snprintf(limit, sizeof limit, "%d", w->queue->global_limit);
	snprintf(rate, sizeof rate, "%.17g", w->queue->rate);
	values[0] = w->queue->name;
	values[1] = w->queue->global_limit > 0 ? limit : NULL;
	values[2] = w->queue->rate > 0 ? rate : NULL;
	values[3] = host;
	res = PQexecParams(conn, "SELECT changed, previous_max_running,"
	    " previous_rate, previous_host"
	    " FROM herald.store_queue_limits($1, $2, $3, $4)",
	    4, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		hd_error_from_pg(error, conn, res, "store queue limits");
		PQclear(res);
		return -1;
	}
	previous_host = PQgetvalue(res, 0, 3);
	changed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	replaced = changed && !PQgetisnull(res, 0, 3) &&
	    strcmp(previous_host, host) != 0;
	/* The log functions take no %g, so the rate is formatted here. */
	hd_format_double(w->queue->rate, rate_text, sizeof rate_text);
	if (replaced)
		hd_log_warn("queue limits replaced", "queue=%s limit=%d "
		    "rate=%s previous_limit=%s previous_rate=%s "
		    "previous_host=%s hint=\"give every host the same "
		    "limits for the queue\"", w->queue->name,
		    w->queue->global_limit, rate_text,
		    PQgetisnull(res, 0, 1) ? "0" : PQgetvalue(res, 0, 1),
		    PQgetisnull(res, 0, 2) ? "0" : PQgetvalue(res, 0, 2),
		    previous_host);
	else if (changed)
		hd_log_info("queue limits stored", "queue=%s limit=%d "
		    "rate=%s", w->queue->name, w->queue->global_limit,
		    rate_text);
	PQclear(res);
	return 0;
}

/*
 * Format ids as a PostgreSQL array literal, or return NULL (SQL NULL)
 * when they are not known.  After a crash that names its jobs, only
 * those jobs count as started.
 */
static char *
started_array(const struct hd_started_ids *ids)
{
	int64_t		 crashed[HD_STARTED_CRASHES];
	const int64_t	*list;
	char		*text;
	size_t		 len = 0;
	int		 i, n;

	if (ids == NULL || !ids->known)
		return NULL;
	list = ids->ids;
	n = ids->n;
	if (hd_started_crashed_job(ids) > 0) {
		n = 0;
		for (i = 0; i < ids->ncrashed; i++)
			if (hd_started_crash_signal(ids, ids->crashed[i]) > 0)
				crashed[n++] = ids->crashed[i];
		list = crashed;
	}
	text = hd_xmalloc((size_t)n * 22 + 3);
	text[len++] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%s%" PRId64,
		    i > 0 ? "," : "", list[i]);
	text[len++] = '}';
	text[len] = '\0';
	return text;
}

/*
 * Take back the jobs of the worker this one replaces, which died or
 * exited: the supervisor reaped it and killed its handlers, so its jobs
 * can run again now rather than when their leases expire.  The jobs it
 * started count a lost attempt and wait their task's retry delay, and
 * those it abandoned to stuck module handlers are recorded with their
 * outcome and retry delay.  Its other jobs go back to their queue with no
 * attempt counted.
 */
static int
worker_take_back_lost(struct worker *w, PGconn *conn,
    struct herald_error *error)
{
	const char		*values[2];
	char			*started;
	const char		*outcome;
	PGresult		*res;
	struct hd_lost_delay	*delays;
	size_t			 ndelays = 0;
	int64_t			 id;
	int			 row, signo, lost = 0, abandoned = 0;
	int			 released = 0;
	int			 cancelled = 0;

	if (w->lost_id == NULL)
		return 0;
	if (hd_db_exec(conn, "BEGIN", error) == -1)
		return -1;
	started = started_array(w->lost_started);
	values[0] = w->lost_id;
	values[1] = started;
	res = PQexecParams(conn, "SELECT job_id, task, queue, attempt, "
	    "outcome, reason FROM herald.take_back_started($1, $2)", 2, NULL,
	    values, NULL, NULL, 0);
	free(started);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		hd_error_from_pg(error, conn, res, "take back jobs");
		PQclear(res);
		return -1;
	}
	delays = hd_xcalloc((size_t)PQntuples(res) + 1, sizeof *delays);
	for (row = 0; row < PQntuples(res); row++) {
		if (strcmp(PQgetvalue(res, row, 4), "lost") != 0)
			continue;
		id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
		signo = hd_started_crash_signal(w->lost_started, id);
		if (signo > 0 && hd_store_record_crash(conn, id,
		    signo == HD_STARTED_EXIT ? 0 : signo, error) == -1) {
			free(delays);
			PQclear(res);
			return -1;
		}
		if (!PQgetisnull(res, row, 5))
			continue;
		delays[ndelays].id = id;
		delays[ndelays].attempt = atoi(PQgetvalue(res, row, 3));
		delays[ndelays].delay_ms = hd_config_retry_delay_ms(w->config,
		    PQgetvalue(res, row, 1), delays[ndelays].attempt);
		ndelays++;
	}
	if (hd_store_delay_lost(conn, delays, ndelays, error) == -1 ||
	    hd_db_exec(conn, "COMMIT", error) == -1) {
		free(delays);
		PQclear(res);
		return -1;
	}
	ndelays = 0;
	for (row = 0; row < PQntuples(res); row++) {
		outcome = PQgetvalue(res, row, 4);
		if (strcmp(outcome, "released") == 0)
			released++;
		else if (strcmp(outcome, "abandoned") == 0)
			abandoned++;
		else if (strcmp(outcome, "cancelled") == 0)
			cancelled++;
		else
			lost++;
		if (!PQgetisnull(res, row, 5))
			hd_log_warn("job dead", "job_id=%s task=%s queue=%s "
			    "attempt=%s reason=%s", PQgetvalue(res, row, 0),
			    PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
			    PQgetvalue(res, row, 3), PQgetvalue(res, row, 5));
		else if (strcmp(outcome, "lost") == 0)
			/* Its attempt ends here, so the log names the job. */
			hd_log_warn("job lost", "job_id=%s task=%s queue=%s "
			    "attempt=%s status=%s delay_ms=%lld "
			    "lost_worker_id=%s", PQgetvalue(res, row, 0),
			    PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
			    PQgetvalue(res, row, 3), "lost",
			    (long long)delays[ndelays++].delay_ms, w->lost_id);
		signo = hd_started_crash_signal(w->lost_started,
		    strtoll(PQgetvalue(res, row, 0), NULL, 10));
		if (strcmp(outcome, "lost") == 0 && signo == HD_STARTED_EXIT)
			hd_log_warn("job ended its worker", "job_id=%s "
			    "task=%s queue=%s attempt=%s cause=exit "
			    "lost_worker_id=%s", PQgetvalue(res, row, 0),
			    PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
			    PQgetvalue(res, row, 3), w->lost_id);
		else if (strcmp(outcome, "lost") == 0 && signo > 0)
			hd_log_warn("job crashed its worker", "job_id=%s "
			    "task=%s queue=%s attempt=%s signal=%d "
			    "lost_worker_id=%s", PQgetvalue(res, row, 0),
			    PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
			    PQgetvalue(res, row, 3), signo, w->lost_id);
	}
	free(delays);
	if (lost + released + cancelled > 0)
		hd_log_warn("jobs of dead worker taken back", "queue=%s "
		    "lost_worker_id=%s jobs=%d lost=%d released=%d "
		    "cancelled=%d started_known=%s", w->queue->name,
		    w->lost_id, lost + released + cancelled, lost, released,
		    cancelled, w->lost_started != NULL &&
		    w->lost_started->known ? "yes" : "no");
	if (abandoned > 0)
		hd_log_info("timed-out jobs of replaced worker taken back",
		    "queue=%s lost_worker_id=%s jobs=%d", w->queue->name,
		    w->lost_id, abandoned);
	PQclear(res);
	/* Its registration is removed too, or it would count until pruned. */
	if (hd_store_unregister(conn, w->lost_id, error) == -1)
		return -1;
	w->lost_id = NULL;
	return 0;
}

/*
 * Open the connection, check the schema, LISTEN and register.  Return 0,
 * or -1 when the schema does not match and the worker must exit.
 */
static int
worker_connect(struct worker *w)
{
	struct herald_error	 error;
	PGconn			*conn;
	int64_t			 now;

	memset(&error, 0, sizeof error);
	conn = hd_db_connect(w->config->job_db, w->app_name, &error);
	if (conn == NULL) {
		worker_connect_failed(w, &error);
		return 0;
	}
	if (hd_schema_check(conn, HD_SCHEMA_JOB, &error) == -1) {
		if (error.code != HERALD_ESCHEMA)
			goto fail;
		/* An older schema is waited for, as a database is. */
		if (!hd_log_schema_mismatch(conn, HD_SCHEMA_JOB)) {
			PQfinish(conn);
			return -1;
		}
		PQfinish(conn);
		w->connect_failures++;
		w->connect_delay_ms =
		    hd_reconnect_delay_ms(w->connect_failures);
		w->connect_at_ms = hd_monotonic_ms() + w->connect_delay_ms;
		return 0;
	}
	if (hd_db_exec(conn, "LISTEN herald; LISTEN herald_handover; "
	    "LISTEN herald_cancel", &error) == -1 ||
	    hd_batch_prepare(conn, &error) == -1)
		goto fail;
	if (worker_check_in(w, conn, &error) == -1) {
		if (error.code != HERALD_ENOTFOUND)
			goto fail;
		PQfinish(conn);
		worker_removed(w);
		return 0;
	}

	if (worker_publish_limits(w, conn, &error) == -1 ||
	    worker_take_back_lost(w, conn, &error) == -1)
		goto fail;

	w->conn = conn;
	now = hd_monotonic_ms();
	if (!w->ever_connected)
		hd_log_info("worker ready", "queue=%s worker_id=%s "
		    "concurrency=%d", w->queue->name, w->id, w->nslots);
	else
		hd_log_info("job database connection restored",
		    "queue=%s failures=%d outage_ms=%lld held_jobs=%d",
		    w->queue->name, w->connect_failures,
		    (long long)(now - w->outage_start_ms), worker_held(w));
	w->ever_connected = true;
	w->connect_failures = 0;
	w->claim_wanted = true;
	w->waiting = false;
	w->wait_refused = false;
	w->hand_over = false;
	w->claim_when_free = false;
	w->leases_checked = worker_held(w) == 0;
	w->next_extend_ms = now;
	w->next_ping_ms = now + HD_PING_INTERVAL_MS;
	w->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
	w->record_at_ms = now;
	w->record_delay_ms = WORKER_RETRY_MIN_MS;
	w->rejected_at_ms = now;
	w->rejected_delay_ms = WORKER_RETRY_MIN_MS;
	return 0;

fail:
	PQfinish(conn);
	worker_connect_failed(w, &error);
	return 0;
}

static char *
env_entry(const char *name, const char *value)
{
	size_t	len = strlen(name) + strlen(value) + 2;
	char	*entry = hd_xmalloc(len);

	snprintf(entry, len, "%s=%s", name, value);
	return entry;
}

/* Return whether the task's env list names the variable name. */
static bool
task_env_names(const struct hd_task_config *task, const char *name)
{
	size_t	i, len = strlen(name);

	for (i = 0; i < task->nenv; i++)
		if (strncmp(task->env[i], name, len) == 0 &&
		    (task->env[i][len] == '=' || task->env[i][len] == '\0'))
			return true;
	return false;
}

/*
 * Build the handler's environment: PATH, LANG, the HERALD_ variables and
 * the task's env list, which may replace PATH and LANG.  Nothing else of
 * heraldd's environment reaches the handler.
 */
static void
slot_build_env(struct slot *s, const struct hd_task_config *task)
{
	const char	*path = getenv("PATH"), *lang = getenv("LANG");
	const char	*value;
	char		 number[32];
	size_t		 i;
	int		 n = 0;

	if (!task_env_names(task, "PATH"))
		s->env[n++] = env_entry("PATH", path != NULL &&
		    *path != '\0' ? path : WORKER_DEFAULT_PATH);
	if (lang != NULL && !task_env_names(task, "LANG"))
		s->env[n++] = env_entry("LANG", lang);
	for (i = 0; i < task->nenv; i++) {
		if (strchr(task->env[i], '=') != NULL)
			s->env[n++] = hd_xstrdup(task->env[i]);
		else if ((value = getenv(task->env[i])) != NULL)
			s->env[n++] = env_entry(task->env[i], value);
	}
	snprintf(number, sizeof number, "%lld", (long long)s->job.id);
	s->env[n++] = env_entry("HERALD_JOB_ID", number);
	s->env[n++] = env_entry("HERALD_TASK", s->job.task);
	s->env[n++] = env_entry("HERALD_QUEUE", s->job.queue);
	snprintf(number, sizeof number, "%d", s->job.attempt);
	s->env[n++] = env_entry("HERALD_ATTEMPT", number);
	snprintf(number, sizeof number, "%d", s->job.max_attempts);
	s->env[n++] = env_entry("HERALD_MAX_ATTEMPTS", number);
	if (s->job.event_id != NULL)
		s->env[n++] = env_entry("HERALD_EVENT_ID", s->job.event_id);
	if (s->job.event_type != NULL)
		s->env[n++] = env_entry("HERALD_EVENT_TYPE",
		    s->job.event_type);
	s->env[n] = NULL;
}

static void
slot_clear(struct worker *w, struct slot *s)
{
	int	i;

	if (s->reserved)
		hd_module_pool_unreserve(w->pool);
	if (s->ran)
		hd_exec_close(&s->exec);
	for (i = 0; i < WORKER_ENV_MAX && s->env[i] != NULL; i++)
		free(s->env[i]);
	hd_job_release(&s->job);
	memset(s, 0, sizeof *s);
}

static void	log_job_failed(const struct hd_job *,
		    const struct hd_attempt *, const struct hd_exec *);

/* Finish a job that ran no handler, with a fixed output text. */
static void
slot_fail_now(struct slot *s, enum hd_outcome outcome, const char *output)
{
	memset(&s->attempt, 0, sizeof s->attempt);
	s->attempt.outcome = outcome;
	s->attempt.exit_code = -1;
	snprintf(s->output, sizeof s->output, "%s", output);
	s->attempt.output = s->output;
	s->state = SLOT_FINISHED;
	/* A timeout is logged by its caller, after it sets the duration. */
	if (outcome != HD_OUTCOME_TIMEOUT)
		log_job_failed(&s->job, &s->attempt, NULL);
}

static void
log_job_started(const struct worker *w, const struct hd_job *job)
{
	if (job->event_type != NULL)
		hd_log_info("job started", "job_id=%lld task=%s queue=%s "
		    "event_type=%s attempt=%d", (long long)job->id, job->task,
		    job->queue, job->event_type, job->attempt);
	else
		hd_log_info("job started", "job_id=%lld task=%s queue=%s "
		    "attempt=%d", (long long)job->id, job->task, job->queue,
		    job->attempt);
}

/* Start the handler of a claimed job, which s now owns. */
static void
slot_start(struct worker *w, struct slot *s)
{
	const struct hd_task_config	*task;
	struct hd_job			*job = &s->job;
	char				 text[256];

	s->state = SLOT_RUNNING;
	log_job_started(w, job);
	hd_started_add(w->started, job->id);
	task = hd_config_task(w->config, job->task);
	if (task == NULL || task->argv == NULL) {
		snprintf(text, sizeof text,
		    "no handler configured for task %s", job->task);
		hd_log_warn("no handler configured", "job_id=%lld task=%s "
		    "queue=%s", (long long)job->id, job->task, job->queue);
		/*
		 * A failed attempt, not a permanent failure: during a
		 * rolling deploy another host, or this one after a reload,
		 * may know the task.
		 */
		slot_fail_now(s, HD_OUTCOME_FAILED, text);
		return;
	}

	slot_build_env(s, task);
	if (hd_exec_start(&s->exec, task->argv, s->env, &task->isolation,
	    job->payload, strlen(job->payload), task->timeout_ms) == -1) {
		snprintf(text, sizeof text, "could not start handler: %s",
		    strerror(errno));
		hd_log_error("could not start handler", "job_id=%lld task=%s "
		    "queue=%s error=%s", (long long)job->id, job->task,
		    job->queue, strerror(errno));
		slot_fail_now(s, HD_OUTCOME_FAILED, text);
		return;
	}
	s->ran = true;
}

static void	log_job_completed(const struct hd_job *, int64_t);
static void	log_lease_lost(const struct hd_job *);
static void	log_job_cancel(const char *, const struct hd_job *);
static int	finish_cancelled(PGconn *, const struct hd_job *,
		    struct herald_error *);

/*
 * A slot of w->results for the module job job, which it takes over,
 * finished with no outcome yet.
 */
static struct slot *
worker_result_slot(struct worker *w, struct hd_job *job)
{
	struct slot	*s = hd_xcalloc(1, sizeof *s);

	s->job = *job;
	memset(job, 0, sizeof *job);
	s->state = SLOT_FINISHED;
	s->attempt.exit_code = -1;
	s->attempt.output = s->output;
	if (w->nresults % 16 == 0)
		w->results = hd_xrealloc(w->results, (size_t)w->nresults + 16,
		    sizeof *w->results);
	w->results[w->nresults++] = s;
	return s;
}

/* A module job the pool gave back because no thread could start. */
static void
give_unstarted(void *arg, struct hd_job *job, bool cancelled,
    int64_t ran_ms)
{
	struct slot	*s = worker_result_slot(arg, job);

	(void)ran_ms;
	slot_fail_now(s, HD_OUTCOME_FAILED, "could not start module threads");
	s->cancelled = cancelled;
}

/* A module job given back as the worker stops: put it back in its queue. */
static void
give_release(void *arg, struct hd_job *job, bool cancelled, int64_t ran_ms)
{
	struct slot	*s = worker_result_slot(arg, job);

	(void)ran_ms;
	s->release = !cancelled;
	s->cancelled = cancelled;
}

static int64_t	worker_exit_ms(const struct worker *);

/*
 * Put back a module job whose handler still runs at the end of the grace
 * period.  It is due when this worker has exited at the latest, which
 * ends the handler, so no other worker starts it while it still runs.
 */
static void
give_abandon(void *arg, struct hd_job *job, bool cancelled, int64_t ran_ms)
{
	struct worker	*w = arg;
	struct slot	*s = worker_result_slot(w, job);
	int64_t		 delay = worker_exit_ms(w) - hd_monotonic_ms();

	(void)ran_ms;
	s->release = !cancelled;
	s->release_delay_ms = delay > 0 ? delay : 0;
	s->cancelled = cancelled;
}

/*
 * A module job whose handler ran past the task's timeout: the attempt
 * ends now as a timeout, and the handler's result, if it ever returns,
 * is discarded.
 */
static void
give_timeout(void *arg, struct hd_job *job, bool cancelled, int64_t ran_ms)
{
	struct worker			*w = arg;
	const struct hd_task_config	*task;
	struct slot			*s = worker_result_slot(w, job);

	task = hd_config_task(w->config, s->job.task);
	slot_fail_now(s, HD_OUTCOME_TIMEOUT, "");
	snprintf(s->output, sizeof s->output, "module handler ran past the "
	    "task's timeout of %lld ms; the worker gave up on it",
	    task != NULL ? (long long)task->timeout_ms : 0LL);
	s->attempt.duration_ms = ran_ms;
	s->cancelled = cancelled;
	s->abandoned = !cancelled;
	if (!cancelled)
		log_job_failed(&s->job, &s->attempt, NULL);
}

/* Start the module pool, reserving a place for each busy slot. */
static bool
worker_start_pool(struct worker *w)
{
	int	i, reserved = 0;

	if (w->pool != NULL)
		return true;
	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].state != SLOT_FREE)
			reserved++;
	if ((w->pool = hd_module_pool_new(w->nslots, reserved,
	    w->started)) == NULL) {
		hd_log_error("could not start module threads", "queue=%s "
		    "error=%s", w->queue->name, strerror(errno));
		return false;
	}
	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].state != SLOT_FREE)
			w->slots[i].reserved = true;
	return true;
}

/*
 * Stage a claimed job of a module task for the pool, or finish it at
 * once when its handler cannot run.  The pool or a result slot takes
 * over job.
 */
static void
worker_start_module(struct worker *w, struct hd_job *job,
    const struct hd_task_config *task)
{
	herald_module_handler_fn	*handler;
	char				 text[512];

	log_job_started(w, job);
	if (task == w->module_task)
		handler = w->module_handler;
	else if ((handler = hd_module_load_job(task->module_path,
	    task->module_symbol, job->id, w->started, text,
	    sizeof text)) != NULL) {
		w->module_task = task;
		w->module_handler = handler;
	} else {
		/*
		 * Retried, since the module may be installed later.  The
		 * text names the path and symbol of the configuration and
		 * the loader's error, no job data.
		 */
		hd_log_error("could not load module", "job_id=%lld task=%s "
		    "queue=%s error=%s", (long long)job->id, job->task,
		    job->queue, text);
		slot_fail_now(worker_result_slot(w, job), HD_OUTCOME_FAILED,
		    text);
		return;
	}
	if (!worker_start_pool(w)) {
		slot_fail_now(worker_result_slot(w, job), HD_OUTCOME_FAILED,
		    "could not start module threads");
		return;
	}
	hd_module_pool_add(w->pool, handler, job, task->timeout_ms);
}

/*
 * Start pending jobs in claim order: those of module tasks go to the
 * pool, the others to free slots, each holding a place of the pool so
 * that no more than concurrency handlers run at once.
 */
static void
worker_start_pending(struct worker *w)
{
	const struct hd_task_config	*task;
	struct hd_job			*job;
	int				 j = 0;

	while (worker_pending(w) > 0) {
		job = &w->pending[w->pending_next];
		if (job->lease_token == 0) {
			/* Its lease went to another worker while it waited. */
			hd_job_release(job);
			w->pending_next++;
			continue;
		}
		task = hd_config_task(w->config, job->task);
		if (task != NULL && task->argv == NULL &&
		    task->module_path != NULL) {
			w->pending_next++;
			worker_start_module(w, job, task);
			continue;
		}
		while (j < w->nslots && w->slots[j].state != SLOT_FREE)
			j++;
		if (j == w->nslots)
			break;
		if (w->pool != NULL) {
			if (!hd_module_pool_reserve(w->pool))
				break;
			w->slots[j].reserved = true;
		}
		w->pending_next++;
		w->slots[j].job = *job;
		memset(job, 0, sizeof *job);
		slot_start(w, &w->slots[j]);
	}
	if (w->pool != NULL && hd_module_pool_flush(w->pool) == -1) {
		hd_log_error("could not start module threads", "queue=%s",
		    w->queue->name);
		hd_module_pool_withdraw(w->pool, give_unstarted, w);
	}
	if (worker_pending(w) == 0 && w->pending != NULL) {
		free(w->pending);
		w->pending = NULL;
		w->npending = w->pending_next = 0;
	}
}

/* Log the completions a cycle recorded and forget the finished jobs. */
static void
worker_done_recorded(struct worker *w, const bool *completed)
{
	int64_t	*ids;
	int	 i;

	ids = hd_xcalloc((size_t)w->ndone, sizeof *ids);
	for (i = 0; i < w->ndone; i++) {
		if (completed[i])
			log_job_completed(&w->done[i], w->done_ms[i]);
		else
			log_lease_lost(&w->done[i]);
		ids[i] = w->done[i].id;
		hd_job_release(&w->done[i]);
	}
	hd_started_remove_many(w->started, ids, (size_t)w->ndone);
	free(ids);
	w->ndone = 0;
}

/*
 * Size the jobs held from how fast they finished since the last claim:
 * about WORKER_HOLD_MS of work, at least concurrency and at most
 * WORKER_HOLD_MAX jobs.  One claim may grow it eightfold, so that a fast
 * worker reaches full claims within three, or halve it.  Holding no more
 * keeps the wait of a claimed job short against its lease and leaves the
 * rest of a backlog to other workers.  The rate is also bounded by the
 * slots and the jobs' run time, since long jobs that end together read as
 * a fast rate over the few ms between two claims.
 */
static void
worker_adapt_claim(struct worker *w, int64_t now)
{
	int64_t	elapsed = now - w->claimed_at_ms, target, by_run_time;
	int64_t	max_held = w->nslots + w->claim_extra;

	target = w->finished * WORKER_HOLD_MS / (elapsed > 0 ? elapsed : 1);
	by_run_time = w->nslots * w->finished * WORKER_HOLD_MS /
	    (w->finished_ms > 0 ? w->finished_ms : 1);
	if (target > by_run_time)
		target = by_run_time;
	if (target > max_held)
		max_held = target < 8 * max_held ? target : 8 * max_held;
	else
		max_held = target > max_held / 2 ? target : max_held / 2;
	if (max_held > WORKER_HOLD_MAX)
		max_held = WORKER_HOLD_MAX;
	if (max_held < w->nslots)
		max_held = w->nslots;
	w->claim_extra = (int)max_held - w->nslots;
	w->claimed_at_ms = now;
	w->finished = 0;
	w->finished_ms = 0;
}

/*
 * Return the time between claims when no notification comes.  A claim
 * of a queue with limits may come back short while jobs wait, and no
 * notification follows when a slot or a token frees up, so such queues
 * poll at least every second.
 */
static int64_t
worker_poll_interval_ms(const struct worker *w)
{
	if ((w->queue->global_limit > 0 || w->queue->rate > 0) &&
	    w->queue->poll_interval_ms > 1000)
		return 1000;
	return w->queue->poll_interval_ms;
}

/*
 * Remove the row in herald.waiters and give the wait lock up.  The other
 * waiting workers of the queue are notified, and one takes it over.  On
 * an error the worker counts as not waiting all the same, so that it
 * does not try again at each step.  Its lock then stays until a later
 * wait_end succeeds or the connection ends.
 */
static void
worker_wait_end(struct worker *w)
{
	struct herald_error	error;

	w->waiting = false;
	memset(&error, 0, sizeof error);
	if (hd_batch_wait_end(w->conn, w->id, w->queue->name, &error) == -1)
		worker_store_failed(w, "wait_end", &error);
}

/*
 * Keep the row in herald.waiters and the wait lock in step with the last
 * claim.  A short claim means the queue is drained, so producers must
 * notify.  A full one means a backlog, so they need not.  Once the lock
 * is taken the next claim runs at once and finds any job whose producer
 * held the lock before.
 */
static void
worker_update_waiting(struct worker *w, bool drained)
{
	struct herald_error	error;
	int			r;

	memset(&error, 0, sizeof error);
	if (!drained) {
		w->wait_refused = false;
		if (w->waiting)
			worker_wait_end(w);
	} else if (!w->waiting && !w->removed) {
		r = hd_batch_wait_begin(w->conn, w->id, w->queue->name,
		    &error);
		if (r == -1) {
			worker_store_failed(w, "wait_begin", &error);
			return;
		}
		w->wait_refused = r == 0;
		if (r == 1) {
			w->waiting = true;
			w->claim_wanted = true;
			w->wait_retry_ms = WORKER_WAIT_RETRY_MS;
			return;
		}
		/*
		 * An enqueue was committing, or another worker holds the
		 * lock: look again shortly, and later each time, since a
		 * producer may keep its transaction open.
		 */
		if (w->wait_retry_ms < WORKER_WAIT_RETRY_MS)
			w->wait_retry_ms = WORKER_WAIT_RETRY_MS;
		if (w->wait_retry_ms > worker_poll_interval_ms(w))
			w->wait_retry_ms = worker_poll_interval_ms(w);
		w->next_poll_ms = hd_monotonic_ms() + w->wait_retry_ms;
		w->wait_retry_ms *= 2;
	}
}

/*
 * Return how many jobs a claim may take now, or 0.  The worker holds up
 * to concurrency plus claim_extra unfinished jobs.  A claim goes out
 * when a slot is free or when half of that is left, so that the next
 * jobs arrive before the pool runs out of work.  It waits until the
 * pending jobs have started.
 */
static int
worker_claim_room(const struct worker *w)
{
	int	unfinished, max_held = w->nslots + w->claim_extra;

	if (worker_pending(w) > 0)
		return 0;
	unfinished = worker_unfinished(w);
	if (unfinished >= w->nslots && unfinished > max_held / 2)
		return 0;
	if (max_held - unfinished > WORKER_CLAIM_MAX)
		return WORKER_CLAIM_MAX;
	return max_held - unfinished;
}

/*
 * Claim again in due_ms, when the earliest job of the queue due later is
 * due, if that comes before the next poll.  herald.next_due_ms() ran
 * right after the short claim and counted every job due after that
 * claim's now(), so no job falls between the two.  A worker refused the
 * wait lock claims WORKER_NOTIFIED_DELAY_MS later than the holder.
 */
static void
worker_wake_when_due(struct worker *w, int64_t due_ms)
{
	int64_t	at;

	if (due_ms < WORKER_DUE_MIN_MS)
		due_ms = WORKER_DUE_MIN_MS;
	if (w->wait_refused)
		due_ms += WORKER_NOTIFIED_DELAY_MS;
	at = hd_monotonic_ms() + due_ms;
	if (at < w->next_poll_ms)
		w->next_poll_ms = at;
}

/* Record the finished jobs and claim more in one round trip. */
static void
worker_claim(struct worker *w)
{
	struct herald_error	 error;
	struct hd_job		*jobs = NULL;
	const struct hd_job	**done = NULL;
	bool			*completed = NULL;
	int			 room, limit = 0, n, i;
	int64_t			 now = hd_monotonic_ms(), due_ms = -1;

	room = worker_claim_room(w);
	/*
	 * The holder of the wait lock is the only worker a notification
	 * wakes at once, so it gives the lock up when it can run no job.
	 */
	if (w->waiting && (w->stopping || w->recycle_reason != NULL ||
	    (w->hand_over && worker_slots_full(w)))) {
		worker_wait_end(w);
		if (w->conn == NULL)
			return;
	}
	w->hand_over = false;
	if (w->claim_when_free && !worker_slots_full(w)) {
		w->claim_when_free = false;
		w->claim_wanted = true;
	}
	if (!w->stopping && w->recycle_reason == NULL && room > 0 &&
	    (w->claim_wanted || now >= w->next_poll_ms)) {
		limit = room;
		w->next_poll_ms = now + worker_poll_interval_ms(w);
	}
	if (w->queue->max_jobs > 0 && w->queue->max_jobs - w->jobs_claimed <
	    limit)
		limit = (int)(w->queue->max_jobs - w->jobs_claimed);
	/*
	 * Finished jobs wait for more to finish only while others run: an
	 * idle worker records them at once, so that the claim the next
	 * notification brings has no completion and need not wait for a
	 * WAL flush (batch.h).
	 */
	if (limit <= 0 && (w->ndone == 0 || (w->ndone < WORKER_DONE_MAX &&
	    now < w->done_since_ms + WORKER_DONE_WAIT_MS && !w->stopping &&
	    w->recycle_reason == NULL && worker_unfinished(w) > 0)))
		return;
	if (worker_leases(w) == 0)
		w->next_extend_ms = now + w->config->lease_ms / 3;

	if (w->ndone > 0) {
		done = hd_xcalloc((size_t)w->ndone, sizeof *done);
		completed = hd_xcalloc((size_t)w->ndone, sizeof *completed);
		for (i = 0; i < w->ndone; i++)
			done[i] = &w->done[i];
	}
	memset(&error, 0, sizeof error);
	n = hd_batch_cycle(w->conn, done, w->ndone, completed, w->queue->name,
	    w->id, limit > 0 ? limit : 0, w->config->lease_ms, true, &jobs,
	    &error);
	free(done);
	if (n == -1) {
		free(completed);
		w->claim_wanted = false;
		w->record_at_ms = hd_monotonic_ms() + w->record_delay_ms;
		w->record_delay_ms = grow_delay(w->record_delay_ms);
		worker_store_failed(w, "claim", &error);
		return;
	}
	if (w->ndone > 0)
		worker_done_recorded(w, completed);
	free(completed);
	w->record_delay_ms = WORKER_RETRY_MIN_MS;
	if (limit <= 0)
		return;

	w->claim_wanted = (n == limit);
	w->jobs_claimed += n;
	if (w->queue->max_jobs > 0 && w->jobs_claimed >= w->queue->max_jobs)
		worker_recycle(w, "max_jobs");
	worker_adapt_claim(w, now);
	w->pending = jobs;
	w->npending = n;
	w->pending_next = 0;
	w->pending_at_ms = now;
	w->waiting_checked = false;
	/* The jobs start before the next due time arrives. */
	worker_start_pending(w);
	if (hd_batch_next_due(w->conn, &due_ms, &error) == -1) {
		worker_store_failed(w, "next_due", &error);
		return;
	}
	if (w->conn != NULL)
		worker_update_waiting(w, n < limit);
	if (n < limit && due_ms >= 0)
		worker_wake_when_due(w, due_ms);
}

/*
 * Log a failed attempt.  exec, the runner of an exec handler or NULL,
 * names the system call that failed when the handler could not start,
 * as exit code 127 alone cannot.  The message, with the path, stays in
 * the job's history.
 */
static void
log_job_failed(const struct hd_job *job, const struct hd_attempt *a,
    const struct hd_exec *exec)
{
	const char	*status = hd_outcome_name(a->outcome);
	const char	*error;

	if (exec != NULL && exec->start_call != NULL) {
		error = strerrorname_np(exec->start_errno);
		hd_log_warn("job failed", "job_id=%lld task=%s queue=%s "
		    "attempt=%d status=%s exit_code=%d duration_ms=%lld "
		    "not_started=%s errno=%s", (long long)job->id, job->task,
		    job->queue, job->attempt, status, a->exit_code,
		    (long long)a->duration_ms, exec->start_call,
		    error != NULL ? error : "unknown");
	} else if (a->signal != 0)
		hd_log_warn("job failed", "job_id=%lld task=%s queue=%s "
		    "attempt=%d status=%s signal=%d duration_ms=%lld",
		    (long long)job->id, job->task, job->queue, job->attempt,
		    status, a->signal, (long long)a->duration_ms);
	else if (a->exit_code >= 0)
		hd_log_warn("job failed", "job_id=%lld task=%s queue=%s "
		    "attempt=%d status=%s exit_code=%d duration_ms=%lld",
		    (long long)job->id, job->task, job->queue, job->attempt,
		    status, a->exit_code, (long long)a->duration_ms);
	else
		hd_log_warn("job failed", "job_id=%lld task=%s queue=%s "
		    "attempt=%d status=%s duration_ms=%lld",
		    (long long)job->id, job->task, job->queue, job->attempt,
		    status, (long long)a->duration_ms);
}

/*
 * List a job that succeeded, whose completion goes out with the next
 * claim; the list takes over job.
 */
static void
worker_add_done(struct worker *w, struct hd_job *job, int64_t duration_ms)
{
	if (w->ndone % 64 == 0) {
		w->done = hd_xrealloc(w->done, (size_t)w->ndone + 64,
		    sizeof *w->done);
		w->done_ms = hd_xrealloc(w->done_ms, (size_t)w->ndone + 64,
		    sizeof *w->done_ms);
	}
	if (w->ndone == 0)
		w->done_since_ms = hd_monotonic_ms();
	w->done[w->ndone] = *job;
	w->done_ms[w->ndone++] = duration_ms;
	memset(job, 0, sizeof *job);
}

/* Take the results of module handlers that returned. */
static void
worker_take_module_results(struct worker *w)
{
	struct hd_module_result	 r;
	struct slot		*s;

	while (hd_module_pool_take(w->pool, &r)) {
		w->finished++;
		w->finished_ms += r.duration_ms;
		/* Its loss was logged; the new owner records it. */
		if (r.lost) {
			hd_started_remove(w->started, r.job.id);
			hd_job_release(&r.job);
			continue;
		}
		if (r.ran && !r.cancelled && r.result == HERALD_MODULE_DONE) {
			worker_add_done(w, &r.job, r.duration_ms);
			continue;
		}
		s = worker_result_slot(w, &r.job);
		s->cancelled = r.cancelled;
		/* A job cancelled before it started is deleted. */
		if (!r.ran)
			continue;
		s->attempt.duration_ms = r.duration_ms;
		s->attempt.outcome = r.result == HERALD_MODULE_DONE ?
		    HD_OUTCOME_DONE : r.result == HERALD_MODULE_PERMANENT ?
		    HD_OUTCOME_PERMANENT : HD_OUTCOME_FAILED;
		if (r.result != HERALD_MODULE_DONE &&
		    r.result != HERALD_MODULE_RETRY &&
		    r.result != HERALD_MODULE_PERMANENT)
			/* The stored output is the only place this shows. */
			snprintf(s->output, sizeof s->output, "module handler "
			    "returned %d, which is no herald_module_result; "
			    "counted as a failed attempt%s%s", (int)r.result,
			    r.outcome->message[0] != '\0' ? ": " : "",
			    r.outcome->message);
		else
			snprintf(s->output, sizeof s->output, "%s",
			    r.outcome->message);
		s->retry_delay_ms = r.result == HERALD_MODULE_RETRY ?
		    r.outcome->retry_delay_ms : 0;
		if (s->attempt.outcome != HD_OUTCOME_DONE && !s->cancelled &&
		    !s->lost)
			log_job_failed(&s->job, &s->attempt, NULL);
	}
}

/* Take the result of a handler that is done. */
static void
slot_finish(struct slot *s)
{
	hd_exec_result(&s->exec, &s->attempt, s->output, sizeof s->output);
	s->state = SLOT_FINISHED;
	/* A job whose lease went to another worker is no longer this one's. */
	if (s->release || s->cancelled || s->lost)
		return;
	if (s->attempt.outcome != HD_OUTCOME_DONE)
		log_job_failed(&s->job, &s->attempt, &s->exec);
}

static void
log_job_completed(const struct hd_job *job, int64_t duration_ms)
{
	if (job->event_type != NULL)
		hd_log_info("job completed", "job_id=%lld task=%s queue=%s "
		    "event_type=%s status=completed attempt=%d "
		    "duration_ms=%lld", (long long)job->id, job->task,
		    job->queue, job->event_type, job->attempt,
		    (long long)duration_ms);
	else
		hd_log_info("job completed", "job_id=%lld task=%s queue=%s "
		    "status=completed attempt=%d duration_ms=%lld",
		    (long long)job->id, job->task, job->queue, job->attempt,
		    (long long)duration_ms);
}

static void
log_lease_lost(const struct hd_job *job)
{
	hd_log_warn("job lease lost", "job_id=%lld task=%s queue=%s "
	    "attempt=%d", (long long)job->id, job->task, job->queue,
	    job->attempt);
}

/*
 * Return the delay before the retry of a failed attempt.  A module
 * handler's own delay is cut to the longest duration a configuration
 * accepts, since a delay past the year 9999 fails the statement that
 * records the attempt.
 */
static int64_t
slot_retry_delay_ms(const struct worker *w, const struct slot *s)
{
	if (s->retry_delay_ms > HD_DURATION_MAX_MS) {
		hd_log_warn("retry delay cut", "job_id=%lld task=%s queue=%s "
		    "attempt=%d delay_ms=%lld max_ms=%lld",
		    (long long)s->job.id, s->job.task, s->job.queue,
		    s->job.attempt, (long long)s->retry_delay_ms,
		    (long long)HD_DURATION_MAX_MS);
		return HD_DURATION_MAX_MS;
	}
	if (s->retry_delay_ms > 0)
		return s->retry_delay_ms;
	return hd_config_retry_delay_ms(w->config, s->job.task,
	    s->job.attempt);
}

/*
 * Store the attempt of a module job whose handler still runs, and keep
 * its lease until the worker exits.  Return 0, or -1 to try again later.
 * The attempt counts only once this process is gone, when the worker
 * that replaces it or the janitor's lease expiry records it, so the
 * retry never runs beside the stuck handler.
 */
static int
slot_record_abandoned(struct worker *w, struct slot *s)
{
	struct herald_error	 error;
	struct hd_job		*job = &s->job;
	int64_t			 delay_ms = slot_retry_delay_ms(w, s);
	int			 r;

	memset(&error, 0, sizeof error);
	r = hd_store_abandon(w->conn, job, &s->attempt, delay_ms, &error);
	if (r == -1) {
		worker_store_failed(w, "abandon", &error);
		return -1;
	}
	if (r == 0) {
		log_lease_lost(job);
		return 0;
	}
	hd_log_info("job held until worker exits", "job_id=%lld task=%s "
	    "queue=%s attempt=%d max_attempts=%d delay_ms=%lld",
	    (long long)job->id, job->task, job->queue, job->attempt,
	    job->max_attempts, (long long)delay_ms);
	if (w->nabandoned % 16 == 0)
		w->abandoned = hd_xrealloc(w->abandoned,
		    (size_t)w->nabandoned + 16, sizeof *w->abandoned);
	w->abandoned[w->nabandoned++] = *job;
	memset(job, 0, sizeof *job);
	return 0;
}

/* Record a failed attempt; return 0, or -1 to try again later. */
static int
slot_record_failure(struct worker *w, struct slot *s)
{
	struct herald_error		 error;
	struct hd_job			*job = &s->job;
	int64_t				 delay_ms = slot_retry_delay_ms(w, s);
	int				 r;

	memset(&error, 0, sizeof error);
	r = hd_store_fail(w->conn, job, &s->attempt, delay_ms, &error);
	switch (r) {
	case HD_FAIL_RETRY:
		hd_log_info("job retry scheduled", "job_id=%lld task=%s "
		    "queue=%s attempt=%d max_attempts=%d delay_ms=%lld",
		    (long long)job->id, job->task, job->queue, job->attempt,
		    job->max_attempts, (long long)delay_ms);
		return 0;
	case HD_FAIL_DEAD:
		hd_log_warn("job dead", "job_id=%lld task=%s queue=%s "
		    "attempt=%d reason=%s", (long long)job->id, job->task,
		    job->queue, job->attempt,
		    s->attempt.outcome == HD_OUTCOME_PERMANENT ?
		    "permanent" : "exhausted");
		return 0;
	case HD_FAIL_LOST:
		log_lease_lost(job);
		return 0;
	default:
		worker_store_failed(w, "fail", &error);
		return -1;
	}
}

/* Record a finished job's result; return 0, or -1 to try again later. */
static int
slot_record(struct worker *w, struct slot *s)
{
	struct herald_error	error;
	int			r;

	memset(&error, 0, sizeof error);
	if (s->lost)
		return 0;
	if (s->release) {
		r = hd_store_release(w->conn, &s->job, s->release_delay_ms,
		    &error);
		if (r == -1) {
			worker_store_failed(w, "release", &error);
			return -1;
		}
		if (r == 0)
			log_lease_lost(&s->job);
		else
			hd_log_info("job released", "job_id=%lld task=%s "
			    "queue=%s attempt=%d delay_ms=%lld",
			    (long long)s->job.id, s->job.task, s->job.queue,
			    s->job.attempt, (long long)s->release_delay_ms);
		return 0;
	}
	if (s->cancelled) {
		r = finish_cancelled(w->conn, &s->job, &error);
		if (r == -1) {
			worker_store_failed(w, "finish_cancelled", &error);
			return -1;
		}
		if (r == 0)
			log_lease_lost(&s->job);
		else
			log_job_cancel("job cancelled", &s->job);
		return 0;
	}
	if (s->abandoned)
		return slot_record_abandoned(w, s);
	if (s->attempt.outcome != HD_OUTCOME_DONE)
		return slot_record_failure(w, s);
	worker_add_done(w, &s->job, s->attempt.duration_ms);
	return 0;
}

static bool
result_to_release(const struct slot *s)
{
	return s->release && !s->lost && !s->cancelled;
}

/*
 * Put back in one statement the module jobs given back unstarted as the
 * worker stops, which may be two whole claims.  Return 0, or -1 to try
 * again later.
 */
static int
worker_release_results(struct worker *w)
{
	struct herald_error	 error;
	const char		*values[3];
	char			*ids, *tokens, *delays;
	PGresult		*res;
	size_t			 ilen = 0, tlen = 0, dlen = 0;
	int			 i, n = 0, row = 0, kept = 0;

	for (i = 0; i < w->nresults; i++)
		if (result_to_release(w->results[i]))
			n++;
	if (n < 2)
		return 0;
	ids = hd_xmalloc((size_t)n * 22 + 3);
	tokens = hd_xmalloc((size_t)n * 22 + 3);
	delays = hd_xmalloc((size_t)n * 22 + 3);
	ids[ilen++] = tokens[tlen++] = delays[dlen++] = '{';
	for (i = 0; i < w->nresults; i++) {
		if (!result_to_release(w->results[i]))
			continue;
		ilen += (size_t)sprintf(ids + ilen, "%s%" PRId64,
		    ilen > 1 ? "," : "", w->results[i]->job.id);
		tlen += (size_t)sprintf(tokens + tlen, "%s%" PRId64,
		    tlen > 1 ? "," : "", w->results[i]->job.lease_token);
		dlen += (size_t)sprintf(delays + dlen, "%s%" PRId64,
		    dlen > 1 ? "," : "", w->results[i]->release_delay_ms);
	}
	ids[ilen++] = tokens[tlen++] = delays[dlen++] = '}';
	ids[ilen] = tokens[tlen] = delays[dlen] = '\0';
	values[0] = ids;
	values[1] = tokens;
	values[2] = delays;
	res = PQexecParams(w->conn, "SELECT herald.release(u.id, u.token, "
	    "u.delay) FROM unnest($1::bigint[], $2::bigint[], $3::integer[]) "
	    "WITH ORDINALITY AS u(id, token, delay, n) ORDER BY u.n", 3, NULL,
	    values, NULL, NULL, 0);
	free(ids);
	free(tokens);
	free(delays);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != n) {
		memset(&error, 0, sizeof error);
		hd_error_from_pg(&error, w->conn, res, "release jobs");
		PQclear(res);
		worker_store_failed(w, "release", &error);
		return -1;
	}
	for (i = 0; i < w->nresults; i++) {
		if (!result_to_release(w->results[i])) {
			w->results[kept++] = w->results[i];
			continue;
		}
		if (strcmp(PQgetvalue(res, row++, 0), "t") == 0)
			hd_log_info("job released", "job_id=%lld task=%s "
			    "queue=%s attempt=%d delay_ms=%lld",
			    (long long)w->results[i]->job.id,
			    w->results[i]->job.task, w->results[i]->job.queue,
			    w->results[i]->job.attempt,
			    (long long)w->results[i]->release_delay_ms);
		else
			log_lease_lost(&w->results[i]->job);
		hd_started_remove(w->started, w->results[i]->job.id);
		slot_clear(w, w->results[i]);
		free(w->results[i]);
	}
	w->nresults = kept;
	PQclear(res);
	return 0;
}

/*
 * Record one finished job's result.  Return 1 when it was recorded, or
 * given up after WORKER_RECORD_TRIES rejections, 0 when the database
 * rejected it (it is tried again at rejected_at_ms), or -1 when the
 * connection was lost.  A rejected result waits with its own backoff, so
 * that claims and the other results go on.
 */
static int
worker_record_one(struct worker *w, struct slot *s, bool retry_rejected)
{
	if (s->record_failed && !retry_rejected)
		return 0;
	if (slot_record(w, s) == 0) {
		s->record_failed = false;
		return 1;
	}
	if (w->conn == NULL)
		return -1;
	s->record_failed = true;
	if (++s->record_tries < WORKER_RECORD_TRIES)
		return 0;
	/*
	 * The job stays listed in its claim's lease, which this worker no
	 * longer renews for it, so the janitor takes it back when the lease
	 * expires, as for a lost worker.
	 */
	hd_log_error("job result not recorded", "job_id=%lld task=%s "
	    "queue=%s attempt=%d tries=%d", (long long)s->job.id,
	    s->job.task, s->job.queue, s->job.attempt, s->record_tries);
	return 1;
}

/* Record every finished job, keeping results that cannot be stored yet. */
static void
worker_record(struct worker *w)
{
	struct slot	*result;
	int64_t		 now = hd_monotonic_ms();
	bool		 retry_rejected = now >= w->rejected_at_ms;
	bool		 rejected = false;
	int		 i, r;

	if (now < w->record_at_ms)
		return;
	if (w->nresults > 1 && worker_release_results(w) == -1)
		goto lost;
	for (i = 0; i < w->nslots; i++) {
		if (w->slots[i].state != SLOT_FINISHED)
			continue;
		if ((r = worker_record_one(w, &w->slots[i],
		    retry_rejected)) == -1)
			goto lost;
		if (r == 0) {
			rejected = true;
			continue;
		}
		/* A job kept as done or abandoned has id 0 here. */
		hd_started_remove(w->started, w->slots[i].job.id);
		w->finished_ms += w->slots[i].attempt.duration_ms;
		slot_clear(w, &w->slots[i]);
		w->claim_wanted = true;
		w->finished++;
	}
	i = w->nresults;
	while (i > 0) {
		result = w->results[--i];
		if ((r = worker_record_one(w, result, retry_rejected)) == -1)
			goto lost;
		if (r == 0) {
			rejected = true;
			continue;
		}
		hd_started_remove(w->started, result->job.id);
		slot_clear(w, result);
		free(result);
		w->results[i] = w->results[--w->nresults];
	}
	w->record_delay_ms = WORKER_RETRY_MIN_MS;

	if (rejected && retry_rejected) {
		w->rejected_at_ms = now + w->rejected_delay_ms;
		w->rejected_delay_ms = grow_delay(w->rejected_delay_ms);
	} else if (!rejected)
		w->rejected_delay_ms = WORKER_RETRY_MIN_MS;
	return;

lost:
	w->record_at_ms = hd_monotonic_ms() + w->record_delay_ms;
	w->record_delay_ms = grow_delay(w->record_delay_ms);
}

/*
 * Give up a job whose lease went to another worker: stop its handler if
 * it still runs, and record nothing, since the new owner records the
 * result.
 */
static void
slot_lease_lost(struct slot *s)
{
	s->lost = true;
	log_lease_lost(&s->job);
	if (s->state == SLOT_RUNNING && s->ran && !s->exec.reaped)
		hd_exec_stop(&s->exec);
}

/* Return the row of res (lease_token, cancelled) with token, or -1. */
static int
renewed_row(const PGresult *res, int64_t token)
{
	int	row;

	for (row = 0; row < PQntuples(res); row++)
		if (strtoll(PQgetvalue(res, row, 0), NULL, 10) == token)
			return row;
	return -1;
}

/*
 * Return whether job id is in the cancelled column of row, a bigint[] in
 * PostgreSQL's text form such as "{4,9}".
 */
static bool
renewed_cancelled(const PGresult *res, int row, int64_t id)
{
	const char	*p = PQgetvalue(res, row, 1);
	char		*end;

	while (*p != '\0') {
		if (*p == '{' || *p == ',') {
			p++;
			continue;
		}
		if (strtoll(p, &end, 10) == id && end != p)
			return true;
		if (end == p)
			break;
		p = end;
	}
	return false;
}

/*
 * Delete a cancelled job whose handler ended or never started; return
 * 1, 0 when its lease went to another worker, or -1.
 */
static int
finish_cancelled(PGconn *conn, const struct hd_job *job,
    struct herald_error *error)
{
	const char	*values[2];
	char		 id[32], token[32];
	PGresult	*res;
	int		 r;

	snprintf(id, sizeof id, "%lld", (long long)job->id);
	snprintf(token, sizeof token, "%lld", (long long)job->lease_token);
	values[0] = id;
	values[1] = token;
	res = PQexecParams(conn, "SELECT herald.finish_cancelled($1, $2)", 2,
	    NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		hd_error_from_pg(error, conn, res, "delete cancelled job");
		PQclear(res);
		return -1;
	}
	r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return r;
}

static void
log_job_cancel(const char *msg, const struct hd_job *job)
{
	hd_log_info(msg, "job_id=%lld task=%s queue=%s attempt=%d",
	    (long long)job->id, job->task, job->queue, job->attempt);
}

/*
 * Stop the handler of a job an operator cancelled: SIGTERM to an exec
 * handler's process group (SIGKILL follows after HD_EXEC_KILL_WAIT_MS).
 * The job is deleted when the handler has ended, whatever it returned.
 * A module job in the pool gets the cancel flag instead (renew_pool).
 */
static void
slot_cancel(struct slot *s)
{
	if (s->cancelled)
		return;
	s->cancelled = true;
	log_job_cancel("job cancel requested", &s->job);
	if (s->state == SLOT_RUNNING && s->ran && !s->exec.reaped)
		hd_exec_stop(&s->exec);
}

/* Delete a cancelled job that never started. */
static void
pending_cancel(struct worker *w, struct hd_job *job)
{
	struct herald_error	error;

	memset(&error, 0, sizeof error);
	if (finish_cancelled(w->conn, job, &error) == -1)
		worker_store_failed(w, "finish_cancelled", &error);
	else
		log_job_cancel("job cancelled", job);
}

static bool
slot_holds_lease(const struct slot *s)
{
	return s->state != SLOT_FREE && !s->lost && s->job.lease_token != 0;
}

/* The jobs of the module pool, as hd_module_pool_each() passes them. */
struct pool_jobs {
	const struct hd_job	**jobs;
	int			  n, max;
};

static void
pool_jobs_add(void *arg, const struct hd_job *job)
{
	struct pool_jobs	*l = arg;

	if (l->n < l->max && job->lease_token != 0)
		l->jobs[l->n++] = job;
}

/* Apply the renewal res to the jobs of the module pool. */
static void
renew_pool(struct worker *w, const PGresult *res, const struct pool_jobs *l)
{
	const struct hd_job	*job;
	int			 i, row;

	for (i = 0; i < l->n; i++) {
		job = l->jobs[i];
		row = renewed_row(res, job->lease_token);
		if (row == -1) {
			log_lease_lost(job);
			hd_module_pool_lose(w->pool, job->id);
		} else if (renewed_cancelled(res, row, job->id) &&
		    hd_module_pool_cancel(w->pool, job->id))
			log_job_cancel("job cancel requested", job);
	}
}

/* Forget the finished jobs whose lease the renewal res did not list. */
static void
renew_done(struct worker *w, const PGresult *res)
{
	int	i, kept = 0;

	for (i = 0; i < w->ndone; i++) {
		if (renewed_row(res, w->done[i].lease_token) == -1) {
			log_lease_lost(&w->done[i]);
			hd_started_remove(w->started, w->done[i].id);
			hd_job_release(&w->done[i]);
			continue;
		}
		w->done[kept] = w->done[i];
		w->done_ms[kept++] = w->done_ms[i];
	}
	w->ndone = kept;
}

/*
 * Forget the abandoned jobs whose lease the renewal res did not list: the
 * janitor took them back, as it does when the worker was cut off longer
 * than the lease.
 */
static void
renew_abandoned(struct worker *w, const PGresult *res)
{
	int	i, kept = 0;

	for (i = 0; i < w->nabandoned; i++) {
		if (renewed_row(res, w->abandoned[i].lease_token) == -1) {
			log_lease_lost(&w->abandoned[i]);
			hd_started_remove(w->started, w->abandoned[i].id);
			hd_job_release(&w->abandoned[i]);
			continue;
		}
		w->abandoned[kept++] = w->abandoned[i];
	}
	w->nabandoned = kept;
}

/*
 * Renew the lease of every job held.  A job whose lease is not renewed
 * was taken back by the janitor (this worker was paused or cut off past
 * the lease) and may already run elsewhere, so its handler is stopped.
 */
static int
worker_renew_leases(struct worker *w, struct herald_error *error)
{
	const char	*values[3];
	char		*tokens, lease[32];
	struct pool_jobs pool = { NULL, 0, 0 };
	struct slot	*s;
	PGresult	*res;
	size_t		 len = 0;
	int		 i, row;
	bool		 cancelled;

	if (w->pool != NULL) {
		pool.max = hd_module_pool_held(w->pool);
		pool.jobs = hd_xcalloc((size_t)pool.max + 1,
		    sizeof *pool.jobs);
		hd_module_pool_each(w->pool, pool_jobs_add, &pool);
	}
	tokens = hd_xmalloc((size_t)(w->nslots + w->npending + w->ndone +
	    w->nresults + w->nabandoned + pool.n) * 22 + 3);
	tokens[len++] = '{';
	for (i = 0; i < w->nslots; i++)
		if (slot_holds_lease(&w->slots[i]))
			len += (size_t)sprintf(tokens + len, "%s%" PRId64,
			    len > 1 ? "," : "", w->slots[i].job.lease_token);
	for (i = 0; i < w->nresults; i++)
		if (slot_holds_lease(w->results[i]))
			len += (size_t)sprintf(tokens + len, "%s%" PRId64,
			    len > 1 ? "," : "", w->results[i]->job.lease_token);
	for (i = 0; i < pool.n; i++)
		len += (size_t)sprintf(tokens + len, "%s%" PRId64,
		    len > 1 ? "," : "", pool.jobs[i]->lease_token);
	for (i = w->pending_next; i < w->npending; i++)
		if (w->pending[i].lease_token != 0)
			len += (size_t)sprintf(tokens + len, "%s%" PRId64,
			    len > 1 ? "," : "", w->pending[i].lease_token);
	for (i = 0; i < w->ndone; i++)
		len += (size_t)sprintf(tokens + len, "%s%" PRId64,
		    len > 1 ? "," : "", w->done[i].lease_token);
	for (i = 0; i < w->nabandoned; i++)
		len += (size_t)sprintf(tokens + len, "%s%" PRId64,
		    len > 1 ? "," : "", w->abandoned[i].lease_token);
	tokens[len++] = '}';
	tokens[len] = '\0';
	snprintf(lease, sizeof lease, "%lld", (long long)w->config->lease_ms);
	values[0] = w->id;
	values[1] = tokens;
	values[2] = lease;
	res = PQexecParams(w->conn, "SELECT lease_token, cancelled FROM "
	    "herald.renew_leases_cancelled($1, $2::bigint[], $3)", 3, NULL,
	    values, NULL, NULL, 0);
	free(tokens);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		hd_error_from_pg(error, w->conn, res, "renew leases");
		PQclear(res);
		free(pool.jobs);
		return -1;
	}
	renew_pool(w, res, &pool);
	free(pool.jobs);
	for (i = 0; i < w->nresults; i++) {
		s = w->results[i];
		if (!slot_holds_lease(s))
			continue;
		row = renewed_row(res, s->job.lease_token);
		if (row == -1)
			slot_lease_lost(s);
		else if (renewed_cancelled(res, row, s->job.id))
			slot_cancel(s);
	}
	for (i = 0; i < w->nslots; i++) {
		if (!slot_holds_lease(&w->slots[i]))
			continue;
		row = renewed_row(res, w->slots[i].job.lease_token);
		if (row == -1)
			slot_lease_lost(&w->slots[i]);
		else if (renewed_cancelled(res, row, w->slots[i].job.id))
			slot_cancel(&w->slots[i]);
	}
	/* A pending job that lost its lease is dropped when its turn comes. */
	for (i = w->pending_next; i < w->npending; i++) {
		if (w->pending[i].lease_token == 0)
			continue;
		row = renewed_row(res, w->pending[i].lease_token);
		cancelled = row != -1 &&
		    renewed_cancelled(res, row, w->pending[i].id);
		if (row == -1)
			log_lease_lost(&w->pending[i]);
		else if (cancelled)
			pending_cancel(w, &w->pending[i]);
		if (row == -1 || cancelled)
			w->pending[i].lease_token = 0;
	}
	renew_done(w, res);
	renew_abandoned(w, res);
	PQclear(res);
	w->leases_checked = true;
	return 0;
}

/* Return the resident set size of this process in bytes, or -1. */
static int64_t
worker_rss(void)
{
	char	buf[128];
	long	pages, resident;
	ssize_t	n;
	int	fd;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &pages, &resident) != 2)
		return -1;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* Recycle the worker when its RSS passed the queue's max_rss. */
static void
worker_check_rss(struct worker *w)
{
	int64_t	rss;

	/* A fresh worker over the limit would be replaced in a loop. */
	if (w->queue->max_rss == 0 || w->recycle_reason != NULL ||
	    w->jobs_claimed == 0)
		return;
	rss = worker_rss();
	if (rss > w->queue->max_rss) {
		hd_log_info("worker over max_rss", "queue=%s rss_bytes=%lld "
		    "max_rss=%lld", w->queue->name, (long long)rss,
		    (long long)w->queue->max_rss);
		worker_recycle(w, "max_rss");
	}
}

/* Renew leases, check the connection and beat the heart when due. */
static void
worker_timers(struct worker *w)
{
	struct herald_error	error;
	int64_t			now = hd_monotonic_ms();

	memset(&error, 0, sizeof error);
	if (worker_held(w) == 0)
		w->leases_checked = true;
	if (worker_leases(w) > 0 && now >= w->next_extend_ms) {
		/* The first renewal of a connection is retried sooner. */
		w->next_extend_ms = now + (w->leases_checked ?
		    w->config->lease_ms / 3 : WORKER_RETRY_MIN_MS);
		if (worker_renew_leases(w, &error) == -1) {
			worker_store_failed(w, "renew_leases", &error);
			return;
		}
		w->next_extend_ms = now + w->config->lease_ms / 3;
	}
	if (now >= w->next_ping_ms) {
		w->next_ping_ms = now + HD_PING_INTERVAL_MS;
		if (hd_db_ping(w->conn, HD_PING_TIMEOUT_MS, &error) == -1) {
			worker_disconnect(w);
			return;
		}
	}
	if (now >= w->next_heartbeat_ms && !w->removed) {
		w->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
		if (hd_store_heartbeat(w->conn, w->id, &error) == 0)
			return;
		if (error.code == HERALD_ENOTFOUND)
			worker_removed(w);
		else
			worker_store_failed(w, "heartbeat", &error);
	}
}

static void	worker_kill_running(struct worker *);

/* Put the pending jobs back in the queue, as a stopping worker must. */
static void
worker_release_pending(struct worker *w)
{
	struct herald_error	 error;
	struct hd_job		*job;
	int			 r;

	if (w->pool != NULL)
		hd_module_pool_withdraw(w->pool, give_release, w);
	while (worker_pending(w) > 0 && w->conn != NULL && w->leases_checked) {
		job = &w->pending[w->pending_next];
		if (job->lease_token != 0) {
			memset(&error, 0, sizeof error);
			r = hd_store_release(w->conn, job, 0, &error);
			if (r == -1) {
				worker_store_failed(w, "release", &error);
				return;
			}
			if (r == 0)
				log_lease_lost(job);
		}
		hd_job_release(job);
		w->pending_next++;
	}
}

/* Jobs claimed that wait for a slot, in w->pending or the module pool. */
static int
worker_waiting(const struct worker *w)
{
	return worker_pending(w) + (w->pool != NULL ?
	    hd_module_pool_unfinished(w->pool) -
	    hd_module_pool_running(w->pool) : 0);
}

/*
 * Put back the jobs claimed that waited waiting_max_ms for a slot,
 * so that a slow handler holds back no job that an idle worker could
 * run, nor one of a queue paused meanwhile.
 */
static void
worker_release_waiting(struct worker *w)
{
	int	n;

	/* Once per claim, so that the pool's lock is not taken each turn. */
	if (w->waiting_checked ||
	    hd_monotonic_ms() - w->pending_at_ms < w->waiting_max_ms)
		return;
	w->waiting_checked = true;
	if ((n = worker_waiting(w)) == 0)
		return;
	hd_log_debug("waiting jobs put back", "queue=%s jobs=%d",
	    w->queue->name, n);
	worker_release_pending(w);
	w->claim_extra = 0;
}

/* Stop claiming; a second call skips the rest of the grace period. */
static void
worker_begin_stop(struct worker *w, const char *reason)
{
	if (w->stopping) {
		if (!w->killing)
			worker_kill_running(w);
		return;
	}
	w->stopping = true;
	w->stop_deadline_ms = hd_monotonic_ms() + w->config->grace_period_ms;
	/*
	 * Take the module jobs that no thread has started off the pool now,
	 * before the next round trip, so that no thread starts one meanwhile.
	 */
	if (w->pool != NULL)
		hd_module_pool_withdraw(w->pool, give_release, w);
	hd_log_info("worker stopping", "queue=%s reason=%s running=%d "
	    "grace_period_ms=%lld", w->queue->name, reason, worker_running(w),
	    (long long)w->config->grace_period_ms);
}

/*
 * Return the time at which a stopping worker exits even with jobs it
 * could not record: when heraldd would kill it, after the grace period,
 * the wait for the handlers to die and the margin.  Without that limit, a worker whose
 * heraldd was killed while the database was unreachable would wait for
 * the database forever, since no other process kills it.
 */
static int64_t
worker_exit_ms(const struct worker *w)
{
	return w->stop_deadline_ms + HD_EXEC_KILL_WAIT_MS + HD_STOP_MARGIN_MS;
}

/*
 * Log that the worker exits with jobs still held, as if heraldd had
 * killed it.  Their leases expire and the janitor takes the jobs back,
 * each with an attempt counted as lost.
 */
static void
worker_give_up(struct worker *w)
{
	hd_log_warn("worker stopped with jobs not recorded", "queue=%s "
	    "held=%d connected=%s", w->queue->name, worker_held(w),
	    w->conn != NULL ? "yes" : "no");
}

/* At the end of the grace period, stop the handlers still running. */
static void
worker_kill_running(struct worker *w)
{
	struct slot	*s;
	int		 i;

	w->killing = true;
	hd_log_warn("grace period over, stopping handlers", "queue=%s "
	    "running=%d", w->queue->name, worker_running(w));
	/*
	 * A thread cannot be stopped: give its job back, due when this
	 * worker has exited at the latest.  Keeping its lease as
	 * slot_record_abandoned() does would delay it until the lease
	 * expires, because no worker replaces a stopping one.
	 */
	if (w->pool != NULL)
		hd_module_pool_abandon(w->pool, give_abandon, w);
	for (i = 0; i < w->nslots; i++) {
		s = &w->slots[i];
		if (s->state != SLOT_RUNNING || !s->ran || s->exec.reaped)
			continue;
		s->release = !s->cancelled;
		hd_exec_stop(&s->exec);
	}
}

static void
worker_reap(struct worker *w)
{
	pid_t	pid;
	int	status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < w->nslots; i++)
			if (w->slots[i].ran &&
			    hd_exec_reaped(&w->slots[i].exec, pid, status))
				break;
	}
}

static void
worker_signals(struct worker *w)
{
	hd_signals_drain();
	if (hd_signals_take(SIGCHLD))
		worker_reap(w);
	/* heraldd's death reaches a worker as SIGTERM too. */
	if (hd_signals_take(SIGTERM) || hd_signals_take(SIGINT))
		worker_begin_stop(w, getppid() == w->parent ? "signal" :
		    "supervisor_gone");
}

static int64_t
min_ms(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * Return when the finished jobs are to be recorded: at once when no
 * other job runs, otherwise when the first has waited long enough, but
 * not before a failed attempt's retry time.
 */
static int64_t
worker_record_due_ms(const struct worker *w)
{
	int64_t	due = hd_monotonic_ms();

	if (worker_unfinished(w) > 0)
		due = w->done_since_ms + WORKER_DONE_WAIT_MS;
	return due > w->record_at_ms ? due : w->record_at_ms;
}

/*
 * Return the memory that a burst of jobs left free once the worker has
 * held no job for WORKER_TRIM_IDLE_MS: the module tasks kept for reuse
 * and the free pages of the heap, which glibc keeps otherwise.
 */
static void
worker_trim(struct worker *w)
{
	int64_t	now = hd_monotonic_ms();

	if (worker_held(w) > 0) {
		w->idle_since_ms = 0;
		w->trimmed = false;
		return;
	}
	if (w->idle_since_ms == 0)
		w->idle_since_ms = now;
	if (w->trimmed || now - w->idle_since_ms < WORKER_TRIM_IDLE_MS)
		return;
	if (w->pool != NULL)
		hd_module_pool_trim(w->pool);
	malloc_trim(0);
	w->trimmed = true;
}

/* Return the poll() timeout: the time until the nearest deadline. */
static int
worker_timeout(const struct worker *w)
{
	int64_t	next = INT64_MAX, now = hd_monotonic_ms(), at;
	int	i;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].state == SLOT_RUNNING && w->slots[i].ran)
			next = min_ms(next, hd_exec_next_ms(&w->slots[i].exec));
	if (w->conn == NULL)
		next = min_ms(next, w->connect_at_ms);
	else if (worker_leases(w) > 0)
		next = min_ms(next, w->next_extend_ms);
	if (w->conn != NULL && w->leases_checked) {
		if (!w->stopping && w->recycle_reason == NULL &&
		    worker_claim_room(w) > 0) {
			at = w->claim_wanted ? now : w->next_poll_ms;
			/* No claim goes out before record_at_ms. */
			next = min_ms(next, at > w->record_at_ms ? at :
			    w->record_at_ms);
		}
		/* A busy holder gives the lock up in the claim step. */
		if (w->waiting && w->hand_over)
			next = min_ms(next, w->record_at_ms);
		if (worker_count(w, SLOT_FINISHED) > 0 || w->nresults > 0)
			next = min_ms(next, w->record_at_ms);
		if (w->ndone > 0)
			next = min_ms(next, worker_record_due_ms(w));
	}
	if (w->conn != NULL) {
		next = min_ms(next, w->next_heartbeat_ms);
		next = min_ms(next, w->next_ping_ms);
	}
	if (w->stopping && !w->killing)
		next = min_ms(next, w->stop_deadline_ms);
	if (w->stopping)
		next = min_ms(next, worker_exit_ms(w));
	if (w->pool != NULL)
		next = min_ms(next, hd_module_pool_next_deadline(w->pool,
		    now));
	if (w->idle_since_ms != 0 && !w->trimmed)
		next = min_ms(next, w->idle_since_ms + WORKER_TRIM_IDLE_MS);
	if (!w->stopping && !w->waiting_checked)
		next = min_ms(next, w->pending_at_ms + w->waiting_max_ms);

	return hd_poll_timeout(next, now);
}

/* Wait for the next event and handle it. */
static void
worker_wait(struct worker *w, struct pollfd *fds)
{
	int	first[w->nslots], count[w->nslots];
	int	nfds = 0, conn_index = -1, pool_index = -1, i;
	int64_t	now;

	fds[nfds].fd = w->sigfd;
	fds[nfds++].events = POLLIN;
	if (w->pool != NULL) {
		pool_index = nfds;
		fds[nfds].fd = hd_module_pool_fd(w->pool);
		fds[nfds++].events = POLLIN;
	}
	if (w->conn != NULL) {
		conn_index = nfds;
		fds[nfds].fd = PQsocket(w->conn);
		fds[nfds++].events = POLLIN;
	}
	for (i = 0; i < w->nslots; i++) {
		first[i] = nfds;
		count[i] = 0;
		if (w->slots[i].state == SLOT_RUNNING && w->slots[i].ran)
			count[i] = hd_exec_pollfds(&w->slots[i].exec,
			    fds + nfds);
		nfds += count[i];
	}

	if (poll(fds, (nfds_t)nfds, worker_timeout(w)) == -1) {
		if (errno != EINTR)
			hd_log_error("poll failed", "error=%s",
			    strerror(errno));
		return;
	}

	if (fds[0].revents != 0)
		worker_signals(w);
	if (pool_index != -1 && fds[pool_index].revents != 0)
		worker_take_module_results(w);
	for (i = 0; i < w->nslots; i++)
		if (count[i] > 0)
			hd_exec_io(&w->slots[i].exec, fds + first[i],
			    count[i]);
	/* A terminated backend sends its error, then closes the socket. */
	if (conn_index != -1 && fds[conn_index].revents != 0 &&
	    w->conn != NULL && (PQconsumeInput(w->conn) == 0 ||
	    PQstatus(w->conn) == CONNECTION_BAD))
		worker_disconnect(w);

	now = hd_monotonic_ms();
	for (i = 0; i < w->nslots; i++) {
		if (w->slots[i].state != SLOT_RUNNING || !w->slots[i].ran)
			continue;
		hd_exec_tick(&w->slots[i].exec, now);
		if (hd_exec_done(&w->slots[i].exec))
			slot_finish(&w->slots[i]);
	}
}

/*
 * Give up on module handlers past their timeout.  Their threads stay
 * stuck, so the worker stops claiming and exits once its other jobs are
 * done, and the supervisor starts a clean one.  Their jobs stay on their
 * leases until then (slot_record_abandoned()).
 */
static void
worker_expire_modules(struct worker *w)
{
	if (w->pool != NULL && hd_module_pool_expire(w->pool,
	    hd_monotonic_ms(), give_timeout, w) > 0)
		worker_recycle(w, "module_timeout");
}

/* One round of database work: connect, record, renew, claim. */
static int
worker_step(struct worker *w)
{
	worker_expire_modules(w);
	if (w->conn == NULL && hd_monotonic_ms() >= w->connect_at_ms &&
	    worker_connect(w) == -1)
		return -1;
	/* The first renewal on a connection comes before any record. */
	if (w->conn != NULL)
		worker_timers(w);
	if (w->conn != NULL && w->leases_checked) {
		worker_record(w);
		worker_check_rss(w);
	}
	if (w->conn != NULL)
		worker_drain_notifies(w);
	if (w->stopping || w->recycle_reason != NULL)
		worker_release_pending(w);
	else {
		worker_start_pending(w);
		worker_release_waiting(w);
	}
	if (w->conn != NULL && w->leases_checked &&
	    hd_monotonic_ms() >= w->record_at_ms)
		worker_claim(w);
	return 0;
}

static void
worker_finish(struct worker *w)
{
	struct herald_error	error;

	if (w->conn != NULL &&
	    hd_store_unregister(w->conn, w->id, &error) == -1)
		worker_store_failed(w, "unregister", &error);
	PQfinish(w->conn);
	w->conn = NULL;
	hd_signals_close();
	hd_module_pool_free(w->pool);
	while (w->nresults > 0) {
		slot_clear(w, w->results[--w->nresults]);
		free(w->results[w->nresults]);
	}
	free(w->results);
	free(w->slots);
	free(w->pending);
	free(w->done);
	free(w->done_ms);
	/* Their leases stay for the replacing worker or the janitor. */
	while (w->nabandoned > 0)
		hd_job_release(&w->abandoned[--w->nabandoned]);
	free(w->abandoned);
}

/*
 * In builds with fault injection, HERALD_FAULT=worker_start makes the
 * workers of the queue HERALD_FAULT_QUEUE exit as soon as they start, as
 * a worker that cannot run would.  When HERALD_FAULT_FILE names a file,
 * the fault fires only while that file exists, so a test can end it.
 */
static bool
worker_fault_at_start(const char *queue)
{
#ifdef HD_FAULT_INJECTION
	const char	*fault = getenv("HERALD_FAULT");
	const char	*target = getenv("HERALD_FAULT_QUEUE");
	const char	*file = getenv("HERALD_FAULT_FILE");

	if (fault == NULL || strcmp(fault, "worker_start") != 0 ||
	    target == NULL || strcmp(target, queue) != 0)
		return false;
	return file == NULL || access(file, F_OK) == 0;
#else
	return false;
#endif
}

/*
 * Return how long claimed jobs wait for a slot before they are put back:
 * WORKER_WAITING_MAX_MS, or in builds with fault injection the ms in
 * HERALD_FAULT_WAITING_MAX_MS, so that a test can keep jobs waiting.
 */
static int64_t
worker_waiting_max_ms(void)
{
#ifdef HD_FAULT_INJECTION
	const char	*fault = getenv("HERALD_FAULT_WAITING_MAX_MS");

	if (fault != NULL && atoll(fault) > 0)
		return atoll(fault);
#endif
	return WORKER_WAITING_MAX_MS;
}

/*
 * Send what the modules of queue's tasks write to standard output or
 * error to /dev/null, and the log to a copy of standard error, so that no
 * handler output reaches heraldd's log.  A fatal message of the C library
 * in this worker goes to /dev/null too; heraldd logs the worker's exit
 * and signal.  A build with AddressSanitizer keeps standard error for its
 * reports.
 */
static void
worker_hide_module_output(const struct hd_config *config,
    const struct hd_queue_config *queue)
{
	size_t	i;
	int	null;

	for (i = 0; i < config->ntasks; i++)
		if (config->tasks[i].module_path != NULL &&
		    strcmp(config->tasks[i].queue, queue->name) == 0)
			break;
	if (i == config->ntasks)
		return;
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
		hd_log_warn("module output not discarded", "queue=%s "
		    "error=\"could not open /dev/null: %s\"", queue->name,
		    strerror(errno));
		return;
	}
	(void)dup2(null, STDOUT_FILENO);
#ifndef __SANITIZE_ADDRESS__
	{
		int	log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);

		if (log_fd != -1) {
			hd_log_set_fd(log_fd);
			(void)dup2(null, STDERR_FILENO);
		} else
			hd_log_warn("module output not discarded", "queue=%s "
			    "error=\"could not copy standard error: %s\"",
			    queue->name, strerror(errno));
	}
#endif
	close(null);
}

int
hd_worker_main(const struct hd_config *config,
    const struct hd_queue_config *queue, const char *supervisor_id,
    const char *worker_id, const char *lost_id,
    const struct hd_started_ids *lost_started, struct hd_started *started)
{
	static const int	 signals[] = {
		SIGTERM, SIGINT, SIGCHLD, SIGHUP, 0
	};
	struct worker		 w;
	struct pollfd		*fds;

	if (worker_fault_at_start(queue->name)) {
		hd_log_warn("fault injected", "point=worker_start queue=%s",
		    queue->name);
		return EX_SOFTWARE;
	}
	worker_hide_module_output(config, queue);
	memset(&w, 0, sizeof w);
	w.config = config;
	w.queue = queue;
	w.supervisor_id = supervisor_id;
	w.parent = getppid();
	w.nslots = queue->concurrency > 0 ? queue->concurrency : 1;
	w.slots = hd_xcalloc((size_t)w.nslots, sizeof *w.slots);
	fds = hd_xcalloc((size_t)w.nslots * 3 + 3, sizeof *fds);
	if (worker_id != NULL && strlen(worker_id) < sizeof w.id)
		snprintf(w.id, sizeof w.id, "%s", worker_id);
	else
		hd_random_hex(w.id, WORKER_ID_BYTES);
	if (lost_id != NULL && lost_id[0] != '\0')
		w.lost_id = lost_id;
	w.lost_started = lost_started;
	w.started = started;
	snprintf(w.app_name, sizeof w.app_name, "herald worker %s",
	    queue->name);
	w.connect_delay_ms = HD_RECONNECT_MIN_MS;
	w.waiting_max_ms = worker_waiting_max_ms();

	w.sigfd = hd_signals_open(signals);
	if (w.sigfd == -1) {
		hd_log_error("could not open signal pipe", "error=%s",
		    strerror(errno));
		return EX_OSERR;
	}

	for (;;) {
		if (worker_step(&w) == -1) {
			w.exit_status = EX_CONFIG;
			break;
		}
		if ((w.stopping || w.recycle_reason != NULL) &&
		    worker_held(&w) == 0)
			break;
		if (w.stopping && hd_monotonic_ms() >= worker_exit_ms(&w)) {
			worker_give_up(&w);
			break;
		}
		if (w.stopping && !w.killing &&
		    hd_monotonic_ms() >= w.stop_deadline_ms)
			worker_kill_running(&w);
		worker_trim(&w);
		worker_wait(&w, fds);
	}

	worker_finish(&w);
	free(fds);
	if (w.recycle_reason != NULL)
		hd_log_info("worker stopped", "queue=%s reason=%s",
		    queue->name, w.recycle_reason);
	else if (w.exit_status == 0 || w.exit_status == HD_EXIT_RESTART)
		hd_log_info("worker stopped", "queue=%s", queue->name);
	return w.exit_status;
}
