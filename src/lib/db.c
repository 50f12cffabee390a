/*
 * db.c: libpq helpers shared by every part of herald.
 *
 * Messages built here may quote the server (which can quote row values)
 * but never the conninfo string, which may hold a password.
 */

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db.h"
#include "util.h"

/* Copy src into dst without its trailing newlines and blanks. */
static void
db_copy_trimmed(char *dst, size_t size, const char *src)
{
	size_t	len = 0;

	if (size == 0)
		return;
	/*
	 * libpq continues a message on lines indented with a tab ("server
	 * closed the connection unexpectedly\n\tThis probably means ...").
	 * Each line break and the indent after it become one space, so a
	 * message stays one line of a log or of standard error.  After a
	 * line with no stop at its end, a line that starts with a capital
	 * (a new sentence) is set apart with ". ", and one that is not
	 * indented (the next host of a multi-host string) with "; ".
	 */
	while (*src != '\0' && len + 1 < size) {
		if (*src == '\n') {
			bool	indented = src[1] == '\t' || src[1] == ' ';

			while (*src == '\n' || *src == '\t' || *src == ' ')
				src++;
			if (*src != '\0' && len > 0 && len + 2 < size &&
			    strchr(".?!:;", dst[len - 1]) == NULL &&
			    (!indented || isupper((unsigned char)*src)))
				dst[len++] = isupper((unsigned char)*src) ?
				    '.' : ';';
			if (*src != '\0')
				dst[len++] = ' ';
			continue;
		}
		dst[len++] = *src++;
	}
	dst[len] = '\0';
	while (len > 0 && (dst[len - 1] == ' ' || dst[len - 1] == '\t'))
		dst[--len] = '\0';
}

/*
 * Return the SQLSTATE of a failed connection from its message.  libpq
 * gives no SQLSTATE for a connection, even when the server refused it
 * with one, so the messages of PostgreSQL's C locale are matched.  A
 * message that matches none, such as a server's in another language,
 * gives 08006, connection_failure.
 */
static const char *
db_connect_sqlstate(const char *message)
{
	static const struct {
		const char	*text;
		const char	*sqlstate;
	} causes[] = {
		{ "permission denied", "42501" },
		{ "password authentication failed", "28P01" },
		{ "no pg_hba.conf entry", "28000" },
		{ "is not permitted to log in", "28000" },
		{ "too many connections for role", "53300" },
		{ "role \"", "28000" },
		{ "not currently accepting connections", "55000" },
		{ "too many connections for database", "53300" },
		{ "database \"", "3D000" },
		{ "the database system is", "57P03" },
		{ "too many clients", "53300" },
		{ "connection slots are reserved", "53300" },
		{ "session is read-only", "25006" },
		{ "hot standby mode", "25006" },
		{ "Connection refused", "08001" },
		{ "No such file or directory", "08001" },
		{ "could not translate host name", "08001" },
		{ "timeout expired", "08001" },
		{ "Network is unreachable", "08001" },
		{ "No route to host", "08001" },
	};
	size_t	i;

	for (i = 0; i < sizeof causes / sizeof causes[0]; i++)
		if (strstr(message, causes[i].text) != NULL)
			return causes[i].sqlstate;
	return "08006";
}

/*
 * Return whether libpq's message, which came with no SQLSTATE, reports a
 * connection lost before libpq marked it bad, as it may while results
 * are still to be returned.  libpq's own messages are matched.
 */
static bool
db_message_lost(const char *message)
{
	static const char *const lost[] = {
		"server closed the connection",
		"no connection to the server",
		"could not receive data from server",
		"could not send data to server",
		"connection to server was lost",
		"SSL connection has been closed",
		"terminating connection",
	};
	size_t	i;

	for (i = 0; i < sizeof lost / sizeof lost[0]; i++)
		if (strstr(message, lost[i]) != NULL)
			return true;
	return false;
}

