/*
 * uow.c: the event bus and units of work.
 *
 * A unit of work keeps its events and jobs in memory as a JSON array of
 * outbox rows and writes them with a single INSERT at commit.  So however
 * many events it publishes, it costs one statement more than the
 * application's own.  Nothing here is global: a bus is read-only
 * once units of work use it, and a unit of work belongs to one thread.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "herald.h"
#include "db.h"
#include "enqueue.h"

struct bus_subscription {
	char			*event_type;
	int			(*handler)(struct herald_uow *,
				    const struct herald_event *, void *,
				    struct herald_error *);
	void			*arg;
};

struct herald_bus {
	struct bus_subscription	*subs;
	size_t			 nsubs;
};

struct herald_uow {
	PGconn			*conn;
	const struct herald_bus	*bus;
	json_t			*rows;		/* outbox rows to insert */
	size_t			 payload_bytes;	/* of rows, up to the limit */
	int			 depth;		/* handlers running now */
	const struct herald_event *current;	/* innermost event handled */
	bool			 keyed;		/* a job has a unique key */
	char			 started[24];	/* UOW_STARTED_SQL at BEGIN */
	bool			 failed;
	struct herald_error	 failure;	/* why, when failed */
};

/*
 * The start of the current transaction in microseconds.  The outbox
 * insert writes its rows only in the transaction that the unit of work
 * began, so that rows never land in a transaction that the application
 * began after ending that one on herald_uow_conn().
 */
#define UOW_STARTED_SQL	"(extract(epoch FROM now()) * 1000000)::bigint"

/* The bytes a row of the outbox list counts besides its payload. */
#define UOW_ROW_BYTES	256

/*
 * run_at from Unix microseconds, split into whole seconds and the rest,
 * since a double of the microseconds divided by 1e6 rounds the last
 * digits of a time far ahead.
 */
#define UOW_RUN_AT_SQL	"to_timestamp(r.run_at_us / 1000000)" \
	" + (r.run_at_us % 1000000) * interval '1 microsecond'"

/* The outbox insert: every row of the unit of work in one statement. */
static const char outbox_insert_sql[] =
    "WITH rows AS ("
    " INSERT INTO herald.outbox (kind, event_id, event_type, task, queue,"
    "  payload, priority, run_at, max_attempts)"
    " SELECT r.kind, r.event_id, r.event_type, r.task, r.queue,"
    "  r.payload::jsonb, coalesce(r.priority, 0),"
    "  " UOW_RUN_AT_SQL ", r.max_attempts"
    " FROM jsonb_to_recordset($1::jsonb) AS r(kind text, event_id uuid,"
    "  event_type text, task text, queue text, payload text,"
    "  priority smallint, run_at_us bigint, max_attempts integer)"
    " WHERE " UOW_STARTED_SQL " = $2::bigint"
    " RETURNING 1)"
    " SELECT count(*), pg_notify('herald_outbox', current_database())"
    " FROM rows";

/*
 * The insert of a unit of work with a unique key, which needs the key
 * columns of application schema version 5.  A unit of work without one
 * keeps the insert above, which an older schema also takes.
 */
static const char outbox_insert_unique_sql[] =
    "WITH rows AS ("
    " INSERT INTO herald.outbox (kind, event_id, event_type, task, queue,"
    "  payload, priority, run_at, max_attempts, unique_key, unique_for_ms,"
    "  unique_states)"
    " SELECT r.kind, r.event_id, r.event_type, r.task, r.queue,"
    "  r.payload::jsonb, coalesce(r.priority, 0),"
    "  " UOW_RUN_AT_SQL ", r.max_attempts, r.unique_key,"
    "  r.unique_for_ms, r.unique_states"
    " FROM jsonb_to_recordset($1::jsonb) AS r(kind text, event_id uuid,"
    "  event_type text, task text, queue text, payload text,"
    "  priority smallint, run_at_us bigint, max_attempts integer,"
    "  unique_key text, unique_for_ms bigint, unique_states text)"
    " WHERE " UOW_STARTED_SQL " = $2::bigint"
    " RETURNING 1)"
    " SELECT count(*), pg_notify('herald_outbox', current_database())"
    " FROM rows";

