/*
 * herald.h: the public API of libherald.
 *
 * libherald enqueues background jobs into a herald job database and, for
 * applications that publish domain events, writes them to the outbox of the
 * application database in the caller's own transaction.
 *
 * Conventions: every function that can fail returns 0 on success and -1 on
 * failure, and fills the caller's struct herald_error when one is passed
 * (NULL is allowed).  libherald never exits, never writes to standard error
 * and keeps no global state, so two threads may use it on two connections.
 * Connections are the caller's libpq connections.  libherald never opens
 * a transaction of its own on them, so every call joins whatever
 * transaction the caller has open, and a statement of a call that fails
 * there aborts that transaction, whatever the error code: HERALD_EINVAL
 * leaves the database unchanged, but the caller must still roll back.
 * A connection must be idle, not in pipeline mode, with client_encoding
 * UTF8 (SQL_ASCII only in a UTF8 database; libpq's default follows the
 * environment).  Otherwise the call fails with HERALD_ESTATE, and so
 * does a unit of work's commit.  A connection or unit of work must not
 * be used on both sides of a fork(2).
 */

#ifndef HERALD_H
#define HERALD_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_VERSION		"0.1.0"

/* Limits checked before anything reaches the database. */
#define HERALD_NAME_MAX		63	/* task, queue and event type names */
#define HERALD_PAYLOAD_MAX	(1024 * 1024)	/* default payload limit, bytes */
#define HERALD_ATTEMPTS_MAX	1000
#define HERALD_PRIORITY_MIN	(-32768)
#define HERALD_PRIORITY_MAX	32767

/* Retry policy defaults, used when a task does not set its own. */
#define HERALD_DEFAULT_MAX_ATTEMPTS	10
#define HERALD_DEFAULT_BASE_DELAY_MS	5000
#define HERALD_DEFAULT_FACTOR		2.0
#define HERALD_DEFAULT_MAX_DELAY_MS	(3600 * 1000)
#define HERALD_DEFAULT_JITTER		0.2

#define HERALD_DEFAULT_QUEUE	"default"

enum herald_code {
	HERALD_OK = 0,
	HERALD_EINVAL,		/* an argument was invalid; nothing changed */
	HERALD_EDB,		/* the database reported an error */
	HERALD_ECONNECT,	/* the connection is down or could not open */
	HERALD_ENOTFOUND,	/* no row matched */
	HERALD_ESCHEMA,		/* schema missing, or newer than this build */
	HERALD_ENOMEM,
	HERALD_EHANDLER,	/* an event handler failed */
	HERALD_ESTATE		/* call not valid in the object's current state */
};

/*
 * Error details.  message is a complete sentence for a person; it may quote
 * the database server's message, which can contain row values, so it must
 * not be logged where payloads may not go.  sqlstate is empty when the
 * failure did not come from the server.
 */
struct herald_error {
	enum herald_code	code;
	char			sqlstate[6];
	char			message[512];
};

/* Return a short fixed description of code, such as "invalid argument". */
const char	*herald_strerror(enum herald_code code);

/* Return the version of libherald, HERALD_VERSION when it was built. */
const char	*herald_version(void);

/*
 * Options of one job.  A zeroed struct gives the defaults: queue "default",
 * priority 0, due now, the default number of attempts.
 */
struct herald_job_options {
	const char	*queue;		/* NULL: HERALD_DEFAULT_QUEUE */
	int		 priority;	/* lower runs first */
	int64_t		 run_at_us;	/* Unix time in microseconds; 0: now */
	int		 max_attempts;	/* 0: HERALD_DEFAULT_MAX_ATTEMPTS */

	/*
	 * Unique jobs.  With unique_key set (1 to HERALD_UNIQUE_KEY_MAX
	 * bytes), no second job with the key is enqueued while the first
	 * is in one of unique_states, or, with unique_for_ms > 0 (at most
	 * HERALD_UNIQUE_FOR_MAX_MS), until that many milliseconds after
	 * the first was enqueued, whatever became of it; herald_enqueue()
	 * and herald_enqueue_many() store the first job's id instead.
	 * Keys are not scoped by task or queue: a job of another task with
	 * the same key counts as the first.  Concurrent calls with one key
	 * wait for each other, so only one job is enqueued.  For
	 * herald_uow_enqueue() the key counts when the relay moves the job.
	 */
	const char	*unique_key;	/* NULL: not unique */
	int64_t		 unique_for_ms;	/* 0: while in unique_states only */
	unsigned	 unique_states;	/* HERALD_UNIQUE_*; 0: both */

