/*
 * module.c: module handlers, loaded with dlopen() and run on a small pool
 * of threads so that one worker runs several at once.
 */

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "module.h"
#include "started.h"
#include "util.h"

/* A shared object opened once, for every task that names it. */
struct module_object {
	struct module_object	*next;
	char			*path;
	void			*handle;
};

static struct module_object	*objects;

/*
 * A job on its way through the pool.  job points into hjob, which the
 * pool owns; the handler's thread reads them until it returns.
 */
struct module_task {
	struct module_task	*next;
	herald_module_handler_fn *handler;
	struct hd_job		 hjob;
	struct herald_module_job job;
	struct herald_module_outcome outcome;
	enum herald_module_result result;
	int64_t			 timeout_ms;	/* 0: none */
	int64_t			 started_ms;
	int64_t			 deadline_ms;	/* 0: none */
	int64_t			 duration_ms;
	atomic_int		 cancelled;	/* read by job.cancelled() */
	bool			 ran;
	bool			 lost;		/* skip it, or drop its result */
	bool			 abandoned;	/* given back while it ran */
};

struct hd_module_pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;
	struct module_task	*todo, *todo_tail;
	struct module_task	*done, *done_tail;
	/* Jobs in a handler, abandoned ones too; linked by next. */
	struct module_task	*running;
	int			 nqueued;
	int			 nrunning;	/* abandoned ones too */
	int			 nabandoned;	/* of nrunning */
	int			 ndone;
	int			 nthreads;	/* at most */
	int			 reserved;	/* places taken by the worker */
	int			 started;
	int			 idle;
	bool			 stopping;
	int			 fd;		/* eventfd: results wait */
	int64_t			 min_timeout_ms;	/* 0: none seen */
	struct hd_started	*started_jobs;	/* jobs whose handler started */

	/* Only the worker's thread reads or writes the fields below. */
	struct module_task	*staged, *staged_tail;
	int			 nstaged;
	struct module_task	*taken;		/* taken, not returned yet */
	int			 ntaken;
	struct module_task	*last;		/* returned by the last take */
	struct module_task	*spare;		/* free tasks for reuse */
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
	if (version == NULL) {
		snprintf(error, error_size, "module %s does not declare its "
		    "interface version; add HERALD_MODULE_DECLARE(); to one "
		    "of its files and rebuild it", path);
		dlclose(handle);
		return NULL;
	}
	if (*version < 1 || *version > HERALD_MODULE_VERSION) {
		snprintf(error, error_size, "module %s declares interface "
		    "version %d, not 1 to %d; rebuild it against this "
		    "herald_module.h", path, *version, HERALD_MODULE_VERSION);
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
	hd_job_release(&t->hjob);
	free(t);
}

/*
 * The signals of a fault in the process's own code, and their actions
 * before crash_record(), which restores them.
 */
static const int	 crash_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT
};
static struct sigaction	 crash_previous[sizeof crash_signals /
			    sizeof crash_signals[0]];
/* The size of each pool thread's signal stack. */
#define CRASH_STACK_SIZE	(64 * 1024)
/* The region of started jobs that a crash is recorded in. */
static struct hd_started *crash_region;
/* The job whose handler this thread runs, or 0. */
static _Thread_local int64_t running_job;

/*
 * Record which job's handler raised a fatal signal, then restore the
 * signal's previous action.  A fault (si_code > 0) recurs when the
 * instruction runs again, and a sent signal is raised again.  Only a
 * fault, or a signal the process sent itself as abort() does, is the
 * running job's, because a signal from another process lands in any
 * thread.
 */
