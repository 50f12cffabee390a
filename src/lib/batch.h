/*
 * batch.h: the worker's hot path, with fewer round trips and commits.
 *
 * hd_batch_prepare() prepares the statements below on a new connection;
 * the other functions run them by name, so the server parses and plans
 * each once per connection.  hd_batch_cycle() sends the completion of
 * finished jobs and the next claim in one libpq pipeline: one round trip
 * and one transaction for both.  Claims keep the guarantees of
 * herald.claim (lease tokens, leases renewed by the worker), and a
 * completion whose lease token no longer matches changes nothing.
 *
 * A cycle that only claims commits with synchronous_commit off, so it
 * does not wait for the WAL flush (an fsync).  A server crash may undo
 * such a claim: its jobs stay queued and run again, as after a lease
 * that expires, and its lease token may be handed out again.  A worker
 * therefore renews its leases (by token and owner) first on every new
 * connection, and records nothing for a lease it could not renew.  A
 * cycle with completions keeps the server's setting, and since the WAL
 * is flushed in order, a durable commit makes every earlier claim of the
 * connection durable too.  doc/guarantees.md gives the argument.
 */

#ifndef HD_BATCH_H
#define HD_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "herald.h"
#include "store.h"

/* Prepare the statements on conn; 0 or -1 with error filled. */
int	hd_batch_prepare(PGconn *conn, struct herald_error *error);

/*
 * Delete the ndone finished jobs done (herald.complete_many) and then, when
 * limit > 0, claim up to limit due jobs of queue for worker_id with a
 * lease of lease_ms (herald.claim), in one transaction.  completed[i] is
 * set to whether done[i] was deleted; false means its lease was lost.
 * Return the number of jobs claimed, stored in a malloc'ed *jobs, or -1,
 * in which case nothing was completed or claimed.
 *
 * When next_due is true and the cycle claims, a second transaction sent
 * along reads the milliseconds until the earliest job of queue due after
 * the claim (herald.next_due_ms).  Its result stays on conn, so that the
 * caller can start the claimed jobs first, and hd_batch_next_due() must
 * read it before conn is used again.
 */
int	hd_batch_cycle(PGconn *conn, const struct hd_job *const *done,
	    int ndone, bool *completed, const char *queue,
	    const char *worker_id, int limit, int64_t lease_ms,
	    bool next_due, struct hd_job **jobs,
	    struct herald_error *error);

/*
 * Read the next due time that the last hd_batch_cycle() sent, into
 * *next_due_ms, or -1 when no job is due later or none was sent.  Return
 * 0, or -1 with error filled.
 */
int	hd_batch_next_due(PGconn *conn, int64_t *next_due_ms,
	    struct herald_error *error);

/*
 * Record that worker_id waits for jobs of queue and take the queue's wait
 * lock on conn, so that producers notify (herald.wait_begin).  Return 1
 * when conn holds the lock and the next claim is certain to see every job
 * committed without a notification, 0 when the caller must call again
 * later, or -1.
 */
int	hd_batch_wait_begin(PGconn *conn, const char *worker_id,
	    const char *queue, struct herald_error *error);

/*
 * Record that worker_id no longer waits for jobs of queue and drop the
 * lock (herald.wait_end); 0 or -1.
 */
int	hd_batch_wait_end(PGconn *conn, const char *worker_id,
	    const char *queue, struct herald_error *error);

#endif /* HD_BATCH_H */