void
hd_error_from_pg(struct herald_error *error, PGconn *conn,
    const PGresult *res, const char *what)
{
	const char	*sqlstate = NULL, *primary = NULL;
	char		 reason[sizeof(error->message)];

	if (error == NULL)
		return;

	if (res != NULL) {
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (primary != NULL)
		db_copy_trimmed(reason, sizeof(reason), primary);
	else if (res != NULL && PQresultErrorMessage(res)[0] != '\0')
		db_copy_trimmed(reason, sizeof(reason),
		    PQresultErrorMessage(res));
	else if (conn != NULL && PQerrorMessage(conn)[0] != '\0')
		db_copy_trimmed(reason, sizeof(reason), PQerrorMessage(conn));
	else if (conn == NULL)
		snprintf(reason, sizeof(reason), "no connection");
	else
		snprintf(reason, sizeof(reason), "unexpected result status %s",
		    res != NULL ? PQresStatus(PQresultStatus(res)) : "none");

	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD ||
	    (sqlstate == NULL && db_message_lost(reason)))
		hd_error_set(error, HERALD_ECONNECT, "%s: %s", what, reason);
	else
		hd_error_set(error, HERALD_EDB, "%s: %s", what, reason);
	if (sqlstate != NULL && strlen(sqlstate) == 5)
		memcpy(error->sqlstate, sqlstate, 6);
	else if (error->code == HERALD_ECONNECT)
		/* A lost connection has no result to carry one. */
		memcpy(error->sqlstate, "08006", 6);
}

/*
 * Drop server notices.  libpq's default processor prints them on standard
 * error, where they would break heraldd's logfmt lines.
 */
static void
db_ignore_notice(void *arg, const char *message)
{
}

/*
 * Check the syntax of a conninfo string or URI before connecting, because
 * libpq's parse errors quote the text around the mistake, which may be a
 * password.  A plain database name needs no check.
 */
static int
db_check_conninfo(const char *conninfo, struct herald_error *error)
{
	PQconninfoOption	*options;
	char			*message = NULL;

	if (strchr(conninfo, '=') == NULL &&
	    strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strncmp(conninfo, "postgres://", 11) != 0)
		return 0;

	options = PQconninfoParse(conninfo, &message);
	if (options != NULL) {
		PQconninfoFree(options);
		return 0;
	}
	if (message == NULL) {
		hd_error_set(error, HERALD_ENOMEM,
		    "out of memory while parsing the connection string");
		return -1;
	}

	/* An unknown keyword is safe to name: it is not a value. */
	if (strncmp(message, "invalid connection option", 25) == 0) {
		char	reason[256];

		db_copy_trimmed(reason, sizeof(reason), message);
		hd_error_set(error, HERALD_EINVAL,
		    "invalid connection string: %s", reason);
	} else
		hd_error_set(error, HERALD_EINVAL,
		    "invalid connection string: syntax error");
	PQfreemem(message);
	return -1;
}

void
hd_db_connect_params(const char *conninfo, const char *application_name,
    const char *keywords[HD_DB_PARAMS_MAX],
    const char *values[HD_DB_PARAMS_MAX])
{
	/*
	 * Defaults that bound how long a dead server or network goes
	 * unnoticed.  Keepalives and tcp_user_timeout (ms) apply to TCP
	 * connections only; libpq ignores them on unix sockets.  A server
	 * in recovery is refused like an unreachable one, since nothing
	 * herald does can run there.
	 */
	static const char *const defaults[][2] = {
		{ "connect_timeout", "10" },
		{ "keepalives", "1" },
		{ "keepalives_idle", "10" },
		{ "keepalives_interval", "5" },
		{ "keepalives_count", "3" },
		{ "tcp_user_timeout", "30000" },
		{ "target_session_attrs", "read-write" },
		{ "options", HD_DB_OPTIONS },
	};
	size_t	i;
	int	n = 0;

	/*
	 * Later keywords override earlier ones: the conninfo may change the
	 * defaults and choose its client encoding, but application_name is
	 * always ours.
	 */
	for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		keywords[n] = defaults[i][0];
		values[n++] = defaults[i][1];
	}
	keywords[n] = "client_encoding";
	values[n++] = "UTF8";
	keywords[n] = "dbname";
	values[n++] = conninfo != NULL ? conninfo : "";
	if (application_name != NULL) {
		keywords[n] = "application_name";
		values[n++] = application_name;
	}
	keywords[n] = NULL;
	values[n] = NULL;
}

