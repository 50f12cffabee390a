/*
 * store.h: the job store, the job database as workers and the command
 * line see it.
 *
 * Each function runs on a connection the caller owns and opens no
 * transaction of its own unless it says so.  State changes go through the
 * SQL functions of sql/job (herald.claim, herald.complete, herald.fail,
 * ...), so every client shares their definition.  Functions return 0 or,
 * as stated, a count or state, and -1 with error filled on failure.
 */

#ifndef HD_STORE_H
#define HD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "herald.h"

/* A claimed job.  The strings are owned by the job (hd_job_release). */
struct hd_job {
	int64_t		 id;
	char		*task;
	char		*queue;
	char		*payload;	/* JSON text */
	int		 priority;
	int		 attempt;	/* this attempt, counted from 1 */
	int		 max_attempts;
	int64_t		 lease_token;
	char		*event_id;	/* NULL unless the job came from an event */
	char		*event_type;
};

void	hd_job_release(struct hd_job *job);
void	hd_jobs_free(struct hd_job *jobs, int njobs);

/* Outcome of an attempt. */
enum hd_outcome {
	HD_OUTCOME_DONE = 0,
	HD_OUTCOME_FAILED,	/* non-zero exit, EX_TEMPFAIL, a signal */
	HD_OUTCOME_PERMANENT,	/* EX_DATAERR: straight to the dead table */
	HD_OUTCOME_TIMEOUT,	/* killed after the task's timeout */
	HD_OUTCOME_LOST		/* the worker disappeared (janitor only) */
};

const char *hd_outcome_name(enum hd_outcome outcome);

/* One attempt's result, as recorded in the job's history. */
struct hd_attempt {
	enum hd_outcome	 outcome;
	int		 exit_code;	/* -1 when it did not exit */
	int		 signal;	/* 0 when no signal ended it */
	int64_t		 duration_ms;
	const char	*output;	/* tail of stdout and stderr, or NULL */
	size_t		 output_len;	/* bytes of output; 0: strlen(output) */
};

/*
 * A job's history (herald.jobs.errors, herald.dead_jobs.errors) is a JSON
 * array with one entry per ended attempt, in order.  Entries with outcome
 * "edited" or "retried" record an operator's edit of a dead job's
 * payload or retry of a dead job instead.  A retry sets the job's attempt
 * counter back to 0, while the "attempt" of an entry counts on from the
 * job's creation: a "retried" entry carries the number of the last
 * attempt before it.
 */

/* Whether a history entry of this outcome records an operator's action. */
bool	hd_history_is_action(const char *outcome);

/*
 * Format the "at" time of a history entry as "2026-03-04 14:02:11Z".
 * heraldd writes UTC times ending in Z, and SQL functions ones ending in
 * +00:00; a time in another zone, written by a session outside UTC, is
 * copied as it is.
 */
void	hd_history_time(const char *at, char *buf, size_t size);

/*
 * Return the attempts made before the last retry from the dead-letter
 * queue, from a history array: the attempt of its last "retried" entry,
 * or 0.  The job's attempt counter plus this is the attempt counted from
 * the job's creation.
 */
int64_t	hd_history_attempts_before_retry(const json_t *history);

/* Result of hd_store_fail for the job. */
enum hd_fail_result {
	HD_FAIL_RETRY = 0,	/* queued again after the delay */
	HD_FAIL_DEAD,		/* moved to the dead table */
	HD_FAIL_LOST		/* lease token no longer matched: nothing done */
};

/*
 * Claim up to limit due jobs of queue for worker_id with a lease of
 * lease_ms.  Return the number claimed (0 when none is due) and store a
 * malloc'ed array of them in *jobs, or -1.
 */
int	hd_store_claim(PGconn *conn, const char *queue, const char *worker_id,
	    int limit, int64_t lease_ms, struct hd_job **jobs,
	    struct herald_error *error);

/* Delete a finished job.  Return 1, 0 when the lease was lost, or -1. */
int	hd_store_complete(PGconn *conn, const struct hd_job *job,
	    struct herald_error *error);

/*
 * Record a failed attempt.  retry_delay_ms is the backoff before the next
 * attempt; the database decides whether one is left.  Return an
 * enum hd_fail_result, or -1.
 */
int	hd_store_fail(PGconn *conn, const struct hd_job *job,
	    const struct hd_attempt *attempt, int64_t retry_delay_ms,
	    struct herald_error *error);

/*
 * Record a failed attempt whose handler may still run in this process.
 * The job stays on its lease, so no claim takes it.  The attempt counts,
 * and the retry follows after retry_delay_ms, when the lease ends after
 * this process is gone (herald.abandon_attempt).  Return 1, 0 when the
 * lease was lost, or -1.
 */
