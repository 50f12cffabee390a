/*
 * supervisor.c: the process manager of heraldd.
 *
 * One poll() loop waits on the signal pipe; SIGCHLD, SIGTERM, SIGINT and
 * SIGHUP are handled there, outside the handlers.  Each child is a slot
 * that keeps its role, its queue and its restart delay across restarts.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "child.h"
#include "exec.h"
#include "log.h"
#include "orphans.h"
#include "signals.h"
#include "spawn.h"
#include "started.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

#define SUPERVISOR_ID_BYTES	8
/*
 * The wait before heraldd looks for orphans after one ended.  A worker
 * kills a handler's group as soon as it reaps the handler, well within
 * this, so the processes of a live worker's handler are not taken for
 * orphans.
 */
#define SUPERVISOR_SWEEP_DELAY_MS	1000
/*
 * The time between two looks for orphans otherwise.  A process that a
 * handler moved to a session of its own escapes its worker's kill of the
 * handler's group, and comes to heraldd without any process ending.
 */
#define SUPERVISOR_SWEEP_EVERY_MS	10000

enum child_role {
	CHILD_WORKER = 0,
	CHILD_JANITOR,
	CHILD_RELAY
};

struct child {
	enum child_role	 role;
	char		*queue;		/* a worker's queue; NULL otherwise */
	pid_t		 pid;		/* 0 while not running */
	int64_t		 started_ms;
	int64_t		 restart_at_ms;	/* when pid is 0 */
	int64_t		 delay_ms;	/* the next restart delay */
	bool		 retired;	/* stopped by a reload: no restart */
	bool		 awaited;	/* of the start; not up nor exited */

	/* Failures (exits that no stop requested) in the current window. */
	int		 failures;
	int64_t		 window_start_ms;
	bool		 failed;	/* too many failures: in its cool-down */

	/*
	 * The child's id in herald.processes, chosen here so that it
	 * outlives the process, and the id of the child that died, for its
	 * replacement.
	 */
	char		 worker_id[HD_WORKER_ID_LEN + 1];
	char		 lost_id[HD_WORKER_ID_LEN + 1];
	/* The jobs the worker started (started.h); NULL if mmap() failed. */
	struct hd_started *started;
	/* The jobs the worker that died had started, for its replacement. */
	struct hd_started_ids lost_started;
};

struct supervisor {
	struct hd_config	*config;
	bool			 verbose;
	char			 id[2 * SUPERVISOR_ID_BYTES + 1];
	pid_t			 pid;
	struct child		*children;
	size_t			 nchildren;
	bool			 stopping;
	bool			 killed;
	int64_t			 kill_at_ms;
	int64_t			 watchdog_ms;	/* 0: no systemd watchdog */
	int64_t			 next_watchdog_ms;

	/*
	 * Each child writes its pid to up_fd[1] once it runs.  READY=1 goes
	 * to systemd when every child of the start wrote it or exited, so a
	 * child that cannot run does not hold back the start.  up_part keeps
	 * the bytes of a pid that a read cut.
	 */
	int			 up_fd[2];
	size_t			 up_awaited;
	unsigned char		 up_part[sizeof(pid_t)];
	size_t			 up_partlen;
	bool			 ready;
	/* The write end of the running janitor's pipe of failed children. */
	int			 janitor_fd;
	/* When to look for orphans next. */
	int64_t			 sweep_at_ms;
};

static const char *
child_role_name(enum child_role role)
{
	switch (role) {
	case CHILD_WORKER:
		return "worker";
	case CHILD_JANITOR:
		return "janitor";
	case CHILD_RELAY:
		return "relay";
	}
	return "unknown";
}

/*
 * Send a state line of systemd's notify protocol ("READY=1") when
 * NOTIFY_SOCKET names a socket; a name starting with '@' is abstract.
 */
static void
notify_systemd(const char *state)
{
	struct sockaddr_un	 addr;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof addr.sun_path)
		return;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, plen);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&addr, len) == -1)
		hd_log_debug("could not notify systemd", "error=%s",
		    strerror(errno));
	close(fd);
}

static size_t
children_failed(const struct supervisor *sup)
{
	size_t	i, n = 0;

	for (i = 0; i < sup->nchildren; i++)
		if (sup->children[i].failed)
			n++;
	return n;
}

static size_t	supervisor_running(const struct supervisor *);
static void	supervisor_check_ready(struct supervisor *);

/* Send a STATUS line that systemctl status shows. */
static void
notify_status(const struct supervisor *sup)
{
	char	line[128];

	if (sup->stopping)
		snprintf(line, sizeof line, "STATUS=stopping, %zu children "
		    "left", supervisor_running(sup));
	else
		snprintf(line, sizeof line, "STATUS=%zu children running, "
		    "%zu failed", supervisor_running(sup),
		    children_failed(sup));
	notify_systemd(line);
}

/*
 * Send the failed children to the janitor, which records them in the job
 * database for herald status: one "role queue failures" line each, then
 * an empty line.  A full pipe drops the report; the next change sends a
 * complete one again.
 */
static void
report_failed(const struct supervisor *sup)
{
	char	buf[PIPE_BUF];
	size_t	i, len = 0;
	int	n;

	if (sup->janitor_fd == -1)
		return;
	for (i = 0; i < sup->nchildren; i++) {
		const struct child	*c = &sup->children[i];

		if (!c->failed)
			continue;
		/* The last field lets the janitor remove its registration. */
		n = snprintf(buf + len, sizeof buf - len, "%s %s %d %s\n",
		    child_role_name(c->role), c->queue != NULL ? c->queue : "-",
		    c->failures, c->lost_id[0] != '\0' ? c->lost_id : "-");
		if (n < 0 || (size_t)n >= sizeof buf - len - 1)
			break;
		len += (size_t)n;
	}
	buf[len++] = '\n';
	if (write(sup->janitor_fd, buf, len) == -1)
		hd_log_debug("could not report failed children", "error=%s",
		    strerror(errno));
}

