/*
 * module.h: the module handler runner of a worker.
 *
 * hd_module_load() opens a task's shared object with dlopen() and finds
 * its handler; objects stay loaded until the worker exits, and each is
 * opened once however many tasks name it.  A pool runs handlers on up to
 * nthreads threads, started as jobs arrive: a handler is a plain function
 * call, which a poll() loop cannot interrupt, so concurrency needs
 * threads.  The worker's own thread keeps the database connection and the
 * poll() loop, and is the only one that calls the functions below.
 *
 * The worker hands over a whole claim at once: hd_module_pool_add()
 * stages jobs without locking and hd_module_pool_flush() queues them
 * under one lock, waking only as many idle threads as there are jobs.  A
 * thread that finishes a job takes the next queued one without sleeping.
 * hd_module_pool_fd() becomes readable when the list of finished jobs
 * stops being empty, and hd_module_pool_take() takes that whole list
 * under one lock, then returns its jobs one at a time.
 *
 * A job belongs to the pool from hd_module_pool_add() until it comes back
 * through hd_module_pool_take() or a hd_module_give_fn.  At most nthreads
 * handlers run at once, less one for each hd_module_pool_reserve() in
 * force: a worker that also runs exec handlers reserves a place for each.
 *
 * A handler that never returns keeps its thread: the pool cannot stop it.
 * hd_module_pool_expire() gives up on a handler past its job's timeout:
 * the job comes back at once, and the handler's late result is discarded.
 * Such a handler still counts against nthreads until it returns, and
 * hd_module_pool_free() does not wait for it.
 */

#ifndef HD_MODULE_H
#define HD_MODULE_H

#include <stdbool.h>
#include <stdint.h>

#include "herald_module.h"
#include "store.h"

struct hd_module_pool;
struct hd_started;

/*
 * Return the handler symbol of the object at path, or NULL with the
 * reason in error: a missing file or symbol, or an object that does not
 * declare HERALD_MODULE_VERSION.
 */
herald_module_handler_fn *hd_module_load(const char *path,
	    const char *symbol, char *error, size_t error_size);
/*
 * Load as hd_module_load() does, for the job job_id, which counts as
 * started meanwhile.  A load that ends the worker (an initializer that
 * crashes or calls exit()) is pinned on that job in started, as a crash
 * of its handler would be.
 */
herald_module_handler_fn *hd_module_load_job(const char *path,
	    const char *symbol, int64_t job_id, struct hd_started *started,
	    char *error, size_t error_size);

/*
 * Create a pool of up to nthreads threads, with reserved places already
 * taken (hd_module_pool_reserve()).
 */
struct hd_module_pool *hd_module_pool_new(int nthreads, int reserved,
	    struct hd_started *started);

/* Stop the idle threads and free the pool; NULL is allowed. */
void	hd_module_pool_free(struct hd_module_pool *pool);

/* The descriptor that is readable while finished jobs wait. */
int	hd_module_pool_fd(const struct hd_module_pool *pool);

/*
 * Free the tasks kept for reuse.  A claim of many jobs leaves as many,
 * about 1 KiB each, which an idle worker need not keep.
 */
void	hd_module_pool_trim(struct hd_module_pool *pool);

/*
 * Stage job for handler, to run at the next hd_module_pool_flush(); the
 * pool takes over job's strings and zeroes *job.  timeout_ms of 0 means
 * none.
 */
void	hd_module_pool_add(struct hd_module_pool *pool,
	    herald_module_handler_fn *handler, struct hd_job *job,
	    int64_t timeout_ms);

/*
 * Queue the staged jobs for the threads.  Return 0, or -1 when no thread
 * runs and none could be started: the jobs stay queued, and
 * hd_module_pool_withdraw() gives them back.
 */
int	hd_module_pool_flush(struct hd_module_pool *pool);

/* Jobs the pool holds: queued, running and finished, not given back. */
int	hd_module_pool_held(struct hd_module_pool *pool);

/* Return the number of jobs in the pool that have not finished. */
int	hd_module_pool_unfinished(struct hd_module_pool *pool);

/* Handlers running, including those given up on. */
int	hd_module_pool_running(struct hd_module_pool *pool);

/*
 * Take one place from the module handlers, for a handler run elsewhere;
 * return false when every place is taken.  hd_module_pool_unreserve()
 * gives it back.
 */
bool	hd_module_pool_reserve(struct hd_module_pool *pool);
void	hd_module_pool_unreserve(struct hd_module_pool *pool);

/*
 * Call fn for every job the pool holds.  The job stays valid until the
 * next call of hd_module_pool_take(), _expire(), _abandon() or
 * _withdraw(); fn must not call the pool.
 */
void	hd_module_pool_each(struct hd_module_pool *pool,
	    void (*fn)(void *arg, const struct hd_job *job), void *arg);

/*
 * Mark the job job_id cancelled, so that its handler's
 * herald_module_job.cancelled() returns nonzero, and a job that has not
 * started never does.  Return whether the mark is new.  NULL pool is
 * allowed.
 */
bool	hd_module_pool_cancel(struct hd_module_pool *pool, int64_t job_id);

/*
 * Forget the job job_id, whose lease went to another worker: it does not
 * start if it has not, and comes back with lost set.
 */
void	hd_module_pool_lose(struct hd_module_pool *pool, int64_t job_id);

/* One finished job, which the caller owns now. */
struct hd_module_result {
	struct hd_job				 job;
	enum herald_module_result		 result;
	/* Valid until the next hd_module_pool_take(). */
	const struct herald_module_outcome	*outcome;
	int64_t					 duration_ms;
	bool					 ran;	/* the handler ran */
	bool					 cancelled;
	bool					 lost;
};

/* Take one finished job; return false when none waits. */
bool	hd_module_pool_take(struct hd_module_pool *pool,
	    struct hd_module_result *result);

/*
 * A job given back before its handler returned: job, which the caller
 * owns, was cancelled before, and ran_ms is how long its handler ran.
 */
typedef void hd_module_give_fn(void *arg, struct hd_job *job,
	    bool cancelled, int64_t ran_ms);

/*
 * The earliest time a running handler reaches its timeout, or INT64_MAX.
 * While jobs wait to start, now_ms plus the shortest timeout among all
 * jobs ever added counts too, since one of them may start any moment.
 */
int64_t	hd_module_pool_next_deadline(struct hd_module_pool *pool,
	    int64_t now_ms);

/*
 * Give up on every handler that ran past its job's timeout at now_ms:
 * set its cancelled flag, pass a copy of its job to fn, and discard its
 * result when it returns.  Jobs whose lease was lost are not passed.
 * Return how many were given up on.
 */
int	hd_module_pool_expire(struct hd_module_pool *pool, int64_t now_ms,
	    hd_module_give_fn *fn, void *arg);

/* Give up on every running handler in the same way. */
void	hd_module_pool_abandon(struct hd_module_pool *pool,
	    hd_module_give_fn *fn, void *arg);

/* Give back every job that has not started, with ran_ms 0. */
void	hd_module_pool_withdraw(struct hd_module_pool *pool,
	    hd_module_give_fn *fn, void *arg);

#endif /* HD_MODULE_H */
