/*
 * test_uow.c: units of work, synchronous handlers and the outbox, on an
 * application database.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald.h"
#include "migrate.h"
#include "dbtest.h"

struct fixture {
	struct dbtest		*db;
	struct herald_bus	*bus;
};

static int
setup(void **state)
{
	struct fixture		*f;
	struct herald_error	 error;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return -1;
	if ((f->db = dbtest_new_bare()) == NULL ||
	    hd_migrate(f->db->conn, HD_SCHEMA_APP, &error) == -1 ||
	    (f->bus = herald_bus_new()) == NULL) {
		dbtest_free(f->db);
		free(f);
		return -1;
	}
	dbtest_exec(f->db->conn, "CREATE TABLE users (email text PRIMARY KEY)");
	dbtest_exec(f->db->conn, "CREATE TABLE accounts (email text "
	    "PRIMARY KEY REFERENCES users)");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	herald_bus_free(f->bus);
	dbtest_free(f->db);
	free(f);
	return 0;
}

/* Run a statement of the unit of work; fill error from the server. */
static int
uow_exec(struct herald_uow *uow, const char *sql, struct herald_error *error)
{
	PGresult	*res;
	int		 rc = 0;

	res = PQexec(herald_uow_conn(uow), sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		error->code = HERALD_EDB;
		snprintf(error->message, sizeof error->message, "%s",
		    PQresultErrorMessage(res));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* UserRegistered: create the account row and announce it. */
static int
create_account(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	if (uow_exec(uow, "INSERT INTO accounts SELECT email FROM users",
	    error) == -1)
		return -1;
	return herald_uow_publish(uow, "AccountCreated", event->payload, NULL,
	    error);
}

static int
enqueue_welcome(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	return herald_uow_enqueue(uow, "send_welcome_email", event->payload,
	    NULL, error);
}

static int
always_fail(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	snprintf(error->message, sizeof error->message, "quota exceeded");
	return -1;
}

static int
republish_same(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	return herald_uow_publish(uow, event->type, NULL, NULL, error);
}

static int
return_one(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	return 1;
}

static int
enqueue_bad_task(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	return herald_uow_enqueue(uow, "bad task!", NULL, NULL, error);
}

static int64_t
count_rows(struct fixture *f, const char *table)
{
	char	sql[128];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	return dbtest_int(f->db->conn, "%s", sql);
}

static void
test_uow_commit_writes_outbox(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	char			 id[HERALD_EVENT_ID_LEN + 1];
	char			*stored;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered",
	    "{\"email\":\"a@x\"}", id, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	assert_int_equal(count_rows(f, "users"), 1);
	assert_int_equal(count_rows(f, "herald.outbox"), 1);
	stored = dbtest_text(f->db->conn, "SELECT event_id::text || ' ' || "
	    "event_type || ' ' || (payload->>'email') FROM herald.outbox");
	assert_non_null(stored);
	assert_memory_equal(stored, id, HERALD_EVENT_ID_LEN);
	assert_string_equal(stored + HERALD_EVENT_ID_LEN,
	    " UserRegistered a@x");
	free(stored);
}

/*
 * The outbox keeps each payload's numbers as given: a double would turn
 * 0.1 into 0.10000000000000001, and an integer past 64 bits would not
 * be read at all.
 */
static void
test_uow_payload_numbers_exact(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	const char		*payload = "{\"price\": 0.1, "
	    "\"n\": 123456789012345678901234, \"e\": 1.50e300}";
	char			*stored;

	assert_int_equal(herald_bus_subscribe(f->bus, "OrderPlaced",
	    enqueue_welcome, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_publish(uow, "OrderPlaced", payload, NULL,
	    &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	/* jsonb compares numbers by value, so 0.10000000000000001 fails. */
	assert_int_equal(dbtest_int(f->db->conn, "SELECT count(*) FROM "
	    "herald.outbox WHERE payload = '%s'::jsonb", payload), 2);
	stored = dbtest_text(f->db->conn, "SELECT string_agg(kind || ' ' || "
	    "(payload->>'price') || ' ' || (payload->>'n'), ', ' ORDER BY id) "
	    "FROM herald.outbox");
	assert_non_null(stored);
	assert_string_equal(stored, "event 0.1 123456789012345678901234, "
	    "job 0.1 123456789012345678901234");
	free(stored);
}

/*
 * A number past PostgreSQL's numeric range fails the publish as bad data,
 * where it failed the whole unit of work at its commit.
 */
static void
test_uow_payload_number_out_of_range(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_publish(uow, "OrderPlaced",
	    "{\"n\": 1e999999}", NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "out of the range of "
	    "PostgreSQL's numeric type"));
	herald_uow_rollback(uow);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

static void
test_uow_rollback_leaves_nothing(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    enqueue_welcome, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), 0);

	herald_uow_rollback(uow);

	assert_int_equal(count_rows(f, "users"), 0);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
	assert_int_equal(PQtransactionStatus(f->db->conn), PQTRANS_IDLE);
}

static void
test_uow_handlers_chain_in_transaction(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	char			 id[HERALD_EVENT_ID_LEN + 1];

	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    create_account, NULL, &error), 0);
	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    enqueue_welcome, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered",
	    "{\"email\":\"a@x\"}", id, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	assert_int_equal(count_rows(f, "accounts"), 1);
	assert_int_equal(dbtest_int(f->db->conn, "SELECT count(*) FROM "
	    "herald.outbox WHERE kind = 'event'"), 2);
	assert_int_equal(dbtest_int(f->db->conn, "SELECT count(*) FROM "
	    "herald.outbox WHERE kind = 'event' AND event_type = "
	    "'AccountCreated'"), 1);
	/* The handler's job carries the id and type of its event. */
	assert_int_equal(dbtest_int(f->db->conn, "SELECT count(*) FROM "
	    "herald.outbox WHERE kind = 'job' AND task = 'send_welcome_email'"
	    " AND event_type = 'UserRegistered' AND event_id::text = '%s'",
	    id), 1);
}

static void
test_uow_failing_handler_rolls_back(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	/* The first handler writes a row; the second fails. */
	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    create_account, NULL, &error), 0);
	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    always_fail, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);

	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EHANDLER);
	assert_string_equal(error.message,
	    "handler of event UserRegistered failed: quota exceeded");
	memset(&error, 0, sizeof error);
	assert_int_equal(herald_uow_commit(uow, &error), -1);

	assert_int_equal(error.code, HERALD_EHANDLER);
	assert_int_equal(count_rows(f, "users"), 0);
	assert_int_equal(count_rows(f, "accounts"), 0);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
	assert_int_equal(PQtransactionStatus(f->db->conn), PQTRANS_IDLE);
}