static struct child *
child_add(struct supervisor *sup, enum child_role role, const char *queue)
{
	struct child	*c;

	sup->children = hd_xrealloc(sup->children, sup->nchildren + 1,
	    sizeof *sup->children);
	c = &sup->children[sup->nchildren++];
	memset(c, 0, sizeof *c);
	c->role = role;
	c->queue = queue != NULL ? hd_xstrdup(queue) : NULL;
	c->delay_ms = HD_RESTART_MIN_MS;
	return c;
}

/* Add the children that config defines: the workers of queue, or all. */
static void
children_add_queue(struct supervisor *sup, const struct hd_queue_config *q)
{
	int	i;

	for (i = 0; i < q->workers; i++)
		child_add(sup, CHILD_WORKER, q->name);
}

/*
 * The forked child: execute heraldd-child for c, with the specification
 * in spec_fd, the start pipe and extra_fd (the janitor's end of its pipe
 * or the worker's started region, or -1).  Never returns.
 */
static void __attribute__((noreturn))
child_exec(struct supervisor *sup, const struct child *c, int spec_fd,
    int extra_fd)
{
	char	*argv[4];

	/* Die with the supervisor: SIGTERM lets a worker release its jobs. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != sup->pid)
		_exit(0);
	argv[0] = "heraldd-child";
	argv[1] = (char *)child_role_name(c->role);
	argv[2] = c->queue;
	argv[3] = NULL;
	hd_spawn_exec(argv, spec_fd, sup->up_fd[1], extra_fd);
}

/* Write the specification of child c and return its descriptor, or -1. */
static int
child_spec(const struct supervisor *sup, const struct child *c)
{
	struct hd_child_spec	spec;

	memset(&spec, 0, sizeof spec);
	spec.role = (char *)child_role_name(c->role);
	spec.queue = c->queue;
	spec.supervisor_id = (char *)sup->id;
	spec.worker_id = (char *)c->worker_id;
	spec.lost_id = (char *)c->lost_id;
	if (c->role == CHILD_WORKER)
		spec.lost_started = c->lost_started;
	spec.verbose = sup->verbose;
	spec.config_path = sup->config->path;
	spec.config_text = sup->config->text;
	spec.config_len = sup->config->text_len;
	return hd_child_spec_write(&spec);
}

/*
 * Give worker c an empty region for the jobs it starts.  Without one its
 * replacement counts an attempt for every job it held, as the janitor's
 * expiry of its leases would.
 */
static void
child_map_started(const struct supervisor *sup, struct child *c)
{
	const struct hd_queue_config	*q;

	if (c->started != NULL) {
		hd_started_reset(c->started);
		return;
	}
	q = hd_config_queue(sup->config, c->queue);
	c->started = hd_started_map(q != NULL ? q->concurrency : 0);
	if (c->started == NULL)
		hd_log_warn("could not map started jobs", "queue=%s error=%s",
		    c->queue, strerror(errno));
}

static void
child_start(struct supervisor *sup, struct child *c)
{
	sigset_t	block, saved;
	pid_t		pid;
	int		report[2] = { -1, -1 }, spec_fd, extra_fd = -1;
	int		fork_errno;

	if (c->role == CHILD_JANITOR &&
	    pipe2(report, O_CLOEXEC | O_NONBLOCK) == -1)
		report[0] = report[1] = -1;
	hd_random_hex(c->worker_id, HD_WORKER_ID_LEN / 2);
	if (c->role == CHILD_WORKER) {
		child_map_started(sup, c);
		extra_fd = hd_started_fd(c->started);
	} else
		extra_fd = report[0];
	if ((spec_fd = child_spec(sup, c)) == -1) {
		hd_log_error("could not start child", "child_role=%s "
		    "error=%s retry_ms=%lld", child_role_name(c->role),
		    strerror(errno), (long long)c->delay_ms);
		if (report[0] != -1) {
			close(report[0]);
			close(report[1]);
		}
		c->restart_at_ms = hd_monotonic_ms() + c->delay_ms;
		return;
	}
	/*
	 * Signals stay blocked across fork() until the child has its own
	 * handlers, so a SIGTERM sent at once is not lost.
	 */
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &saved);
	pid = fork();
	if (pid == 0)
		child_exec(sup, c, spec_fd, extra_fd);
	fork_errno = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(spec_fd);

	if (report[0] != -1)
		close(report[0]);
	if (pid != -1 && report[1] != -1) {
		if (sup->janitor_fd != -1)
			close(sup->janitor_fd);
		sup->janitor_fd = report[1];
		report_failed(sup);
	} else if (report[1] != -1)
		close(report[1]);

	if (pid == -1) {
		hd_log_error("could not start child", "child_role=%s "
		    "error=%s retry_ms=%lld", child_role_name(c->role),
		    strerror(fork_errno), (long long)c->delay_ms);
		c->restart_at_ms = hd_monotonic_ms() + c->delay_ms;
		return;
	}
	c->pid = pid;
	c->started_ms = hd_monotonic_ms();
	/* The new worker takes back the jobs of the one it replaces. */
	c->lost_id[0] = '\0';
	hd_started_ids_clear(&c->lost_started);
	if (c->role == CHILD_WORKER)
		hd_log_debug("child started", "child_pid=%ld child_role=worker "
		    "queue=%s", (long)pid, c->queue);
	else
		hd_log_debug("child started", "child_pid=%ld child_role=%s",
		    (long)pid, child_role_name(c->role));
}

static void
child_remove(struct supervisor *sup, size_t i)
{
	free(sup->children[i].queue);
	hd_started_unmap(sup->children[i].started);
	hd_started_ids_clear(&sup->children[i].lost_started);
	sup->children[i] = sup->children[--sup->nchildren];
}

