/*
 * orphans.c: killing the handlers a dead worker left behind.
 *
 * /proc/PID/task/TID/children would list the children directly, but
 * only with CONFIG_PROC_CHILDREN, which not every kernel has; reading
 * the parent pid from every /proc/PID/stat works everywhere and costs a
 * few milliseconds, only when a worker died.
 */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "orphans.h"
#include "util.h"

/*
 * The orphans killed and not yet reaped.  A killed process may still run
 * at the next sweep, which kills it again but does not report it again.
 * Its pid cannot be reused before heraldd reaps it.  When more are
 * pending, the oldest are forgotten and may be reported twice.
 */
#define ORPHANS_PENDING	128
static pid_t	orphans_pending[ORPHANS_PENDING];

static bool
orphans_pending_has(pid_t pid)
{
	size_t	i;

	for (i = 0; i < ORPHANS_PENDING; i++)
		if (orphans_pending[i] == pid)
			return true;
	return false;
}

static void
orphans_pending_add(pid_t pid)
{
	static size_t	next;
	size_t		i;

	for (i = 0; i < ORPHANS_PENDING; i++)
		if (orphans_pending[i] == 0) {
			orphans_pending[i] = pid;
			return;
		}
	orphans_pending[next] = pid;
	next = (next + 1) % ORPHANS_PENDING;
}

void
hd_orphans_reaped(pid_t pid)
{
	size_t	i;

	for (i = 0; i < ORPHANS_PENDING; i++)
		if (orphans_pending[i] == pid)
			orphans_pending[i] = 0;
}

/*
 * Read the file name of /proc/PID into buf, NUL-terminated after the
 * bytes read, which it returns; 0 when there are none or it cannot be
 * read.
 */
static ssize_t
orphans_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char	path[64];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return n;
}

/* Read the state, parent pid and process group of pid; 0 or -1. */
static int
orphans_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
	char	 buf[512], *p;
	long	 parent, group;

	if (orphans_read(pid, "stat", buf, sizeof buf) == 0)
		return -1;
	/* "pid (comm) state ppid pgrp ...", where comm may hold ") ". */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %ld %ld", state, &parent, &group) != 3)
		return -1;
	*ppid = (pid_t)parent;
	*pgrp = (pid_t)group;
	return 0;
}

/*
 * Find the job of handler pid in its environment, as the worker gave it:
 * HERALD_JOB_ID and HERALD_ATTEMPT, each only if all digits.  The
 * handler could have changed its environment since, so the values are
 * read as numbers and nothing else.  Buffers are left empty when not
 * found or not readable (a handler that ran a setuid program).  Return
 * whether the environment could be read.
 */
static bool
orphans_job(pid_t pid, char *job_id, char *attempt, size_t size)
{
	static const struct {
		const char	*name;
		size_t		 len;
	} vars[] = {
		{ "HERALD_JOB_ID=", sizeof "HERALD_JOB_ID=" - 1 },
		{ "HERALD_ATTEMPT=", sizeof "HERALD_ATTEMPT=" - 1 },
	};
	char		 buf[65536], *p, *end, *out;
	ssize_t		 n;
	size_t		 i, len;

	job_id[0] = attempt[0] = '\0';
	if ((n = orphans_read(pid, "environ", buf, sizeof buf)) == 0)
		return false;
	/* Entries end in NUL; the last may be cut at the buffer's end. */
	for (p = buf; p < buf + n; p += strlen(p) + 1) {
		for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
			if (strncmp(p, vars[i].name, vars[i].len) != 0)
				continue;
			out = i == 0 ? job_id : attempt;
			end = p + vars[i].len;
			len = strspn(end, "0123456789");
			if (len > 0 && len < size && end[len] == '\0') {
				memcpy(out, end, len);
				out[len] = '\0';
			}
		}
	}
	return true;
}

/*
 * Return whether pid is dying: with SIGKILL pending, as a handler's
 * process that its worker killed with its group is when heraldd, which
 * inherited it, looks, or exiting already, its memory released (no
 * VmSize line).
 */