static void
test_uow_bad_input_fails_whole_unit(void **state)
{
	static const struct {
		const char	*name;
		const char	*type;
		const char	*payload;
		const char	*message;
	} rows[] = {
		{ "bad type", "User Registered", NULL, "invalid event type" },
		{ "bad payload", "UserRegistered", "{\"a\":", "not valid JSON" },
		{ "scalar payload", "UserRegistered", "42", "object or array" },
	};
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	size_t			 i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].name);
		uow = herald_uow_begin(f->db->conn, f->bus, &error);
		assert_non_null(uow);
		assert_int_equal(uow_exec(uow, "INSERT INTO users "
		    "VALUES ('a@x')", &error), 0);

		assert_int_equal(herald_uow_publish(uow, rows[i].type,
		    rows[i].payload, NULL, &error), -1);
		assert_non_null(strstr(error.message, rows[i].message));
		assert_int_equal(herald_uow_commit(uow, &error), -1);
		assert_int_equal(count_rows(f, "users"), 0);
		assert_int_equal(count_rows(f, "herald.outbox"), 0);
	}
}

static void
test_uow_recursive_publish_is_bounded(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	assert_int_equal(herald_bus_subscribe(f->bus, "Echo", republish_same,
	    NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);

	assert_int_equal(herald_uow_publish(uow, "Echo", NULL, NULL, &error),
	    -1);
	assert_non_null(strstr(error.message, "handlers deep"));
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

/* A call that fails inside a handler names the handler's event. */
static void
test_uow_handler_enqueue_error_named(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    enqueue_bad_task, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);

	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "handler of event "
	    "UserRegistered: invalid task name \"bad task!\""));
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

/*
 * A unit of work whose own statement failed commits nothing and fails
 * with HERALD_ESTATE, with or without events: a COMMIT of an aborted
 * transaction rolls back without an error.
 */