/*
 * Log the exit of a worker with its status and, when delay_ms is not
 * negative, the delay before its restart.
 */
static void
log_worker_exit(enum hd_log_level level, const char *msg, pid_t pid,
    const char *queue, int status, int64_t delay_ms)
{
	if (WIFSIGNALED(status) && delay_ms >= 0)
		hd_log_at(level, msg, "child_pid=%ld child_role=worker queue=%s "
		    "signal=%d restart_delay_ms=%lld", (long)pid, queue,
		    WTERMSIG(status), (long long)delay_ms);
	else if (WIFSIGNALED(status))
		hd_log_at(level, msg, "child_pid=%ld child_role=worker queue=%s "
		    "signal=%d", (long)pid, queue, WTERMSIG(status));
	else if (delay_ms >= 0)
		hd_log_at(level, msg, "child_pid=%ld child_role=worker queue=%s "
		    "exit_code=%d restart_delay_ms=%lld", (long)pid, queue,
		    WEXITSTATUS(status), (long long)delay_ms);
	else
		hd_log_at(level, msg, "child_pid=%ld child_role=worker queue=%s "
		    "exit_code=%d", (long)pid, queue, WEXITSTATUS(status));
}

/* Log the exit of the janitor or the relay, as log_worker_exit() does. */
static void
log_other_exit(enum hd_log_level level, const char *msg, pid_t pid,
    const char *role, int status, int64_t delay_ms)
{
	if (WIFSIGNALED(status) && delay_ms >= 0)
		hd_log_at(level, msg, "child_pid=%ld child_role=%s signal=%d "
		    "restart_delay_ms=%lld", (long)pid, role, WTERMSIG(status),
		    (long long)delay_ms);
	else if (WIFSIGNALED(status))
		hd_log_at(level, msg, "child_pid=%ld child_role=%s signal=%d",
		    (long)pid, role, WTERMSIG(status));
	else if (delay_ms >= 0)
		hd_log_at(level, msg, "child_pid=%ld child_role=%s exit_code=%d "
		    "restart_delay_ms=%lld", (long)pid, role,
		    WEXITSTATUS(status), (long long)delay_ms);
	else
		hd_log_at(level, msg, "child_pid=%ld child_role=%s exit_code=%d",
		    (long)pid, role, WEXITSTATUS(status));
}

/*
 * Log the exit of c: "child exited" when it will be restarted after
 * delay_ms, "child stopped" when the supervisor stopped it for good.
 */
static void
child_log_exit(const struct supervisor *sup, const struct child *c,
    pid_t pid, int status, int64_t delay_ms)
{
	enum hd_log_level	 level = HD_LOG_WARN;
	const char		*msg = "child exited";

	if (sup->stopping || c->retired) {
		msg = "child stopped";
		delay_ms = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			level = HD_LOG_INFO;
	}
	/* A worker replaced after max_jobs or max_rss exits as planned. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_RESTART)
		level = HD_LOG_INFO;
	if (c->role == CHILD_WORKER)
		log_worker_exit(level, msg, pid, c->queue, status, delay_ms);
	else
		log_other_exit(level, msg, pid, child_role_name(c->role),
		    status, delay_ms);
}

/*
 * Count a failure of c in its window; return whether it reached the
 * limit, which marks c failed.
 */
static bool
child_count_failure(const struct supervisor *sup, struct child *c,
    int64_t now)
{
	if (c->failures == 0 ||
	    now - c->window_start_ms > sup->config->restart_window_ms) {
		c->failures = 0;
		c->window_start_ms = now;
	}
	c->failures++;
	return c->failures >= sup->config->restart_failures;
}

/*
 * Mark c failed, so that it is not restarted before its cool-down ends,
 * or before a reload when the cool-down is 0.  Report it in the log, to
 * herald status (through the janitor) and to systemd.
 */
static void
child_mark_failed(struct supervisor *sup, struct child *c, int64_t now)
{
	const struct hd_config	*config = sup->config;

	c->failed = true;
	c->restart_at_ms = now + config->restart_cool_down_ms;
	if (c->role == CHILD_WORKER)
		hd_log_error("child failed, restarts paused", "child_role=worker "
		    "queue=%s failures=%d window_ms=%lld cool_down_ms=%lld "
		    "hint=\"fix the cause, then reload heraldd\"", c->queue,
		    c->failures, (long long)config->restart_window_ms,
		    (long long)config->restart_cool_down_ms);
	else
		hd_log_error("child failed, restarts paused", "child_role=%s "
		    "failures=%d window_ms=%lld cool_down_ms=%lld "
		    "hint=\"fix the cause, then reload heraldd\"",
		    child_role_name(c->role), c->failures,
		    (long long)config->restart_window_ms,
		    (long long)config->restart_cool_down_ms);
	notify_status(sup);
	report_failed(sup);
}

/* Let c be restarted again, counting its failures from zero. */
static void
child_clear_failed(struct child *c)
{
	c->failed = false;
	c->failures = 0;
	c->delay_ms = HD_RESTART_MIN_MS;
	c->restart_at_ms = 0;
}

/* Stop waiting for child c of the start to report. */
static void
child_settled(struct supervisor *sup, struct child *c)
{
	if (!c->awaited)
		return;
	c->awaited = false;
	sup->up_awaited--;
}

/* Handle the exit of child i: schedule its restart or forget it. */
static void
child_exited(struct supervisor *sup, size_t i, pid_t pid, int status)
{
	struct child	*c = &sup->children[i];
	int64_t		 now = hd_monotonic_ms();

	c->pid = 0;
	/* The replacement removes the registration this child left. */
	memcpy(c->lost_id, c->worker_id, sizeof c->lost_id);
	if (c->role == CHILD_WORKER) {
		/* The worker is reaped, so nothing writes the region now. */
		hd_started_ids_clear(&c->lost_started);
		hd_started_read(c->started, &c->lost_started);
	}
	if (sup->stopping || c->retired) {
		child_log_exit(sup, c, pid, status, 0);
		if (c->retired)
			child_remove(sup, i);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == HD_EXIT_RESTART) {
		child_log_exit(sup, c, pid, status, 0);
		c->restart_at_ms = now;
		return;
	}
	/*
	 * A worker that a module job crashed is not itself broken: the job
	 * waits its retry delay, and the queue's other jobs need a worker
	 * now rather than after a cool-down.
	 */
	if (c->role == CHILD_WORKER &&
	    hd_started_crashed_job(&c->lost_started) > 0) {
		child_log_exit(sup, c, pid, status, 0);
		hd_log_info("restart not counted as a failure", "queue=%s "
		    "job_id=%lld reason=module_crash", c->queue,
		    (long long)hd_started_crashed_job(&c->lost_started));
		c->restart_at_ms = now;
		return;
	}
	if (now - c->started_ms >= HD_RESTART_RESET_MS)
		c->delay_ms = HD_RESTART_MIN_MS;
	if (child_count_failure(sup, c, now)) {
		child_log_exit(sup, c, pid, status, -1);
		child_mark_failed(sup, c, now);
		return;
	}
	child_log_exit(sup, c, pid, status, c->delay_ms);
	c->restart_at_ms = now + c->delay_ms;
	c->delay_ms *= 2;
	if (c->delay_ms > HD_RESTART_MAX_MS)
		c->delay_ms = HD_RESTART_MAX_MS;
}

/*
 * Kill the handlers that dead workers left behind (orphans.h), which
 * heraldd inherited as a subreaper.
 */
static void
supervisor_kill_orphans(const struct supervisor *sup)
{
	pid_t	*known;
	size_t	 i;

	known = hd_xcalloc(sup->nchildren + 1, sizeof *known);
	for (i = 0; i < sup->nchildren; i++)
		known[i] = sup->children[i].pid;
	(void)hd_orphans_kill(known, sup->nchildren);
	free(known);
}

static void
supervisor_reap(struct supervisor *sup)
{
	pid_t	pid;
	size_t	i;
	int	status;
	bool	sweep = false;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < sup->nchildren; i++) {
			if (sup->children[i].pid == pid) {
				sweep |= sup->children[i].role ==
				    CHILD_WORKER;
				child_settled(sup, &sup->children[i]);
				child_exited(sup, i, pid, status);
				break;
			}
		}
		/*
		 * An orphan that ended may leave children of its own,
		 * which come to heraldd in turn.  So does a handler's
		 * process that its live worker is killing with the group,
		 * at a timeout: the look waits until the worker is done.
		 */
		if (i == sup->nchildren) {
			hd_orphans_reaped(pid);
			if (sup->sweep_at_ms > hd_monotonic_ms() +
			    SUPERVISOR_SWEEP_DELAY_MS)
				sup->sweep_at_ms = hd_monotonic_ms() +
				    SUPERVISOR_SWEEP_DELAY_MS;
		}
	}
	if (sweep) {
		supervisor_kill_orphans(sup);
		sup->sweep_at_ms = hd_monotonic_ms() + SUPERVISOR_SWEEP_EVERY_MS;
	}
	supervisor_check_ready(sup);
}

