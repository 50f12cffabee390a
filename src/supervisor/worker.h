/*
 * worker.h: a worker process, which claims the jobs of one queue and runs
 * them with their exec handlers.
 *
 * The supervisor calls hd_worker_main() in a freshly forked child; the
 * worker opens its own connection to the job database and never returns
 * to the supervisor's code.
 */

#ifndef HD_WORKER_H
#define HD_WORKER_H

#include "config.h"
#include "started.h"

/* Interval of the heartbeat in herald.processes, for workers and janitor. */
#define HD_HEARTBEAT_MS		10000

/* Characters of a worker id (hex), without the NUL. */
#define HD_WORKER_ID_LEN	16

/*
 * Run a worker of queue until SIGTERM or SIGINT and return its exit
 * status: 0 after a clean stop, EX_CONFIG when the job database has the
 * wrong schema version.  worker_id is the id it registers with (NULL: a
 * random one).  lost_id, when not NULL or empty, is the id of a worker
 * of the same supervisor that died and whose handlers were killed: its
 * jobs are taken back at once (herald.take_back_started).  lost_started
 * lists the jobs that worker started, which count a lost attempt; its
 * other jobs go back to their queue.  When lost_started is NULL or not
 * known, every job counts.  started is the region where this worker
 * records the jobs it starts, or NULL.
 */
int	hd_worker_main(const struct hd_config *config,
	    const struct hd_queue_config *queue, const char *supervisor_id,
	    const char *worker_id, const char *lost_id,
	    const struct hd_started_ids *lost_started,
	    struct hd_started *started);

#endif /* HD_WORKER_H */