static void
crash_record(int signo, siginfo_t *info, void *context)
{
	size_t	i;

	(void)context;
	if (running_job > 0 && info != NULL && (info->si_code > 0 ||
	    (info->si_code == SI_TKILL && info->si_pid == getpid())))
		hd_started_crash(crash_region, running_job, signo);
	for (i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
		if (crash_signals[i] == signo)
			sigaction(signo, &crash_previous[i], NULL);
	if (info == NULL || info->si_code <= 0)
		raise(signo);
}

/*
 * Record that the running job's handler, or the initializer of the
 * module loading for it, called exit(), which runs this in its thread.
 */
static void
exit_record(void)
{
	if (running_job > 0)
		hd_started_crash(crash_region, running_job, HD_STARTED_EXIT);
}

/* Install crash_record() and exit_record() for the process, once. */
static void
crash_install(struct hd_started *started)
{
	struct sigaction	sa;
	size_t			i;

	if (crash_region != NULL || started == NULL)
		return;
	crash_region = started;
	atexit(exit_record);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = crash_record;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
		sigaction(crash_signals[i], &sa, &crash_previous[i]);
}

herald_module_handler_fn *
hd_module_load_job(const char *path, const char *symbol, int64_t job_id,
    struct hd_started *started, char *error, size_t error_size)
{
	herald_module_handler_fn	*fn;

	crash_install(started);
	hd_started_add(started, job_id);
	running_job = job_id;
	fn = hd_module_load(path, symbol, error, error_size);
	running_job = 0;
	/* The worker survived the load; the job is not started yet. */
	hd_started_remove(started, job_id);
	return fn;
}

static void
task_run(struct module_task *t)
{
	memset(&t->outcome, 0, sizeof t->outcome);
	running_job = t->hjob.id;
	t->result = t->handler(&t->job, &t->outcome);
	running_job = 0;
	t->outcome.message[HERALD_MODULE_MESSAGE_MAX - 1] = '\0';
	t->duration_ms = hd_monotonic_ms() - t->started_ms;
	t->ran = true;
}

/* herald_module_job.cancelled of every job: job is in a module_task. */
static int
task_cancelled(const struct herald_module_job *job)
{
	const struct module_task	*t = (const struct module_task *)
	    ((const char *)job - offsetof(struct module_task, job));

	return atomic_load(&t->cancelled);
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

/* Whether a thread may start a queued job now; under the lock. */
static bool
pool_may_start(const struct hd_module_pool *pool)
{
	return pool->todo != NULL &&
	    pool->nrunning < pool->nthreads - pool->reserved;
}

static void *
pool_thread(void *arg)
{
	struct hd_module_pool	*pool = arg;
	struct module_task	*t;
	uint64_t		 one = 1;
	bool			 skip;
	stack_t			 altstack;

	/* A handler that overflows its stack is recorded on this one. */
	memset(&altstack, 0, sizeof altstack);
	altstack.ss_size = CRASH_STACK_SIZE;
	if ((altstack.ss_sp = malloc(altstack.ss_size)) != NULL &&
	    sigaltstack(&altstack, NULL) == -1) {
		free(altstack.ss_sp);
		altstack.ss_sp = NULL;
	}

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool_may_start(pool) && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->idle--;
		}
		if (pool->stopping)
			break;
		t = pool->todo;
		if ((pool->todo = t->next) == NULL)
			pool->todo_tail = NULL;
		pool->nqueued--;
		t->next = pool->running;
		pool->running = t;
		pool->nrunning++;
		skip = t->lost || atomic_load(&t->cancelled);
		if (!skip)
			hd_started_add(pool->started_jobs, t->hjob.id);
		t->started_ms = hd_monotonic_ms();
		if (t->timeout_ms > 0 && !skip)
			t->deadline_ms = t->started_ms + t->timeout_ms;
		pthread_mutex_unlock(&pool->lock);

		if (!skip)
			task_run(t);

		pthread_mutex_lock(&pool->lock);
		pool_unlink_running(pool, t);
		pool->nrunning--;
		if (t->abandoned) {
			/* The worker was given a copy of the job already. */
			pool->nabandoned--;
			task_free(t);
			continue;
		}
		t->next = NULL;
		if (pool->done_tail != NULL)
			pool->done_tail->next = t;
		else {
			pool->done = t;
			/* Only the first result of a list wakes the worker. */
			if (write(pool->fd, &one, sizeof one) == -1 &&
			    errno != EAGAIN)
				break;
		}
		pool->done_tail = t;
		pool->ndone++;
	}
	pool->started--;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	if (altstack.ss_sp != NULL) {
		altstack.ss_flags = SS_DISABLE;
		sigaltstack(&altstack, NULL);
		free(altstack.ss_sp);
	}
	return NULL;
}