/* Look for orphans when the next look is due. */
static void
supervisor_sweep_due(struct supervisor *sup)
{
	if (hd_monotonic_ms() < sup->sweep_at_ms)
		return;
	sup->sweep_at_ms = hd_monotonic_ms() + SUPERVISOR_SWEEP_EVERY_MS;
	supervisor_kill_orphans(sup);
}

static size_t
supervisor_running(const struct supervisor *sup)
{
	size_t	i, n = 0;

	for (i = 0; i < sup->nchildren; i++)
		if (sup->children[i].pid != 0)
			n++;
	return n;
}

static void
supervisor_begin_stop(struct supervisor *sup, int signo)
{
	size_t	i;

	if (sup->stopping) {
		/* At a second signal the children skip the grace period. */
		hd_log_info("heraldd stopping now", "signal=%d children=%zu",
		    signo, supervisor_running(sup));
		for (i = 0; i < sup->nchildren; i++)
			if (sup->children[i].pid != 0)
				kill(sup->children[i].pid, SIGTERM);
		return;
	}
	sup->stopping = true;
	sup->kill_at_ms = hd_monotonic_ms() + sup->config->grace_period_ms +
	    HD_EXEC_KILL_WAIT_MS + HD_STOP_MARGIN_MS;
	hd_log_info("heraldd stopping", "signal=%d children=%zu "
	    "grace_period_ms=%lld", signo, supervisor_running(sup),
	    (long long)sup->config->grace_period_ms);
	notify_systemd("STOPPING=1");
	notify_status(sup);
	for (i = 0; i < sup->nchildren; i++)
		if (sup->children[i].pid != 0)
			kill(sup->children[i].pid, SIGTERM);
}

/* After the grace period and its margin, kill the children left. */
static void
supervisor_kill_rest(struct supervisor *sup)
{
	size_t	i;

	sup->killed = true;
	hd_log_warn("children still running after grace period, killing",
	    "children=%zu", supervisor_running(sup));
	for (i = 0; i < sup->nchildren; i++)
		if (sup->children[i].pid != 0)
			kill(sup->children[i].pid, SIGKILL);
}

