/*
 * spawn.c: finding and executing heraldd-child.
 */

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conninfo.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

#ifndef HD_PKGLIBEXECDIR
#define HD_PKGLIBEXECDIR	"/usr/local/libexec/herald"
#endif
#ifndef HD_SBINDIR
#define HD_SBINDIR		"/usr/local/sbin"
#endif

#define CHILD_PROGRAM	"heraldd-child"

static char	spawn_path[PATH_MAX];

int
hd_spawn_init(char *error, size_t error_size)
{
	char	exe[PATH_MAX], *slash;
	size_t	dirlen = 0, sbinlen = strlen(HD_SBINDIR);
	ssize_t	n;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		dirlen = slash != NULL ? (size_t)(slash - exe) : 0;
		snprintf(spawn_path, sizeof spawn_path, "%.*s/%s",
		    (int)dirlen, exe, CHILD_PROGRAM);
		if (access(spawn_path, X_OK) == 0)
			return 0;
		/*
		 * An installed heraldd finds heraldd-child under its own
		 * prefix, which a staged installation (make install
		 * DESTDIR=...) puts in front of sbindir.
		 */
		if (dirlen >= sbinlen &&
		    memcmp(exe + dirlen - sbinlen, HD_SBINDIR, sbinlen) == 0)
			snprintf(spawn_path, sizeof spawn_path, "%.*s%s/%s",
			    (int)(dirlen - sbinlen), exe, HD_PKGLIBEXECDIR,
			    CHILD_PROGRAM);
		else
			snprintf(spawn_path, sizeof spawn_path, "%s/%s",
			    HD_PKGLIBEXECDIR, CHILD_PROGRAM);
	} else
		snprintf(spawn_path, sizeof spawn_path, "%s/%s",
		    HD_PKGLIBEXECDIR, CHILD_PROGRAM);
	if (access(spawn_path, X_OK) == 0)
		return 0;
	if (dirlen > 0)
		snprintf(error, error_size, "cannot run %s: %s (it is "
		    "installed with heraldd; heraldd also looked in %.*s, its "
		    "own directory)", spawn_path, strerror(errno),
		    (int)dirlen, exe);
	else
		snprintf(error, error_size, "cannot run %s: %s (it is "
		    "installed with heraldd)", spawn_path, strerror(errno));
	return -1;
}

/*
 * Accept every connection string: heraldd does not load libpq, so it
 * links this in place of conninfo.c, and hd_spawn_check() has
 * heraldd-child check the file with libpq.
 */
bool
hd_conninfo_parses(const char *conninfo, char *reason, size_t size)
{
	reason[0] = '\0';
	return true;
}

const char *
hd_spawn_path(void)
{
	return spawn_path;
}

/*
 * Duplicate fd above the descriptors of child.h, so that moving one
 * descriptor into place never overwrites another.  The copy is
 * close-on-exec, so heraldd-child gets each descriptor only at its place.
 */
static int
spawn_lift(int fd)
{
	return fd == -1 ? -1 :
	    fcntl(fd, F_DUPFD_CLOEXEC, HD_CHILD_EXTRA_FD + 1);
}

void
hd_spawn_exec(char *const argv[], int spec_fd, int up_fd, int extra_fd)
{
	int	spec = spawn_lift(spec_fd), up = spawn_lift(up_fd);
	int	extra = spawn_lift(extra_fd);

	if (spec == -1 || (up_fd != -1 && up == -1) ||
	    (extra_fd != -1 && extra == -1) ||
	    dup2(spec, HD_CHILD_SPEC_FD) == -1 ||
	    (up != -1 && dup2(up, HD_CHILD_UP_FD) == -1) ||
	    (extra != -1 && dup2(extra, HD_CHILD_EXTRA_FD) == -1)) {
		hd_log_error("could not prepare child descriptors",
		    "error=%s", strerror(errno));
		_exit(EX_OSERR);
	}
	if (up == -1)
		close(HD_CHILD_UP_FD);
	if (extra == -1)
		close(HD_CHILD_EXTRA_FD);
	execv(spawn_path, argv);
	hd_log_error("could not run heraldd-child", "file=%s error=%s",
	    spawn_path, strerror(errno));
	_exit(EX_OSERR);
}

int
hd_spawn_check(const struct hd_config *config, bool schema, bool modules,
    bool verbose, char *error, size_t error_size)
{
	struct hd_child_spec	 spec;
	char			*argv[] = { CHILD_PROGRAM, "check", NULL };
	sigset_t		 block, saved;
	int			 out[2], spec_fd, status, fork_errno;
	size_t			 len = 0;
	ssize_t			 n;
	pid_t			 pid;

	memset(&spec, 0, sizeof spec);
	spec.role = "check";
	spec.verbose = verbose;
	spec.check_schema = schema;
	spec.load_modules = modules;
	spec.config_path = config->path;
	spec.config_text = config->text;
	spec.config_len = config->text_len;
	if ((spec_fd = hd_child_spec_write(&spec)) == -1) {
		snprintf(error, error_size, "could not write the child "
		    "specification: %s", strerror(errno));
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		snprintf(error, error_size, "could not open a pipe: %s",
		    strerror(errno));
		close(spec_fd);
		return -1;
	}
	/* Block signals across fork(), as for every child. */
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &saved);
	pid = fork();
	if (pid == 0) {
		/* The message comes back on standard output. */
		if (dup2(out[1], STDOUT_FILENO) == -1)
			_exit(EX_OSERR);
		hd_spawn_exec(argv, spec_fd, -1, -1);
	}
	fork_errno = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(spec_fd);
	close(out[1]);
	if (pid == -1) {
		snprintf(error, error_size, "could not start %s: %s",
		    spawn_path, strerror(fork_errno));
		close(out[0]);
		return -1;
	}
	error[0] = '\0';
	while (len + 1 < error_size &&
	    ((n = read(out[0], error + len, error_size - len - 1)) > 0 ||
	    (n == -1 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	error[len] = '\0';
	while (len > 0 && error[len - 1] == '\n')
		error[--len] = '\0';
	close(out[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(error, error_size, "could not wait for %s: "
			    "%s", spawn_path, strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (error[0] == '\0') {
		if (WIFSIGNALED(status))
			snprintf(error, error_size, "%s check was killed by "
			    "signal %d", spawn_path, WTERMSIG(status));
		else
			snprintf(error, error_size, "%s check failed with "
			    "exit status %d", spawn_path,
			    WEXITSTATUS(status));
	}
	return -1;
}