static bool
orphans_dying(pid_t pid)
{
	char			 buf[4096], *p;
	unsigned long long	 mask;
	bool			 dying = false;

	if (orphans_read(pid, "status", buf, sizeof buf) == 0)
		return false;
	if (strstr(buf, "\nVmSize:") == NULL)
		return true;
	/* The thread's pending signals, then the process's. */
	for (p = buf; (p = strstr(p, "Pnd:\t")) != NULL; p += 5)
		if (sscanf(p + 5, "%llx", &mask) == 1 &&
		    (mask & (1ULL << (SIGKILL - 1))) != 0)
			dying = true;
	return dying;
}

static bool
orphans_known(pid_t pid, const pid_t *known, size_t nknown)
{
	size_t	i;

	for (i = 0; i < nknown; i++)
		if (known[i] == pid)
			return true;
	return false;
}

/* A child found by a sweep, and whether to report it. */
struct orphan {
	pid_t	pid;
	pid_t	pgrp;
	bool	report;
	char	job_id[24];
	char	attempt[24];
};

/*
 * Find the children of this process that are not in known.  Each is
 * judged before any is killed, since the kill of one group makes its
 * other members look as if they were dying already.
 */
static struct orphan *
orphans_find(const pid_t *known, size_t nknown, size_t *n)
{
	struct orphan	*found = NULL, *o;
	struct dirent	*e;
	DIR		*dir;
	pid_t		 self = getpid(), pid, ppid, pgrp;
	size_t		 cap = 0;
	char		 state;

	*n = 0;
	if ((dir = opendir("/proc")) == NULL)
		return NULL;
	while ((e = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)strtol(e->d_name, NULL, 10);
		if (orphans_stat(pid, &state, &ppid, &pgrp) == -1 ||
		    ppid != self || orphans_known(pid, known, nknown))
			continue;
		if (*n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			found = hd_xrealloc(found, cap, sizeof *found);
		}
		o = &found[(*n)++];
		o->pid = pid;
		o->pgrp = pgrp;
		o->job_id[0] = o->attempt[0] = '\0';
		/*
		 * A dead process (a handler stopped with its worker by
		 * PR_SET_PDEATHSIG), or one killed already (by its worker
		 * at a timeout) or exiting, awaits its reaping only, and
		 * one heraldd killed before is reported already.
		 */
		o->report = state != 'Z' && !orphans_pending_has(pid) &&
		    !orphans_dying(pid);
		/* An empty or unreadable environment names no job. */
		if (o->report)
			(void)orphans_job(pid, o->job_id, o->attempt,
			    sizeof o->attempt);
	}
	closedir(dir);
	return found;
}

int
hd_orphans_kill(const pid_t *known, size_t nknown)
{
	struct orphan	*found, *o;
	size_t		 n, i;
	int		 killed = 0;

	found = orphans_find(known, nknown, &n);
	for (i = 0; i < n; i++) {
		o = &found[i];
		/*
		 * An unreaped child keeps its pid and, as a group leader,
		 * its group id from being reused, so neither kill() can
		 * reach a stranger.  The group of a dying leader is left
		 * alone: its members come to heraldd when it ends, and the
		 * next look reports them.
		 */
		if (o->report && o->pgrp == o->pid && o->pgrp != getpgrp())
			kill(-o->pgrp, SIGKILL);
		kill(o->pid, SIGKILL);
		if (!o->report)
			continue;
		orphans_pending_add(o->pid);
		if (o->job_id[0] != '\0')
			hd_log_warn("orphaned handler killed",
			    "handler_pid=%ld job_id=%s attempt=%s",
			    (long)o->pid, o->job_id, o->attempt[0] != '\0' ?
			    o->attempt : "unknown");
		else
			hd_log_warn("orphaned handler killed",
			    "handler_pid=%ld job_id=unknown", (long)o->pid);
		killed++;
	}
	free(found);
	return killed;
}