static bool
strings_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
argv_equal(char **a, char **b)
{
	if (a == NULL || b == NULL)
		return a == b;
	for (; *a != NULL && *b != NULL; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return *a == NULL && *b == NULL;
}

static bool
isolation_equal(const struct hd_isolation *a, const struct hd_isolation *b)
{
	return strings_equal(a->user, b->user) &&
	    strings_equal(a->group, b->group) && a->uid == b->uid &&
	    a->gid == b->gid && a->ngroups == b->ngroups &&
	    (a->ngroups == 0 || memcmp(a->groups, b->groups,
	    a->ngroups * sizeof *a->groups) == 0) &&
	    a->address_space == b->address_space &&
	    a->open_files == b->open_files && a->cpu_time_s == b->cpu_time_s;
}

/* Append name to the comma-separated list in buf when changed. */
static void
change_add(char *buf, size_t size, bool changed, const char *name)
{
	size_t	len = strlen(buf);

	if (changed)
		snprintf(buf + len, size - len, "%s%s", len > 0 ? "," : "",
		    name);
}

/*
 * Write to buf (size bytes) the settings of task a that b changes, as a
 * comma-separated list such as "timeout,retry", or "" when none.
 */
static void
task_changes(const struct hd_task_config *a, const struct hd_task_config *b,
    char *buf, size_t size)
{
	buf[0] = '\0';
	change_add(buf, size, strcmp(a->queue, b->queue) != 0, "queue");
	change_add(buf, size, !argv_equal(a->argv, b->argv), "exec");
	change_add(buf, size, !strings_equal(a->module_path, b->module_path) ||
	    !strings_equal(a->module_symbol, b->module_symbol), "module");
	change_add(buf, size, a->timeout_ms != b->timeout_ms, "timeout");
	change_add(buf, size, memcmp(&a->retry, &b->retry,
	    sizeof a->retry) != 0, "retry");
	change_add(buf, size, !argv_equal(a->env, b->env), "env");
	change_add(buf, size, !isolation_equal(&a->isolation, &b->isolation),
	    "user,group,limits");
}

static bool
task_equal(const struct hd_task_config *a, const struct hd_task_config *b)
{
	char	changes[160];

	task_changes(a, b, changes, sizeof changes);
	return strcmp(a->name, b->name) == 0 && changes[0] == '\0';
}

/* Return whether two files give every worker the same settings. */
static bool
config_same_for_workers(const struct hd_config *a, const struct hd_config *b)
{
	size_t	i;

	if (!strings_equal(a->job_db, b->job_db) ||
	    a->log_level != b->log_level ||
	    a->grace_period_ms != b->grace_period_ms ||
	    a->lease_ms != b->lease_ms || a->payload_max != b->payload_max ||
	    a->ntasks != b->ntasks)
		return false;
	for (i = 0; i < a->ntasks; i++)
		if (!task_equal(&a->tasks[i], &b->tasks[i]))
			return false;
	return true;
}

/* Write the settings of queue a that b changes, as task_changes() does. */
static void
queue_changes(const struct hd_queue_config *a,
    const struct hd_queue_config *b, char *buf, size_t size)
{
	buf[0] = '\0';
	change_add(buf, size, a->workers != b->workers, "workers");
	change_add(buf, size, a->concurrency != b->concurrency,
	    "concurrency");
	change_add(buf, size, a->poll_interval_ms != b->poll_interval_ms,
	    "poll_interval");
	change_add(buf, size, a->global_limit != b->global_limit, "limit");
	change_add(buf, size, a->rate != b->rate, "rate");
	change_add(buf, size, a->max_jobs != b->max_jobs, "max_jobs");
	change_add(buf, size, a->max_rss != b->max_rss, "max_rss");
}

static bool
queue_equal(const struct hd_queue_config *a, const struct hd_queue_config *b)
{
	char	changes[160];

	if (a == NULL || b == NULL)
		return false;
	queue_changes(a, b, changes, sizeof changes);
	return changes[0] == '\0';
}

/* Return whether two files make the janitor keep the same rows. */
static bool
retention_same(const struct hd_config *a, const struct hd_config *b)
{
	return a->keep_counters_ms == b->keep_counters_ms &&
	    a->keep_hourly_ms == b->keep_hourly_ms &&
	    a->keep_dead_ms == b->keep_dead_ms &&
	    a->keep_dead_rows == b->keep_dead_rows &&
	    a->keep_processes_ms == b->keep_processes_ms;
}

/* Return whether two files give the janitor the same periodic jobs. */
static bool
periodic_same(const struct hd_config *a, const struct hd_config *b)
{
	const struct hd_periodic_config	*p, *q;
	const struct hd_task_config	*ta, *tb;
	size_t				 i;

	if (a->nperiodic != b->nperiodic)
		return false;
	for (i = 0; i < a->nperiodic; i++) {
		p = &a->periodic[i];
		q = &b->periodic[i];
		ta = hd_config_task(a, p->task);
		tb = hd_config_task(b, q->task);
		if (strcmp(p->name, q->name) != 0 ||
		    strcmp(p->schedule, q->schedule) != 0 ||
		    strcmp(p->timezone, q->timezone) != 0 ||
		    strcmp(p->task, q->task) != 0 ||
		    strcmp(p->payload, q->payload) != 0 ||
		    p->priority != q->priority ||
		    p->catch_up_latest != q->catch_up_latest ||
		    ta == NULL || tb == NULL ||
		    strcmp(ta->queue, tb->queue) != 0 ||
		    ta->retry.max_attempts != tb->retry.max_attempts)
			return false;
	}
	return true;
}

/* Return whether two files route every event type to the same tasks. */
static bool
events_same(const struct hd_config *a, const struct hd_config *b)
{
	const struct hd_event_route	*p, *q;
	size_t				 i, j;

	if (a->nevents != b->nevents)
		return false;
	for (i = 0; i < a->nevents; i++) {
		p = &a->events[i];
		q = &b->events[i];
		if (strcmp(p->type, q->type) != 0 || p->ntasks != q->ntasks)
			return false;
		for (j = 0; j < p->ntasks; j++)
			if (strcmp(p->tasks[j], q->tasks[j]) != 0)
				return false;
	}
	return true;
}

/*
 * Return whether two files make the relay build the same jobs: the same
 * event routes, and the same queue and max_attempts for every task, which
 * the relay takes for the jobs of events and of explicit outbox rows.
 */
static bool
relay_routes_same(const struct hd_config *a, const struct hd_config *b)
{
	const struct hd_task_config	*ta, *tb;
	size_t				 i;

	if (!events_same(a, b) || a->ntasks != b->ntasks)
		return false;
	for (i = 0; i < a->ntasks; i++) {
		ta = &a->tasks[i];
		tb = &b->tasks[i];
		if (strcmp(ta->name, tb->name) != 0 ||
		    strcmp(ta->queue, tb->queue) != 0 ||
		    ta->retry.max_attempts != tb->retry.max_attempts)
			return false;
	}
	return true;
}

/* Return whether child c may keep running under the new configuration. */
static bool
child_unchanged(const struct child *c, const struct hd_config *old,
    const struct hd_config *new, bool same, bool janitor_same,
    bool relay_same)
{
	switch (c->role) {
	case CHILD_JANITOR:
		return janitor_same;
	case CHILD_RELAY:
		return relay_same && new->app_db != NULL;
	case CHILD_WORKER:
		return same && queue_equal(hd_config_queue(old, c->queue),
		    hd_config_queue(new, c->queue));
	}
	return false;
}

/* Stop child i for good; it is forgotten when it exits. */
static void
child_retire(struct supervisor *sup, size_t i)
{
	struct child	*c = &sup->children[i];

	c->retired = true;
	/* A janitor stopped by SIGUSR1 leaves heraldd's row, as heraldd runs on. */
	if (c->pid != 0)
		kill(c->pid, c->role == CHILD_JANITOR ? SIGUSR1 : SIGTERM);
	else
		child_remove(sup, i);
}

/* Warn about each handler program or module this host lacks. */
void
hd_supervisor_warn_handlers(const struct hd_config *config)
{
	char	error[HD_CONFIG_ERROR_MAX];
	size_t	next = 0;

	while (hd_config_check_programs(config, &next, error,
	    sizeof error) == -1) {
		const struct hd_task_config *t = &config->tasks[next - 1];

		if (t->argv != NULL)
			hd_log_warn("handler program not executable",
			    "task=%s queue=%s program=%s", t->name, t->queue,
			    t->argv[0]);
		else
			hd_log_warn("handler module not readable",
			    "task=%s queue=%s module=%s", t->name, t->queue,
			    t->module_path);
	}
}

/*
 * Log a line for each queue and task that a reload adds, removes or
 * changes, and one that lists the changed settings of the whole file.
 */
static void
reload_log_changes(const struct hd_config *old, const struct hd_config *new)
{
	const struct hd_queue_config	*qa, *qb;
	const struct hd_task_config	*ta, *tb;
	char				 what[160];
	size_t				 i;

	for (i = 0; i < old->nqueues; i++)
		if (hd_config_queue(new, old->queues[i].name) == NULL)
			hd_log_info("queue removed", "queue=%s",
			    old->queues[i].name);
	for (i = 0; i < new->nqueues; i++) {
		qb = &new->queues[i];
		if ((qa = hd_config_queue(old, qb->name)) == NULL) {
			hd_log_info("queue added", "queue=%s workers=%d",
			    qb->name, qb->workers);
			continue;
		}
		queue_changes(qa, qb, what, sizeof what);
		if (what[0] != '\0')
			hd_log_info("queue changed", "queue=%s changed=%s",
			    qb->name, what);
	}
	for (i = 0; i < old->ntasks; i++)
		if (hd_config_task(new, old->tasks[i].name) == NULL)
			hd_log_info("task removed", "task=%s queue=%s",
			    old->tasks[i].name, old->tasks[i].queue);
	for (i = 0; i < new->ntasks; i++) {
		tb = &new->tasks[i];
		if ((ta = hd_config_task(old, tb->name)) == NULL) {
			hd_log_info("task added", "task=%s queue=%s",
			    tb->name, tb->queue);
			continue;
		}
		task_changes(ta, tb, what, sizeof what);
		if (what[0] != '\0')
			hd_log_info("task changed", "task=%s queue=%s "
			    "changed=%s", tb->name, tb->queue, what);
	}

	what[0] = '\0';
	change_add(what, sizeof what, !strings_equal(old->job_db,
	    new->job_db), "job_db");
	change_add(what, sizeof what, !strings_equal(old->app_db,
	    new->app_db), "app_db");
	change_add(what, sizeof what, old->log_level != new->log_level,
	    "log_level");
	change_add(what, sizeof what,
	    old->grace_period_ms != new->grace_period_ms, "grace_period");
	change_add(what, sizeof what, old->lease_ms != new->lease_ms,
	    "lease");
	change_add(what, sizeof what, old->payload_max != new->payload_max,
	    "payload_max");
	change_add(what, sizeof what, !retention_same(old, new),
	    "retention");
	change_add(what, sizeof what, !periodic_same(old, new), "periodic");
	change_add(what, sizeof what, !events_same(old, new), "events");
	change_add(what, sizeof what,
	    old->restart_failures != new->restart_failures ||
	    old->restart_window_ms != new->restart_window_ms ||
	    old->restart_cool_down_ms != new->restart_cool_down_ms,
	    "restart_limit");
	change_add(what, sizeof what, old->confirm_over != new->confirm_over,
	    "confirm_over");
	change_add(what, sizeof what,
	    old->allow_root_handlers != new->allow_root_handlers,
	    "allow_root_handlers");
	if (what[0] != '\0')
		hd_log_info("settings changed", "changed=%s", what);
}

/*
 * Reread the configuration file.  Workers whose settings changed are
 * retired and new ones started; on a bad file the old configuration
 * stays.
 */
static void
supervisor_reload(struct supervisor *sup)
{
	struct hd_config		*old = sup->config, *new;
	const struct hd_queue_config	*q;
	char				 error[HD_CONFIG_ERROR_MAX];
	bool				 same, janitor_same, relay_same;
	size_t				 i, retired = 0, revived = 0, before;

	new = hd_config_load(old->path, error, sizeof error);
	if (new != NULL && (hd_config_check_root(new, geteuid(), error,
	    sizeof error) == -1 || hd_spawn_check(new, false, false, sup->verbose,
	    error, sizeof error) == -1)) {
		hd_config_free(new);
		new = NULL;
	}
	if (new == NULL) {
		hd_log_error("configuration reload failed, keeping the "
		    "running configuration", "error=%s", error);
		return;
	}
	hd_supervisor_warn_handlers(new);
	reload_log_changes(old, new);
	same = config_same_for_workers(old, new);
	relay_same = strings_equal(old->job_db, new->job_db) &&
	    strings_equal(old->app_db, new->app_db) &&
	    old->log_level == new->log_level && relay_routes_same(old, new);
	janitor_same = strings_equal(old->job_db, new->job_db) &&
	    old->log_level == new->log_level && retention_same(old, new) &&
	    periodic_same(old, new);

	/* Walk backwards: child_retire() may move the last slot to i. */
	for (i = sup->nchildren; i-- > 0;) {
		struct child	*c = &sup->children[i];

		if (c->retired)
			continue;
		if (child_unchanged(c, old, new, same, janitor_same,
		    relay_same))
			continue;
		child_retire(sup, i);
		retired++;
	}

	sup->config = new;
	if (!sup->verbose)
		hd_log_threshold = new->log_level;
	/* A reload is the operator's word that the cause was fixed. */
	for (i = 0; i < sup->nchildren; i++) {
		if (sup->children[i].failed) {
			revived++;
			child_clear_failed(&sup->children[i]);
		}
	}
	before = sup->nchildren;
	for (i = 0; i < new->nqueues; i++) {
		q = &new->queues[i];
		if (!same || !queue_equal(hd_config_queue(old, q->name), q))
			children_add_queue(sup, q);
	}
	if (!janitor_same)
		child_add(sup, CHILD_JANITOR, NULL);
	if (!relay_same && new->app_db != NULL)
		child_add(sup, CHILD_RELAY, NULL);
	for (i = before; i < sup->nchildren; i++)
		child_start(sup, &sup->children[i]);
	hd_config_free(old);
	hd_log_info("configuration reloaded", "file=%s retired=%zu "
	    "started=%zu failed_restarted=%zu", new->path, retired,
	    sup->nchildren - before, revived);
	report_failed(sup);
}

static void
supervisor_signals(struct supervisor *sup)
{
	hd_signals_drain();
	if (hd_signals_take(SIGCHLD))
		supervisor_reap(sup);
	if (hd_signals_take(SIGTERM))
		supervisor_begin_stop(sup, SIGTERM);
	if (hd_signals_take(SIGINT))
		supervisor_begin_stop(sup, SIGINT);
	if (hd_signals_take(SIGHUP) && !sup->stopping) {
		notify_systemd("RELOADING=1");
		supervisor_reload(sup);
		notify_systemd("READY=1");
		notify_status(sup);
	}
}

/*
 * Start failed child c again after its cool-down.  It counts its
 * failures from zero and is marked failed again if it keeps dying.
 */
static void
child_restart_failed(struct supervisor *sup, struct child *c)
{
	child_clear_failed(c);
	child_start(sup, c);
	notify_status(sup);
	report_failed(sup);
	/* A failed fork() was logged, and the restart is retried. */
	if (c->pid == 0)
		return;
	if (c->role == CHILD_WORKER)
		hd_log_warn("restarting failed child", "child_pid=%ld "
		    "child_role=worker queue=%s cool_down_ms=%lld",
		    (long)c->pid, c->queue,
		    (long long)sup->config->restart_cool_down_ms);
	else
		hd_log_warn("restarting failed child", "child_pid=%ld "
		    "child_role=%s cool_down_ms=%lld", (long)c->pid,
		    child_role_name(c->role),
		    (long long)sup->config->restart_cool_down_ms);
}

/* Return whether c waits for a restart, after its delay or cool-down. */
static bool
child_restart_pending(const struct supervisor *sup, const struct child *c)
{
	if (c->pid != 0 || c->retired)
		return false;
	return !c->failed || sup->config->restart_cool_down_ms > 0;
}

/* Restart the children whose delay or cool-down passed. */
static void
supervisor_restart_due(struct supervisor *sup)
{
	int64_t	now = hd_monotonic_ms();
	size_t	i;

	for (i = 0; i < sup->nchildren; i++) {
		struct child	*c = &sup->children[i];

		if (!child_restart_pending(sup, c) || now < c->restart_at_ms)
			continue;
		if (c->failed)
			child_restart_failed(sup, c);
		else
			child_start(sup, c);
	}
}

static int
supervisor_timeout(const struct supervisor *sup)
{
	int64_t	next = INT64_MAX, now = hd_monotonic_ms();
	size_t	i;

	if (sup->stopping) {
		if (!sup->killed)
			next = sup->kill_at_ms;
	} else
		for (i = 0; i < sup->nchildren; i++)
			if (child_restart_pending(sup, &sup->children[i]) &&
			    sup->children[i].restart_at_ms < next)
				next = sup->children[i].restart_at_ms;
	if (sup->watchdog_ms != 0 && sup->next_watchdog_ms < next)
		next = sup->next_watchdog_ms;
	if (!sup->stopping && sup->sweep_at_ms < next)
		next = sup->sweep_at_ms;
	return hd_poll_timeout(next, now);
}

/* Read WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled() does. */
static void
supervisor_watchdog_init(struct supervisor *sup)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	long long	 value;

	if (usec == NULL || (pid != NULL && atol(pid) != (long)getpid()))
		return;
	value = atoll(usec);
	if (value <= 0)
		return;
	/* Half the interval, as systemd advises. */
	sup->watchdog_ms = value / 2000 > 0 ? value / 2000 : 1;
	sup->next_watchdog_ms = hd_monotonic_ms();
}

