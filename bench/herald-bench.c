/*
 * herald-bench.c: throughput and latency of herald on a private
 * PostgreSQL, printed as RESULT lines that the peers' table reads.
 *
 *	herald-bench [SCENARIO...]
 *
 * With no scenario it runs the four the peer benchmark defines
 * (enqueue_single, enqueue_bulk, process_noop, latency), so that it can
 * run as that benchmark's EXTRA_BENCH.  The others are process_exec,
 * fork_exec, relay, rss, console, raw_insert, raw_insert_notify,
 * raw_claim_complete and raw_wake.  The server comes from PGHOST, PGPORT and PGUSER;
 * every scenario makes its own database, named bench_herald_*, and drops
 * it afterwards.  Sizes come from the BENCH_* variables of the peer
 * benchmark.  heraldd, herald and the module are looked up next to this
 * program's build directory unless HERALD_BENCH_HERALDD,
 * HERALD_BENCH_HERALD and HERALD_BENCH_MODULE name them.
 *
 * Measurements go to standard output, progress and errors to standard
 * error.  A scenario that fails prints no RESULT line and makes the exit
 * status 1.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "herald.h"
#include "db.h"
#include "migrate.h"
#include "model.h"
#include "util.h"

#define BENCH_QUEUE	"bench"
#define BENCH_TASK	"bench"

/* Sizes, from the environment. */
struct sizes {
	int	concurrency;
	int	single_jobs;
	int	bulk_jobs;
	int	batch;
	int	bulk_clients;
	int	process_jobs;
	int	process_max_s;
	int	exec_jobs;
	int	lat_jobs;
	int	lat_gap_ms;
	int	lat_warmup;
	int	relay_events;
	int	rss_jobs;
	int	console_queued;
	int	console_dead;
	int	raw_claim_jobs;
	int	workers;	/* heraldd worker processes */
	const char *run;
};

static struct sizes	sz;
static char		heraldd_path[PATH_MAX];
static char		herald_path[PATH_MAX];
static char		module_path[PATH_MAX];
static char		tmp_dir[PATH_MAX];