int	hd_store_abandon(PGconn *conn, const struct hd_job *job,
	    const struct hd_attempt *attempt, int64_t retry_delay_ms,
	    struct herald_error *error);

/*
 * Put a running job back in its queue without counting the attempt, when
 * the worker stops before the job ends, due after delay_ms.  Return 1, 0
 * when the lease was lost, or -1.
 */
int	hd_store_release(PGconn *conn, const struct hd_job *job,
	    int64_t delay_ms, struct herald_error *error);

/* Renew the leases of every job worker_id holds; return how many, or -1. */
int	hd_store_extend_leases(PGconn *conn, const char *worker_id,
	    int64_t lease_ms, struct herald_error *error);

/* Requeue or bury jobs whose lease expired; return how many, or -1. */
int	hd_store_expire_leases(PGconn *conn, int limit,
	    struct herald_error *error);

/* A job whose expired lease the janitor took back. */
struct hd_expired_lease {
	int64_t		 id;
	char		 task[HERALD_NAME_MAX + 1];
	char		 queue[HERALD_NAME_MAX + 1];
	int		 attempt;	/* the attempt that was lost */
	bool		 dead;		/* it was the last one */
};

/*
 * Like hd_store_expire_leases, and store the jobs taken back in a
 * malloc'ed array *leases (NULL when none), which the caller frees.
 */
int	hd_store_expire_leases_listed(PGconn *conn, int limit,
	    struct hd_expired_lease **leases, struct herald_error *error);

/* A job taken back with a lost attempt, and its retry delay. */
struct hd_lost_delay {
	int64_t		 id;
	int		 attempt;	/* the attempt that was lost */
	int64_t		 delay_ms;
};

/*
 * Delay the jobs just taken back with a lost attempt by their retry
 * delays.  Call it in the transaction that took them back, so that no
 * worker claims them first.  Return how many were delayed, or -1.
 */
int	hd_store_delay_lost(PGconn *conn, const struct hd_lost_delay *jobs,
	    size_t njobs, struct herald_error *error);

/*
 * Record in the history of job id, just taken back with a lost attempt,
 * the fatal signal signo that its module handler raised, or with signo 0
 * that the handler or its module's initializer called exit().  Return 0,
 * or -1.
 */
int	hd_store_record_crash(PGconn *conn, int64_t id, int signo,
	    struct herald_error *error);

/*
 * A selection of dead jobs: the listed ids, or with nids == 0 every dead
 * job whose queue and task match (NULL matches any).  text, when set,
 * also requires a case-insensitive substring of the task, queue, reason,
 * payload or last output (herald.dead_match); max_id, when positive,
 * leaves out jobs with a greater id, so a bulk action confirmed for the
 * jobs on screen spares jobs that died since.  older_than_ms, when
 * positive, keeps jobs that died longer ago than that; with
 * has_exit_status, the last attempt must have exited with exit_status;
 * grep, when set, is a case-insensitive substring of the last attempt's
 * output.
 */
struct hd_dead_filter {
	const int64_t	*ids;
	size_t		 nids;
	const char	*queue;
	const char	*task;
	const char	*text;
	int64_t		 max_id;
	int64_t		 older_than_ms;
	bool		 has_exit_status;
	int		 exit_status;
	const char	*grep;
};

/*
 * Count the dead jobs a retry or purge with filter would change; return
 * the count, or -1.  In a REPEATABLE READ transaction that then runs the
 * retry or purge, both see the same rows.
 */
int64_t	hd_dead_count(PGconn *conn, const struct hd_dead_filter *filter,
	    struct herald_error *error);

/*
 * Retry or purge the selected dead jobs and record the action in
 * herald.audit; return how many, or -1.
 */
int64_t	hd_dead_retry(PGconn *conn, const struct hd_dead_filter *filter,
	    struct herald_error *error);
int64_t	hd_dead_purge(PGconn *conn, const struct hd_dead_filter *filter,
	    struct herald_error *error);

/*
 * Pause or resume a queue: workers claim nothing from a paused queue.
 * Return 1 when the state changed, 0 when it already was so, or -1.
 */
int	hd_queue_pause(PGconn *conn, const char *queue, bool paused,
	    struct herald_error *error);

/*
 * Delete queued jobs (due, scheduled or waiting to retry); running jobs
 * and unknown ids are skipped.  Return how many were deleted, or -1.
 */
int64_t	hd_job_cancel(PGconn *conn, const int64_t *ids, size_t nids,
	    struct herald_error *error);