static void
supervisor_watchdog(struct supervisor *sup)
{
	int64_t	now = hd_monotonic_ms();

	if (sup->watchdog_ms == 0 || now < sup->next_watchdog_ms)
		return;
	notify_systemd("WATCHDOG=1");
	sup->next_watchdog_ms = now + sup->watchdog_ms;
}

static void
supervisor_start(struct supervisor *sup)
{
	size_t	i, workers = 0;

	for (i = 0; i < sup->config->nqueues; i++)
		children_add_queue(sup, &sup->config->queues[i]);
	child_add(sup, CHILD_JANITOR, NULL);
	if (sup->config->app_db != NULL)
		child_add(sup, CHILD_RELAY, NULL);
	for (i = 0; i < sup->nchildren; i++) {
		child_start(sup, &sup->children[i]);
		if (sup->children[i].role == CHILD_WORKER)
			workers++;
		if (sup->children[i].pid != 0) {
			sup->children[i].awaited = true;
			sup->up_awaited++;
		}
	}
	hd_log_debug("children started", "supervisor_id=%s queues=%zu "
	    "workers=%zu", sup->id, sup->config->nqueues, workers);
}

/*
 * Report ready once no child of the start is awaited.  A child that
 * exited before it ran counts as settled: heraldd restarts it as it
 * would any other.
 */
