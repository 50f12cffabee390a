/*
 * signup: register a user in an application database and publish
 * UserRegistered, as an application linking libherald would.
 *
 *	signup -d CONNINFO --email EMAIL --name NAME
 *
 * The user's row, the account row that a synchronous handler creates and
 * both events go into one transaction: a duplicate email fails in the
 * INSERT and publishes nothing.  heraldd's relay then turns the events
 * into the send_welcome_email and provision_account jobs.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "herald.h"

static const char schema_sql[] =
    "SET client_min_messages TO warning;"
    "CREATE TABLE IF NOT EXISTS users ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " email text NOT NULL UNIQUE,"
    " name text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS accounts ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " user_id bigint NOT NULL UNIQUE REFERENCES users,"
    " plan text NOT NULL DEFAULT 'free')";

/* Copy a failed statement's message into error. */
static void
set_db_error(struct herald_error *error, const PGresult *res)
{
	const char	*state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	error->code = HERALD_EDB;
	snprintf(error->sqlstate, sizeof error->sqlstate, "%s",
	    state != NULL ? state : "");
	snprintf(error->message, sizeof error->message, "%s",
	    PQresultErrorMessage(res));
	error->message[strcspn(error->message, "\n")] = '\0';
}

/* UserRegistered: open the user's account and announce it. */
static int
create_account(struct herald_uow *uow, const struct herald_event *event,
    void *arg, struct herald_error *error)
{
	json_t		*user;
	PGresult	*res;
	const char	*params[1];
	char		*payload;
	int		 rc = -1;

	user = json_loads(event->payload, 0, NULL);
	if (user == NULL || !json_is_string(json_object_get(user, "user_id"))) {
		snprintf(error->message, sizeof error->message,
		    "UserRegistered payload has no user_id");
		json_decref(user);
		return -1;
	}
	params[0] = json_string_value(json_object_get(user, "user_id"));
	res = PQexecParams(herald_uow_conn(uow), "INSERT INTO accounts "
	    "(user_id) VALUES ($1) RETURNING id::text", 1, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_db_error(error, res);
		goto out;
	}
	json_object_set_new(user, "account_id",
	    json_string(PQgetvalue(res, 0, 0)));
	payload = json_dumps(user, JSON_COMPACT);
	rc = herald_uow_publish(uow, "AccountCreated", payload, NULL, error);
	free(payload);
out:
	PQclear(res);
	json_decref(user);
	return rc;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: signup [-d CONNINFO] --email EMAIL --name NAME\n"
	    "\n"
	    "Register a user in the application database and publish\n"
	    "UserRegistered.  Without -d, libpq's PG* variables apply.\n");
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dbname", required_argument, NULL, 'd' },
		{ "email", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*conninfo = "", *email = NULL, *name = NULL;
	const char		*params[2];
	struct herald_error	 error;
	struct herald_bus	*bus;
	struct herald_uow	*uow;
	PGconn			*conn;
	PGresult		*res;
	json_t			*event;
	char			*payload, id[HERALD_EVENT_ID_LEN + 1];
	int			 c, status = EXIT_FAILURE;

	while ((c = getopt_long(argc, argv, "d:h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			conninfo = optarg;
			break;
		case 'e':
			email = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (email == NULL || name == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strchr(email, '@') == NULL || email[0] == '@' ||
	    strpbrk(email, " \t\r\n") != NULL) {
		fprintf(stderr, "signup: invalid email \"%s\": use an address "
		    "such as ann@example.com\n", email);
		return 2;
	}
	if (name[0] == '\0' || strpbrk(name, "\r\n") != NULL) {
		fprintf(stderr, "signup: invalid name: use one line of text\n");
		return 2;
	}

	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "signup: could not connect to the application "
		    "database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return EX_UNAVAILABLE;
	}
	res = PQexec(conn, schema_sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "signup: could not create the users table: %s",
		    PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return EXIT_FAILURE;
	}
	PQclear(res);

	bus = herald_bus_new();
	if (bus == NULL || herald_bus_subscribe(bus, "UserRegistered",
	    create_account, NULL, &error) == -1) {
		fprintf(stderr, "signup: could not set up the event bus\n");
		goto out;
	}

	uow = herald_uow_begin(conn, bus, &error);
	if (uow == NULL) {
		fprintf(stderr, "signup: %s\n", error.message);
		goto out;
	}
	params[0] = email;
	params[1] = name;
	res = PQexecParams(herald_uow_conn(uow), "INSERT INTO users (email, "
	    "name) VALUES ($1, $2) RETURNING id::text", 2, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "23505") == 0)
			fprintf(stderr, "signup: email \"%s\" is already "
			    "registered\n", email);
		else
			fprintf(stderr, "signup: could not register the user: "
			    "%s", PQresultErrorMessage(res));
		PQclear(res);
		herald_uow_rollback(uow);
		goto out;
	}

	event = json_pack("{s:s, s:s, s:s}", "user_id", PQgetvalue(res, 0, 0),
	    "email", email, "name", name);
	PQclear(res);
	payload = json_dumps(event, JSON_COMPACT);
	json_decref(event);
	if (herald_uow_publish(uow, "UserRegistered", payload, id,
	    &error) == -1) {
		free(payload);
		herald_uow_rollback(uow);
		fprintf(stderr, "signup: %s\n", error.message);
		goto out;
	}
	free(payload);
	if (herald_uow_commit(uow, &error) == -1) {
		fprintf(stderr, "signup: could not commit: %s\n",
		    error.message);
		goto out;
	}
	printf("registered %s, event %s\n", email, id);
	status = 0;
out:
	herald_bus_free(bus);
	PQfinish(conn);
	return status;
}
