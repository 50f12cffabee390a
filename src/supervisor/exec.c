/*
 * exec.c: the exec handler runner.
 *
 * The handler runs in a process group of its own, so a timeout or a
 * shutdown reaches every process it started, and whatever is left of the
 * group is killed once the handler itself exits, so a handler cannot leak
 * processes that stay in its group.  A process that leaves the group
 * (setsid(), setpgid()) escapes this; only a cgroup would catch it.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "util.h"

static void	exec_child(struct hd_exec *, char *const argv[],
		    char *const envp[], const struct hd_isolation *iso,
		    int in_fd, int out_fd, int err_fd, pid_t parent)
		    __attribute__((noreturn));

static void
close_pair(int fds[2])
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	fds[0] = fds[1] = -1;
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Close every descriptor from 3 up, with close_range() where it works. */
static void
close_from_3(void)
{
	long	max, fd;

	if (close_range(3, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		close((int)fd);
}

/*
 * Write a message to the handler's stderr pipe, which ends in the tail,
 * and record the failed call in exec for the worker's log.
 */
static void
child_report(struct hd_exec *exec, const char *call, const char *what,
    const char *path, int err)
{
	char	msg[512];
	int	len;

	exec->start_call = call;
	exec->start_errno = err;

	len = snprintf(msg, sizeof msg, "herald: %s \"%s\": %s\n", what, path,
	    strerror(err));
	if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) == -1) {
		/* nobody left to tell */
	}
}

/* Set one resource limit, soft and hard, so the handler cannot raise it. */
static int
child_limit(struct hd_exec *exec, int resource, const char *name,
    int64_t value)
{
	struct rlimit	rl;

	if (value <= 0)
		return 0;
	rl.rlim_cur = rl.rlim_max = (rlim_t)value;
	if (setrlimit(resource, &rl) == -1) {
		child_report(exec, "setrlimit", "could not set resource limit",
		    name, errno);
		return -1;
	}
	return 0;
}

/*
 * Take iso's limits, then its groups, group and user.  The raw system
 * calls change this process alone: glibc's wrappers would signal every
 * thread of the worker, whose memory this vfork() child shares.  Only
 * root changes ids; hd_config_check_root() made sure that any other user
 * runs handlers as itself.
 */
static int
child_confine(struct hd_exec *exec, const struct hd_isolation *iso)
{
	const char	*group;

	if (iso == NULL)
		return 0;
	if (child_limit(exec, RLIMIT_AS, "RLIMIT_AS", iso->address_space) ==
	    -1 || child_limit(exec, RLIMIT_NOFILE, "RLIMIT_NOFILE",
	    iso->open_files) == -1 || child_limit(exec, RLIMIT_CPU,
	    "RLIMIT_CPU", iso->cpu_time_s) == -1)
		return -1;
	if (!iso->set_ids || geteuid() != 0)
		return 0;
	group = iso->group != NULL ? iso->group : "(the user's)";
	if (syscall(SYS_setgroups, iso->ngroups, iso->groups) == -1) {
		child_report(exec, "setgroups", "could not change to group",
		    group, errno);
		return -1;
	}
	if (syscall(SYS_setresgid, iso->gid, iso->gid, iso->gid) == -1) {
		child_report(exec, "setresgid", "could not change to group",
		    group, errno);
		return -1;
	}
	if (syscall(SYS_setresuid, iso->uid, iso->uid, iso->uid) == -1) {
		child_report(exec, "setresuid", "could not change to user",
		    iso->user != NULL ? iso->user : "(unchanged)", errno);
		return -1;
	}
	return 0;
}

