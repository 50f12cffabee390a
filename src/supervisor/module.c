/*
 * module.c: module handlers, loaded with dlopen() and run on a small pool
 * of threads so that one worker runs several at once.
 */

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "module.h"
#include "util.h"

/* A shared object opened once, for every task that names it. */
struct module_object {
	struct module_object	*next;
	char			*path;
	void			*handle;
};

static struct module_object	*objects;

/* A job on its way through the pool, with copies of its strings. */
struct module_task {
	struct module_task	*next;
	herald_module_handler_fn *handler;
	struct herald_module_job job;
	struct hd_module_result	 result;
	atomic_int		 cancelled;	/* read by job.cancelled() */
};

struct hd_module_pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;
	struct module_task	*todo, *todo_tail;
	struct module_task	*done, *done_tail;
	/* Jobs in a handler, for hd_module_pool_cancel(); linked by next. */
	struct module_task	*running;
	int			 nthreads;	/* at most */
	int			 started;
	int			 idle;
	bool			 stopping;
	int			 fd;		/* eventfd: results wait */
};

static void *
module_open(const char *path, char *error, size_t error_size)
{
	struct module_object	*o;
	const int		*version;
	void			*handle;

	for (o = objects; o != NULL; o = o->next)
		if (strcmp(o->path, path) == 0)
			return o->handle;

	/* RTLD_LOCAL: two modules may define the same names. */
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		snprintf(error, error_size, "could not load module %s: %s",
		    path, dlerror());
		return NULL;
	}
	version = dlsym(handle, HERALD_MODULE_VERSION_SYMBOL);
	if (version == NULL || *version < 1 ||
	    *version > HERALD_MODULE_VERSION) {
		snprintf(error, error_size, "module %s declares interface "
		    "version %d, not 1 to %d; rebuild it against this "
		    "herald_module.h", path, version != NULL ? *version : 0,
		    HERALD_MODULE_VERSION);
		dlclose(handle);
		return NULL;
	}
	o = hd_xcalloc(1, sizeof *o);
	o->path = hd_xstrdup(path);
	o->handle = handle;
	o->next = objects;
	objects = o;
	return handle;
}

herald_module_handler_fn *
hd_module_load(const char *path, const char *symbol, char *error,
    size_t error_size)
{
	herald_module_handler_fn	*fn;
	void				*handle;

	if ((handle = module_open(path, error, error_size)) == NULL)
		return NULL;
	/* POSIX allows converting a dlsym() result to a function pointer. */
	*(void **)&fn = dlsym(handle, symbol);
	if (fn == NULL)
		snprintf(error, error_size, "module %s has no symbol %s", path,
		    symbol);
	return fn;
}

static void
task_free(struct module_task *t)
{
	free((char *)t->job.task);
	free((char *)t->job.queue);
	free((char *)t->job.payload);
	free((char *)t->job.event_id);
	free((char *)t->job.event_type);
	free(t);
}

static void
task_run(struct module_task *t)
{
	int64_t	start = hd_monotonic_ms();

	memset(&t->result.outcome, 0, sizeof t->result.outcome);
	t->result.result = t->handler(&t->job, &t->result.outcome);
	t->result.outcome.message[HERALD_MODULE_MESSAGE_MAX - 1] = '\0';
	t->result.duration_ms = hd_monotonic_ms() - start;
}

static void
pool_unlink_running(struct hd_module_pool *pool, struct module_task *t)
{
	struct module_task	**p;

	for (p = &pool->running; *p != NULL; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			return;
		}
	}
}

/* herald_module_job.cancelled of every job: job is in a module_task. */
static int
task_cancelled(const struct herald_module_job *job)
{
	const struct module_task	*t = (const struct module_task *)
	    ((const char *)job - offsetof(struct module_task, job));

	return atomic_load(&t->cancelled);
}

void
hd_module_pool_cancel(struct hd_module_pool *pool, int64_t job_id)
{
	struct module_task	*t;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	for (t = pool->todo; t != NULL; t = t->next)
		if (t->job.id == job_id)
			atomic_store(&t->cancelled, 1);
	for (t = pool->running; t != NULL; t = t->next)
		if (t->job.id == job_id)
			atomic_store(&t->cancelled, 1);
	pthread_mutex_unlock(&pool->lock);
}