static void
test_uow_failed_statement_commits_nothing(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	int			 events;

	for (events = 0; events < 2; events++) {
		dbtest_exec(f->db->conn, "INSERT INTO users VALUES ('a@x')");
		uow = herald_uow_begin(f->db->conn, f->bus, &error);
		assert_non_null(uow);
		assert_int_equal(uow_exec(uow,
		    "INSERT INTO users VALUES ('b@x')", &error), 0);
		assert_int_equal(uow_exec(uow,
		    "INSERT INTO users VALUES ('a@x')", &error), -1);
		if (events > 0)
			assert_int_equal(herald_uow_publish(uow,
			    "UserRegistered", NULL, NULL, &error), 0);
		assert_int_equal(herald_uow_commit(uow, &error), -1);
		assert_int_equal(error.code, HERALD_ESTATE);
		assert_non_null(strstr(error.message, "a statement of the "
		    "unit of work failed"));
		assert_int_equal(count_rows(f, "users"), 1);
		assert_int_equal(count_rows(f, "herald.outbox"), 0);
		dbtest_exec(f->db->conn, "DELETE FROM users");
	}
}

/* A handler that returns anything but 0 has failed. */
static void
test_uow_handler_nonzero_fails(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    return_one, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EHANDLER);
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(count_rows(f, "users"), 0);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

/* herald_uow_enqueue() takes payload_max as herald_enqueue() does. */
static void
test_uow_enqueue_payload_max(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { .payload_max = 8 };
	struct herald_error		 error;
	struct herald_uow		*uow;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_enqueue(uow, "send_welcome_email",
	    "{\"a\": 12345}", &options, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "over the limit of 8"));
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

static void
test_uow_begin_inside_transaction_fails(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	PGresult		*res;

	dbtest_exec(f->db->conn, "BEGIN");

	assert_null(herald_uow_begin(f->db->conn, f->bus, &error));
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "transaction in progress"));
	dbtest_exec(f->db->conn, "ROLLBACK");

	/* A query still running, or pipeline mode, is named as such. */
	assert_int_equal(PQsendQuery(f->db->conn, "SELECT 1"), 1);
	assert_null(herald_uow_begin(f->db->conn, f->bus, &error));
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "query in progress"));
	while ((res = PQgetResult(f->db->conn)) != NULL)
		PQclear(res);
	assert_int_equal(PQenterPipelineMode(f->db->conn), 1);
	assert_null(herald_uow_begin(f->db->conn, f->bus, &error));
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "pipeline mode"));
	assert_int_equal(PQexitPipelineMode(f->db->conn), 1);

	/* So is a client encoding other than UTF-8. */
	dbtest_exec(f->db->conn, "SET client_encoding = 'WIN1252'");
	assert_null(herald_uow_begin(f->db->conn, f->bus, &error));
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "client_encoding is WIN1252"));
	dbtest_exec(f->db->conn, "SET client_encoding = 'UTF8'");

	/* Also when it changes after the begin: the commit checks again. */
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	dbtest_exec(herald_uow_conn(uow), "SET client_encoding = 'LATIN1'");
	assert_int_equal(herald_uow_publish(uow, "UserRegistered",
	    "{\"n\": \"Jos\xc3\xa9\"}", NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "client_encoding is LATIN1"));
	dbtest_exec(f->db->conn, "SET client_encoding = 'UTF8'");
	assert_int_equal(dbtest_int(f->db->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

static void
test_uow_missing_outbox_names_migration(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	dbtest_exec(f->db->conn, "DROP TABLE herald.outbox");
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), 0);

	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(error.code, HERALD_ESCHEMA);
	assert_non_null(strstr(error.message, "herald migrate --app"));
}

static void
test_uow_many_events_all_written(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	char			 payload[64];
	int			 i;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	for (i = 0; i < 1000; i++) {
		snprintf(payload, sizeof payload, "{\"n\":%d}", i);
		assert_int_equal(herald_uow_publish(uow, "Counted", payload,
		    NULL, &error), 0);
	}
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	assert_int_equal(count_rows(f, "herald.outbox"), 1000);
	assert_int_equal(dbtest_int(f->db->conn, "SELECT count(DISTINCT "
	    "event_id) FROM herald.outbox"), 1000);
	assert_int_equal(dbtest_int(f->db->conn, "SELECT max((payload->>'n')"
	    "::int) FROM herald.outbox"), 999);
}