struct herald_bus *
herald_bus_new(void)
{
	return calloc(1, sizeof(struct herald_bus));
}

void
herald_bus_free(struct herald_bus *bus)
{
	size_t	i;

	if (bus == NULL)
		return;
	for (i = 0; i < bus->nsubs; i++)
		free(bus->subs[i].event_type);
	free(bus->subs);
	free(bus);
}

int
herald_bus_subscribe(struct herald_bus *bus, const char *event_type,
    int (*handler)(struct herald_uow *, const struct herald_event *, void *,
    struct herald_error *),
    void *arg, struct herald_error *error)
{
	struct bus_subscription	*subs, *sub;

	if (bus == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no bus given");
		return -1;
	}
	if (herald_check_name("event type", event_type, error) == -1)
		return -1;
	if (handler == NULL) {
		hd_error_set(error, HERALD_EINVAL, "handler for event type "
		    "\"%s\" is NULL", event_type);
		return -1;
	}

	subs = realloc(bus->subs, (bus->nsubs + 1) * sizeof *subs);
	if (subs == NULL)
		goto nomem;
	bus->subs = subs;
	sub = &bus->subs[bus->nsubs];
	sub->event_type = strdup(event_type);
	if (sub->event_type == NULL)
		goto nomem;
	sub->handler = handler;
	sub->arg = arg;
	bus->nsubs++;
	return 0;

nomem:
	hd_error_set(error, HERALD_ENOMEM, "out of memory");
	return -1;
}

/* Fill buf with a random (version 4) UUID in text form. */
static int
uuid_generate(char *buf)
{
	unsigned char	b[16];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, HERALD_EVENT_ID_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

struct herald_uow *
herald_uow_begin(PGconn *conn, const struct herald_bus *bus,
    struct herald_error *error)
{
	struct herald_uow	*uow;
	PGresult		*res;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		hd_error_set(error, HERALD_ECONNECT,
		    "connection to the application database is not open");
		return NULL;
	}
	if (PQtransactionStatus(conn) == PQTRANS_ACTIVE ||
	    PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
		hd_error_set(error, HERALD_ESTATE, "connection has a query "
		    "in progress or is in pipeline mode; a unit of work needs "
		    "an idle connection");
		return NULL;
	}
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		hd_error_set(error, HERALD_ESTATE, "connection already has a "
		    "transaction in progress; a unit of work begins its own");
		return NULL;
	}
	if (hd_check_client_encoding(conn, error) == -1)
		return NULL;

	uow = calloc(1, sizeof *uow);
	if (uow == NULL || (uow->rows = json_array()) == NULL) {
		free(uow);
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		return NULL;
	}
	uow->conn = conn;
	uow->bus = bus;

	/* One round trip: the result is that of the last statement. */
	res = PQexec(conn, "BEGIN; SELECT " UOW_STARTED_SQL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		hd_error_from_pg(error, conn, res, "could not begin");
		PQclear(res);
		if (PQtransactionStatus(conn) != PQTRANS_IDLE)
			PQclear(PQexec(conn, "ROLLBACK"));
		json_decref(uow->rows);
		free(uow);
		return NULL;
	}
	snprintf(uow->started, sizeof uow->started, "%s",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	return uow;
}

PGconn *
herald_uow_conn(struct herald_uow *uow)
{
	return uow != NULL ? uow->conn : NULL;
}

/* Record the first failure; later calls report it again. */
static int
uow_fail(struct herald_uow *uow, const struct herald_error *cause,
    struct herald_error *error)
{
	if (!uow->failed) {
		uow->failed = true;
		uow->failure = *cause;
	}
	if (error != NULL)
		*error = uow->failure;
	return -1;
}

static int
uow_check_usable(struct herald_uow *uow, struct herald_error *error)
{
	if (uow->failed) {
		if (error != NULL)
			*error = uow->failure;
		return -1;
	}
	return 0;
}

/*
 * Check a payload of at most max_bytes (0: HERALD_PAYLOAD_MAX) and
 * return its text as a JSON string for an outbox row; NULL means {}.
 * The outbox insert casts the text to jsonb, whose numeric type keeps
 * every number's exact value.  jansson would turn 0.1 into the nearest
 * double and reject an integer past 64 bits.
 */