static void
supervisor_check_ready(struct supervisor *sup)
{
	size_t	i, workers = 0;

	if (sup->ready || sup->up_awaited > 0)
		return;
	sup->ready = true;
	for (i = 0; i < sup->nchildren; i++)
		if (sup->children[i].role == CHILD_WORKER)
			workers++;
	hd_log_info("heraldd ready", "supervisor_id=%s queues=%zu "
	    "workers=%zu", sup->id, sup->config->nqueues, workers);
	notify_systemd("READY=1");
	notify_status(sup);
}

/*
 * Read the pids of the children that run.  A pid of a child that is no
 * longer awaited, because it was restarted or exited, is passed over.
 */
static void
supervisor_count_up(struct supervisor *sup)
{
	unsigned char	 buf[64];
	ssize_t		 n, k;
	pid_t		 pid;
	size_t		 i;

	while ((n = read(sup->up_fd[0], buf, sizeof buf)) > 0) {
		for (k = 0; k < n; k++) {
			sup->up_part[sup->up_partlen++] = buf[k];
			if (sup->up_partlen < sizeof pid)
				continue;
			memcpy(&pid, sup->up_part, sizeof pid);
			sup->up_partlen = 0;
			for (i = 0; i < sup->nchildren; i++)
				if (sup->children[i].pid == pid)
					child_settled(sup, &sup->children[i]);
		}
	}
	supervisor_check_ready(sup);
}

