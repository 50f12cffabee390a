/*
 * exec.h: the exec handler runner.
 *
 * A runner starts one handler process with execve() (no shell) in a
 * process group of its own, feeds the job's payload to its standard input
 * and keeps the last HD_EXEC_TAIL_MAX bytes of its standard output and
 * standard error, combined.  Nothing here blocks: the worker adds the
 * runner's pipes to its poll() set with hd_exec_pollfds(), hands the
 * events back with hd_exec_io(), reports the handler's exit from
 * waitpid() with hd_exec_reaped(), and calls hd_exec_tick() when the
 * deadline of hd_exec_next_ms() passes.  So one worker runs several
 * handlers at once.
 *
 * The input text belongs to the caller and must outlive the runner.
 */

#ifndef HD_EXEC_H
#define HD_EXEC_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"

#define HD_EXEC_TAIL_MAX	4096
/* Wait between SIGTERM and SIGKILL to a handler's process group. */
#define HD_EXEC_KILL_WAIT_MS	3000
/* Time to read what is left in the pipes after the handler exits. */
#define HD_EXEC_DRAIN_MS	1000
/* The exit status of the handler process when execve() fails. */
#define HD_EXEC_NOT_EXECUTED	127

struct hd_exec {
	pid_t		 pid;		/* also the process group id */
	bool		 reaped;
	int		 status;	/* from waitpid(), once reaped */
	int		 in_fd;		/* -1 once closed */
	int		 out_fd;
	int		 err_fd;
	const char	*input;
	size_t		 input_len;
	size_t		 input_off;

	/* The output tail, a ring buffer of tail_len bytes from tail_start. */
	char		 tail[HD_EXEC_TAIL_MAX];
	size_t		 tail_start;
	size_t		 tail_len;

	/* CLOCK_MONOTONIC milliseconds; 0 when not set. */
	int64_t		 started_ms;
	int64_t		 ended_ms;
	int64_t		 deadline_ms;	/* when the timeout strikes */
	int64_t		 kill_at_ms;	/* when SIGKILL follows SIGTERM */
	int64_t		 drain_until_ms;

	bool		 timed_out;
	bool		 stopped;	/* by hd_exec_stop() */
	int		 term_signal;	/* the last signal sent, or 0 */

	/*
	 * The system call that failed before the handler could run, such as
	 * "execve", and its errno, or NULL and 0.  The child stores them in
	 * the worker's memory, which it shares until it executes or exits.
	 */
	const char	*start_call;
	int		 start_errno;
};

/*
 * Start argv[0] with argv and the environment envp, writing input
 * (input_len bytes) to its standard input.  The child inherits no
 * descriptor but 0 to 2; with iso not NULL it takes iso's resource
 * limits, and its user and groups when iso->set_ids and heraldd runs as
 * root.  timeout_ms of 0 means none.
 * Return 0, or -1 with errno set when no process could be started.  A
 * failed execve() is not an error here but an exit status of
 * HD_EXEC_NOT_EXECUTED, with the reason in the output tail and the
 * failed call in start_call.
 */
int	hd_exec_start(struct hd_exec *exec, char *const argv[],
	    char *const envp[], const struct hd_isolation *iso,
	    const char *input, size_t input_len, int64_t timeout_ms);

/* Add the open pipes to fds (room for 3 needed); return how many. */
int	hd_exec_pollfds(const struct hd_exec *exec, struct pollfd *fds);

/* Handle the poll() results of the n entries hd_exec_pollfds() added. */
void	hd_exec_io(struct hd_exec *exec, const struct pollfd *fds, int n);

/*
 * Record the wait status of pid if it is this runner's handler, kill
 * what is left of its process group and return true; else return false.
 */
bool	hd_exec_reaped(struct hd_exec *exec, pid_t pid, int status);

/* Act on the timeout, the SIGKILL after SIGTERM and the end of draining. */
void	hd_exec_tick(struct hd_exec *exec, int64_t now_ms);

/* Return the next time hd_exec_tick() must run, or INT64_MAX. */
int64_t	hd_exec_next_ms(const struct hd_exec *exec);

/* Stop the handler: SIGTERM to its group, SIGKILL after the wait. */
void	hd_exec_stop(struct hd_exec *exec);

/* Return whether the handler was reaped and its pipes are closed. */
bool	hd_exec_done(const struct hd_exec *exec);

/*
 * Fill attempt with the outcome, exit code, signal and duration of a
 * finished handler; the output tail is copied into buf (size bytes, at
 * least HD_EXEC_TAIL_MAX + 1) as valid UTF-8 without NUL bytes, and
 * attempt->output points to it.
 */
void	hd_exec_result(const struct hd_exec *exec, struct hd_attempt *attempt,
	    char *buf, size_t size);

/* Close whatever is still open; the process must have been reaped. */
void	hd_exec_close(struct hd_exec *exec);

#endif /* HD_EXEC_H */
