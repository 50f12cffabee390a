/*
 * outbox.h: moving outbox rows of an application database into the job
 * database, the relay's work.
 *
 * hd_outbox_relay() deletes a batch of outbox rows in a transaction of
 * the application database, which keeps them locked, and expands each
 * event into one job per subscribed task, following the configuration's
 * event routes.  One job-database statement inserts the jobs and records
 * the batch's outbox ids in herald.relayed_batches.  Only then is the
 * deletion committed.  If the process dies between the two commits, the deletion
 * is rolled back, the batch is sent again and the recorded keys drop the
 * copies: every outbox row becomes its jobs exactly once.  Two relays on
 * one pair of databases skip each other's locked rows.  A job row with a
 * unique key takes its key in that statement, the first time the row is
 * relayed, and makes no job while another job holds the key.
 */

#ifndef HD_OUTBOX_H
#define HD_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "herald.h"
#include "config.h"

/*
 * The limits of one batch: rows, and bytes of payload JSON, which keep a
 * batch's arrays far below the server's limit of 1 GB for one value.
 */
#define HD_OUTBOX_BATCH		1000
#define HD_OUTBOX_BATCH_BYTES	(INT64_C(64) * 1024 * 1024)
#define HD_OUTBOX_ORIGIN_MAX	64
/*
 * A relay reports once a second, so an older report than this means that
 * no relay runs for its application database, and its backlog and lag
 * are out of date.
 */
#define HD_RELAY_STALE_MS	10000
#define HD_OUTBOX_DROPPED_TYPES	8

/* Counts of one batch. */
struct hd_outbox_stats {
	int64_t		 rows;		/* outbox rows taken */
	int64_t		 jobs;		/* jobs inserted, without copies */
	/*
	 * Jobs of the batch not made: their unique key was held by another
	 * job, or their outbox row was relayed before a crash.
	 */
	int64_t		 skipped;
	int64_t		 dropped;	/* events no task subscribes to */
	bool		 more;		/* rows were left out for max_bytes */
	/* The first distinct types among the dropped events, with counts. */
	char		 dropped_types[HD_OUTBOX_DROPPED_TYPES][HERALD_NAME_MAX + 1];
	int64_t		 dropped_counts[HD_OUTBOX_DROPPED_TYPES];
	int		 ndropped_types;
	/*
	 * The first distinct tasks, with counts, of jobs that name no queue
	 * and whose task the configuration lacks, so that they went to the
	 * default queue: a misspelt task, most likely.
	 */
	char		 unknown_tasks[HD_OUTBOX_DROPPED_TYPES][HERALD_NAME_MAX + 1];
	int64_t		 unknown_counts[HD_OUTBOX_DROPPED_TYPES];
	int		 nunknown_tasks;
};

/* Fault points of a batch, at which a test stops it to act out a crash. */
enum hd_outbox_fault {
	HD_OUTBOX_FAULT_NONE = 0,
	/* Return after the job-database commit with the application
	 * transaction still open and the rows not deleted. */
	HD_OUTBOX_FAULT_AFTER_JOB_COMMIT
};

/* Store the origin key of app's outbox rows, at most HD_OUTBOX_ORIGIN_MAX. */
int	hd_outbox_origin(PGconn *app, char *origin, struct herald_error *error);

/*
 * A batch taken from the outbox, in the transaction of its application
 * connection that stays open until hd_outbox_take_commit() or
 * hd_outbox_take_rollback().  Each call below clears the struct when it
 * ends that transaction, so app is NULL once nothing is held.
 */
struct hd_outbox_take {
	PGconn		*app;
	PGresult	*res;		/* the rows, once received */
	int		 rows;
	bool		 more;		/* rows were left out for max_bytes */
	bool		 sent;		/* sent, its result not yet read */
};

/*
 * Send the take of a batch of up to limit rows on app without waiting for
 * the result, so that other work runs meanwhile.  0, or -1 with error
 * filled and take cleared.
 */
int	hd_outbox_take_send(struct hd_outbox_take *take, PGconn *app,
	    int limit, int64_t max_bytes, struct herald_error *error);

/*
 * Wait for the take's rows.  Return their number, with the transaction
 * open, or 0 after rolling back an empty take, or -1 with error filled
 * after rolling back.
 */
int	hd_outbox_take_receive(struct hd_outbox_take *take,
	    struct herald_error *error);

/*
 * Insert the jobs of a received take into the job database, which
 * commits them.  The application transaction stays open either way.
 * 0, or -1 with error filled.
 */
int	hd_outbox_take_insert(struct hd_outbox_take *take, PGconn *job,
	    const struct hd_config *config, const char *origin,
	    struct hd_outbox_stats *stats, struct herald_error *error);

/*
 * hd_outbox_take_insert() in two halves, so that other work runs while
 * the job database inserts: the send fills stats from the take, and the
 * receive waits for the insert and completes stats.  Each returns 0, or
 * -1 with error filled.
 */
int	hd_outbox_take_insert_send(struct hd_outbox_take *take, PGconn *job,
	    const struct hd_config *config, const char *origin,
	    struct hd_outbox_stats *stats, struct herald_error *error);
int	hd_outbox_take_insert_receive(PGconn *job,
	    struct hd_outbox_stats *stats, struct herald_error *error);

/* Commit the deletion of the take's rows, or roll it back on error. */
int	hd_outbox_take_commit(struct hd_outbox_take *take,
	    struct herald_error *error);

/*
 * Roll back the take's transaction, after reading a result still on its
 * way, so its rows are in the outbox again.  Does nothing to a cleared
 * take.
 */
void	hd_outbox_take_rollback(struct hd_outbox_take *take);

/*
 * Forget the take and leave its transaction as it is, as a crash would
 * leave it.
 */
void	hd_outbox_take_clear(struct hd_outbox_take *take);

/*
 * Relay one batch of up to limit rows, fewer when their payloads pass
 * max_bytes of JSON text, but at least one row.  Return the number of
 * outbox rows taken (0 when the outbox is empty), or -1 with error
 * filled.  After an error the application transaction is rolled back
 * when the connection still works.
 */
int	hd_outbox_relay(PGconn *app, PGconn *job, const struct hd_config *config,
	    const char *origin, int limit, int64_t max_bytes,
	    enum hd_outbox_fault fault, struct hd_outbox_stats *stats,
	    struct herald_error *error);

/*
 * Record app's outbox backlog and its oldest row in herald.relay_status,
 * creating the row of origin, to which each batch adds its totals.  0 or
 * -1.
 */
int	hd_outbox_report(PGconn *app, PGconn *job, const char *origin,
	    struct herald_error *error);

/*
 * Forget origin keys that can no longer be sent again: the batches relayed
 * more than an hour ago whose outbox ids are all below every id left in
 * the outbox.  Return how many keys were deleted, or -1.
 */
int64_t	hd_outbox_prune(PGconn *app, PGconn *job, const char *origin,
	    struct herald_error *error);

#endif /* HD_OUTBOX_H */
