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

/* How an attempt ended. */
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

/* What hd_store_fail did with the job. */
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
 * Put a running job back in its queue without counting the attempt, when
 * the worker stops before the job ends.  Return 1, 0 when the lease was
 * lost, or -1.
 */
int	hd_store_release(PGconn *conn, const struct hd_job *job,
	    struct herald_error *error);

/* Renew the leases of every job worker_id holds; return how many, or -1. */
int	hd_store_extend_leases(PGconn *conn, const char *worker_id,
	    int64_t lease_ms, struct herald_error *error);

/* Requeue or bury jobs whose lease expired; return how many, or -1. */
int	hd_store_expire_leases(PGconn *conn, int limit,
	    struct herald_error *error);

/*
 * A selection of dead jobs: the listed ids, or with nids == 0 every dead
 * job whose queue and task match (NULL matches any).
 */
struct hd_dead_filter {
	const int64_t	*ids;
	size_t		 nids;
	const char	*queue;
	const char	*task;
};

/* Retry or purge the selected dead jobs; return how many, or -1. */
int64_t	hd_dead_retry(PGconn *conn, const struct hd_dead_filter *filter,
	    struct herald_error *error);
int64_t	hd_dead_purge(PGconn *conn, const struct hd_dead_filter *filter,
	    struct herald_error *error);

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
