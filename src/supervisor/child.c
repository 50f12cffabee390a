/*
 * child.c: heraldd-child, which runs one worker, the relay or the janitor
 * of heraldd, or checks a configuration for it (child.h).
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "child.h"
#include "config.h"
#include "db.h"
#include "herald.h"
#include "janitor.h"
#include "log.h"
#include "migrate.h"
#include "module.h"
#include "relay.h"
#include "started.h"
#include "util.h"
#include "worker.h"

void
hd_conninfo_role(const char *conninfo, char *buf, size_t size)
{
	PQconninfoOption	*options, *o;
	const char		*user = NULL;
	struct passwd		*pw;

	options = PQconninfoParse(conninfo != NULL ? conninfo : "", NULL);
	for (o = options; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "user") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			user = o->val;
	if (user == NULL && (user = getenv("PGUSER")) != NULL &&
	    user[0] == '\0')
		user = NULL;
	if (user == NULL && (pw = getpwuid(geteuid())) != NULL)
		user = pw->pw_name;
	snprintf(buf, size, "%s", user != NULL ? user : "unknown");
	PQconninfoFree(options);
}

/*
 * Log that the database of conninfo (what: "job database") could not be
 * reached before the start, naming its host, port, database and user as
 * the connection string gives them, and the error's kind, not the
 * server's text.
 */
static void
log_unreachable(const char *conninfo, const char *what,
    const struct herald_error *error)
{
	PQconninfoOption	*options, *o;
	const char		*host = NULL, *port = NULL, *dbname = NULL;
	char			 user[128];

	hd_conninfo_role(conninfo, user, sizeof user);
	options = PQconninfoParse(conninfo, NULL);
	for (o = options; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
	}
	hd_log_warn("could not connect before the start, starting anyway",
	    "database=%s host=%s port=%s dbname=%s user=%s error=%s "
	    "sqlstate=%s", what, host != NULL ? host : "(default)",
	    port != NULL ? port : "(default)",
	    dbname != NULL ? dbname : "(default)", user,
	    hd_error_reason(error),
	    error->sqlstate);
	PQconninfoFree(options);
}

/*
 * Check the schema of a database before any child starts, so that an
 * unmigrated database stops heraldd at once instead of making every
 * child exit and restart.  A database that cannot be reached is not an
 * error here: the children wait for it and reconnect.  That is logged
 * once, with the database's name.
 */
static int
check_schema(const char *conninfo, enum hd_schema schema, const char *what,
    char *message, size_t size)
{
	struct herald_error	 error;
	PGconn			*conn;
	int			 rc = 0;

	memset(&error, 0, sizeof error);
	conn = hd_db_connect(conninfo, "heraldd", &error);
	if (conn == NULL) {
		if (error.code == HERALD_EINVAL) {
			snprintf(message, size, "invalid %s connection "
			    "string: %s", what, error.message);
			return -1;
		}
		log_unreachable(conninfo, what, &error);
		return 0;
	}
	if (hd_schema_check(conn, schema, &error) == -1 &&
	    error.code == HERALD_ESCHEMA) {
		snprintf(message, size, "%s", error.message);
		rc = -1;
	}
	PQfinish(conn);
	return rc;
}

/* How long heraldd --check waits for one module to load. */
#define CHECK_MODULE_WAIT_MS	10000

/*
 * Read what the process that loads a module writes on fd, up to size - 1
 * bytes, until it closes fd or CHECK_MODULE_WAIT_MS pass.  Return the
 * length read, or -1 on the timeout.
 */