/*
 * A bad unique option fails herald_uow_enqueue with herald_enqueue's
 * message, and the unit of work writes nothing.
 */
static void
test_uow_bad_unique_key_fails_whole_unit(void **state)
{
	static const struct {
		const char	*name;
		const char	*key;
		int64_t		 for_ms;
		unsigned	 states;
		const char	*message;
	} rows[] = {
		{ "empty key", "", 0, 0, "unique key has 0 bytes" },
		{ "negative period", "k", -1, 0,
		    "unique_for_ms -1 is out of range" },
		{ "period past the maximum", "k", INT64_MAX, 0,
		    "unique_for_ms 9223372036854775807 is out of range; use 0 "
		    "to 3155760000000 (36525 days)" },
		{ "unknown states", "k", 0, 0x4, "unique_states 0x4" },
		{ "not UTF-8", "k\xff", 0, 0, "unique key is not valid UTF-8" },
	};
	struct fixture			*f = *state;
	struct herald_job_options	 options;
	struct herald_error		 error;
	struct herald_uow		*uow;
	char				 key[HERALD_UNIQUE_KEY_MAX + 2];
	size_t				 i;

	for (i = 0; i < sizeof rows / sizeof rows[0] + 1; i++) {
		memset(&options, 0, sizeof options);
		if (i < sizeof rows / sizeof rows[0]) {
			print_message("%s\n", rows[i].name);
			options.unique_key = rows[i].key;
			options.unique_for_ms = rows[i].for_ms;
			options.unique_states = rows[i].states;
		} else {
			print_message("long key\n");
			memset(key, 'k', sizeof key - 1);
			key[sizeof key - 1] = '\0';
			options.unique_key = key;
		}
		uow = herald_uow_begin(f->db->conn, f->bus, &error);
		assert_non_null(uow);
		assert_int_equal(uow_exec(uow, "INSERT INTO users "
		    "VALUES ('a@x')", &error), 0);

		assert_int_equal(herald_uow_enqueue(uow, "mail", NULL,
		    &options, &error), -1);
		assert_int_equal(error.code, HERALD_EINVAL);
		assert_non_null(strstr(error.message,
		    i < sizeof rows / sizeof rows[0] ? rows[i].message :
		    "unique key has 256 bytes; use 1 to 255"));
		assert_int_equal(herald_uow_commit(uow, &error), -1);
		assert_int_equal(count_rows(f, "users"), 0);
		assert_int_equal(count_rows(f, "herald.outbox"), 0);
	}
}

/* A unique key, its period and states go into the job's outbox row. */
static void
test_uow_unique_key_written(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;
	PGresult			*res;
	char				*row;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	options.unique_key = "report:7";
	options.unique_for_ms = 60000;
	options.unique_states = HERALD_UNIQUE_RUNNING;
	assert_int_equal(herald_uow_enqueue(uow, "report", NULL, &options,
	    &error), 0);
	options.unique_key = "report:8";
	options.unique_for_ms = 0;
	options.unique_states = 0;
	assert_int_equal(herald_uow_enqueue(uow, "report", NULL, &options,
	    &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "report", NULL, NULL,
	    &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), 0);

	row = dbtest_text(f->db->conn, "SELECT string_agg(coalesce(unique_key,"
	    " '-') || ' ' || coalesce(unique_for_ms::text, '-') || ' ' ||"
	    " coalesce(unique_states, '-'), ', ' ORDER BY id)"
	    " FROM herald.outbox");
	assert_string_equal(row, "report:7 60000 running, report:8 - -, - - -");
	free(row);

	/*
	 * A keyed row deleted by hand is rejected with a message that names
	 * who may delete it, and a hint that shows how to do it on purpose.
	 */
	res = PQexec(f->db->conn, "DELETE FROM herald.outbox");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY), "has a unique key, so only a relay "
	    "that relays keys may delete it"));
	assert_non_null(strstr(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT),
	    "SET LOCAL herald.relay_unique_keys = on"));
	PQclear(res);
	dbtest_exec(f->db->conn, "BEGIN");
	dbtest_exec(f->db->conn, "SET LOCAL herald.relay_unique_keys = on");
	dbtest_exec(f->db->conn, "DELETE FROM herald.outbox");
	dbtest_exec(f->db->conn, "COMMIT");
	assert_int_equal(dbtest_int(f->db->conn,
	    "SELECT count(*) FROM herald.outbox"), 0);
}