/*
 * Let queued jobs that wait for their backoff or their schedule run now;
 * running, due and unknown ids are skipped.  Return how many moved, or -1.
 */
int64_t	hd_job_retry_now(PGconn *conn, const int64_t *ids, size_t nids,
	    struct herald_error *error);

/*
 * Retry dead job id with a new payload (see hd_action_retry_edited).
 * Return 1, 0 when the dead job does not exist, or -1; an invalid
 * payload fails with HERALD_EINVAL and changes nothing.
 */
int64_t	hd_dead_retry_edited(PGconn *conn, int64_t id, const char *payload,
	    size_t payload_max, struct herald_error *error);

/*
 * An operator action (retry, purge, pause, resume, cancel) as one
 * statement that also records it in herald.audit, with the database role,
 * the operating system user and host, and the connection's
 * application_name.  The functions above run one with hd_action_run();
 * the console sends the same statement with PQsendQueryParams and reads
 * its result with hd_action_result(), so both share one definition.
 * hd_action_release() frees what an hd_action_* preparation allocated.
 */
#define HD_ACTION_PARAMS	12

enum hd_action_kind {
	HD_ACTION_DEAD_RETRY = 0,
	HD_ACTION_DEAD_PURGE,
	HD_ACTION_QUEUE_PAUSE,
	HD_ACTION_QUEUE_RESUME,
	HD_ACTION_JOB_CANCEL,
	HD_ACTION_JOB_RETRY_NOW,	/* queued jobs due later run now */
	HD_ACTION_DEAD_RETRY_EDITED,	/* one dead job, with a new payload */
	HD_ACTION_RELAY_FORGET		/* an origin's relay report */
};

struct hd_action {
	enum hd_action_kind	 kind;
	const char		*sql;
	const char		*what;	/* "could not retry dead jobs" */
	int			 nparams;
	const char		*values[HD_ACTION_PARAMS];
	/* Copies of the arguments, which values[] point to. */
	char			*ids;	/* bigint[] literal, or NULL */
	char			*text;
	char			*grep;
	char			*filter;	/* the selection, for the audit */
	char			*payload;	/* an edited payload */
	char			 queue[HERALD_NAME_MAX + 1];
	char			 task[HERALD_NAME_MAX + 1];
	char			 max_id[24];
	char			 older_than_ms[24];
	char			 exit_status[16];
	char			 os_user[64];
	char			 host[256];
	/* The count of rows the caller selected, or 0 when unknown. */
	int64_t			 selected;
};

int	hd_action_dead(struct hd_action *action, enum hd_action_kind kind,
	    const struct hd_dead_filter *filter, struct herald_error *error);
int	hd_action_queue(struct hd_action *action, const char *queue,
	    bool paused, struct herald_error *error);
int	hd_action_cancel(struct hd_action *action, const int64_t *ids,
	    size_t nids, struct herald_error *error);
int	hd_action_retry_now(struct hd_action *action, const int64_t *ids,
	    size_t nids, struct herald_error *error);
/*
 * Retry dead job id with payload, JSON text that replaces its payload;
 * the original stays in the job's history.  The payload is checked with
 * herald_check_payload() against payload_max bytes.
 */
int	hd_action_retry_edited(struct hd_action *action, int64_t id,
	    const char *payload, size_t payload_max,
	    struct herald_error *error);
/*
 * Forget the relay report of origin, whose relay stopped reporting; the
 * result is 1, or 0 when no such report is older than HD_RELAY_STALE_MS.
 */
int	hd_action_relay_forget(struct hd_action *action, const char *origin,
	    struct herald_error *error);

/*
 * Read the result of an action's statement: the number of jobs retried,
 * purged or cancelled, or for a pause 1 when the state changed, 0 when
 * not; -1 with error filled when res failed.
 */
int64_t	hd_action_result(const struct hd_action *action, PGconn *conn,
	    const PGresult *res, struct herald_error *error);
int64_t	hd_action_run(PGconn *conn, const struct hd_action *action,
	    struct herald_error *error);
void	hd_action_release(struct hd_action *action);

/* A short past-tense word for an action's result: "retried", "paused". */
const char *hd_action_done_word(enum hd_action_kind kind);

/*
 * Register a process in herald.processes (kind: "supervisor", "worker",
 * "janitor", "relay"), refresh its heartbeat, and remove it.
 */
int	hd_store_register(PGconn *conn, const char *id, const char *kind,
	    const char *supervisor_id, const char *queue,
	    struct herald_error *error);
int	hd_store_heartbeat(PGconn *conn, const char *id,
	    struct herald_error *error);
int	hd_store_unregister(PGconn *conn, const char *id,
	    struct herald_error *error);

#endif /* HD_STORE_H */