/* The forked child: set up the handler's process and execute it. */
static void
exec_child(struct hd_exec *exec, char *const argv[], char *const envp[],
    const struct hd_isolation *iso, int in_fd, int out_fd, int err_fd,
    pid_t parent)
{
	sigset_t	mask;
	int		signo;

	setpgid(0, 0);
	/*
	 * The handler dies with its worker; its lease then expires and the
	 * janitor puts the job back, so it never runs twice at once.
	 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(HD_EXEC_NOT_EXECUTED);

	for (signo = 1; signo < NSIG; signo++)
		signal(signo, SIG_DFL);
	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);

	if (dup2(in_fd, STDIN_FILENO) == -1 ||
	    dup2(out_fd, STDOUT_FILENO) == -1 ||
	    dup2(err_fd, STDERR_FILENO) == -1) {
		exec->start_call = "dup2";
		exec->start_errno = errno;
		_exit(HD_EXEC_NOT_EXECUTED);
	}
	close_from_3();
	if (child_confine(exec, iso) == -1)
		_exit(HD_EXEC_NOT_EXECUTED);
	/* A change of user cleared the signal; the worker may be gone. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(HD_EXEC_NOT_EXECUTED);

	execve(argv[0], argv, envp);
	child_report(exec, "execve", "cannot execute", argv[0], errno);
	_exit(HD_EXEC_NOT_EXECUTED);
}

/*
 * Start the child with vfork(), which does not copy the worker's page
 * tables: on a 2-core machine that made an exec handler about 2.4 times
 * as fast as with fork(): 2260 against 920 /bin/true jobs per second,
 * 2 workers of 4 (bench/herald-bench process_exec).  The child
 * borrows the parent's memory until it executes, so every signal is
 * blocked around vfork() and the child resets the handlers before it
 * unblocks them: no handler of the worker may run in the child.
 */
static pid_t
spawn_child(struct hd_exec *exec, char *const argv[], char *const envp[],
    const struct hd_isolation *iso, int in_fd, int out_fd, int err_fd,
    pid_t parent)
{
	sigset_t	all, saved;
	pid_t		pid;
	int		saved_errno;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = vfork();
	if (pid == 0)
		exec_child(exec, argv, envp, iso, in_fd, out_fd, err_fd,
		    parent);
	saved_errno = errno;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	errno = saved_errno;
	return pid;
}

static int
set_nonblock(int fd)
{
	int	flags;

	flags = fcntl(fd, F_GETFL);
	if (flags == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int
hd_exec_start(struct hd_exec *exec, char *const argv[], char *const envp[],
    const struct hd_isolation *iso, const char *input, size_t input_len,
    int64_t timeout_ms)
{
	int	in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int	saved_errno;
	pid_t	parent = getpid(), pid;

	memset(exec, 0, sizeof *exec);
	exec->in_fd = exec->out_fd = exec->err_fd = -1;
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1)
		goto fail;
	if (set_nonblock(in[1]) == -1 || set_nonblock(out[0]) == -1 ||
	    set_nonblock(err[0]) == -1)
		goto fail;

	pid = spawn_child(exec, argv, envp, iso, in[0], out[1], err[1],
	    parent);
	if (pid == -1)
		goto fail;

	/* Both sides set the group, so a kill right after fork reaches it. */
	setpgid(pid, pid);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	exec->pid = pid;
	exec->in_fd = in[1];
	exec->out_fd = out[0];
	exec->err_fd = err[0];
	exec->input = input;
	exec->input_len = input_len;
	exec->started_ms = hd_monotonic_ms();
	if (timeout_ms > 0)
		exec->deadline_ms = exec->started_ms + timeout_ms;
	if (input_len == 0)
		close_fd(&exec->in_fd);
	return 0;

fail:
	saved_errno = errno;
	close_pair(in);
	close_pair(out);
	close_pair(err);
	errno = saved_errno;
	return -1;
}

int
hd_exec_pollfds(const struct hd_exec *exec, struct pollfd *fds)
{
	int	n = 0;

	if (exec->in_fd != -1) {
		fds[n].fd = exec->in_fd;
		fds[n++].events = POLLOUT;
	}
	if (exec->out_fd != -1) {
		fds[n].fd = exec->out_fd;
		fds[n++].events = POLLIN;
	}
	if (exec->err_fd != -1) {
		fds[n].fd = exec->err_fd;
		fds[n++].events = POLLIN;
	}
	return n;
}

static void
tail_append(struct hd_exec *exec, const char *data, size_t len)
{
	size_t	end;

	/* Only the last HD_EXEC_TAIL_MAX bytes of a long write can stay. */
	if (len > HD_EXEC_TAIL_MAX) {
		data += len - HD_EXEC_TAIL_MAX;
		len = HD_EXEC_TAIL_MAX;
	}
	while (len > 0) {
		end = (exec->tail_start + exec->tail_len) % HD_EXEC_TAIL_MAX;
		exec->tail[end] = *data++;
		len--;
		if (exec->tail_len < HD_EXEC_TAIL_MAX)
			exec->tail_len++;
		else
			exec->tail_start = (exec->tail_start + 1) %
			    HD_EXEC_TAIL_MAX;
	}
}

/* Write as much of the input as the pipe takes; close it when done. */
static void
exec_write_input(struct hd_exec *exec)
{
	ssize_t	n;

	while (exec->input_off < exec->input_len) {
		n = write(exec->in_fd, exec->input + exec->input_off,
		    exec->input_len - exec->input_off);
		if (n > 0) {
			exec->input_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		/* EPIPE: the handler closed its input; it may not need it. */
		break;
	}
	close_fd(&exec->in_fd);
}

/* Read what is available from an output pipe; close it at end of file. */
static void
exec_read_output(struct hd_exec *exec, int *fd)
{
	char	buf[4096];
	ssize_t	n;

	for (;;) {
		n = read(*fd, buf, sizeof buf);
		if (n > 0) {
			tail_append(exec, buf, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		close_fd(fd);
		return;
	}
}

void
hd_exec_io(struct hd_exec *exec, const struct pollfd *fds, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (fds[i].revents == 0)
			continue;
		if (fds[i].fd == exec->in_fd)
			exec_write_input(exec);
		else if (fds[i].fd == exec->out_fd)
			exec_read_output(exec, &exec->out_fd);
		else if (fds[i].fd == exec->err_fd)
			exec_read_output(exec, &exec->err_fd);
	}
}

bool
hd_exec_reaped(struct hd_exec *exec, pid_t pid, int status)
{
	if (exec->pid != pid || exec->reaped)
		return false;
	exec->reaped = true;
	exec->status = status;
	exec->ended_ms = hd_monotonic_ms();
	exec->drain_until_ms = exec->ended_ms + HD_EXEC_DRAIN_MS;
	exec->kill_at_ms = 0;
	/*
	 * The group id cannot be reused while the group has members, so
	 * this reaches only processes the handler left behind.
	 */
	killpg(pid, SIGKILL);
	close_fd(&exec->in_fd);
	if (exec->out_fd != -1)
		exec_read_output(exec, &exec->out_fd);
	if (exec->err_fd != -1)
		exec_read_output(exec, &exec->err_fd);
	return true;
}

static void
exec_signal(struct hd_exec *exec, int signo)
{
	if (exec->reaped)
		return;
	killpg(exec->pid, signo);
	exec->term_signal = signo;
}

void
hd_exec_stop(struct hd_exec *exec)
{
	if (exec->reaped || exec->term_signal != 0) {
		exec->stopped = true;
		return;
	}
	exec->stopped = true;
	exec_signal(exec, SIGTERM);
	exec->kill_at_ms = hd_monotonic_ms() + HD_EXEC_KILL_WAIT_MS;
}

void
hd_exec_tick(struct hd_exec *exec, int64_t now_ms)
{
	if (!exec->reaped) {
		if (exec->deadline_ms != 0 && now_ms >= exec->deadline_ms &&
		    !exec->timed_out && exec->term_signal == 0) {
			exec->timed_out = true;
			exec_signal(exec, SIGTERM);
			exec->kill_at_ms = now_ms + HD_EXEC_KILL_WAIT_MS;
		}
		if (exec->kill_at_ms != 0 && now_ms >= exec->kill_at_ms) {
			exec_signal(exec, SIGKILL);
			exec->kill_at_ms = 0;
		}
		return;
	}
	/*
	 * A process outside the group may still hold a pipe open; the tail
	 * ends at the drain deadline.
	 */
	if (now_ms >= exec->drain_until_ms) {
		close_fd(&exec->out_fd);
		close_fd(&exec->err_fd);
	}
}

int64_t
hd_exec_next_ms(const struct hd_exec *exec)
{
	int64_t	next = INT64_MAX;

	if (!exec->reaped) {
		if (exec->deadline_ms != 0 && !exec->timed_out &&
		    exec->term_signal == 0)
			next = exec->deadline_ms;
		if (exec->kill_at_ms != 0 && exec->kill_at_ms < next)
			next = exec->kill_at_ms;
	} else if (exec->out_fd != -1 || exec->err_fd != -1)
		next = exec->drain_until_ms;
	return next;
}

bool
hd_exec_done(const struct hd_exec *exec)
{
	return exec->reaped && exec->in_fd == -1 && exec->out_fd == -1 &&
	    exec->err_fd == -1;
}

/* Return the length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_sequence(const unsigned char *s, size_t len)
{
	size_t	need, i;

	if (s[0] < 0x80)
		return s[0] == 0 ? 0 : 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (len < need)
		return 0;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return need;
}

/*
 * Copy the tail into buf as text PostgreSQL accepts: the tail may start
 * in the middle of a character and a handler may write any bytes, so
 * invalid sequences and NUL bytes become '?'.
 */
static void
tail_copy_text(const struct hd_exec *exec, char *buf, size_t size)
{
	unsigned char	raw[HD_EXEC_TAIL_MAX];
	size_t		i, n, out = 0, len = exec->tail_len;

	for (i = 0; i < len; i++)
		raw[i] = (unsigned char)exec->tail[(exec->tail_start + i) %
		    HD_EXEC_TAIL_MAX];
	i = 0;
	/* Skip the rest of a character cut by the start of the tail. */
	if (len == HD_EXEC_TAIL_MAX)
		while (i < len && i < 3 && (raw[i] & 0xc0) == 0x80)
			i++;
	/*
	 * Each byte read gives at most one byte, so a buffer of
	 * HD_EXEC_TAIL_MAX + 1 keeps the whole tail, up to its last byte.
	 */
	while (i < len) {
		n = utf8_sequence(raw + i, len - i);
		if (n == 0) {
			if (out + 1 >= size)
				break;
			buf[out++] = '?';
			i++;
			continue;
		}
		if (out + n >= size)
			break;
		memcpy(buf + out, raw + i, n);
		out += n;
		i += n;
	}
	buf[out] = '\0';
}

void
hd_exec_result(const struct hd_exec *exec, struct hd_attempt *attempt,
    char *buf, size_t size)
{
	memset(attempt, 0, sizeof *attempt);
	attempt->exit_code = -1;
	attempt->duration_ms = exec->ended_ms - exec->started_ms;
	if (WIFEXITED(exec->status))
		attempt->exit_code = WEXITSTATUS(exec->status);
	else if (WIFSIGNALED(exec->status))
		attempt->signal = WTERMSIG(exec->status);

	if (exec->timed_out)
		attempt->outcome = HD_OUTCOME_TIMEOUT;
	else if (attempt->exit_code == 0)
		attempt->outcome = HD_OUTCOME_DONE;
	else if (attempt->exit_code == 65)	/* EX_DATAERR */
		attempt->outcome = HD_OUTCOME_PERMANENT;
	else
		attempt->outcome = HD_OUTCOME_FAILED;

	tail_copy_text(exec, buf, size);
	attempt->output = buf;
}

void
hd_exec_close(struct hd_exec *exec)
{
	close_fd(&exec->in_fd);
	close_fd(&exec->out_fd);
	close_fd(&exec->err_fd);
}
