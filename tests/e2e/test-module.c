/*
 * test-module.c: a module handler whose outcome the payload chooses, for
 * test_module.sh.
 *
 * The payload is an object with optional keys: "result" ("done",
 * "retry" or "permanent"; default "done"), "message" (copied to the
 * outcome), "delay_ms" (the retry delay), "sleep_ms" (how long to
 * run first), "wait_cancel_ms" (how long to wait for the job to be
 * cancelled, polling job->cancelled every 10 ms; a cancelled job returns
 * at once with "retry"), "abort" (true: call abort() after the sleep,
 * which ends the worker) and "exit" (a status to call exit() with after
 * the sleep).  "say" is a line to write to standard output and error
 * first, "tid_file" a file to write the id of the thread that runs the
 * job to, before the sleep, and "lock" a file to flock().  The run
 * keeps an exclusive lock on that file from its start until it returns
 * or its process exits.  A run that finds the lock
 * taken returns "permanent" at once with the message "already running".
 *
 * HERALD_TEST_MODULE_INIT makes the module's initializer misbehave when
 * the module is loaded: "abort" calls abort(), "exit" calls exit(0) and
 * "block" sleeps for an hour.
 */

#include <sys/file.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "herald_module.h"

HERALD_MODULE_DECLARE();

herald_module_handler_fn test_handler;

__attribute__((constructor)) static void
test_init(void)
{
	const char	*init = getenv("HERALD_TEST_MODULE_INIT");

	if (init == NULL)
		return;
	if (strcmp(init, "abort") == 0)
		abort();
	if (strcmp(init, "exit") == 0)
		exit(0);
	if (strcmp(init, "block") == 0)
		sleep(3600);
}

/* Return whether job is cancelled within wait_ms. */
static int
test_wait_cancel(const struct herald_module_job *job, json_int_t wait_ms)
{
	struct timespec	ts = { 0, 10 * 1000000 };
	json_int_t	waited;

	for (waited = 0; waited < wait_ms; waited += 10) {
		if (job->cancelled(job))
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Write the id of the calling thread to the file path. */
static void
test_write_tid(const char *path)
{
	char	text[32];
	int	fd, len;

	len = snprintf(text, sizeof text, "%ld\n", (long)syscall(SYS_gettid));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	if (write(fd, text, (size_t)len) != len)
		(void)unlink(path);
	close(fd);
}

/*
 * Take an exclusive lock on the file path for this run.  Return its
 * descriptor, -1 when another run holds the lock, or -2 when the file
 * cannot be opened.
 */
static int
test_lock(const char *path)
{
	int	fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

enum herald_module_result
test_handler(const struct herald_module_job *job,
    struct herald_module_outcome *outcome)
{
	enum herald_module_result	 result = HERALD_MODULE_DONE;
	struct timespec			 ts;
	json_error_t			 error;
	json_t				*payload, *value;
	const char			*text;
	int				 lock = -1;

	payload = json_loadb(job->payload, job->payload_len, 0, &error);
	if (payload == NULL) {
		snprintf(outcome->message, sizeof outcome->message,
		    "payload is not JSON");
		return HERALD_MODULE_PERMANENT;
	}
	if ((text = json_string_value(json_object_get(payload,
	    "lock"))) != NULL && (lock = test_lock(text)) < 0) {
		json_decref(payload);
		snprintf(outcome->message, sizeof outcome->message, "%s",
		    lock == -1 ? "already running" :
		    "could not open the lock file");
		return HERALD_MODULE_PERMANENT;
	}
	if ((text = json_string_value(json_object_get(payload,
	    "say"))) != NULL) {
		printf("%s\n", text);
		fprintf(stderr, "%s\n", text);
		fflush(stdout);
	}
	if ((text = json_string_value(json_object_get(payload,
	    "tid_file"))) != NULL)
		test_write_tid(text);
	if ((value = json_object_get(payload, "sleep_ms")) != NULL) {
		ts.tv_sec = json_integer_value(value) / 1000;
		ts.tv_nsec = json_integer_value(value) % 1000 * 1000000;
		nanosleep(&ts, NULL);
	}
	if (json_is_true(json_object_get(payload, "abort")))
		abort();
	if ((value = json_object_get(payload, "exit")) != NULL)
		exit((int)json_integer_value(value));
	if ((value = json_object_get(payload, "wait_cancel_ms")) != NULL &&
	    test_wait_cancel(job, json_integer_value(value))) {
		json_decref(payload);
		if (lock != -1)
			close(lock);
		snprintf(outcome->message, sizeof outcome->message,
		    "cancelled");
		return HERALD_MODULE_RETRY;
	}
	text = json_string_value(json_object_get(payload, "result"));
	if (text != NULL && strcmp(text, "retry") == 0)
		result = HERALD_MODULE_RETRY;
	else if (text != NULL && strcmp(text, "permanent") == 0)
		result = HERALD_MODULE_PERMANENT;
	else if (text != NULL && strcmp(text, "bogus") == 0)
		result = (enum herald_module_result)42;
	if ((value = json_object_get(payload, "delay_ms")) != NULL)
		outcome->retry_delay_ms = json_integer_value(value);
	if ((text = json_string_value(json_object_get(payload,
	    "message"))) != NULL)
		snprintf(outcome->message, sizeof outcome->message, "%s",
		    text);
	json_decref(payload);
	if (lock != -1)
		close(lock);
	return result;
}
