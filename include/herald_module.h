/*
 * herald_module.h: the interface of module handlers.
 *
 * A module handler is a function in a shared object that heraldd's
 * workers load with dlopen() from the path the task's configuration
 * names:
 *
 *	tasks = { resize = { queue = "images";
 *	    module = { path = "/usr/lib/shop/images.so";
 *	               symbol = "resize_image"; }; }; };
 *
 * The object declares the interface version it was built for with
 * HERALD_MODULE_DECLARE() in one of its files.  A worker rejects an object
 * without it or with another version: each attempt of that task's jobs
 * fails with a message that names the cause, and is retried like any other
 * failure until the job's attempts run out.  The handler has the type
 * herald_module_handler_fn:
 *
 *	#include <herald_module.h>
 *
 *	HERALD_MODULE_DECLARE();
 *
 *	enum herald_module_result
 *	resize_image(const struct herald_module_job *job,
 *	    struct herald_module_outcome *outcome)
 *	{
 *		...
 *		return HERALD_MODULE_DONE;
 *	}
 *
 * A worker calls handlers from a pool of threads, as many as the queue's
 * concurrency, so a handler may run in several threads at once and must
 * be thread-safe.  A thread cannot be stopped safely, so a handler still
 * running at its task's timeout is given up on.  Its attempt ends as a
 * timeout, and what it returns later is discarded.  The worker exits once
 * its other jobs are done, and the supervisor starts a new one.  The job
 * is not retried before that worker has exited.
 *
 * A handler must not call exit(), change signal dispositions or
 * fork without exec: it runs inside the worker process, which holds the
 * database connection and the leases of other jobs.  A handler that
 * crashes kills the worker; the supervisor starts a new one, which takes
 * its jobs back at once.  When the crash came from the thread that runs
 * the handler, that job counts a lost attempt and waits its retry delay,
 * and the jobs that ran beside it go back to their queue uncounted.  A
 * crash in a thread the module started itself names no job, so every
 * job that had started counts a lost attempt.  A handler that calls
 * exit() anyway, or a module initializer that does while the module
 * loads for a job, is blamed as a crash of that job's handler.
 *
 * What a module writes to standard output or error is discarded, so
 * that no payload reaches heraldd's log that way.  A handler reports
 * through its outcome's message, which the job's history keeps.
 */

#ifndef HERALD_MODULE_H
#define HERALD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Raised when a structure below changes.  Version 2 added
 * herald_module_job.cancelled; a worker still runs objects built for
 * version 1, which do not read it.
 */
#define HERALD_MODULE_VERSION	2

/* Bytes of outcome->message, including its NUL. */
#define HERALD_MODULE_MESSAGE_MAX	1024

/* The result a handler returns. */
enum herald_module_result {
	HERALD_MODULE_DONE = 0,		/* the job is finished and deleted */
	HERALD_MODULE_RETRY,		/* a failed attempt: retry later */
	HERALD_MODULE_PERMANENT		/* straight to the dead-letter queue */
};

/* The job a handler runs.  Every pointer stays valid until it returns. */
struct herald_module_job {
	int64_t		 id;
	const char	*task;
	const char	*queue;
	const char	*payload;	/* JSON text, NUL-terminated */
	size_t		 payload_len;	/* strlen(payload) */
	int		 attempt;	/* this attempt, counted from 1 */
	int		 max_attempts;
	const char	*event_id;	/* NULL unless the job came from an event */
	const char	*event_type;

	/*
	 * Since version 2: returns nonzero once an operator cancelled the
	 * job (herald job cancel), or once the task's timeout passed.  A
	 * long handler polls it and returns soon after, and its result is
	 * then ignored.  A cancelled job is deleted.  A timed-out one is
	 * recorded as a timeout once its worker exits.  A worker cannot
	 * stop a handler that does not poll, so a cancelled job stays
	 * running until the handler returns.  Safe to call from the
	 * handler's thread at any time before it returns.
	 */
	int		(*cancelled)(const struct herald_module_job *job);
};

/*
 * What a handler may report besides its result.  The worker zeroes it
 * before the call.  message is stored with a failed attempt in the job's
 * history, as the output of an exec handler is; it is never logged.
 */
struct herald_module_outcome {
	/*
	 * With HERALD_MODULE_RETRY: the delay before the next attempt in
	 * milliseconds; 0 or less uses the task's backoff policy.  A delay
	 * over 366 days is cut to 366 days.
	 */
	int64_t		 retry_delay_ms;
	char		 message[HERALD_MODULE_MESSAGE_MAX];
};

typedef enum herald_module_result herald_module_handler_fn(
    const struct herald_module_job *job,
    struct herald_module_outcome *outcome);

/* The symbol a worker reads to learn an object's interface version. */
#define HERALD_MODULE_VERSION_SYMBOL	"herald_module_version"

/* Declare, once per shared object, the interface version it uses. */
#define HERALD_MODULE_DECLARE()						\
	const int herald_module_version = HERALD_MODULE_VERSION

#ifdef __cplusplus
}
#endif

#endif /* HERALD_MODULE_H */