int
hd_supervisor_run(struct hd_config *config, bool verbose)
{
	static const int	 signals[] = {
		SIGTERM, SIGINT, SIGHUP, SIGCHLD, 0
	};
	struct supervisor	 sup;
	struct pollfd		 pfd[2];
	size_t			 i;

	memset(&sup, 0, sizeof sup);
	sup.config = config;
	sup.verbose = verbose;
	sup.pid = getpid();
	sup.janitor_fd = -1;
	hd_random_hex(sup.id, SUPERVISOR_ID_BYTES);
	/* Handlers of a worker that dies become children of heraldd. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		hd_log_warn("could not become a subreaper", "error=%s",
		    strerror(errno));

	if (pipe2(sup.up_fd, O_CLOEXEC) == -1 ||
	    fcntl(sup.up_fd[0], F_SETFL, O_NONBLOCK) == -1) {
		hd_log_error("could not open start pipe", "error=%s",
		    strerror(errno));
		return EX_OSERR;
	}
	pfd[0].fd = hd_signals_open(signals);
	pfd[0].events = POLLIN;
	pfd[1].fd = sup.up_fd[0];
	pfd[1].events = POLLIN;
	if (pfd[0].fd == -1) {
		hd_log_error("could not open signal pipe", "error=%s",
		    strerror(errno));
		return EX_OSERR;
	}
	hd_log_info("heraldd started", "version=%s schema=%s file=%s",
	    HERALD_VERSION, hd_schema_versions, config->path);
	supervisor_watchdog_init(&sup);
	supervisor_start(&sup);
	sup.sweep_at_ms = hd_monotonic_ms() + SUPERVISOR_SWEEP_EVERY_MS;

	for (;;) {
		if (poll(pfd, 2, supervisor_timeout(&sup)) == -1 &&
		    errno != EINTR)
			hd_log_error("poll failed", "error=%s",
			    strerror(errno));
		if (pfd[1].revents != 0)
			supervisor_count_up(&sup);
		if (pfd[0].revents != 0)
			supervisor_signals(&sup);
		supervisor_watchdog(&sup);
		supervisor_sweep_due(&sup);
		if (!sup.stopping) {
			supervisor_restart_due(&sup);
			continue;
		}
		if (supervisor_running(&sup) == 0)
			break;
		if (!sup.killed && hd_monotonic_ms() >= sup.kill_at_ms)
			supervisor_kill_rest(&sup);
	}

	hd_log_info("heraldd stopped", "supervisor_id=%s", sup.id);
	hd_signals_close();
	close(sup.up_fd[0]);
	close(sup.up_fd[1]);
	if (sup.janitor_fd != -1)
		close(sup.janitor_fd);
	for (i = 0; i < sup.nchildren; i++) {
		free(sup.children[i].queue);
		hd_started_unmap(sup.children[i].started);
		hd_started_ids_clear(&sup.children[i].lost_started);
	}
	free(sup.children);
	hd_config_free(sup.config);
	return 0;
}