	/*
	 * The largest payload that herald_enqueue() and
	 * herald_enqueue_many() accept, in bytes; 0: HERALD_PAYLOAD_MAX.
	 * herald enqueue passes its configuration's payload_max here.
	 */
	size_t		 payload_max;
};

#define HERALD_UNIQUE_KEY_MAX	255
#define HERALD_UNIQUE_FOR_MAX_MS INT64_C(3155760000000) /* 36525 days */
#define HERALD_UNIQUE_QUEUED	0x1	/* queued, scheduled or retrying */
#define HERALD_UNIQUE_RUNNING	0x2

/*
 * Enqueue one job into the job database on conn and store its id in
 * *job_id (which may be NULL).  The job is visible to workers when the
 * caller's transaction commits; outside a transaction it commits at once.
 * payload is a JSON object or array, or NULL for {}.  With a unique key
 * in options, *job_id may be the id of an earlier job (see
 * herald_job_options).  The first call on a connection prepares a
 * statement on it named "herald_enqueue_" and a version number, such as
 * "herald_enqueue_4".  After a DEALLOCATE ALL or DISCARD ALL one call
 * fails and the next prepares it again.
 */
int	herald_enqueue(PGconn *conn, const char *task, const char *payload,
	    const struct herald_job_options *options, int64_t *job_id,
	    struct herald_error *error);

/* One job of herald_enqueue_many(). */
struct herald_job {
	const char			*task;
	const char			*payload;	/* NULL: {} */
	struct herald_job_options	 options;
};

/*
 * Enqueue njobs jobs in one statement, with the checks of herald_enqueue:
 * either every job is enqueued or, when one is invalid or the statement
 * fails, none is.  An error message names the first bad job by its
 * position in jobs, counted from 1 ("job 3: ...").  The ids are stored in
 * job_ids[0] .. job_ids[njobs - 1] in the order of jobs, when job_ids is
 * not NULL.  A job with a unique key gets the id that herald_enqueue()
 * would store if it were called for each job in turn.  So a job whose key
 * another job holds, even an earlier job of jobs, gets that job's id and
 * adds nothing.  A queue with jobs due now gets at most one notification,
 * and only when one of its workers waits.
 */
int	herald_enqueue_many(PGconn *conn, const struct herald_job *jobs,
	    size_t njobs, int64_t *job_ids, struct herald_error *error);

/*
 * Check a task, queue or event type name: 1 to HERALD_NAME_MAX characters
 * from [A-Za-z0-9_.:-], starting with a letter or digit.  what names the
 * kind of name in the error message ("task", "queue").
 */
int	herald_check_name(const char *what, const char *name,
	    struct herald_error *error);

/*
 * Check that payload is a JSON object or array of at most max_bytes bytes,
 * with no duplicate key in any object and at most 2048 levels of nesting
 * (jansson's limit).  The error names the line, column and byte offset of
 * a syntax error or duplicate key.  A number beyond PostgreSQL's numeric
 * range passes here; the database rejects it.
 */
int	herald_check_payload(const char *payload, size_t max_bytes,
	    struct herald_error *error);

/*
 * Domain events and units of work.
 *
 * A unit of work is one transaction of the application database.  The
 * application changes its rows through herald_uow_conn() and publishes
 * events; each published event runs its synchronous handlers at once, in
 * the same transaction, in the order they subscribed.  Handlers may change
 * rows, publish further events and enqueue jobs.  herald_uow_commit()
 * writes every event and job to herald.outbox in one statement and
 * commits; the relay of heraldd then turns each event into one job per
 * subscribed task.  If a handler fails, the unit of work can only roll
 * back, and commit returns the handler's error.
 *
 * The unit of work keeps its events and jobs in memory until the commit,
 * so its transaction must end only through herald_uow_commit() or
 * herald_uow_rollback().  A COMMIT or ROLLBACK run on herald_uow_conn()
 * makes the commit fail with HERALD_ESTATE and publish nothing.  A
 * ROLLBACK TO SAVEPOINT cannot be seen: the events published after the
 * savepoint are still published, so do not roll back to a savepoint
 * taken before a publish or an enqueue.  A unit of work carries at most
 * HERALD_UOW_PAYLOAD_MAX bytes, counting each event and job as its
 * payload and 256 bytes: a publish or an enqueue past that fails with
 * HERALD_EINVAL, and the unit can then only roll back.
 */