/*
 * A connection lost during the COMMIT itself leaves the outcome unknown,
 * so the error carries sqlstate 08007.  A constraint trigger that runs
 * at the COMMIT ends the backend there.
 */
static void
test_uow_lost_commit_is_unknown(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	PGconn			*conn;

	dbtest_exec(f->db->conn, "CREATE FUNCTION end_backend() RETURNS "
	    "trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM "
	    "pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; "
	    "CREATE CONSTRAINT TRIGGER users_end AFTER INSERT ON users "
	    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
	    "EXECUTE FUNCTION end_backend()");
	conn = dbtest_connect(f->db);
	uow = herald_uow_begin(conn, f->bus, &error);
	assert_non_null(uow);
	dbtest_exec(conn, "INSERT INTO users VALUES ('a@example.com')");
	assert_int_equal(herald_uow_publish(uow, "UserRegistered", "{}",
	    NULL, &error), 0);
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(error.code, HERALD_ECONNECT);
	assert_string_equal(error.sqlstate, "08007");
	assert_non_null(strstr(error.message, "is not known"));
	PQfinish(conn);
}

/*
 * The application ends the unit of work's transaction on its connection,
 * then commits the unit of work.  Its events went to the outbox in their
 * own transaction before, so a rolled-back row still published its event.
 */
static void
test_uow_ended_transaction_publishes_nothing(void **state)
{
	static const struct {
		const char	*name;
		const char	*sql;
		int64_t		 users;
	} rows[] = {
		{ "rollback", "ROLLBACK", 0 },
		{ "rollback, then a new transaction", "ROLLBACK; BEGIN", 0 },
		{ "commit", "COMMIT", 1 },
		{ "commit, then a new transaction", "COMMIT; BEGIN", 1 },
	};
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	PGresult		*res;
	size_t			 i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].name);
		dbtest_exec(f->db->conn, "DELETE FROM users");
		uow = herald_uow_begin(f->db->conn, f->bus, &error);
		assert_non_null(uow);
		assert_int_equal(uow_exec(uow, "INSERT INTO users "
		    "VALUES ('a@x')", &error), 0);
		assert_int_equal(herald_uow_publish(uow, "UserRegistered",
		    NULL, NULL, &error), 0);
		res = PQexec(herald_uow_conn(uow), rows[i].sql);
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);

		assert_int_equal(herald_uow_commit(uow, &error), -1);
		assert_int_equal(error.code, HERALD_ESTATE);
		assert_non_null(strstr(error.message, "nothing was published"));
		assert_int_equal(PQtransactionStatus(f->db->conn),
		    PQTRANS_IDLE);
		assert_int_equal(count_rows(f, "herald.outbox"), 0);
		assert_int_equal(count_rows(f, "users"), rows[i].users);
	}
}

static void
count_notice(void *arg, const PGresult *res)
{
	(void)res;
	(*(int *)arg)++;
}

/*
 * A unit of work with no events whose transaction the application ended
 * fails the same way, and sends no COMMIT outside a transaction, which
 * would make the server send a warning.
 */
static void
test_uow_ended_transaction_without_events(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;
	PGresult		*res;
	int			 notices = 0;

	PQsetNoticeReceiver(f->db->conn, count_notice, &notices);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	res = PQexec(herald_uow_conn(uow), "COMMIT");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_non_null(strstr(error.message, "ended before herald_uow_commit"));
	assert_int_equal(notices, 0);
	assert_int_equal(PQtransactionStatus(f->db->conn), PQTRANS_IDLE);
}

/* run_at keeps every microsecond up to the last one of year 9999. */
static void
test_uow_run_at_exact(void **state)
{
	static const int64_t	 times[] = {
		INT64_C(253402300799999999), INT64_C(253402300799000001)
	};
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;
	char				*row;
	size_t				 i;

	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	for (i = 0; i < sizeof times / sizeof times[0]; i++) {
		options.run_at_us = times[i];
		assert_int_equal(herald_uow_enqueue(uow, "report", NULL,
		    &options, &error), 0);
	}
	assert_int_equal(herald_uow_commit(uow, &error), 0);
	row = dbtest_text(f->db->conn, "SELECT string_agg(((extract(epoch "
	    "FROM run_at) * 1000000)::bigint)::text, ' ' ORDER BY id)"
	    " FROM herald.outbox");
	assert_string_equal(row, "253402300799999999 253402300799000001");
	free(row);
}

