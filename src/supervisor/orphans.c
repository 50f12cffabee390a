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

/* Read the parent pid and process group of pid; 0 or -1. */
static int
orphans_stat(pid_t pid, pid_t *ppid, pid_t *pgrp)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	long	 parent, group;
	int	 fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp ...", where comm may hold ") ". */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld %ld", &parent, &group) != 2)
		return -1;
	*ppid = (pid_t)parent;
	*pgrp = (pid_t)group;
	return 0;
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

int
hd_orphans_kill(const pid_t *known, size_t nknown)
{
	struct dirent	*e;
	DIR		*dir;
	pid_t		 self = getpid(), pid, ppid, pgrp;
	int		 killed = 0;

	if ((dir = opendir("/proc")) == NULL)
		return 0;
	while ((e = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)strtol(e->d_name, NULL, 10);
		if (orphans_stat(pid, &ppid, &pgrp) == -1 || ppid != self ||
		    orphans_known(pid, known, nknown))
			continue;
		/*
		 * An unreaped child keeps its pid and, as a group leader,
		 * its group id from being reused, so neither kill() can
		 * reach a stranger.
		 */
		if (pgrp == pid && pgrp != getpgrp())
			kill(-pgrp, SIGKILL);
		kill(pid, SIGKILL);
		hd_log_warn("orphaned handler killed", "handler_pid=%ld",
		    (long)pid);
		killed++;
	}
	closedir(dir);
	return killed;
}