PGconn *
hd_db_connect(const char *conninfo, const char *application_name,
    struct herald_error *error)
{
	const char	*keywords[HD_DB_PARAMS_MAX], *values[HD_DB_PARAMS_MAX];
	PGconn		*conn;

	if (conninfo == NULL)
		conninfo = "";
	if (db_check_conninfo(conninfo, error) == -1)
		return NULL;
	hd_db_connect_params(conninfo, application_name, keywords, values);
	conn = PQconnectdbParams(keywords, values, 1);
	if (conn == NULL) {
		hd_error_set(error, HERALD_ENOMEM,
		    "out of memory while connecting");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		hd_db_connect_error(conn, error);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_ignore_notice, NULL);
	return conn;
}

void
hd_db_connect_error(PGconn *conn, struct herald_error *error)
{
	char	reason[sizeof(error->message)];

	db_copy_trimmed(reason, sizeof(reason), conn != NULL ?
	    PQerrorMessage(conn) : "out of memory while connecting");
	hd_error_set(error, HERALD_ECONNECT, "%s", reason);
	if (error != NULL)
		snprintf(error->sqlstate, sizeof(error->sqlstate), "%s",
		    db_connect_sqlstate(reason));
}

bool
hd_db_connect_lasting(const struct herald_error *error)
{
	static const char *const lasting[] = {
		"28P01",	/* password authentication failed */
		"28000",	/* no pg_hba.conf entry, no such role */
		"3D000",	/* no such database */
		"42501",	/* no CONNECT privilege */
		"55000",	/* the database takes no connections */
	};
	size_t	i;

	if (strstr(error->message, "could not translate host name") != NULL)
		return true;
	for (i = 0; i < sizeof lasting / sizeof lasting[0]; i++)
		if (strcmp(error->sqlstate, lasting[i]) == 0)
			return true;
	return false;
}

int
hd_check_client_encoding(PGconn *conn, struct herald_error *error)
{
	const char	*name = pg_encoding_to_char(PQclientEncoding(conn));
	const char	*server = PQparameterStatus(conn, "server_encoding");

	if (strcmp(name, "UTF8") == 0)
		return 0;
	/*
	 * SQL_ASCII converts nothing: the bytes arrive as they are, which
	 * keeps UTF-8 only in a database that stores UTF-8 or bytes.
	 */
	if (strcmp(name, "SQL_ASCII") == 0 && server != NULL &&
	    (strcmp(server, "UTF8") == 0 || strcmp(server, "SQL_ASCII") == 0))
		return 0;
	hd_error_set(error, HERALD_ESTATE, "connection's client_encoding is "
	    "%s%s%s; libherald sends UTF-8, so set client_encoding to UTF8",
	    name[0] != '\0' ? name : "unknown",
	    strcmp(name, "SQL_ASCII") == 0 ? " in a database of encoding " :
	    "", strcmp(name, "SQL_ASCII") == 0 && server != NULL ? server :
	    "");
	return -1;
}

int
hd_db_exec(PGconn *conn, const char *sql, struct herald_error *error)
{
	PGresult	*res;

	res = PQexec(conn, sql);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, "command failed");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