/*
 * Payloads past HERALD_UOW_PAYLOAD_MAX fail at the publish that crosses
 * it, not at the commit, where the server rejected the statement or
 * dropped the connection.
 */
static void
test_uow_payload_total_bounded(void **state)
{
	struct fixture			*f = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_uow		*uow;
	size_t				 size = 8 * 1024 * 1024 - 100, n;
	char				*big;

	big = malloc(size + 16);
	assert_non_null(big);
	memcpy(big, "{\"pad\": \"", 9);
	memset(big + 9, 'x', size - 11);
	memcpy(big + size - 2, "\"}", 3);
	options.payload_max = size;
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	/* 16 payloads fit, but not with the 256 bytes each row counts. */
	for (n = 0; n < HERALD_UOW_PAYLOAD_MAX / size - 1; n++)
		assert_int_equal(herald_uow_enqueue(uow, "report", big,
		    &options, &error), 0);
	assert_int_equal(herald_uow_enqueue(uow, "report", big, &options,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_non_null(strstr(error.message, "over its limit of 134217728 "
	    "bytes of payloads"));
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
	free(big);
}

static int
rollback_own_unit(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	herald_uow_rollback(uow);
	return 0;
}

/* A handler that rolls back its own unit of work makes it fail. */
static void
test_uow_handler_rollback_fails_unit(void **state)
{
	struct fixture		*f = *state;
	struct herald_error	 error;
	struct herald_uow	*uow;

	assert_int_equal(herald_bus_subscribe(f->bus, "UserRegistered",
	    rollback_own_unit, NULL, &error), 0);
	uow = herald_uow_begin(f->db->conn, f->bus, &error);
	assert_non_null(uow);
	assert_int_equal(uow_exec(uow, "INSERT INTO users VALUES ('a@x')",
	    &error), 0);

	assert_int_equal(herald_uow_publish(uow, "UserRegistered", NULL, NULL,
	    &error), -1);
	assert_int_equal(error.code, HERALD_ESTATE);
	assert_string_equal(error.message, "handler of event UserRegistered: "
	    "a handler called herald_uow_rollback on its own unit of work");
	assert_int_equal(herald_uow_commit(uow, &error), -1);
	assert_int_equal(count_rows(f, "users"), 0);
	assert_int_equal(count_rows(f, "herald.outbox"), 0);
}

/* A unit of work that herald_uow_begin() did not return is an error. */
static void
test_uow_null_unit_rejected(void **state)
{
	struct herald_error	error;

	(void)state;
	assert_int_equal(herald_uow_publish(NULL, "UserRegistered", NULL,
	    NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(herald_uow_enqueue(NULL, "send_welcome_email", NULL,
	    NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(herald_uow_commit(NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message, "no unit of work to commit; "
	    "herald_uow_begin failed or was not called");
	assert_null(herald_uow_conn(NULL));
	herald_uow_rollback(NULL);
}

/* A bus that herald_bus_new() did not return is an error too. */
static int
ignore_event(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	(void)uow;
	(void)event;
	(void)arg;
	(void)error;
	return 0;
}

static void
test_bus_null_rejected(void **state)
{
	struct herald_error	error;

	(void)state;
	assert_int_equal(herald_bus_subscribe(NULL, "UserRegistered",
	    ignore_event, NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message, "no bus given");
	herald_bus_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus_null_rejected),
		cmocka_unit_test_setup_teardown(test_uow_commit_writes_outbox,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_payload_numbers_exact,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_payload_number_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_rollback_leaves_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_handlers_chain_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_failing_handler_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_bad_input_fails_whole_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_recursive_publish_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_handler_enqueue_error_named, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_enqueue_payload_max, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_failed_statement_commits_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_handler_nonzero_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_begin_inside_transaction_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_missing_outbox_names_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_many_events_all_written,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_bad_unique_key_fails_whole_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_unique_key_written,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_lost_commit_is_unknown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_ended_transaction_publishes_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_handler_rollback_fails_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uow_ended_transaction_without_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uow_run_at_exact, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uow_payload_total_bounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_uow_null_unit_rejected,
		    setup, teardown),
	};

	dbtest_init("uow");
	return cmocka_run_group_tests_name("uow", tests, NULL, NULL);
}
