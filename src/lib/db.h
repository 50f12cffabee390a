/*
 * db.h: libpq helpers shared by every part of herald.
 */

#ifndef HD_DB_H
#define HD_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "herald.h"

/* Fill error (which may be NULL) with code and a printf-style message. */
void	hd_error_set(struct herald_error *error, enum herald_code code,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Fill error from a failed result, or from the connection when res is
 * NULL: HERALD_ECONNECT with SQLSTATE 08006 (connection_failure) when the
 * connection is bad, else HERALD_EDB with the result's SQLSTATE, and
 * "what: server message" as the message.
 */
void	hd_error_from_pg(struct herald_error *error, PGconn *conn,
	    const PGresult *res, const char *what);

/*
 * Server options of every connection, which a conninfo's own options
 * replace.  herald's statements are short, and PostgreSQL compiles any
 * statement whose estimated cost passes jit_above_cost.  On a job
 * database of a million jobs (PostgreSQL 15 with LLVM), that took 100 ms
 * of a 125 ms console refresh, whose cost estimate came from the default
 * row count of set-returning functions.  The time zone is UTC because
 * the times that SQL functions write into a job's history take the
 * session's zone, and the console and herald dead show print them as UTC.
 */
#define HD_DB_OPTIONS	"-c jit=off -c TimeZone=UTC"

/*
 * Open a connection with application_name set to application_name; on
 * failure return NULL with the reason in error.  Its sqlstate names the
 * cause: 08001 when no server could be reached, 28P01 or 28000 when
 * authentication failed, 3D000 for a missing database, 57P03 while the
 * server starts or stops, 08006 for any other.  The conninfo is never
 * copied into the message, since it may contain a password.  Server
 * notices on the connection are discarded, since libpq would print them
 * on standard error.
 */
PGconn	*hd_db_connect(const char *conninfo, const char *application_name,
	    struct herald_error *error);

/* The keywords and values hd_db_connect() passes, ending in NULL. */
#define HD_DB_PARAMS_MAX	16
void	hd_db_connect_params(const char *conninfo,
	    const char *application_name,
	    const char *keywords[HD_DB_PARAMS_MAX],
	    const char *values[HD_DB_PARAMS_MAX]);

/*
 * Fill error from conn, whose connection attempt failed, as
 * hd_db_connect() does: HERALD_ECONNECT, libpq's message on one line and
 * the SQLSTATE read from it.
 */
void	hd_db_connect_error(PGconn *conn, struct herald_error *error);

/*
 * Return whether a failed connection cannot open later without a change
 * of configuration: a rejected login, a role or database that does not
 * exist, or a host name that does not resolve, which is treated as a
 * typo.  A server that is down, starting, stopping or full, or that
 * sends a message of another language, may take the connection later.
 */
bool	hd_db_connect_lasting(const struct herald_error *error);

/*
 * A short fixed description of error for a log line: the condition of
 * its SQLSTATE when it is one that an operator meets when connecting,
 * such as "database does not exist", else herald_strerror() of its code.
 * It never quotes the server's message, which may contain data.
 */
const char *hd_error_reason(const struct herald_error *error);

/*
 * The hint that names the grant a job database role lacks after error,
 * or NULL for an error of another kind.
 */
const char *hd_error_grant_hint(const struct herald_error *error);

/*
 * Fail with HERALD_ESTATE unless conn's client_encoding is UTF8, or
 * SQL_ASCII in a database of encoding UTF8 or SQL_ASCII: payloads and
 * names are sent as UTF-8, which the server would convert from another
 * encoding byte by byte.
 */
int	hd_check_client_encoding(PGconn *conn, struct herald_error *error);

/* Run a command that returns no rows; 0 or -1 with error filled. */
int	hd_db_exec(PGconn *conn, const char *sql, struct herald_error *error);

/*
 * Run "SELECT 1" and wait at most timeout_ms for its answer, so a
 * half-open connection is noticed even when TCP cannot notice it.
 * Return 0, or -1 with error filled (HERALD_ECONNECT on a timeout, after
 * which the connection must be closed).  Notifications that arrive
 * meanwhile stay queued for PQnotifies().
 */
int	hd_db_ping(PGconn *conn, int timeout_ms, struct herald_error *error);

/* True when res is PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
bool	hd_db_ok(const PGresult *res);

/* SQLSTATE insufficient_privilege, which herald_viewer gets on payloads. */
#define HD_SQLSTATE_DENIED	"42501"

/*
 * Return a copy of sql, which the caller frees, with herald.jobs,
 * herald.live_jobs and herald.dead_jobs replaced by their redacted views,
 * for a role such as herald_viewer that may not read payloads.
 */
char	*hd_db_redact_sql(const char *sql);

#endif /* HD_DB_H */