static void *
pool_thread(void *arg)
{
	struct hd_module_pool	*pool = arg;
	struct module_task	*t;
	uint64_t		 one = 1;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->todo == NULL && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->idle--;
		}
		if (pool->todo == NULL)
			break;
		t = pool->todo;
		if ((pool->todo = t->next) == NULL)
			pool->todo_tail = NULL;
		t->next = pool->running;
		pool->running = t;
		pthread_mutex_unlock(&pool->lock);

		task_run(t);

		pthread_mutex_lock(&pool->lock);
		pool_unlink_running(pool, t);
		t->next = NULL;
		if (pool->done_tail != NULL)
			pool->done_tail->next = t;
		else
			pool->done = t;
		pool->done_tail = t;
		if (write(pool->fd, &one, sizeof one) == -1 && errno != EAGAIN)
			break;
	}
	pool->started--;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct hd_module_pool *
hd_module_pool_new(int nthreads)
{
	struct hd_module_pool	*pool = hd_xcalloc(1, sizeof *pool);

	pool->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->fd == -1) {
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->nthreads = nthreads > 0 ? nthreads : 1;
	return pool;
}

/*
 * Threads busy in a handler cannot be stopped: when any is, the pool is
 * left allocated for them and only the idle threads end.
 */
void
hd_module_pool_free(struct hd_module_pool *pool)
{
	struct module_task	*t;
	bool			 busy;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	while ((t = pool->todo) != NULL) {
		pool->todo = t->next;
		task_free(t);
	}
	pool->todo_tail = NULL;
	pthread_cond_broadcast(&pool->work);
	while (pool->started > 0 && pool->idle > 0)
		pthread_cond_wait(&pool->work, &pool->lock);
	busy = pool->started > 0;
	pthread_mutex_unlock(&pool->lock);
	if (busy)
		return;
	while ((t = pool->done) != NULL) {
		pool->done = t->next;
		task_free(t);
	}
	close(pool->fd);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int
hd_module_pool_fd(const struct hd_module_pool *pool)
{
	return pool->fd;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? hd_xstrdup(s) : NULL;
}

int
hd_module_pool_submit(struct hd_module_pool *pool,
    herald_module_handler_fn *handler, const struct hd_job *job,
    void *cookie)
{
	struct module_task	*t = hd_xcalloc(1, sizeof *t);
	pthread_t		 thread;
	pthread_attr_t		 attr;
	int			 rc = 0;

	t->handler = handler;
	t->job.id = job->id;
	t->job.task = hd_xstrdup(job->task);
	t->job.queue = hd_xstrdup(job->queue);
	t->job.payload = hd_xstrdup(job->payload);
	t->job.payload_len = strlen(job->payload);
	t->job.attempt = job->attempt;
	t->job.max_attempts = job->max_attempts;
	t->job.event_id = dup_or_null(job->event_id);
	t->job.event_type = dup_or_null(job->event_type);
	t->job.cancelled = task_cancelled;
	atomic_init(&t->cancelled, 0);
	t->result.cookie = cookie;
	t->result.job_id = job->id;

	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail != NULL)
		pool->todo_tail->next = t;
	else
		pool->todo = t;
	pool->todo_tail = t;
	if (pool->idle > 0)
		pthread_cond_signal(&pool->work);
	else if (pool->started < pool->nthreads) {
		/* Small stacks: a handler needing more starts its own. */
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&thread, &attr, pool_thread, pool) == 0)
			pool->started++;
		else if (pool->started == 0)
			rc = -1;
		pthread_attr_destroy(&attr);
	}
	if (rc == -1) {
		pool->todo = pool->todo_tail = NULL;
		task_free(t);
	}
	pthread_mutex_unlock(&pool->lock);
	return rc;
}

bool
hd_module_pool_take(struct hd_module_pool *pool,
    struct hd_module_result *result)
{
	struct module_task	*t;
	uint64_t		 count;

	pthread_mutex_lock(&pool->lock);
	t = pool->done;
	if (t == NULL) {
		/* Results are listed before the eventfd is written. */
		if (read(pool->fd, &count, sizeof count) == -1)
			count = 0;
		pthread_mutex_unlock(&pool->lock);
		return false;
	}
	if ((pool->done = t->next) == NULL)
		pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	*result = t->result;
	task_free(t);
	return true;
}
