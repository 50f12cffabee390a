/*
 * started.h: the ids of the jobs a worker started, in memory that heraldd
 * shares with the worker.
 *
 * heraldd creates one region per worker, as a memfd that it hands to the
 * worker and the worker maps again.  Only the worker writes it, under a
 * lock: the id of each job as its handler starts (an exec handler's
 * process, or a module handler in a pool thread), until the job's result
 * is recorded in the job database.  heraldd reads it only after it reaped
 * the worker, and passes the ids to the replacement, which counts a lost
 * attempt for those jobs and puts the other jobs of the dead worker back
 * in their queue.  A worker may die between any two stores, so every
 * update leaves a list that contains at least the started jobs: an id is
 * stored before the count grows, and removed only after its result was
 * recorded.
 *
 * A module handler that raises a fatal signal (a crash, or abort())
 * takes its worker down with the jobs running beside it.  The worker's
 * signal handler stores the id of the crashing thread's job there too,
 * so that only that job counts the lost attempt.  Up to
 * HD_STARTED_CRASHES threads that crash at once are each stored.
 */

#ifndef HD_STARTED_H
#define HD_STARTED_H

#include <stdbool.h>
#include <stdint.h>

struct hd_started;

/*
 * The maximum number of handlers crashing at once whose jobs are each
 * recorded.  More crashes make the started jobs unknown, so that every
 * job counts.
 */
#define HD_STARTED_CRASHES	4

/*
 * Recorded in place of a signal number when a module handler called
 * exit(), or a module's initializer did while it loaded for the job.
 */
#define HD_STARTED_EXIT		1000

/* The started jobs of a dead worker, for its replacement. */
struct hd_started_ids {
	bool		 known;	/* false: unknown, every job counts */
	int		 n;
	int64_t		*ids;
	/* The jobs whose handlers crashed, with their signals. */
	int		 ncrashed;
	int64_t		 crashed[HD_STARTED_CRASHES];
	int		 crash_signals[HD_STARTED_CRASHES];
};

/*
 * Map a shared, empty region for a worker of concurrency slots, or return
 * NULL (errno set).  It has room for the most jobs such a worker claims
 * at once.
 */
struct hd_started	*hd_started_map(int concurrency);
/*
 * Map the region of descriptor fd, made by hd_started_map() in heraldd,
 * or return NULL (errno set).  The handle owns fd.
 */
struct hd_started	*hd_started_attach(int fd);
/* Return the region's descriptor, for the worker; -1 for NULL. */
int			 hd_started_fd(const struct hd_started *);
void			 hd_started_unmap(struct hd_started *);
/* Empty the region for the next worker; heraldd calls it before a start. */
void			 hd_started_reset(struct hd_started *);
/* Record that the handler of job id started. */
void			 hd_started_add(struct hd_started *, int64_t id);
/*
 * Record that the handler of job id raised the fatal signal signo; safe
 * in a signal handler.
 */
void			 hd_started_crash(struct hd_started *, int64_t id,
			    int signo);
/* Forget every copy of job id once its result is recorded. */
void			 hd_started_remove(struct hd_started *, int64_t id);
/* Forget every copy of the nids jobs of ids in one pass. */
void			 hd_started_remove_many(struct hd_started *,
			    const int64_t *ids, size_t nids);
/*
 * Fill ids with a copy of the region's ids.  ids->known is false when the
 * region cannot be trusted: NULL, overflowed or damaged.
 */
void			 hd_started_read(const struct hd_started *,
			    struct hd_started_ids *ids);
void			 hd_started_ids_clear(struct hd_started_ids *);
/*
 * Return the first job whose module handler crashed the dead worker and
 * that is one of the jobs the worker started, or 0.
 */
int64_t			 hd_started_crashed_job(const struct hd_started_ids *);
/*
 * Return the signal that the module handler of job id raised when it
 * crashed the dead worker, or 0 when it did not or id was not started.
 */
int			 hd_started_crash_signal(const struct hd_started_ids *,
			    int64_t id);
/* Add the crash of job id by signal signo; -1 when ids has no room. */
int			 hd_started_ids_add_crash(struct hd_started_ids *,
			    int64_t id, int signo);

#endif /* HD_STARTED_H */