struct hd_module_pool *
hd_module_pool_new(int nthreads, int reserved, struct hd_started *started)
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
	pool->reserved = reserved;
	pool->started_jobs = started;
	crash_install(started);
	return pool;
}

static void
free_list(struct module_task *t)
{
	struct module_task	*next;

	for (; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
}

void
hd_module_pool_trim(struct hd_module_pool *pool)
{
	free_list(pool->spare);
	pool->spare = NULL;
}

/*
 * Threads busy in a handler cannot be stopped: when any is, the pool is
 * left allocated for them and only the idle threads end.
 */
void
hd_module_pool_free(struct hd_module_pool *pool)
{
	bool	busy;

	if (pool == NULL)
		return;
	free_list(pool->staged);
	free_list(pool->taken);
	free_list(pool->spare);
	if (pool->last != NULL)
		task_free(pool->last);
	pool->staged = pool->taken = pool->spare = pool->last = NULL;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	free_list(pool->todo);
	pool->todo = pool->todo_tail = NULL;
	pthread_cond_broadcast(&pool->work);
	while (pool->started > 0 && pool->idle > 0)
		pthread_cond_wait(&pool->work, &pool->lock);
	busy = pool->started > 0;
	pthread_mutex_unlock(&pool->lock);
	if (busy)
		return;
	free_list(pool->done);
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

void
hd_module_pool_add(struct hd_module_pool *pool,
    herald_module_handler_fn *handler, struct hd_job *job,
    int64_t timeout_ms)
{
	struct module_task	*t;

	if ((t = pool->spare) != NULL)
		pool->spare = t->next;
	else
		t = hd_xmalloc(sizeof *t);
	/* The outcome is cleared just before the handler runs. */
	memset(t, 0, offsetof(struct module_task, outcome));
	t->handler = handler;
	t->hjob = *job;
	memset(job, 0, sizeof *job);
	t->job.id = t->hjob.id;
	t->job.task = t->hjob.task;
	t->job.queue = t->hjob.queue;
	t->job.payload = t->hjob.payload;
	t->job.payload_len = strlen(t->hjob.payload);
	t->job.attempt = t->hjob.attempt;
	t->job.max_attempts = t->hjob.max_attempts;
	t->job.event_id = t->hjob.event_id;
	t->job.event_type = t->hjob.event_type;
	t->job.cancelled = task_cancelled;
	t->result = HERALD_MODULE_DONE;
	t->timeout_ms = timeout_ms;
	t->started_ms = t->deadline_ms = t->duration_ms = 0;
	atomic_init(&t->cancelled, 0);
	t->ran = t->lost = t->abandoned = false;
	if (pool->staged_tail != NULL)
		pool->staged_tail->next = t;
	else
		pool->staged = t;
	pool->staged_tail = t;
	pool->nstaged++;
	if (timeout_ms > 0 && (pool->min_timeout_ms == 0 ||
	    timeout_ms < pool->min_timeout_ms))
		pool->min_timeout_ms = timeout_ms;
}

int
hd_module_pool_flush(struct hd_module_pool *pool)
{
	pthread_t	thread;
	pthread_attr_t	attr;
	int		n = pool->nstaged, wake, rc = 0;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail != NULL)
		pool->todo_tail->next = pool->staged;
	else
		pool->todo = pool->staged;
	pool->todo_tail = pool->staged_tail;
	pool->nqueued += n;
	pool->staged = pool->staged_tail = NULL;
	pool->nstaged = 0;

	/* Wake as many idle threads as there are jobs, start the rest. */
	wake = n < pool->idle ? n : pool->idle;
	if (wake == pool->idle)
		pthread_cond_broadcast(&pool->work);
	else
		while (wake-- > 0)
			pthread_cond_signal(&pool->work);
	n -= pool->idle;
	if (n > 0 && pool->started < pool->nthreads) {
		/* Small stacks: a handler needing more starts its own. */
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		while (n-- > 0 && pool->started < pool->nthreads) {
			if (pthread_create(&thread, &attr, pool_thread,
			    pool) != 0)
				break;
			pool->started++;
		}
		pthread_attr_destroy(&attr);
	}
	if (pool->started == 0)
		rc = -1;
	pthread_mutex_unlock(&pool->lock);
	return rc;
}

int
hd_module_pool_held(struct hd_module_pool *pool)
{
	int	n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nqueued + pool->nrunning - pool->nabandoned + pool->ndone;
	pthread_mutex_unlock(&pool->lock);
	return n + pool->nstaged + pool->ntaken;
}

int
hd_module_pool_unfinished(struct hd_module_pool *pool)
{
	int	n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nqueued + pool->nrunning - pool->nabandoned;
	pthread_mutex_unlock(&pool->lock);
	return n + pool->nstaged;
}

int
hd_module_pool_running(struct hd_module_pool *pool)
{
	int	n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nrunning;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

bool
hd_module_pool_reserve(struct hd_module_pool *pool)
{
	bool	ok;

	pthread_mutex_lock(&pool->lock);
	ok = pool->nrunning + pool->reserved < pool->nthreads;
	if (ok)
		pool->reserved++;
	pthread_mutex_unlock(&pool->lock);
	return ok;
}

void
hd_module_pool_unreserve(struct hd_module_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	if (pool->reserved > 0)
		pool->reserved--;
	if (pool->todo != NULL && pool->idle > 0)
		pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

/* Call fn for each task of list t that the worker still holds. */
static void
each_list(struct module_task *t, void (*fn)(void *, const struct hd_job *),
    void *arg)
{
	for (; t != NULL; t = t->next)
		if (!t->abandoned)
			fn(arg, &t->hjob);
}

void
hd_module_pool_each(struct hd_module_pool *pool,
    void (*fn)(void *arg, const struct hd_job *job), void *arg)
{
	each_list(pool->staged, fn, arg);
	each_list(pool->taken, fn, arg);
	pthread_mutex_lock(&pool->lock);
	each_list(pool->todo, fn, arg);
	each_list(pool->running, fn, arg);
	each_list(pool->done, fn, arg);
	pthread_mutex_unlock(&pool->lock);
}

/* The task of job_id in list t, or NULL. */
static struct module_task *
find_task(struct module_task *t, int64_t job_id)
{
	for (; t != NULL; t = t->next)
		if (t->hjob.id == job_id && !t->abandoned)
			return t;
	return NULL;
}

static struct module_task *
pool_find(struct hd_module_pool *pool, int64_t job_id)
{
	struct module_task	*t;

	if ((t = find_task(pool->staged, job_id)) == NULL &&
	    (t = find_task(pool->taken, job_id)) == NULL &&
	    (t = find_task(pool->todo, job_id)) == NULL &&
	    (t = find_task(pool->running, job_id)) == NULL)
		t = find_task(pool->done, job_id);
	return t;
}

bool
hd_module_pool_cancel(struct hd_module_pool *pool, int64_t job_id)
{
	struct module_task	*t;
	bool			 marked = false;

	if (pool == NULL)
		return false;
	pthread_mutex_lock(&pool->lock);
	if ((t = pool_find(pool, job_id)) != NULL)
		marked = atomic_exchange(&t->cancelled, 1) == 0;
	pthread_mutex_unlock(&pool->lock);
	return marked;
}

void
hd_module_pool_lose(struct hd_module_pool *pool, int64_t job_id)
{
	struct module_task	*t;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	if ((t = pool_find(pool, job_id)) != NULL)
		t->lost = true;
	pthread_mutex_unlock(&pool->lock);
}

bool
hd_module_pool_take(struct hd_module_pool *pool,
    struct hd_module_result *result)
{
	struct module_task	*t;
	uint64_t		 count;

	if (pool->last != NULL) {
		pool->last->next = pool->spare;
		pool->spare = pool->last;
		pool->last = NULL;
	}
	if (pool->taken == NULL) {
		pthread_mutex_lock(&pool->lock);
		pool->taken = pool->done;
		pool->ntaken = pool->ndone;
		pool->done = pool->done_tail = NULL;
		pool->ndone = 0;
		/* Results are listed before the eventfd is written. */
		if (read(pool->fd, &count, sizeof count) == -1)
			count = 0;
		pthread_mutex_unlock(&pool->lock);
		if (pool->taken == NULL)
			return false;
	}
	t = pool->taken;
	pool->taken = t->next;
	pool->ntaken--;
	pool->last = t;
	result->job = t->hjob;
	memset(&t->hjob, 0, sizeof t->hjob);
	result->result = t->result;
	result->outcome = &t->outcome;
	result->duration_ms = t->duration_ms;
	result->ran = t->ran;
	result->cancelled = atomic_load(&t->cancelled) != 0;
	result->lost = t->lost;
	return true;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? hd_xstrdup(s) : NULL;
}

/* Abandon running task t, passing a copy of its job to fn. */
static void
task_abandon(struct hd_module_pool *pool, struct module_task *t,
    int64_t now_ms, hd_module_give_fn *fn, void *arg)
{
	struct hd_job	job;
	bool		was_cancelled;

	t->abandoned = true;
	pool->nabandoned++;
	was_cancelled = atomic_exchange(&t->cancelled, 1) != 0;
	if (t->lost)
		return;
	job = t->hjob;
	job.task = hd_xstrdup(t->hjob.task);
	job.queue = hd_xstrdup(t->hjob.queue);
	job.payload = hd_xstrdup(t->hjob.payload);
	job.event_id = dup_or_null(t->hjob.event_id);
	job.event_type = dup_or_null(t->hjob.event_type);
	fn(arg, &job, was_cancelled, now_ms - t->started_ms);
}

int64_t
hd_module_pool_next_deadline(struct hd_module_pool *pool, int64_t now_ms)
{
	struct module_task	*t;
	int64_t			 next = INT64_MAX;

	pthread_mutex_lock(&pool->lock);
	for (t = pool->running; t != NULL; t = t->next)
		if (!t->abandoned && t->deadline_ms != 0 &&
		    t->deadline_ms < next)
			next = t->deadline_ms;
	if (pool->todo != NULL && pool->min_timeout_ms > 0 &&
	    now_ms + pool->min_timeout_ms < next)
		next = now_ms + pool->min_timeout_ms;
	pthread_mutex_unlock(&pool->lock);
	return next;
}

int
hd_module_pool_expire(struct hd_module_pool *pool, int64_t now_ms,
    hd_module_give_fn *fn, void *arg)
{
	struct module_task	*t;
	int			 n = 0;

	pthread_mutex_lock(&pool->lock);
	for (t = pool->running; t != NULL; t = t->next) {
		if (t->abandoned || t->deadline_ms == 0 ||
		    t->deadline_ms > now_ms)
			continue;
		task_abandon(pool, t, now_ms, fn, arg);
		n++;
	}
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void
hd_module_pool_abandon(struct hd_module_pool *pool, hd_module_give_fn *fn,
    void *arg)
{
	struct module_task	*t;
	int64_t			 now_ms = hd_monotonic_ms();

	pthread_mutex_lock(&pool->lock);
	for (t = pool->running; t != NULL; t = t->next)
		if (!t->abandoned)
			task_abandon(pool, t, now_ms, fn, arg);
	pthread_mutex_unlock(&pool->lock);
}

/* Give back the tasks of list t, which are not started. */
static void
withdraw_list(struct module_task *t, hd_module_give_fn *fn, void *arg)
{
	struct module_task	*next;

	for (; t != NULL; t = next) {
		next = t->next;
		if (!t->lost) {
			fn(arg, &t->hjob, atomic_load(&t->cancelled) != 0,
			    0);
			memset(&t->hjob, 0, sizeof t->hjob);
		}
		task_free(t);
	}
}

void
hd_module_pool_withdraw(struct hd_module_pool *pool, hd_module_give_fn *fn,
    void *arg)
{
	struct module_task	*todo;

	withdraw_list(pool->staged, fn, arg);
	pool->staged = pool->staged_tail = NULL;
	pool->nstaged = 0;
	pthread_mutex_lock(&pool->lock);
	todo = pool->todo;
	pool->todo = pool->todo_tail = NULL;
	pool->nqueued = 0;
	pthread_mutex_unlock(&pool->lock);
	withdraw_list(todo, fn, arg);
}