#define HERALD_EVENT_ID_LEN	36	/* a UUID in text form */
#define HERALD_EVENT_DEPTH_MAX	16	/* handlers publishing in handlers */
/* The bytes one unit of work may carry to its commit (see above). */
#define HERALD_UOW_PAYLOAD_MAX	(128 * 1024 * 1024)

struct herald_event {
	const char	*id;		/* UUID assigned when published */
	const char	*type;
	const char	*payload;	/* JSON text */
};

struct herald_bus;
struct herald_uow;

/*
 * A bus maps event types to synchronous handlers.  Subscribe before the
 * first unit of work; after that a bus is only read, so threads may share
 * it.  A handler returns 0, or -1 after filling its error argument (any
 * value but 0 is a failure).  The caller of herald_uow_publish() and
 * herald_uow_commit() then gets HERALD_EHANDLER and the message, after
 * "handler of event TYPE failed: ".
 */
struct herald_bus *herald_bus_new(void);
void	herald_bus_free(struct herald_bus *bus);
int	herald_bus_subscribe(struct herald_bus *bus, const char *event_type,
	    int (*handler)(struct herald_uow *uow,
	    const struct herald_event *event, void *arg,
	    struct herald_error *error),
	    void *arg, struct herald_error *error);

/*
 * Begin a unit of work on conn, which must not be in a transaction.  bus
 * may be NULL when no event has handlers.  Return NULL on failure.
 */
struct herald_uow *herald_uow_begin(PGconn *conn, const struct herald_bus *bus,
	    struct herald_error *error);

/*
 * Return the connection, for the application's own statements, or NULL
 * when uow is NULL.
 */
PGconn	*herald_uow_conn(struct herald_uow *uow);

/*
 * Publish an event and run its handlers.  The event's id is copied into
 * event_id (HERALD_EVENT_ID_LEN + 1 bytes) when it is not NULL.  After a
 * failure the unit of work can only be rolled back.
 */
int	herald_uow_publish(struct herald_uow *uow, const char *type,
	    const char *payload, char *event_id, struct herald_error *error);

/*
 * Enqueue a job that is relayed when the unit of work commits.  A job
 * enqueued by a handler carries the id and type of the handler's event.
 * With no queue in options, the relay uses the task's configured queue.
 * A unique key is checked here as herald_enqueue() checks it, but taken
 * in the job database only when the relay moves the job, not at the
 * commit: if another job holds the key then, the relay makes no job.
 * The outbox needs application schema version 5 for a key.  After a
 * failure the unit of work can only be rolled back, and later calls
 * return the first failure.
 */
int	herald_uow_enqueue(struct herald_uow *uow, const char *task,
	    const char *payload, const struct herald_job_options *options,
	    struct herald_error *error);

/*
 * Write the outbox and commit, or roll back when anything failed.  Either
 * way the unit of work is freed, except when a handler calls this on its
 * own unit of work: that fails with HERALD_ESTATE and frees nothing.
 * Returns 0 only when the commit happened, and fails with HERALD_EINVAL
 * when uow is NULL.  HERALD_ECONNECT with sqlstate "08007"
 * (transaction_resolution_unknown) means that the connection was lost
 * during the COMMIT itself, before the server's reply.  The transaction
 * may then have committed with its events, so check the application's
 * own rows before doing the work again.  HERALD_ECONNECT with another
 * sqlstate means that nothing was committed.
 */
int	herald_uow_commit(struct herald_uow *uow, struct herald_error *error);

/*
 * Roll back and free the unit of work; NULL is allowed.  Called by a
 * handler on its own unit of work, it makes the unit fail instead, and
 * the commit then rolls back.
 */
void	herald_uow_rollback(struct herald_uow *uow);

#ifdef __cplusplus
}
#endif

#endif /* HERALD_H */
