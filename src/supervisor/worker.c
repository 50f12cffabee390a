/*
 * worker.c: a worker process, which claims the jobs of one queue and runs
 * them with their exec handlers.
 *
 * One poll() loop waits on the job database socket (LISTEN herald), the
 * handlers' pipes and the signal pipe.  Handler exits arrive as SIGCHLD
 * through the signal pipe and are collected with waitpid(-1, WNOHANG);
 * pidfd_open() would cost a descriptor per handler and gain nothing here.
 * Database calls are synchronous: a worker may block on the database,
 * the supervisor never does.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "db.h"
#include "exec.h"
#include "log.h"
#include "migrate.h"
#include "signals.h"
#include "store.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

#define WORKER_ID_BYTES		8
#define WORKER_ENV_MAX		10
#define WORKER_RETRY_MIN_MS	100
#define WORKER_RETRY_MAX_MS	30000
#define WORKER_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

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
	struct hd_attempt attempt;
	char		 output[HD_EXEC_TAIL_MAX + 1];
	char		*env[WORKER_ENV_MAX];
};

struct worker {
	const struct hd_config		*config;
	const struct hd_queue_config	*queue;
	const char			*supervisor_id;
	char				 id[2 * WORKER_ID_BYTES + 1];
	char				 app_name[128];
	PGconn				*conn;
	int				 sigfd;
	struct slot			*slots;
	int				 nslots;

	/* CLOCK_MONOTONIC milliseconds. */
	int64_t				 next_poll_ms;
	int64_t				 next_extend_ms;
	int64_t				 next_heartbeat_ms;
	int64_t				 connect_at_ms;
	int64_t				 connect_delay_ms;
	int				 connect_failures;
	int64_t				 record_at_ms;
	int64_t				 record_delay_ms;
	int64_t				 stop_deadline_ms;

	bool				 ever_connected;
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
worker_held(const struct worker *w)
{
	return w->nslots - worker_count(w, SLOT_FREE);
}

/* Drop the connection after a failure; the loop reconnects later. */
static void
worker_disconnect(struct worker *w)
{
	hd_log_warn("job database connection lost",
	    "queue=%s held_jobs=%d retry_ms=%d", w->queue->name,
	    worker_held(w), WORKER_RETRY_MIN_MS);
	PQfinish(w->conn);
	w->conn = NULL;
	w->connect_delay_ms = WORKER_RETRY_MIN_MS;
	w->connect_at_ms = hd_monotonic_ms() + w->connect_delay_ms;
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
	if (error->code == HERALD_ECONNECT || w->conn == NULL ||
	    PQstatus(w->conn) == CONNECTION_BAD) {
		if (w->conn != NULL)
			worker_disconnect(w);
		return;
	}
	hd_log_error("job database error", "queue=%s operation=%s "
	    "error=%s sqlstate=%s", w->queue->name, operation,
	    herald_strerror(error->code), error->sqlstate);
}

static void
worker_drain_notifies(struct worker *w)
{
	PGnotify	*n;

	while ((n = PQnotifies(w->conn)) != NULL) {
		if (strcmp(n->relname, "herald") == 0 &&
		    strcmp(n->extra, w->queue->name) == 0)
			w->claim_wanted = true;
		PQfreemem(n);
	}
}