bool
hd_db_ok(const PGresult *res)
{
	ExecStatusType	status;

	if (res == NULL)
		return false;
	status = PQresultStatus(res);
	return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

/* Return the milliseconds left until deadline_ms of CLOCK_MONOTONIC. */
static int
db_ms_left(int64_t deadline_ms)
{
	struct timespec	ts;
	int64_t		now_ms;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now_ms >= deadline_ms ? 0 : (int)(deadline_ms - now_ms);
}

int
hd_db_ping(PGconn *conn, int timeout_ms, struct herald_error *error)
{
	struct timespec	 ts;
	struct pollfd	 pfd;
	PGresult	*res;
	int64_t		 deadline_ms;
	int		 ok = 1, left, r;

	if (PQsendQuery(conn, "SELECT 1") == 0) {
		hd_error_from_pg(error, conn, NULL, "ping");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    timeout_ms;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	while (PQisBusy(conn)) {
		left = db_ms_left(deadline_ms);
		r = left > 0 ? poll(&pfd, 1, left) : 0;
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			hd_error_set(error, HERALD_ECONNECT,
			    "ping: no answer within %d ms", timeout_ms);
			return -1;
		}
		if (PQconsumeInput(conn) == 0) {
			hd_error_from_pg(error, conn, NULL, "ping");
			return -1;
		}
	}
	while ((res = PQgetResult(conn)) != NULL) {
		if (ok && !hd_db_ok(res)) {
			hd_error_from_pg(error, conn, res, "ping");
			ok = 0;
		}
		PQclear(res);
	}
	return ok ? 0 : -1;
}

/*
 * Copy sql with herald.jobs, herald.live_jobs and herald.dead_jobs replaced
 * by their redacted views, which have the same columns with payload NULL
 * and the output tails left out of errors.  Deriving the variants keeps
 * them in step with the queries.
 */
char *
hd_db_redact_sql(const char *sql)
{
	static const char *const tables[] = {
		"herald.jobs", "herald.live_jobs", "herald.dead_jobs", NULL
	};
	const char *const	*t;
	const char		*p = sql, *hit, *best;
	size_t			 len = strlen(sql), out = 0, n;
	char			*copy;

	/* Each name replaced is 11 bytes or more and grows by 9. */
	copy = hd_xmalloc(len * 2 + 1);
	for (;;) {
		best = NULL;
		n = 0;
		for (t = tables; *t != NULL; t++) {
			hit = strstr(p, *t);
			while (hit != NULL && (hit[strlen(*t)] == '_' ||
			    isalnum((unsigned char)hit[strlen(*t)])))
				hit = strstr(hit + 1, *t);
			if (hit != NULL && (best == NULL || hit < best)) {
				best = hit;
				n = strlen(*t);
			}
		}
		if (best == NULL)
			break;
		memcpy(copy + out, p, (size_t)(best - p) + n);
		out += (size_t)(best - p) + n;
		memcpy(copy + out, "_redacted", 9);
		out += 9;
		p = best + n;
	}
	memcpy(copy + out, p, strlen(p) + 1);
	return copy;
}

const char *
hd_error_reason(const struct herald_error *error)
{
	static const struct {
		const char	*sqlstate;
		const char	*reason;
	} reasons[] = {
		{ "08001", "server not reachable" },
		{ "08006", "connection failure" },
		{ "28000", "authorization rejected" },
		{ "28P01", "password authentication failed" },
		{ "3D000", "database does not exist" },
		{ "42501", "permission denied" },
		{ "53300", "too many connections" },
		{ "57P01", "server shut down" },
		{ "57P03", "server starting up or shutting down" },
	};
	size_t	i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strcmp(error->sqlstate, reasons[i].sqlstate) == 0)
			return reasons[i].reason;
	return herald_strerror(error->code);
}

const char *
hd_error_grant_hint(const struct herald_error *error)
{
	if (strcmp(error->sqlstate, "42501") != 0)
		return NULL;
	/* The server rejected the connection itself. */
	if (strstr(error->message, "permission denied for database") != NULL)
		return "grant CONNECT on the database to the role of job_db";
	return "grant herald_worker to the role of job_db";
}