static json_t *
payload_parse(const char *payload, size_t max_bytes,
    struct herald_error *error)
{
	json_t	*value;

	if (payload == NULL)
		payload = "{}";
	else if (herald_check_payload(payload, max_bytes > 0 ? max_bytes :
	    HERALD_PAYLOAD_MAX, error) == -1)
		return NULL;
	if ((value = json_string(payload)) == NULL)
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
	return value;
}

/*
 * Append a row to the outbox list; consumes row.  The payloads of a unit
 * of work are bounded, so that the commit's one statement stays within
 * what PostgreSQL takes (a jsonb value of 256 MiB at most).
 */
static int
uow_add_row(struct herald_uow *uow, json_t *row, struct herald_error *error)
{
	struct herald_error	cause;
	size_t			bytes;

	if (row == NULL) {
		hd_error_set(&cause, HERALD_ENOMEM, "out of memory");
		return uow_fail(uow, &cause, error);
	}
	/* The other fields of a row take about this much of the jsonb. */
	bytes = json_string_length(json_object_get(row, "payload")) +
	    UOW_ROW_BYTES;
	if (bytes > HERALD_UOW_PAYLOAD_MAX - uow->payload_bytes) {
		json_decref(row);
		hd_error_set(&cause, HERALD_EINVAL, "unit of work is over "
		    "its limit of %d bytes of payloads (and %d for each row), "
		    "so it can only be rolled back; publish less in one unit "
		    "of work, or enqueue large work with herald_enqueue",
		    HERALD_UOW_PAYLOAD_MAX, UOW_ROW_BYTES);
		return uow_fail(uow, &cause, error);
	}
	if (json_array_append_new(uow->rows, row) == -1) {
		hd_error_set(&cause, HERALD_ENOMEM, "out of memory");
		return uow_fail(uow, &cause, error);
	}
	uow->payload_bytes += bytes;
	return 0;
}

/*
 * Prefix the failure of a call made inside a handler of event, such as a
 * herald_uow_enqueue() with an invalid task, with the event's type, so
 * that the caller of herald_uow_publish() can tell where it came from.
 * A failure in a nested event gets the prefix of the innermost event.
 */
static void
uow_name_handler(struct herald_uow *uow, const struct herald_event *event)
{
	static const char	prefix[] = "handler of event ";
	char			message[sizeof prefix + HERALD_NAME_MAX + 2 +
				    sizeof uow->failure.message];
	size_t			size = sizeof uow->failure.message;

	if (strncmp(uow->failure.message, prefix, sizeof prefix - 1) == 0)
		return;
	snprintf(message, sizeof message, "%s%s: %s", prefix, event->type,
	    uow->failure.message);
	/* A long message loses its end, as hd_error_set() would cut it. */
	memcpy(uow->failure.message, message, size - 1);
	uow->failure.message[size - 1] = '\0';
}

/* Run every handler subscribed to event, in subscription order. */
static int
uow_dispatch(struct herald_uow *uow, const struct herald_event *event,
    struct herald_error *error)
{
	const struct herald_event	*outer = uow->current;
	struct herald_error		 cause, result;
	size_t				 i;

	if (uow->bus == NULL)
		return 0;

	for (i = 0; i < uow->bus->nsubs; i++) {
		const struct bus_subscription	*sub = &uow->bus->subs[i];

		if (strcmp(sub->event_type, event->type) != 0)
			continue;

		memset(&cause, 0, sizeof cause);
		uow->depth++;
		uow->current = event;
		/* Any value but 0 is a failure, so a return of 1 fails too. */
		if (sub->handler(uow, event, sub->arg, &cause) != 0 ||
		    uow->failed) {
			uow->depth--;
			uow->current = outer;
			if (uow->failed) {
				uow_name_handler(uow, event);
				return uow_fail(uow, &uow->failure, error);
			}
			hd_error_set(&result, HERALD_EHANDLER,
			    "handler of event %s failed: %s", event->type,
			    cause.message[0] != '\0' ? cause.message :
			    "no message");
			memcpy(result.sqlstate, cause.sqlstate,
			    sizeof result.sqlstate);
			return uow_fail(uow, &result, error);
		}
		uow->depth--;
		uow->current = outer;
	}
	return 0;
}