static void
worker_connect_failed(struct worker *w, const struct herald_error *error)
{
	w->connect_failures++;
	if (w->connect_failures == 1)
		hd_log_error("could not connect to job database",
		    "queue=%s error=%s sqlstate=%s retry_ms=%lld",
		    w->queue->name, herald_strerror(error->code),
		    error->sqlstate, (long long)w->connect_delay_ms);
	else
		hd_log_debug("could not connect to job database",
		    "queue=%s failures=%d retry_ms=%lld", w->queue->name,
		    w->connect_failures, (long long)w->connect_delay_ms);
	w->connect_at_ms = hd_monotonic_ms() + w->connect_delay_ms;
	w->connect_delay_ms = grow_delay(w->connect_delay_ms);
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
		if (error.code == HERALD_ESCHEMA) {
			hd_log_schema_mismatch(conn);
			PQfinish(conn);
			return -1;
		}
		goto fail;
	}
	if (hd_db_exec(conn, "LISTEN herald", &error) == -1 ||
	    hd_store_register(conn, w->id, "worker", w->supervisor_id,
	    w->queue->name, &error) == -1)
		goto fail;

	w->conn = conn;
	now = hd_monotonic_ms();
	if (!w->ever_connected)
		hd_log_info("worker ready", "queue=%s worker_id=%s "
		    "concurrency=%d", w->queue->name, w->id, w->nslots);
	else
		hd_log_info("job database connection restored",
		    "queue=%s failures=%d held_jobs=%d", w->queue->name,
		    w->connect_failures, worker_held(w));
	w->ever_connected = true;
	w->connect_failures = 0;
	w->connect_delay_ms = WORKER_RETRY_MIN_MS;
	w->claim_wanted = true;
	w->next_extend_ms = now;
	w->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
	w->record_at_ms = now;
	w->record_delay_ms = WORKER_RETRY_MIN_MS;
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

