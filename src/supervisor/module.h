/*
 * module.h: the module handler runner of a worker.
 *
 * hd_module_load() opens a task's shared object with dlopen() and finds
 * its handler; objects stay loaded until the worker exits, and each is
 * opened once however many tasks name it.  A pool runs handlers on up to
 * nthreads threads, started as jobs arrive: a handler is a plain function
 * call, which a poll() loop cannot interrupt, so concurrency needs
 * threads.  The worker's own thread keeps the database connection and the
 * poll() loop; hd_module_pool_fd() becomes readable when a result waits,
 * and hd_module_pool_take() returns results one at a time.
 *
 * A submitted job is copied, so the caller's strings may go at once.  A
 * handler that never returns keeps its thread; the pool cannot stop it,
 * and hd_module_pool_free() does not wait for it.
 */

#ifndef HD_MODULE_H
#define HD_MODULE_H

#include <stdbool.h>
#include <stdint.h>

#include "herald_module.h"
#include "store.h"

struct hd_module_pool;

/*
 * Return the handler symbol of the object at path, or NULL with the
 * reason in error: a missing file or symbol, or an object that does not
 * declare HERALD_MODULE_VERSION.
 */
herald_module_handler_fn *hd_module_load(const char *path,
	    const char *symbol, char *error, size_t error_size);

struct hd_module_pool *hd_module_pool_new(int nthreads);

/* Stop the idle threads and free the pool; NULL is allowed. */
void	hd_module_pool_free(struct hd_module_pool *pool);

/* The descriptor that is readable while results wait. */
int	hd_module_pool_fd(const struct hd_module_pool *pool);

/* Queue job for handler; cookie comes back with its result.  0 or -1. */
int	hd_module_pool_submit(struct hd_module_pool *pool,
	    herald_module_handler_fn *handler, const struct hd_job *job,
	    void *cookie);

/*
 * Mark the job job_id cancelled, so that its handler's
 * herald_module_job.cancelled() returns nonzero; a job that has not
 * started yet gets the mark too.  NULL pool is allowed.
 */
void	hd_module_pool_cancel(struct hd_module_pool *pool, int64_t job_id);

/* One finished job: its cookie, result, outcome and duration. */
struct hd_module_result {
	void				*cookie;
	int64_t				 job_id;
	enum herald_module_result	 result;
	struct herald_module_outcome	 outcome;
	int64_t				 duration_ms;
};

/* Take one finished job; return false when none waits. */
bool	hd_module_pool_take(struct hd_module_pool *pool,
	    struct hd_module_result *result);

#endif /* HD_MODULE_H */