int
herald_uow_publish(struct herald_uow *uow, const char *type,
    const char *payload, char *event_id, struct herald_error *error)
{
	struct herald_event	 event;
	struct herald_error	 cause;
	char			 id[HERALD_EVENT_ID_LEN + 1];
	json_t			*value, *row;

	if (uow == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no unit of work to "
		    "publish in; herald_uow_begin failed or was not called");
		return -1;
	}
	if (uow_check_usable(uow, error) == -1)
		return -1;
	if (herald_check_name("event type", type, &cause) == -1 ||
	    (value = payload_parse(payload, 0, &cause)) == NULL)
		return uow_fail(uow, &cause, error);
	if (uow->depth >= HERALD_EVENT_DEPTH_MAX) {
		json_decref(value);
		hd_error_set(&cause, HERALD_EINVAL, "event %s published "
		    "%d handlers deep; a handler probably publishes the event "
		    "it handles", type, uow->depth);
		return uow_fail(uow, &cause, error);
	}
	if (uuid_generate(id) == -1) {
		json_decref(value);
		hd_error_set(&cause, HERALD_EINVAL, "could not generate an "
		    "event id: %s", strerror(errno));
		return uow_fail(uow, &cause, error);
	}

	/* The handlers see the payload text as the caller gave it. */
	row = json_pack("{s:s, s:s, s:s, s:o}", "kind", "event",
	    "event_id", id, "event_type", type, "payload", value);
	if (uow_add_row(uow, row, error) == -1)
		return -1;
	if (event_id != NULL)
		memcpy(event_id, id, sizeof id);

	event.id = id;
	event.type = type;
	event.payload = payload != NULL ? payload : "{}";
	return uow_dispatch(uow, &event, error);
}

/*
 * Add the unique key of options, which herald_uow_enqueue checked, to an
 * outbox row.  The relay takes the key when it moves the row.
 */
static int
uow_row_set_key(json_t *row, const struct herald_job_options *options,
    struct herald_error *error)
{
	json_t	*key, *unchecked;

	/*
	 * json_string() fails on text that is not UTF-8, which the database
	 * would reject too, and when out of memory.
	 */
	if ((key = json_string(options->unique_key)) == NULL) {
		unchecked = json_string_nocheck(options->unique_key);
		if (unchecked == NULL)
			goto nomem;
		json_decref(unchecked);
		hd_error_set(error, HERALD_EINVAL,
		    "unique key is not valid UTF-8");
		return -1;
	}
	if (json_object_set_new(row, "unique_key", key) == -1)
		goto nomem;
	if (options->unique_for_ms > 0 && json_object_set_new(row,
	    "unique_for_ms", json_integer(options->unique_for_ms)) == -1)
		goto nomem;
	if (options->unique_states == HERALD_UNIQUE_QUEUED &&
	    json_object_set_new(row, "unique_states",
	    json_string("queued")) == -1)
		goto nomem;
	if (options->unique_states == HERALD_UNIQUE_RUNNING &&
	    json_object_set_new(row, "unique_states",
	    json_string("running")) == -1)
		goto nomem;
	return 0;

nomem:
	hd_error_set(error, HERALD_ENOMEM, "out of memory");
	return -1;
}

int
herald_uow_enqueue(struct herald_uow *uow, const char *task,
    const char *payload, const struct herald_job_options *options,
    struct herald_error *error)
{
	struct herald_job_options	 defaults = { 0 };
	struct herald_error		 cause;
	json_t				*value, *row;