static void
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "herald-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
note(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "herald-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
env_int(const char *name, int fallback)
{
	const char	*v = getenv(name);

	return v != NULL && *v != '\0' ? atoi(v) : fallback;
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ms(double ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Connect to database name of the server in PG*; exits on failure. */
static PGconn *
connect_db(const char *name)
{
	const char	*keys[] = { "dbname", "application_name", NULL };
	const char	*values[] = { name, "herald-bench", NULL };
	PGconn		*conn;

	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
		die("could not connect to database %s: %s", name,
		    PQerrorMessage(conn));
	return conn;
}

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);

	if (!hd_db_ok(res))
		die("statement failed: %s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

static int64_t
query_int(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);
	int64_t		 v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		die("query failed: %s: %s", sql, PQerrorMessage(conn));
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Drop and create database name; with job or app, migrate that schema. */
static void
fresh_db(const char *name, bool job, bool app)
{
	struct herald_error	 error;
	PGconn			*admin = connect_db("postgres"), *conn;
	char			 sql[256];

	snprintf(sql, sizeof sql,
	    "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	exec_ok(admin, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	exec_ok(admin, sql);
	PQfinish(admin);
	conn = connect_db(name);
	if (job && hd_migrate(conn, HD_SCHEMA_JOB, &error) == -1)
		die("could not migrate %s: %s", name, error.message);
	if (app && hd_migrate(conn, HD_SCHEMA_APP, &error) == -1)
		die("could not migrate %s: %s", name, error.message);
	PQfinish(conn);
}

static void
drop_db(const char *name)
{
	PGconn	*admin = connect_db("postgres");
	char	 sql[256];

	snprintf(sql, sizeof sql,
	    "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	exec_ok(admin, sql);
	PQfinish(admin);
}

static void
result(const char *fmt, ...)
{
	va_list	ap;

	printf("RESULT system=herald version=%s ", HERALD_VERSION);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int
compare_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: element ceil(p / 100 * n) - 1 of the sorted values. */
static double
percentile(const double *sorted, size_t n, double p)
{
	size_t	rank = (size_t)ceil(p / 100.0 * (double)n);

	if (n == 0)
		return NAN;
	return sorted[rank > 0 ? rank - 1 : 0];
}

/* --- producers ----------------------------------------------------- */

struct producer {
	const char	*db;
	atomic_int	*next;		/* jobs handed out so far */
	int		 total;
	int		 batch;		/* 0: herald_enqueue, one job a call */
	const char	*sql;		/* raw_* scenarios: a statement a call */
	const char	*sql_then;	/* then this, with sql's value as $1 */
	PGconn		*conn;
	pthread_barrier_t *start;
	bool		 failed;
};

/* Run the raw statements of one call; false when one failed. */
static bool
producer_raw(struct producer *p)
{
	const char	*values[1];
	PGresult	*res, *then;
	bool		 ok;

	res = PQexec(p->conn, p->sql);
	ok = hd_db_ok(res);
	if (ok && p->sql_then != NULL) {
		values[0] = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "{}";
		then = PQexecParams(p->conn, p->sql_then, 1, NULL, values, NULL,
		    NULL, 0);
		ok = hd_db_ok(then);
		PQclear(then);
	}
	if (!ok)
		note("raw statement failed: %s", PQerrorMessage(p->conn));
	PQclear(res);
	return ok;
}

static void *
producer_run(void *arg)
{
	struct producer		*p = arg;
	struct herald_job	*jobs = NULL;
	struct herald_job_options options = { .queue = BENCH_QUEUE };
	struct herald_error	 error;
	int			 i, n;

	if (p->batch > 0) {
		jobs = calloc((size_t)p->batch, sizeof *jobs);
		for (i = 0; i < p->batch; i++) {
			jobs[i].task = BENCH_TASK;
			jobs[i].payload = "{}";
			jobs[i].options.queue = BENCH_QUEUE;
		}
	}
	pthread_barrier_wait(p->start);
	for (;;) {
		n = p->batch > 0 ? p->batch : 1;
		i = atomic_fetch_add(p->next, n);
		if (i >= p->total)
			break;
		if (i + n > p->total)
			n = p->total - i;
		if (p->sql != NULL)
			p->failed = !producer_raw(p);
		else if (p->batch > 0) {
			if (herald_enqueue_many(p->conn, jobs, (size_t)n, NULL,
			    &error) == -1) {
				note("enqueue_many failed: %s", error.message);
				p->failed = true;
			}
		} else if (herald_enqueue(p->conn, BENCH_TASK, "{}", &options,
		    NULL, &error) == -1) {
			note("enqueue failed: %s", error.message);
			p->failed = true;
		}
		if (p->failed)
			break;
	}
	free(jobs);
	return NULL;
}

/*
 * Run total calls from nclients threads, each on its own connection
 * opened before the clock starts; return the wall time in seconds.
 */
static double
run_producers(const char *db, int nclients, int total, int batch,
    const char *sql, const char *sql_then)
{
	struct producer		*p = calloc((size_t)nclients, sizeof *p);
	pthread_t		*threads = calloc((size_t)nclients,
				    sizeof *threads);
	pthread_barrier_t	 start;
	atomic_int		 next = 0;
	double			 t0, t1;
	bool			 failed = false;
	int			 i;

	pthread_barrier_init(&start, NULL, (unsigned)nclients + 1);
	for (i = 0; i < nclients; i++) {
		p[i].db = db;
		p[i].next = &next;
		p[i].total = total;
		p[i].batch = batch;
		p[i].sql = sql;
		p[i].sql_then = sql_then;
		p[i].conn = connect_db(db);
		p[i].start = &start;
		pthread_create(&threads[i], NULL, producer_run, &p[i]);
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (i = 0; i < nclients; i++)
		pthread_join(threads[i], NULL);
	t1 = now_s();
	for (i = 0; i < nclients; i++) {
		failed |= p[i].failed;
		PQfinish(p[i].conn);
	}
	pthread_barrier_destroy(&start);
	free(p);
	free(threads);
	if (failed)
		die("a producer failed");
	return t1 - t0;
}

static void
check_jobs(const char *db, int64_t want)
{
	PGconn	*conn = connect_db(db);
	int64_t	 n = query_int(conn,
	    "SELECT count(*) FROM herald.live_jobs");

	PQfinish(conn);
	if (n != want)
		die("%s: %" PRId64 " jobs in herald.jobs, expected %" PRId64,
		    db, n, want);
}

static void
scenario_enqueue_single(void)
{
	const char	*db = "bench_herald_single";
	double		 s;

	fresh_db(db, true, false);
	s = run_producers(db, sz.concurrency, sz.single_jobs, 0, NULL, NULL);
	check_jobs(db, sz.single_jobs);
	result("config=notify-when-idle scenario=enqueue_single run=%s "
	    "jobs=%d clients=%d jobs_per_s=%.1f", sz.run, sz.single_jobs,
	    sz.concurrency, sz.single_jobs / s);
	drop_db(db);
}

static void
scenario_enqueue_bulk(void)
{
	const char	*db = "bench_herald_bulk";
	double		 s;

	fresh_db(db, true, false);
	s = run_producers(db, sz.bulk_clients, sz.bulk_jobs, sz.batch, NULL,
	    NULL);
	check_jobs(db, sz.bulk_jobs);
	result("config=enqueue_many scenario=enqueue_bulk run=%s jobs=%d "
	    "batch=%d clients=%d jobs_per_s=%.1f", sz.run, sz.bulk_jobs,
	    sz.batch, sz.bulk_clients, sz.bulk_jobs / s);
	drop_db(db);
}

/* Pre-fill njobs jobs of queue bench with payload through the bulk path. */
static void
prefill(const char *db, int njobs, const char *payload)
{
	struct herald_job	*jobs = calloc((size_t)sz.batch, sizeof *jobs);
	struct herald_error	 error;
	PGconn			*conn = connect_db(db);
	int			 i, n;

	for (i = 0; i < sz.batch; i++) {
		jobs[i].task = BENCH_TASK;
		jobs[i].payload = payload;
		jobs[i].options.queue = BENCH_QUEUE;
	}
	for (i = 0; i < njobs; i += n) {
		n = njobs - i < sz.batch ? njobs - i : sz.batch;
		if (herald_enqueue_many(conn, jobs, (size_t)n, NULL,
		    &error) == -1)
			die("pre-fill failed: %s", error.message);
	}
	exec_ok(conn, "ANALYZE");
	exec_ok(conn, "CHECKPOINT");
	PQfinish(conn);
	free(jobs);
}

/* --- heraldd ------------------------------------------------------- */

enum handler_kind {
	HANDLER_MODULE = 0,
	HANDLER_EXEC
};

struct daemon {
	pid_t	 pid;
	char	 conf[PATH_MAX];
	char	 log[PATH_MAX];
};

/*
 * Write a configuration for job database db (and app database app, when
 * not NULL) with one queue of sz.workers workers that together run
 * sz.concurrency jobs at once, and start heraldd on it.
 */
static void
daemon_start(struct daemon *d, const char *db, const char *app,
    enum handler_kind handler, const char *latency_file)
{
	FILE	*f;
	int	 concurrency = sz.concurrency / sz.workers, fd;

	if (concurrency < 1)
		concurrency = 1;
	if (snprintf(d->conf, sizeof d->conf, "%s/%s.conf", tmp_dir, db) >=
	    (int)sizeof d->conf ||
	    snprintf(d->log, sizeof d->log, "%s/%s.log", tmp_dir, db) >=
	    (int)sizeof d->log)
		die("temporary directory name too long: %s", tmp_dir);
	if ((f = fopen(d->conf, "w")) == NULL)
		die("could not write %s: %s", d->conf, strerror(errno));
	fprintf(f, "job_db = \"dbname=%s application_name=herald\";\n", db);
	if (app != NULL)
		fprintf(f, "app_db = \"dbname=%s\";\n", app);
	/* heraldd refuses to run handlers as root without this opt-in. */
	if (geteuid() == 0)
		fprintf(f, "allow_root_handlers = true;\n");
	fprintf(f, "log_level = \"warn\";\ngrace_period = \"5s\";\n"
	    "queues = { " BENCH_QUEUE " = { workers = %d; concurrency = %d;"
	    " }; };\ntasks = { " BENCH_TASK " = { queue = \"" BENCH_QUEUE
	    "\"; ", sz.workers, concurrency);
	if (handler == HANDLER_MODULE)
		fprintf(f, "module = { path = \"%s\"; symbol = "
		    "\"bench_noop\"; }; }; };\n", module_path);
	else
		fprintf(f, "exec = [ \"/bin/true\" ]; }; };\n");
	if (app != NULL)
		fprintf(f, "events = { BenchEvent = [ \"" BENCH_TASK
		    "\" ]; };\n");
	fclose(f);

	d->pid = fork();
	if (d->pid == -1)
		die("fork failed: %s", strerror(errno));
	if (d->pid == 0) {
		if (latency_file != NULL)
			setenv("HERALD_BENCH_LATENCY_FILE", latency_file, 1);
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != -1)
			dup2(fd, STDERR_FILENO);
		execl(heraldd_path, "heraldd", "-c", d->conf, (char *)NULL);
		_exit(127);
	}
}

static void
daemon_stop(struct daemon *d)
{
	int	status, i;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return;
		}
		sleep_ms(10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
}

/* Wait until nworkers workers registered and wait on their socket. */
static void
wait_workers(PGconn *conn, struct daemon *d, int nworkers)
{
	double	deadline = now_s() + 20;
	char	sql[512];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name = "
	    "'herald worker " BENCH_QUEUE "' AND state = 'idle'");
	while (query_int(conn, "SELECT count(*) FROM herald.processes "
	    "WHERE kind = 'worker'") < nworkers || query_int(conn, sql) <
	    nworkers) {
		if (now_s() > deadline) {
			daemon_stop(d);
			die("heraldd workers did not start; see %s", d->log);
		}
		sleep_ms(20);
	}
}

/*
 * Wait until herald.jobs is empty; poll once a second while more than
 * two seconds of work seem left, then every 5 ms.  Return the time it
 * was found empty, or -1 after max_s seconds from t0 (with *left set).
 */
static double
wait_drained(PGconn *conn, double t0, int njobs, int max_s, int64_t *left)
{
	double	t, rate;

	for (;;) {
		*left = query_int(conn, "SELECT count(*) FROM herald.jobs");
		t = now_s();
		if (*left == 0)
			return t;
		if (t - t0 > max_s)
			return -1;
		rate = (njobs - *left) / (t - t0);
		if (rate > 0 && *left / rate > 2)
			sleep_ms(1000);
		else {
			while (query_int(conn, "SELECT count(*) FROM (SELECT 1 "
			    "FROM herald.jobs LIMIT 1) j") > 0 &&
			    now_s() - t0 <= max_s)
				sleep_ms(5);
		}
	}
}

/* Drain njobs pre-filled jobs with heraldd; print a process_noop line. */
static void
run_process(const char *db, int njobs, enum handler_kind handler)
{
	struct daemon	 d = { 0 };
	PGconn		*conn;
	double		 t0, t1;
	int64_t		 left;
	int		 concurrency = sz.concurrency / sz.workers;

	fresh_db(db, true, false);
	conn = connect_db(db);
	exec_ok(conn, "SELECT herald.set_paused('" BENCH_QUEUE "', true, "
	    "'bench', 'localhost')");
	prefill(db, njobs, "{}");
	daemon_start(&d, db, NULL, handler, NULL);
	wait_workers(conn, &d, sz.workers);

	t0 = now_s();
	exec_ok(conn, "SELECT herald.set_paused('" BENCH_QUEUE "', false, "
	    "'bench', 'localhost')");
	t1 = wait_drained(conn, t0, njobs, sz.process_max_s, &left);
	daemon_stop(&d);
	if (t1 < 0)
		result("config=%s-w%dc%d scenario=process_noop run=%s jobs=%d "
		    "workers=%d jobs_per_s=%.1f finished=%" PRId64 " capped=1",
		    handler == HANDLER_MODULE ? "module" : "exec", sz.workers,
		    concurrency, sz.run, njobs, sz.concurrency,
		    (njobs - left) / (double)sz.process_max_s, njobs - left);
	else
		result("config=%s-w%dc%d scenario=process_noop run=%s jobs=%d "
		    "workers=%d jobs_per_s=%.1f finished=%d capped=0",
		    handler == HANDLER_MODULE ? "module" : "exec", sz.workers,
		    concurrency, sz.run, njobs, sz.concurrency,
		    njobs / (t1 - t0), njobs);
	PQfinish(conn);
	drop_db(db);
}

static void
scenario_process_noop(void)
{
	run_process("bench_herald_process", sz.process_jobs, HANDLER_MODULE);
}

static void
scenario_process_exec(void)
{
	run_process("bench_herald_exec", sz.exec_jobs, HANDLER_EXEC);
}

/*
 * The bound of the exec handler: fork, execute /bin/true and wait, with
 * sz.concurrency children at once from one process, as a worker does.
 * With use_vfork the children start with vfork(), as the worker's do.
 */
/* Start /bin/true; the child does nothing but execute it. */
static pid_t
start_true(bool use_vfork)
{
	pid_t	pid = use_vfork ? vfork() : fork();

	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
spawn_true(bool use_vfork)
{
	int	started = 0, done = 0, running = 0, status;
	double	t0 = now_s(), t1;
	pid_t	pid;

	while (done < sz.exec_jobs) {
		while (running < sz.concurrency && started < sz.exec_jobs) {
			pid = start_true(use_vfork);
			if (pid == -1)
				die("fork failed: %s", strerror(errno));
			started++;
			running++;
		}
		if (wait(&status) > 0) {
			running--;
			done++;
		}
	}
	t1 = now_s();
	result("config=%s scenario=fork_exec run=%s jobs=%d clients=%d "
	    "jobs_per_s=%.1f", use_vfork ? "raw-vfork-exec" : "raw-fork-exec",
	    sz.run, sz.exec_jobs, sz.concurrency, sz.exec_jobs / (t1 - t0));
}

static void
scenario_fork_exec(void)
{
	spawn_true(false);
	spawn_true(true);
}

/* --- latency ------------------------------------------------------- */

static void
scenario_latency(void)
{
	const char		*db = "bench_herald_latency";
	struct herald_job_options options = { .queue = BENCH_QUEUE };
	struct herald_error	 error;
	struct daemon		 d = { 0 };
	char			 file[PATH_MAX], payload[128];
	double			*lat, *call, max = 0, sum = 0, deadline, t;
	PGconn			*conn;
	FILE			*f;
	int			 total = sz.lat_warmup + sz.lat_jobs, i, n = 0;
	long long		 seq, ns;

	if (snprintf(file, sizeof file, "%s/latency.txt", tmp_dir) >=
	    (int)sizeof file)
		die("temporary directory name too long: %s", tmp_dir);
	unlink(file);
	fresh_db(db, true, false);
	conn = connect_db(db);
	daemon_start(&d, db, NULL, HANDLER_MODULE, file);
	wait_workers(conn, &d, sz.workers);
	sleep_ms(1000);

	call = calloc((size_t)total, sizeof *call);
	for (i = 0; i < total; i++) {
		t = now_s();
		snprintf(payload, sizeof payload,
		    "{\"seq\": %d, \"t0_ns\": %" PRId64 "}", i, now_ns());
		if (herald_enqueue(conn, BENCH_TASK, payload, &options, NULL,
		    &error) == -1) {
			daemon_stop(&d);
			die("enqueue failed: %s", error.message);
		}
		call[i] = (now_s() - t) * 1000;
		sleep_ms(sz.lat_gap_ms);
	}
	/* How long the producer's own call and commit took. */
	qsort(call, (size_t)total, sizeof *call, compare_double);

	lat = calloc((size_t)total, sizeof *lat);
	deadline = now_s() + 15;
	while (query_int(conn, "SELECT count(*) FROM herald.jobs") > 0 &&
	    now_s() < deadline)
		sleep_ms(20);
	daemon_stop(&d);
	if ((f = fopen(file, "r")) == NULL)
		die("no latency file %s; see %s", file, d.log);
	while (fscanf(f, "%lld %lld", &seq, &ns) == 2)
		if (seq >= sz.lat_warmup && n < sz.lat_jobs) {
			lat[n] = ns / 1e6;
			sum += lat[n];
			if (lat[n] > max)
				max = lat[n];
			n++;
		}
	fclose(f);
	qsort(lat, (size_t)n, sizeof *lat, compare_double);
	result("config=module-w%dc%d-notify-when-idle scenario=latency run=%s "
	    "jobs=%d gap_ms=%d workers=%d p50_ms=%.3f p95_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f mean_ms=%.3f missing=%d "
	    "call_p50_ms=%.3f call_p99_ms=%.3f", sz.workers,
	    sz.concurrency / sz.workers, sz.run, sz.lat_jobs, sz.lat_gap_ms,
	    sz.concurrency, percentile(lat, (size_t)n, 50),
	    percentile(lat, (size_t)n, 95), percentile(lat, (size_t)n, 99),
	    max, n > 0 ? sum / n : NAN, sz.lat_jobs - n,
	    percentile(call, (size_t)total, 50),
	    percentile(call, (size_t)total, 99));
	free(lat);
	free(call);
	PQfinish(conn);
	drop_db(db);
}

/* --- relay --------------------------------------------------------- */

static void
scenario_relay(void)
{
	const char	*db = "bench_herald_relay_job", *app =
			    "bench_herald_relay_app";
	struct daemon	 d = { 0 };
	PGconn		*job, *hold, *appc;
	char		 sql[512];
	double		 t0, t1, deadline;
	int64_t		 jobs, distinct;

	fresh_db(db, true, false);
	fresh_db(app, false, true);
	job = connect_db(db);
	appc = connect_db(app);
	/* No worker takes the jobs, so the relay's output can be counted. */
	exec_ok(job, "SELECT herald.set_paused('" BENCH_QUEUE "', true, "
	    "'bench', 'localhost')");
	snprintf(sql, sizeof sql, "INSERT INTO herald.outbox (kind, event_id, "
	    "event_type, payload) SELECT 'event', gen_random_uuid(), "
	    "'BenchEvent', '{}' FROM generate_series(1, %d)", sz.relay_events);
	exec_ok(appc, sql);
	exec_ok(appc, "ANALYZE");
	exec_ok(appc, "CHECKPOINT");

	/* Hold the outbox until the relay is connected and waits for it. */
	hold = connect_db(app);
	exec_ok(hold, "BEGIN");
	exec_ok(hold, "LOCK TABLE herald.outbox IN ACCESS EXCLUSIVE MODE");
	daemon_start(&d, db, app, HANDLER_EXEC, NULL);
	deadline = now_s() + 20;
	while (query_int(appc, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "application_name = 'herald relay' AND wait_event_type = "
	    "'Lock'") < 1) {
		if (now_s() > deadline) {
			daemon_stop(&d);
			die("the relay did not start; see %s", d.log);
		}
		sleep_ms(10);
	}
	t0 = now_s();
	exec_ok(hold, "COMMIT");
	deadline = t0 + sz.process_max_s;
	while (query_int(appc, "SELECT count(*) FROM (SELECT 1 FROM "
	    "herald.outbox LIMIT 1) o") > 0 && now_s() < deadline)
		sleep_ms(5);
	t1 = now_s();
	daemon_stop(&d);
	jobs = query_int(job, "SELECT count(*) FROM herald.jobs");
	distinct = query_int(job, "SELECT count(DISTINCT event_id) FROM "
	    "herald.jobs");
	if (jobs != sz.relay_events || distinct != sz.relay_events)
		die("relay: %" PRId64 " jobs from %" PRId64 " events, expected "
		    "%d of each", jobs, distinct, sz.relay_events);
	result("config=relay scenario=relay run=%s jobs=%d events_per_s=%.1f "
	    "exactly_once=1", sz.run, sz.relay_events,
	    sz.relay_events / (t1 - t0));
	PQfinish(hold);
	PQfinish(appc);
	PQfinish(job);
	drop_db(db);
	drop_db(app);
}

/* --- memory -------------------------------------------------------- */

/*
 * Memory of pid in KiB from /proc: the resident set (VmRSS), its
 * anonymous part (RssAnon, private to the process) and the proportional
 * set size (Pss, shared pages divided among their users); -1 when
 * unknown.
 */
struct memory {
	long	rss_kib;
	long	anon_kib;
	long	pss_kib;
};

static struct memory
memory_of(pid_t pid)
{
	struct memory	m = { -1, -1, -1 };
	char		path[64], line[256];
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			sscanf(line, "VmRSS: %ld kB", &m.rss_kib);
			sscanf(line, "RssAnon: %ld kB", &m.anon_kib);
		}
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			sscanf(line, "Pss: %ld kB", &m.pss_kib);
		fclose(f);
	}
	return m;
}

/* Seconds that the rss scenario lets the drained workers idle. */
#define RSS_IDLE_S	2

static void
scenario_rss(void)
{
	const char	*db = "bench_herald_rss";
	struct daemon	 d = { 0 };
	PGconn		*conn;
	PGresult	*res;
	struct memory	 worker = { -1, -1, -1 }, drained = { -1, -1, -1 };
	struct memory	 super, m;
	double		 t0;
	int64_t		 left;
	int		 i;

	fresh_db(db, true, false);
	conn = connect_db(db);
	exec_ok(conn, "SELECT herald.set_paused('" BENCH_QUEUE "', true, "
	    "'bench', 'localhost')");
	prefill(db, sz.rss_jobs, "{\"n\": 1}");
	daemon_start(&d, db, NULL, HANDLER_MODULE, NULL);
	wait_workers(conn, &d, sz.workers);
	t0 = now_s();
	exec_ok(conn, "SELECT herald.set_paused('" BENCH_QUEUE "', false, "
	    "'bench', 'localhost')");
	if (wait_drained(conn, t0, sz.rss_jobs, 120, &left) < 0) {
		daemon_stop(&d);
		die("rss: %" PRId64 " jobs left after 120 s", left);
	}
	res = PQexec(conn, "SELECT pid FROM herald.processes "
	    "WHERE kind = 'worker'");
	for (i = 0; i < PQntuples(res); i++) {
		m = memory_of(atoi(PQgetvalue(res, i, 0)));
		if (m.rss_kib > drained.rss_kib)
			drained = m;
	}
	/*
	 * A worker returns the memory a burst left free once it has held
	 * no job for a second (worker.c): read it again as an idle worker.
	 */
	sleep(RSS_IDLE_S);
	for (i = 0; i < PQntuples(res); i++) {
		m = memory_of(atoi(PQgetvalue(res, i, 0)));
		if (m.rss_kib > worker.rss_kib)
			worker = m;
	}
	PQclear(res);
	super = memory_of(d.pid);
	result("config=module-w%dc%d scenario=rss run=%s jobs=%d "
	    "heraldd_kib=%ld heraldd_anon_kib=%ld heraldd_pss_kib=%ld "
	    "worker_kib=%ld worker_anon_kib=%ld worker_pss_kib=%ld "
	    "worker_drained_kib=%ld worker_drained_anon_kib=%ld idle_s=%d",
	    sz.workers, sz.concurrency / sz.workers, sz.run, sz.rss_jobs,
	    super.rss_kib, super.anon_kib, super.pss_kib, worker.rss_kib,
	    worker.anon_kib, worker.pss_kib, drained.rss_kib,
	    drained.anon_kib, RSS_IDLE_S);
	daemon_stop(&d);
	PQfinish(conn);
	drop_db(db);
}

/* --- console ------------------------------------------------------- */

/* Run herald status once; return its wall time in milliseconds. */
static double
time_status(const char *db)
{
	char	conninfo[128];
	double	t0 = now_s();
	pid_t	pid;
	int	status, fd;

	snprintf(conninfo, sizeof conninfo, "dbname=%s", db);
	if ((pid = fork()) == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, STDOUT_FILENO);
		execl(herald_path, "herald", "-d", conninfo, "status",
		    (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("herald status failed with status %d", status);
	return (now_s() - t0) * 1000;
}

/* Run one console model query until its result arrives; milliseconds. */
static double
time_model_query(struct hd_model *model, enum hd_query query, int nparams,
    const char *const *values)
{
	struct pollfd	pfd;
	int64_t		timeout_ms;
	double		t0 = now_s(), deadline = t0 + 60;

	hd_model_fetch(model, query, nparams, values, 0, NULL, NULL);
	do {
		timeout_ms = 100;
		hd_model_pollfd(model, &pfd, hd_monotonic_ms(), &timeout_ms);
		if (pfd.fd >= 0 && poll(&pfd, 1, (int)timeout_ms) == -1 &&
		    errno != EINTR)
			die("poll failed: %s", strerror(errno));
		hd_model_io(model, pfd.fd >= 0 ? pfd.revents : 0,
		    hd_monotonic_ms());
		if (now_s() > deadline)
			die("console query %d took over 60 s", (int)query);
	} while (hd_model_busy(model) || !hd_model_connected(model));
	if (*hd_model_error(model) != '\0')
		die("console query %d failed: %s", (int)query,
		    hd_model_error(model));
	return (now_s() - t0) * 1000;
}

/* The median of 5 runs, after one that warms the caches. */
static double
median_model_query(struct hd_model *model, enum hd_query query,
    int nparams, const char *const *values)
{
	double	ms[5];
	int	i;

	time_model_query(model, query, nparams, values);
	for (i = 0; i < 5; i++)
		ms[i] = time_model_query(model, query, nparams, values);
	qsort(ms, 5, sizeof *ms, compare_double);
	return ms[2];
}

/*
 * Time the queries each screen of herald console runs on a refresh,
 * through the console's own model, and print the slowest screen.
 */
static void
time_console(const char *db)
{
	static const char *const no_filter_page[] = {
		NULL, NULL, NULL, "0", "100"
	};
	static const char *const no_filter_count[] = {
		NULL, NULL, NULL, "0"
	};
	static const char *const queues[] = { "{}" };
	static const char *const retries[] = { "f", "200" };
	struct hd_model	*model;
	char		 conninfo[128];
	double		 q, w, r, d, e, worst;

	snprintf(conninfo, sizeof conninfo, "dbname=%s", db);
	model = hd_model_new(NULL, conninfo, "herald-bench", NULL);
	q = median_model_query(model, HD_Q_QUEUES, 1, queues);
	w = median_model_query(model, HD_Q_WORKERS, 0, NULL);
	r = median_model_query(model, HD_Q_RETRIES, 2, retries);
	d = median_model_query(model, HD_Q_DEAD_AFTER, 5, no_filter_page) +
	    median_model_query(model, HD_Q_DEAD_COUNT, 4, no_filter_count);
	e = median_model_query(model, HD_Q_RELAY, 0, NULL) +
	    median_model_query(model, HD_Q_EVENT_RATES, 0, NULL);
	hd_model_free(model);
	worst = fmax(fmax(fmax(q, w), fmax(r, d)), e);
	result("config=console-model scenario=console run=%s jobs=%d dead=%d "
	    "query_ms=%.1f queues_ms=%.1f workers_ms=%.1f retries_ms=%.1f "
	    "dead_ms=%.1f events_ms=%.1f", sz.run, sz.console_queued,
	    sz.console_dead, worst, q, w, r, d, e);
}

static void
scenario_console(void)
{
	const char	*db = "bench_herald_console";
	PGconn		*conn;
	char		 sql[1024];
	double		 ms[7], base;
	int		 i;

	fresh_db(db, true, false);
	conn = connect_db(db);
	note("console: writing %d queued and %d dead jobs", sz.console_queued,
	    sz.console_dead);
	snprintf(sql, sizeof sql, "INSERT INTO herald.jobs (task, queue, "
	    "payload, run_at, attempt) SELECT 'task' || (i %% 20), "
	    "'queue' || (i %% 8), '{\"n\": 1}', now() + (i %% 3 - 1) * "
	    "interval '1 hour', i %% 2 FROM generate_series(1, %d) i",
	    sz.console_queued);
	exec_ok(conn, sql);
	snprintf(sql, sizeof sql, "INSERT INTO herald.dead_jobs (id, task, "
	    "queue, payload, priority, attempt, max_attempts, created_at, "
	    "reason, errors) SELECT 100000000 + i, 'task' || (i %% 20), "
	    "'queue' || (i %% 8), '{\"n\": 1}', 0, 10, 10, now(), "
	    "'exhausted', '[{\"attempt\": 10, \"outcome\": \"failed\", "
	    "\"output\": \"boom\"}]' FROM generate_series(1, %d) i",
	    sz.console_dead);
	exec_ok(conn, sql);
	exec_ok(conn, "VACUUM ANALYZE herald.jobs");
	exec_ok(conn, "VACUUM ANALYZE herald.dead_jobs");

	time_console(db);

	/* herald status, less its fixed cost on an empty database. */
	fresh_db("bench_herald_console_empty", true, false);
	for (i = 0; i < 7; i++)
		ms[i] = time_status("bench_herald_console_empty");
	qsort(ms, 7, sizeof *ms, compare_double);
	base = ms[3];
	drop_db("bench_herald_console_empty");

	time_status(db);
	for (i = 0; i < 7; i++)
		ms[i] = time_status(db);
	qsort(ms, 7, sizeof *ms, compare_double);
	result("config=herald-status scenario=console_status run=%s jobs=%d "
	    "dead=%d query_ms=%.1f command_ms=%.1f empty_db_ms=%.1f",
	    sz.run, sz.console_queued, sz.console_dead, ms[3] - base, ms[3],
	    base);
	PQfinish(conn);
	drop_db(db);
}

/* --- plain SQL limits ---------------------------------------------- */

static void
raw_insert(bool notify)
{
	const char	*db = "bench_herald_raw";
	PGconn		*conn;
	double		 s;

	fresh_db(db, false, false);
	conn = connect_db(db);
	exec_ok(conn, "CREATE TABLE t (id bigserial PRIMARY KEY, payload "
	    "jsonb NOT NULL, run_at timestamptz DEFAULT now())");
	PQfinish(conn);
	s = run_producers(db, sz.concurrency, sz.single_jobs, 0, notify ?
	    "INSERT INTO t (payload) VALUES ('{}'); "
	    "SELECT pg_notify('q', 'bench')" :
	    "INSERT INTO t (payload) VALUES ('{}')", NULL);
	result("config=plain-sql scenario=%s run=%s jobs=%d clients=%d "
	    "jobs_per_s=%.1f", notify ? "raw_insert_notify" : "raw_insert",
	    sz.run, sz.single_jobs, sz.concurrency, sz.single_jobs / s);
	drop_db(db);
}

static void
scenario_raw_insert(void)
{
	raw_insert(false);
}

static void
scenario_raw_insert_notify(void)
{
	raw_insert(true);
}

/*
 * Make database db afresh with table q, the queue of the plain-SQL
 * claims, and its claim index; return a connection to it.
 */
static PGconn *
raw_queue_db(const char *db)
{
	PGconn	*conn;

	fresh_db(db, false, false);
	conn = connect_db(db);
	exec_ok(conn, "CREATE TABLE q (id bigserial PRIMARY KEY, queue text "
	    "NOT NULL, state text NOT NULL DEFAULT 'queued', run_at "
	    "timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL)");
	exec_ok(conn, "CREATE INDEX q_claim ON q (queue, run_at, id) "
	    "WHERE state = 'queued'");
	return conn;
}

/*
 * Claim a batch with one UPDATE and delete it with one DELETE, each its
 * own transaction, from 2 clients: the floor of a two-statement
 * claim-and-complete job queue.
 */
static void
scenario_raw_claim_complete(void)
{
	const char	*db = "bench_herald_raw_claim";
	PGconn		*conn, *check;
	char		 sql[512], claim[512];
	double		 s;
	int		 batches;

	conn = raw_queue_db(db);
	snprintf(sql, sizeof sql, "INSERT INTO q (queue, payload) SELECT "
	    "'bench', '{}' FROM generate_series(1, %d)", sz.raw_claim_jobs);
	exec_ok(conn, sql);
	exec_ok(conn, "ANALYZE");
	exec_ok(conn, "CHECKPOINT");
	PQfinish(conn);

	snprintf(claim, sizeof claim, "WITH c AS (UPDATE q SET state = "
	    "'running' WHERE id IN (SELECT id FROM q WHERE queue = 'bench' "
	    "AND state = 'queued' AND run_at <= now() ORDER BY run_at, id "
	    "LIMIT %d FOR UPDATE SKIP LOCKED) RETURNING id) "
	    "SELECT coalesce(array_agg(id), '{}') FROM c", sz.batch);
	batches = (sz.raw_claim_jobs + sz.batch - 1) / sz.batch;
	s = run_producers(db, 2, batches, 0, claim,
	    "DELETE FROM q WHERE id = ANY ($1::bigint[])");
	check = connect_db(db);
	if (query_int(check, "SELECT count(*) FROM q") != 0)
		die("raw_claim_complete: jobs left in the table");
	PQfinish(check);
	result("config=plain-sql scenario=raw_claim_complete run=%s jobs=%d "
	    "batch=%d clients=2 jobs_per_s=%.1f", sz.run, sz.raw_claim_jobs,
	    sz.batch, sz.raw_claim_jobs / s);
	drop_db(db);
}

/*
 * The plain-SQL floor of the wake-up latency: a producer inserts a row
 * and notifies in one transaction, 5 ms apart, and a listening client
 * claims it with one UPDATE, as herald's idle worker does.  The claim
 * commits with synchronous_commit off, as herald's claims do.
 */
struct waker {
	const char	*db;
	double		*lat;		/* ms by sequence number; 0 if unseen */
	int		 total;
	atomic_int	 claimed;
	atomic_bool	 stop;
	PGconn		*conn;
};

#define WAKE_CLAIM	"UPDATE q SET state = 'running' WHERE id IN " \
	"(SELECT id FROM q WHERE queue = 'bench' AND state = 'queued' " \
	"AND run_at <= now() ORDER BY run_at, id LIMIT 8 " \
	"FOR UPDATE SKIP LOCKED) RETURNING payload"

static void
waker_claim(struct waker *w)
{
	PGresult	*res;
	const char	*p;
	int64_t		 t;
	int		 i, seq;

	res = PQexecPrepared(w->conn, "claim", 0, NULL, NULL, NULL, 0);
	t = now_ns();
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("raw_wake: claim failed: %s", PQerrorMessage(w->conn));
	for (i = 0; i < PQntuples(res); i++) {
		p = PQgetvalue(res, i, 0);
		if ((p = strstr(p, "\"seq\":")) == NULL)
			die("raw_wake: no seq in a claimed payload");
		seq = atoi(p + strlen("\"seq\":"));
		if ((p = strstr(p, "\"t0_ns\":")) == NULL)
			die("raw_wake: no t0_ns in a claimed payload");
		if (seq >= 0 && seq < w->total)
			w->lat[seq] = (t - strtoll(p + strlen("\"t0_ns\":"),
			    NULL, 10)) / 1e6;
		atomic_fetch_add(&w->claimed, 1);
	}
	PQclear(res);
}

static void *
waker_run(void *arg)
{
	struct waker	*w = arg;
	struct pollfd	 pfd;
	PGnotify	*n;
	bool		 woken;

	pfd.fd = PQsocket(w->conn);
	pfd.events = POLLIN;
	while (!atomic_load(&w->stop)) {
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
			die("raw_wake: poll: %s", strerror(errno));
		if (!PQconsumeInput(w->conn))
			die("raw_wake: %s", PQerrorMessage(w->conn));
		woken = false;
		while ((n = PQnotifies(w->conn)) != NULL) {
			woken = true;
			PQfreemem(n);
		}
		if (woken)
			waker_claim(w);
	}
	return NULL;
}

static void
scenario_raw_wake(void)
{
	const char	*db = "bench_herald_raw_wake";
	const char	*values[1];
	struct waker	 w = { .db = db };
	pthread_t	 thread;
	PGconn		*conn;
	PGresult	*res;
	double		*call, *lat, deadline, t, sum = 0, max = 0;
	char		 payload[128];
	int		 total = sz.lat_warmup + sz.lat_jobs, i, n = 0;

	conn = raw_queue_db(db);
	res = PQprepare(conn, "wake", "WITH i AS (INSERT INTO q (queue, "
	    "payload) VALUES ('bench', $1) RETURNING id) "
	    "SELECT pg_notify('q', 'bench') FROM i", 1, NULL);
	if (!hd_db_ok(res))
		die("raw_wake: %s", PQerrorMessage(conn));
	PQclear(res);

	w.total = total;
	w.lat = calloc((size_t)total, sizeof *w.lat);
	call = calloc((size_t)total, sizeof *call);
	lat = calloc((size_t)total, sizeof *lat);
	if (w.lat == NULL || call == NULL || lat == NULL)
		die("out of memory");
	w.conn = connect_db(db);
	exec_ok(w.conn, "SET synchronous_commit = off");
	exec_ok(w.conn, "LISTEN q");
	res = PQprepare(w.conn, "claim", WAKE_CLAIM, 0, NULL);
	if (!hd_db_ok(res))
		die("raw_wake: %s", PQerrorMessage(w.conn));
	PQclear(res);
	if (pthread_create(&thread, NULL, waker_run, &w) != 0)
		die("raw_wake: could not start the listener");
	sleep_ms(1000);

	for (i = 0; i < total; i++) {
		t = now_s();
		snprintf(payload, sizeof payload,
		    "{\"seq\": %d, \"t0_ns\": %" PRId64 "}", i, now_ns());
		values[0] = payload;
		res = PQexecPrepared(conn, "wake", 1, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("raw_wake: insert failed: %s",
			    PQerrorMessage(conn));
		PQclear(res);
		call[i] = (now_s() - t) * 1000;
		sleep_ms(sz.lat_gap_ms);
	}
	deadline = now_s() + 15;
	while (atomic_load(&w.claimed) < total && now_s() < deadline)
		sleep_ms(20);
	atomic_store(&w.stop, true);
	pthread_join(thread, NULL);
	PQfinish(w.conn);
	PQfinish(conn);

	qsort(call, (size_t)total, sizeof *call, compare_double);
	for (i = sz.lat_warmup; i < total; i++)
		if (w.lat[i] > 0) {
			lat[n++] = w.lat[i];
			sum += w.lat[i];
			if (w.lat[i] > max)
				max = w.lat[i];
		}
	qsort(lat, (size_t)n, sizeof *lat, compare_double);
	result("config=plain-sql scenario=raw_wake run=%s jobs=%d gap_ms=%d "
	    "p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f "
	    "missing=%d call_p50_ms=%.3f call_p99_ms=%.3f", sz.run,
	    sz.lat_jobs, sz.lat_gap_ms, percentile(lat, (size_t)n, 50),
	    percentile(lat, (size_t)n, 95), percentile(lat, (size_t)n, 99),
	    max, n > 0 ? sum / n : NAN, sz.lat_jobs - n,
	    percentile(call, (size_t)total, 50),
	    percentile(call, (size_t)total, 99));
	free(w.lat);
	free(call);
	free(lat);
	drop_db(db);
}

/* --- main ---------------------------------------------------------- */

static const struct {
	const char	*name;
	void		(*run)(void);
	bool		 peer;		/* one of the peer benchmark's four */
} scenarios[] = {
	{ "enqueue_single", scenario_enqueue_single, true },
	{ "enqueue_bulk", scenario_enqueue_bulk, true },
	{ "process_noop", scenario_process_noop, true },
	{ "latency", scenario_latency, true },
	{ "process_exec", scenario_process_exec, false },
	{ "fork_exec", scenario_fork_exec, false },
	{ "relay", scenario_relay, false },
	{ "rss", scenario_rss, false },
	{ "console", scenario_console, false },
	{ "raw_insert", scenario_raw_insert, false },
	{ "raw_insert_notify", scenario_raw_insert_notify, false },
	{ "raw_claim_complete", scenario_raw_claim_complete, false },
	{ "raw_wake", scenario_raw_wake, false },
};

#define NSCENARIOS	(sizeof scenarios / sizeof scenarios[0])

/* Find name in the build directory: the parent of this program's. */
static void
find_sibling(char *out, const char *env, const char *name)
{
	char	 self[PATH_MAX];
	char	*slash;
	ssize_t	 n;

	if (getenv(env) != NULL) {
		snprintf(out, PATH_MAX, "%s", getenv(env));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		die("could not find this program's path; set %s", env);
	self[n] = '\0';
	/* A libtool wrapper runs bench/.libs/herald-bench. */
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if (strlen(self) > 6 && strcmp(self + strlen(self) - 6, "/.libs") ==
	    0)
		self[strlen(self) - 6] = '\0';
	snprintf(out, PATH_MAX, "%s/%s", self, name);
}

static void
read_sizes(void)
{
	sz.concurrency = env_int("BENCH_CONCURRENCY", 8);
	sz.single_jobs = env_int("BENCH_SINGLE_JOBS", 20000);
	sz.bulk_jobs = env_int("BENCH_BULK_JOBS", 100000);
	sz.batch = env_int("BENCH_BATCH", 1000);
	sz.bulk_clients = env_int("BENCH_BULK_CLIENTS", 1);
	sz.process_jobs = env_int("BENCH_PROCESS_JOBS", 50000);
	sz.process_max_s = env_int("BENCH_PROCESS_MAX_S", 60);
	sz.exec_jobs = env_int("BENCH_EXEC_JOBS", 5000);
	sz.lat_jobs = env_int("BENCH_LAT_JOBS", 2000);
	sz.lat_gap_ms = env_int("BENCH_LAT_GAP_MS", 5);
	sz.lat_warmup = env_int("BENCH_LAT_WARMUP", 50);
	sz.relay_events = env_int("BENCH_RELAY_EVENTS", 100000);
	sz.rss_jobs = env_int("BENCH_RSS_JOBS", 100000);
	sz.console_queued = env_int("BENCH_CONSOLE_QUEUED", 1000000);
	sz.console_dead = env_int("BENCH_CONSOLE_DEAD", 100000);
	sz.raw_claim_jobs = env_int("BENCH_RAW_CLAIM_JOBS", 200000);
	sz.workers = env_int("HERALD_BENCH_WORKERS", 2);
	sz.run = getenv("BENCH_RUN") != NULL ? getenv("BENCH_RUN") : "1";
	if (sz.workers < 1 || sz.concurrency < 1 || sz.batch < 1)
		die("BENCH_CONCURRENCY, BENCH_BATCH and HERALD_BENCH_WORKERS "
		    "must be at least 1");
}

int
main(int argc, char **argv)
{
	size_t	i;
	int	a;
	bool	found;

	read_sizes();
	find_sibling(heraldd_path, "HERALD_BENCH_HERALDD", "../heraldd");
	find_sibling(herald_path, "HERALD_BENCH_HERALD", "../herald");
	find_sibling(module_path, "HERALD_BENCH_MODULE",
	    ".libs/herald-bench-module.so");
	snprintf(tmp_dir, sizeof tmp_dir, "%s/herald-bench.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp_dir) == NULL)
		die("could not make a temporary directory: %s",
		    strerror(errno));

	if (argc == 1) {
		for (i = 0; i < NSCENARIOS; i++)
			if (scenarios[i].peer) {
				note("scenario %s", scenarios[i].name);
				scenarios[i].run();
			}
	}
	for (a = 1; a < argc; a++) {
		found = false;
		for (i = 0; i < NSCENARIOS; i++)
			if (strcmp(argv[a], scenarios[i].name) == 0) {
				note("scenario %s", scenarios[i].name);
				scenarios[i].run();
				found = true;
			}
		if (!found)
			die("unrecognized scenario \"%s\"", argv[a]);
	}
	return 0;
}