/* Build the handler's environment: PATH, LANG and the HERALD_ variables. */
static void
slot_build_env(struct slot *s)
{
	const char	*path = getenv("PATH"), *lang = getenv("LANG");
	char		 number[32];
	int		 n = 0;

	s->env[n++] = env_entry("PATH", path != NULL && *path != '\0' ?
	    path : WORKER_DEFAULT_PATH);
	if (lang != NULL)
		s->env[n++] = env_entry("LANG", lang);
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
slot_clear(struct slot *s)
{
	int	i;

	if (s->ran)
		hd_exec_close(&s->exec);
	for (i = 0; i < WORKER_ENV_MAX && s->env[i] != NULL; i++)
		free(s->env[i]);
	hd_job_release(&s->job);
	memset(s, 0, sizeof *s);
}

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
	task = hd_config_task(w->config, job->task);
	if (task == NULL || task->argv == NULL) {
		if (task == NULL)
			snprintf(text, sizeof text,
			    "no handler configured for task %s", job->task);
		else
			snprintf(text, sizeof text, "task %s has a module "
			    "handler, which heraldd cannot run", job->task);
		hd_log_warn("no handler configured", "job_id=%lld task=%s "
		    "queue=%s", (long long)job->id, job->task, job->queue);
		slot_fail_now(s, HD_OUTCOME_PERMANENT, text);
		return;
	}

	slot_build_env(s);
	if (hd_exec_start(&s->exec, task->argv, s->env, job->payload,
	    strlen(job->payload), task->timeout_ms) == -1) {
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

static void
worker_claim(struct worker *w)
{
	struct herald_error	 error;
	struct hd_job		*jobs = NULL;
	int			 free_slots, n, i, j;
	int64_t			 now = hd_monotonic_ms();

	free_slots = worker_count(w, SLOT_FREE);
	w->next_poll_ms = now + w->queue->poll_interval_ms;
	if (free_slots == 0)
		return;
	if (worker_held(w) == 0)
		w->next_extend_ms = now + w->config->lease_ms / 3;

	memset(&error, 0, sizeof error);
	n = hd_store_claim(w->conn, w->queue->name, w->id, free_slots,
	    w->config->lease_ms, &jobs, &error);
	if (n == -1) {
		w->claim_wanted = false;
		worker_store_failed(w, "claim", &error);
		return;
	}
	w->claim_wanted = (n == free_slots);
	for (i = 0, j = 0; i < n; i++) {
		while (w->slots[j].state != SLOT_FREE)
			j++;
		w->slots[j].job = jobs[i];
		slot_start(w, &w->slots[j]);
	}
	/* The slots own the jobs' strings now. */
	free(jobs);
}

static void
log_job_failed(const struct hd_job *job, const struct hd_attempt *a)
{
	const char	*status = hd_outcome_name(a->outcome);

	if (a->signal != 0)
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

/* Take the result of a handler that is done. */
static void
slot_finish(struct slot *s)
{
	hd_exec_result(&s->exec, &s->attempt, s->output, sizeof s->output);
	s->state = SLOT_FINISHED;
	if (s->release)
		return;
	if (s->attempt.outcome != HD_OUTCOME_DONE)
		log_job_failed(&s->job, &s->attempt);
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

/* Record a failed attempt; return 0, or -1 to try again later. */
static int
slot_record_failure(struct worker *w, struct slot *s)
{
	const struct hd_task_config	*task;
	struct hd_retry_policy		 policy;
	struct herald_error		 error;
	struct hd_job			*job = &s->job;
	int64_t				 delay_ms;
	int				 r;

	task = hd_config_task(w->config, job->task);
	if (task != NULL)
		policy = task->retry;
	else
		hd_retry_policy_init(&policy);
	delay_ms = hd_backoff_delay_ms(&policy, job->attempt,
	    hd_backoff_random());

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
	if (s->release) {
		r = hd_store_release(w->conn, &s->job, &error);
		if (r == -1) {
			worker_store_failed(w, "release", &error);
			return -1;
		}
		if (r == 0)
			log_lease_lost(&s->job);
		else
			hd_log_info("job released", "job_id=%lld task=%s "
			    "queue=%s attempt=%d", (long long)s->job.id,
			    s->job.task, s->job.queue, s->job.attempt);
		return 0;
	}
	if (s->attempt.outcome != HD_OUTCOME_DONE)
		return slot_record_failure(w, s);

	r = hd_store_complete(w->conn, &s->job, &error);
	if (r == -1) {
		worker_store_failed(w, "complete", &error);
		return -1;
	}
	if (r == 0)
		log_lease_lost(&s->job);
	else
		log_job_completed(&s->job, s->attempt.duration_ms);
	return 0;
}

/* Record every finished job, keeping results that cannot be stored yet. */
static void
worker_record(struct worker *w)
{
	int	i;

	if (hd_monotonic_ms() < w->record_at_ms)
		return;
	for (i = 0; i < w->nslots && w->conn != NULL; i++) {
		if (w->slots[i].state != SLOT_FINISHED)
			continue;
		if (slot_record(w, &w->slots[i]) == -1) {
			w->record_at_ms = hd_monotonic_ms() +
			    w->record_delay_ms;
			w->record_delay_ms = grow_delay(w->record_delay_ms);
			return;
		}
		slot_clear(&w->slots[i]);
		w->claim_wanted = true;
	}
	w->record_delay_ms = WORKER_RETRY_MIN_MS;
}

/* Renew leases and the heartbeat when they are due. */
static void
worker_timers(struct worker *w)
{
	struct herald_error	error;
	int64_t			now = hd_monotonic_ms();

	memset(&error, 0, sizeof error);
	if (worker_held(w) > 0 && now >= w->next_extend_ms) {
		w->next_extend_ms = now + w->config->lease_ms / 3;
		if (hd_store_extend_leases(w->conn, w->id, w->config->lease_ms,
		    &error) == -1) {
			worker_store_failed(w, "extend_leases", &error);
			return;
		}
	}
	if (now >= w->next_heartbeat_ms) {
		w->next_heartbeat_ms = now + HD_HEARTBEAT_MS;
		if (hd_store_heartbeat(w->conn, w->id, &error) == 0)
			return;
		/* A row pruned during an outage is written again. */
		if (error.code == HERALD_ENOTFOUND &&
		    hd_store_register(w->conn, w->id, "worker",
		    w->supervisor_id, w->queue->name, &error) == 0)
			return;
		worker_store_failed(w, "heartbeat", &error);
	}
}

static void
worker_begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline_ms = hd_monotonic_ms() + w->config->grace_period_ms;
	hd_log_info("worker stopping", "queue=%s running=%d "
	    "grace_period_ms=%lld", w->queue->name,
	    worker_count(w, SLOT_RUNNING),
	    (long long)w->config->grace_period_ms);
}

/* At the end of the grace period, stop the handlers still running. */
static void
worker_kill_running(struct worker *w)
{
	struct slot	*s;
	int		 i;

	w->killing = true;
	hd_log_warn("grace period over, stopping handlers", "queue=%s "
	    "running=%d", w->queue->name, worker_count(w, SLOT_RUNNING));
	for (i = 0; i < w->nslots; i++) {
		s = &w->slots[i];
		if (s->state != SLOT_RUNNING || !s->ran || s->exec.reaped)
			continue;
		s->release = true;
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
	if (hd_signals_take(SIGTERM) || hd_signals_take(SIGINT))
		worker_begin_stop(w);
}

static int64_t
min_ms(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Return the poll() timeout: the time until the nearest deadline. */
static int
worker_timeout(const struct worker *w)
{
	int64_t	next = INT64_MAX, now = hd_monotonic_ms();
	int	i;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].state == SLOT_RUNNING && w->slots[i].ran)
			next = min_ms(next, hd_exec_next_ms(&w->slots[i].exec));
	if (w->conn == NULL)
		next = min_ms(next, w->connect_at_ms);
	else {
		if (!w->stopping && worker_count(w, SLOT_FREE) > 0)
			next = min_ms(next, w->claim_wanted ? now :
			    w->next_poll_ms);
		if (worker_held(w) > 0)
			next = min_ms(next, w->next_extend_ms);
		if (worker_count(w, SLOT_FINISHED) > 0)
			next = min_ms(next, w->record_at_ms);
		next = min_ms(next, w->next_heartbeat_ms);
	}
	if (w->stopping && !w->killing)
		next = min_ms(next, w->stop_deadline_ms);

	if (next == INT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

/* Wait for the next event and handle it. */
static void
worker_wait(struct worker *w, struct pollfd *fds)
{
	int	first[w->nslots], count[w->nslots];
	int	nfds = 0, conn_index = -1, i;
	int64_t	now;

	fds[nfds].fd = w->sigfd;
	fds[nfds++].events = POLLIN;
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
	for (i = 0; i < w->nslots; i++)
		if (count[i] > 0)
			hd_exec_io(&w->slots[i].exec, fds + first[i],
			    count[i]);
	if (conn_index != -1 && fds[conn_index].revents != 0 &&
	    w->conn != NULL && PQconsumeInput(w->conn) == 0)
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

/* One round of database work: connect, record, renew, claim. */
static int
worker_step(struct worker *w)
{
	if (w->conn == NULL && hd_monotonic_ms() >= w->connect_at_ms &&
	    worker_connect(w) == -1)
		return -1;
	if (w->conn != NULL)
		worker_record(w);
	if (w->conn != NULL)
		worker_timers(w);
	if (w->conn != NULL)
		worker_drain_notifies(w);
	if (w->conn != NULL && !w->stopping &&
	    (w->claim_wanted || hd_monotonic_ms() >= w->next_poll_ms))
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
	free(w->slots);
}

int
hd_worker_main(const struct hd_config *config,
    const struct hd_queue_config *queue, const char *supervisor_id)
{
	static const int	 signals[] = {
		SIGTERM, SIGINT, SIGCHLD, SIGHUP, 0
	};
	struct worker		 w;
	struct pollfd		*fds;

	memset(&w, 0, sizeof w);
	w.config = config;
	w.queue = queue;
	w.supervisor_id = supervisor_id;
	w.nslots = queue->concurrency > 0 ? queue->concurrency : 1;
	w.slots = hd_xcalloc((size_t)w.nslots, sizeof *w.slots);
	fds = hd_xcalloc((size_t)w.nslots * 3 + 2, sizeof *fds);
	hd_random_hex(w.id, WORKER_ID_BYTES);
	snprintf(w.app_name, sizeof w.app_name, "herald worker %s",
	    queue->name);
	w.connect_delay_ms = WORKER_RETRY_MIN_MS;

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
		if (w.stopping && worker_held(&w) == 0)
			break;
		if (w.stopping && !w.killing &&
		    hd_monotonic_ms() >= w.stop_deadline_ms)
			worker_kill_running(&w);
		worker_wait(&w, fds);
	}

	worker_finish(&w);
	free(fds);
	if (w.exit_status == 0)
		hd_log_info("worker stopped", "queue=%s", queue->name);
	return w.exit_status;
}