	if (uow == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no unit of work to "
		    "enqueue in; herald_uow_begin failed or was not called");
		return -1;
	}
	if (uow_check_usable(uow, error) == -1)
		return -1;
	if (options == NULL)
		options = &defaults;
	if (herald_check_name("task", task, &cause) == -1 ||
	    (options->queue != NULL &&
	    herald_check_name("queue", options->queue, &cause) == -1))
		return uow_fail(uow, &cause, error);
	if (options->priority < HERALD_PRIORITY_MIN ||
	    options->priority > HERALD_PRIORITY_MAX) {
		hd_error_set(&cause, HERALD_EINVAL, "priority %d is out of "
		    "range (%d to %d)", options->priority, HERALD_PRIORITY_MIN,
		    HERALD_PRIORITY_MAX);
		return uow_fail(uow, &cause, error);
	}
	if (hd_enqueue_check_unique(options, &cause) == -1)
		return uow_fail(uow, &cause, error);
	if (options->max_attempts < 0 ||
	    options->max_attempts > HERALD_ATTEMPTS_MAX) {
		hd_error_set(&cause, HERALD_EINVAL, "max_attempts %d is out "
		    "of range (1 to %d)", options->max_attempts,
		    HERALD_ATTEMPTS_MAX);
		return uow_fail(uow, &cause, error);
	}
	/* 9999-12-31 23:59:59.999999 UTC, the bound of herald_enqueue. */
	if (options->run_at_us < 0 ||
	    options->run_at_us > INT64_C(253402300799999999)) {
		hd_error_set(&cause, HERALD_EINVAL, "run_at %lld is out of "
		    "range; use Unix time in microseconds up to the year "
		    "9999, or 0 for now", (long long)options->run_at_us);
		return uow_fail(uow, &cause, error);
	}
	if ((value = payload_parse(payload, options->payload_max,
	    &cause)) == NULL)
		return uow_fail(uow, &cause, error);

	row = json_pack("{s:s, s:s, s:o, s:i}", "kind", "job", "task", task,
	    "payload", value, "priority", options->priority);
	if (row == NULL)
		return uow_add_row(uow, NULL, error);
	if (options->queue != NULL)
		json_object_set_new(row, "queue", json_string(options->queue));
	if (options->run_at_us > 0)
		json_object_set_new(row, "run_at_us",
		    json_integer(options->run_at_us));
	if (options->max_attempts > 0)
		json_object_set_new(row, "max_attempts",
		    json_integer(options->max_attempts));
	if (uow->current != NULL) {
		json_object_set_new(row, "event_id",
		    json_string(uow->current->id));
		json_object_set_new(row, "event_type",
		    json_string(uow->current->type));
	}
	if (options->unique_key != NULL &&
	    uow_row_set_key(row, options, &cause) == -1) {
		json_decref(row);
		return uow_fail(uow, &cause, error);
	}
	if (options->unique_key != NULL)
		uow->keyed = true;
	return uow_add_row(uow, row, error);
}

/* Insert the outbox rows; 0 or -1 with error filled. */
static int
uow_write_outbox(struct herald_uow *uow, struct herald_error *error)
{
	PGresult	*res;
	const char	*params[2];
	char		*rows;
	int		 rc = 0;

	if (json_array_size(uow->rows) == 0)
		return 0;

	rows = json_dumps(uow->rows, JSON_COMPACT);
	if (rows == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		return -1;
	}
	params[0] = rows;
	params[1] = uow->started;
	res = PQexecParams(uow->conn, uow->keyed ? outbox_insert_unique_sql :
	    outbox_insert_sql, 2, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		const char	*state = PQresultErrorField(res,
		    PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "42P01") == 0)
			hd_error_set(error, HERALD_ESCHEMA, "application "
			    "database has no herald.outbox table; run "
			    "\"herald migrate --app\"");
		else if (state != NULL && strcmp(state, "42703") == 0 &&
		    uow->keyed)
			hd_error_set(error, HERALD_ESCHEMA, "application "
			    "database's herald.outbox has no unique key "
			    "columns; run \"herald migrate --app\"");
		else if (state != NULL && strcmp(state, "22003") == 0)
			/* The payload checks let only a huge number by. */
			hd_error_set(error, HERALD_EINVAL, "could not write "
			    "the outbox: a number in a payload is out of the "
			    "range of PostgreSQL's numeric type");
		else
			hd_error_from_pg(error, uow->conn, res,
			    "could not write the outbox");
		rc = -1;
	} else if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) !=
	    (long long)json_array_size(uow->rows)) {
		hd_error_set(error, HERALD_ESTATE, "the transaction of the "
		    "unit of work was ended and another begun on "
		    "herald_uow_conn(), so nothing was published; end it only "
		    "with herald_uow_commit or herald_uow_rollback");
		rc = -1;
	}
	PQclear(res);
	free(rows);
	return rc;
}