static ssize_t
read_module_result(int fd, char *buf, size_t size)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int64_t		deadline = hd_monotonic_ms() + CHECK_MODULE_WAIT_MS;
	int64_t		left;
	size_t		len = 0;
	ssize_t		n;
	int		ready;

	while (len < size - 1) {
		left = deadline - hd_monotonic_ms();
		ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (ready == -1 && errno == EINTR)
			continue;
		if (ready <= 0)
			return -1;
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * Load the module of task t in a process of its own, as a worker would
 * at the task's first job.  The module's initializers run there, so one
 * that crashes, ends the process or blocks is reported as such, and the
 * other modules are checked all the same.  Return 0 when the module
 * loads and has its symbol, or -1 with the reason in error.
 */
static int
check_module(const struct hd_task_config *t, char *error, size_t size)
{
	char	 result[HD_CONFIG_ERROR_MAX];
	int	 fds[2], status, null;
	ssize_t	 len;
	pid_t	 pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(error, size, "could not check module %s: %s",
		    t->module_path, strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(error, size, "could not check module %s: %s",
		    t->module_path, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		/* Standard output carries the check's message to heraldd. */
		if ((null = open("/dev/null", O_WRONLY)) != -1)
			dup2(null, STDOUT_FILENO);
		result[0] = '+';
		if (hd_module_load(t->module_path, t->module_symbol,
		    result + 1, sizeof result - 1) == NULL)
			result[0] = '-';
		else
			result[1] = '\0';
		len = (ssize_t)strlen(result);
		_exit(write(fds[1], result, (size_t)len) == len ? 0 : 1);
	}
	close(fds[1]);
	len = read_module_result(fds[0], result, sizeof result);
	close(fds[0]);
	if (len == -1)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (len == -1)
		snprintf(error, size, "module %s did not finish loading within "
		    "%d s; an initializer of the module may block",
		    t->module_path, CHECK_MODULE_WAIT_MS / 1000);
	else if (len > 0 && result[0] == '+')
		return 0;
	else if (len > 0)
		snprintf(error, size, "%s", result + 1);
	else if (WIFSIGNALED(status))
		snprintf(error, size, "module %s crashed while loading: "
		    "signal %d (%s)", t->module_path, WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(error, size, "module %s ended the process while "
		    "loading, with exit status %d", t->module_path,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return -1;
}

/*
 * Load the module of each module task and warn on standard error about
 * each one that fails.  heraldd has warned about a path that is not a
 * readable file already.  A name without a slash is always tried, since
 * dlopen(3) searches the library path for it.
 */
static void
warn_modules(const struct hd_config *config)
{
	const struct hd_task_config	*t;
	struct stat			 st;
	char				 error[HD_CONFIG_ERROR_MAX];
	size_t				 i;

	for (i = 0; i < config->ntasks; i++) {
		t = &config->tasks[i];
		if (t->module_path == NULL)
			continue;
		if (strchr(t->module_path, '/') != NULL &&
		    (stat(t->module_path, &st) == -1 || !S_ISREG(st.st_mode) ||
		    access(t->module_path, R_OK) != 0))
			continue;
		if (check_module(t, error, sizeof error) == -1)
			fprintf(stderr, "heraldd: warning: %s: tasks.%s.module: "
			    "%s\n", config->path, t->setting, error);
	}
}

/*
 * Run the check role: print the first problem of the configuration on
 * standard output, for heraldd, and return EX_CONFIG, or return 0.
 * For heraldd --check (spec->load_modules), also load the modules.
 */
static int
run_check(const struct hd_child_spec *spec)
{
	struct hd_config	*config;
	/* Room for a message of hd_config_parse() or of libpq. */
	char			 error[2 * HD_CONFIG_ERROR_MAX];
	sigset_t		 none;
	int			 rc = 0;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	config = hd_config_parse(spec->config_path, spec->config_text,
	    spec->config_len, error, sizeof error);
	if (config == NULL) {
		printf("%s\n", error);
		return EX_CONFIG;
	}
	if (spec->check_schema &&
	    (check_schema(config->job_db, HD_SCHEMA_JOB, "job database",
	    error, sizeof error) == -1 || (config->app_db != NULL &&
	    check_schema(config->app_db, HD_SCHEMA_APP,
	    "application database", error, sizeof error) == -1))) {
		printf("%s\n", error);
		rc = EX_CONFIG;
	}
	if (spec->load_modules)
		warn_modules(config);
	hd_config_free(config);
	return rc;
}

/*
 * A worker's region of started jobs.  It stays mapped until the process
 * exits, since a module thread abandoned in a handler may still use it.
 */
static struct hd_started	*started;

/* Return fd when it is open, else -1. */
static int
open_or_none(int fd)
{
	return fcntl(fd, F_GETFD) == -1 ? -1 : fd;
}

static int
run_role(const struct hd_child_spec *spec, const struct hd_config *config)
{
	const struct hd_queue_config	*q;
	pid_t				 pid = getpid();
	int				 extra;

	/*
	 * heraldd reports ready once each child of its start wrote its pid
	 * here or exited.  A write this short is never split.
	 */
	if (write(HD_CHILD_UP_FD, &pid, sizeof pid) == -1)
		hd_log_debug("could not report start", "error=%s",
		    strerror(errno));
	close(HD_CHILD_UP_FD);
	extra = open_or_none(HD_CHILD_EXTRA_FD);

	if (strcmp(spec->role, "janitor") == 0)
		return hd_janitor_main(config, spec->supervisor_id,
		    spec->worker_id, spec->lost_id, extra);
	if (strcmp(spec->role, "relay") == 0)
		return hd_relay_main(config, spec->supervisor_id,
		    spec->worker_id, spec->lost_id);
	if (spec->queue == NULL || spec->worker_id == NULL ||
	    (q = hd_config_queue(config, spec->queue)) == NULL) {
		hd_log_error("worker has no queue to run", "queue=%s",
		    spec->queue != NULL ? spec->queue : "");
		return EX_SOFTWARE;
	}
	if (extra != -1 && (started = hd_started_attach(extra)) == NULL)
		hd_log_warn("could not map started jobs", "queue=%s error=%s",
		    q->name, strerror(errno));
	return hd_worker_main(config, q, spec->supervisor_id,
	    spec->worker_id, spec->lost_id != NULL ? spec->lost_id : "",
	    &spec->lost_started, started);
}

int
main(int argc, char **argv)
{
	struct hd_child_spec	 spec;
	struct hd_config	*config;
	char			 error[HD_CONFIG_ERROR_MAX];
	int			 status;

	if (argc < 2 || open_or_none(HD_CHILD_SPEC_FD) == -1) {
		fprintf(stderr, "heraldd-child: heraldd starts this program "
		    "for its workers, relay and janitor; run heraldd "
		    "instead\n");
		return EX_USAGE;
	}
	hd_log_init("heraldd", HD_LOG_INFO);
	hd_log_set_role(argv[1]);
	if (strcmp(argv[1], "worker") != 0 && strcmp(argv[1], "relay") != 0 &&
	    strcmp(argv[1], "janitor") != 0 && strcmp(argv[1], "check") != 0) {
		hd_log_error("unknown child role", "child_role=%s "
		    "expected=\"worker, relay, janitor or check\"", argv[1]);
		return EX_USAGE;
	}
	if (hd_child_spec_read(HD_CHILD_SPEC_FD, &spec, error,
	    sizeof error) == -1) {
		hd_log_error("could not start child", "error=%s", error);
		return EX_SOFTWARE;
	}
	close(HD_CHILD_SPEC_FD);
	if (strcmp(spec.role, argv[1]) != 0) {
		hd_log_error("could not start child", "child_role=%s "
		    "expected_role=%s", argv[1], spec.role);
		hd_child_spec_clear(&spec);
		return EX_SOFTWARE;
	}
	if (strcmp(spec.role, "check") == 0) {
		status = run_check(&spec);
		hd_child_spec_clear(&spec);
		return status;
	}

	config = hd_config_parse(spec.config_path, spec.config_text,
	    spec.config_len, error, sizeof error);
	if (config == NULL) {
		/*
		 * heraldd parsed the same text, but an @include file or the
		 * user database may have changed since.
		 */
		hd_log_error("configuration invalid", "file=%s error=%s",
		    spec.config_path, error);
		hd_child_spec_clear(&spec);
		return EX_CONFIG;
	}
	hd_log_threshold = spec.verbose ? HD_LOG_DEBUG : config->log_level;
	status = run_role(&spec, config);
	hd_config_free(config);
	hd_child_spec_clear(&spec);
	return status;
}

bool
hd_log_schema_mismatch(PGconn *conn, enum hd_schema schema)
{
	static bool		 logged;
	struct herald_error	 error;
	const char		*msg, *hint;
	int			 version = -1, expected = 0;

	if (schema == HD_SCHEMA_JOB && hd_job_migrations_count > 0)
		expected =
		    hd_job_migrations[hd_job_migrations_count - 1].version;
	if (schema == HD_SCHEMA_APP && hd_app_migrations_count > 0)
		expected =
		    hd_app_migrations[hd_app_migrations_count - 1].version;
	if (hd_schema_version(conn, schema, &version, &error) == -1)
		version = -1;
	msg = schema == HD_SCHEMA_JOB ? "job database schema is not current" :
	    "application database schema is not current";
	if (version > expected)
		hint = "upgrade heraldd to the version that migrated the "
		    "database";
	else
		hint = schema == HD_SCHEMA_JOB ? "run herald migrate" :
		    "run herald migrate --app";
	if (!logged)
		hd_log_error(msg, "schema_version=%d expected_version=%d "
		    "hint=%s", version, expected, hint);
	else
		hd_log_debug(msg, "schema_version=%d expected_version=%d",
		    version, expected);
	logged = true;
	return version >= 0 && version < expected;
}

/* The delay after failures failed attempts, doubling up to max_ms. */
static int64_t
reconnect_delay(int failures, int64_t max_ms)
{
	struct hd_retry_policy	policy;

	hd_retry_policy_init(&policy);
	policy.base_delay_ms = HD_RECONNECT_MIN_MS;
	policy.factor = 2.0;
	policy.max_delay_ms = max_ms;
	policy.jitter = 0.2;
	return hd_backoff_delay_ms(&policy, failures + 1, hd_backoff_random());
}

int64_t
hd_reconnect_delay_ms(int failures)
{
	return reconnect_delay(failures, HD_RECONNECT_MAX_MS);
}

int64_t
hd_reconnect_delay_after(int failures, const struct herald_error *error)
{
	/*
	 * libpq gives no SQLSTATE for a failed connection, and db.c reads
	 * 57P03 from the message, which a server shutting down or a standby
	 * with hot_standby off also sends.  Only the start and the recovery
	 * after a crash are short.  A standby that has not yet reached a
	 * consistent state sends the last message too, until it does.
	 */
	static const char *const starting[] = {
		"the database system is starting up",
		"the database system is in recovery mode",
		"the database system is not yet accepting connections",
	};
	size_t	i;

	if (strcmp(error->sqlstate, "57P03") == 0 &&
	    failures < HD_RECONNECT_STARTING_TRIES)
		for (i = 0; i < sizeof starting / sizeof starting[0]; i++)
			if (strstr(error->message, starting[i]) != NULL)
				return reconnect_delay(failures,
				    HD_RECONNECT_STARTING_MS);
	return reconnect_delay(failures, HD_RECONNECT_MAX_MS);
}

bool
hd_db_error_is_fatal(PGconn *conn, const struct herald_error *error)
{
	if (error->code == HERALD_ECONNECT || conn == NULL ||
	    PQstatus(conn) == CONNECTION_BAD)
		return true;
	/*
	 * Class 57 is operator intervention (shutdown, a terminated
	 * backend); 25006 is read_only_sql_transaction (recovery).
	 */
	return strncmp(error->sqlstate, "57", 2) == 0 ||
	    strcmp(error->sqlstate, "25006") == 0;
}