static void
uow_free(struct herald_uow *uow)
{
	json_decref(uow->rows);
	free(uow);
}

int
herald_uow_commit(struct herald_uow *uow, struct herald_error *error)
{
	struct herald_error	cause;
	PGresult		*res;

	if (uow == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no unit of work to commit; "
		    "herald_uow_begin failed or was not called");
		return -1;
	}
	if (uow->depth > 0) {
		/* A handler may not end the unit of work it runs in. */
		hd_error_set(&cause, HERALD_ESTATE, "a handler called "
		    "herald_uow_commit on its own unit of work");
		return uow_fail(uow, &cause, error);
	}
	if (uow->failed)
		goto rollback;
	/* COMMIT of an aborted transaction rolls back and raises no error. */
	if (PQtransactionStatus(uow->conn) == PQTRANS_INERROR) {
		hd_error_set(&cause, HERALD_ESTATE, "a statement of the unit "
		    "of work failed, so its transaction was aborted and "
		    "nothing was committed or published; the statement's own "
		    "error says why");
		uow_fail(uow, &cause, NULL);
		goto rollback;
	}
	/*
	 * Checked for a unit of work with no rows as well, so that a COMMIT
	 * is never sent outside a transaction.  With rows, the outbox insert
	 * also finds a transaction begun after the unit of work's ended.
	 */
	if (PQtransactionStatus(uow->conn) == PQTRANS_IDLE) {
		hd_error_set(&cause, HERALD_ESTATE, "the transaction of the "
		    "unit of work ended before herald_uow_commit, so nothing "
		    "was published; end it only with herald_uow_commit or "
		    "herald_uow_rollback, not with COMMIT or ROLLBACK on "
		    "herald_uow_conn()");
		uow_fail(uow, &cause, NULL);
		goto rollback;
	}
	/* The application may have changed the encoding since the begin. */
	if (hd_check_client_encoding(uow->conn, &cause) == -1) {
		uow_fail(uow, &cause, NULL);
		goto rollback;
	}
	if (uow_write_outbox(uow, &cause) == -1) {
		uow_fail(uow, &cause, NULL);
		goto rollback;
	}
	res = PQexec(uow->conn, "COMMIT");
	if (!hd_db_ok(res)) {
		/* A commit whose reply was lost may have happened. */
		hd_error_from_pg(&cause, uow->conn, res, "could not commit");
		if (cause.code == HERALD_ECONNECT) {
			hd_error_from_pg(&cause, uow->conn, res, "could not "
			    "commit, and whether the transaction committed is "
			    "not known, since the connection was lost");
			/* transaction_resolution_unknown, for callers to test. */
			memcpy(cause.sqlstate, "08007", 6);
		}
		PQclear(res);
		uow_fail(uow, &cause, NULL);
		goto rollback;
	}
	PQclear(res);
	uow_free(uow);
	return 0;

rollback:
	if (error != NULL)
		*error = uow->failure;
	herald_uow_rollback(uow);
	return -1;
}

void
herald_uow_rollback(struct herald_uow *uow)
{
	struct herald_error	cause;
	PGresult		*res;

	if (uow == NULL)
		return;
	if (uow->depth > 0) {
		/*
		 * A handler may not end the unit of work it runs in: freeing
		 * it here would pull it from under the dispatch.  It fails
		 * instead, so that its commit rolls back.
		 */
		hd_error_set(&cause, HERALD_ESTATE, "a handler called "
		    "herald_uow_rollback on its own unit of work");
		uow_fail(uow, &cause, NULL);
		return;
	}
	/* A failed ROLLBACK leaves a broken connection, which libpq reports
	 * on the caller's next use of it. */
	if (PQtransactionStatus(uow->conn) != PQTRANS_IDLE) {
		res = PQexec(uow->conn, "ROLLBACK");
		PQclear(res);
	}
	uow_free(uow);
}
