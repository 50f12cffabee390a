/*
 * test-module.c: a module handler whose outcome the payload chooses, for
 * test_module.sh.
 *
 * The payload is an object with optional keys: "result" ("done",
 * "retry" or "permanent"; default "done"), "message" (copied to the
 * outcome), "delay_ms" (the retry delay), "sleep_ms" (how long to
 * run first) and "wait_cancel_ms" (how long to wait for the job to be
 * cancelled, polling job->cancelled every 10 ms; a cancelled job returns
 * at once with "retry").
 */

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "herald_module.h"

HERALD_MODULE_DECLARE();

herald_module_handler_fn test_handler;

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

enum herald_module_result
test_handler(const struct herald_module_job *job,
    struct herald_module_outcome *outcome)
{
	enum herald_module_result	 result = HERALD_MODULE_DONE;
	struct timespec			 ts;
	json_error_t			 error;
	json_t				*payload, *value;
	const char			*text;

	payload = json_loadb(job->payload, job->payload_len, 0, &error);
	if (payload == NULL) {
		snprintf(outcome->message, sizeof outcome->message,
		    "payload is not JSON");
		return HERALD_MODULE_PERMANENT;
	}
	if ((value = json_object_get(payload, "sleep_ms")) != NULL) {
		ts.tv_sec = json_integer_value(value) / 1000;
		ts.tv_nsec = json_integer_value(value) % 1000 * 1000000;
		nanosleep(&ts, NULL);
	}
	if ((value = json_object_get(payload, "wait_cancel_ms")) != NULL &&
	    test_wait_cancel(job, json_integer_value(value))) {
		json_decref(payload);
		snprintf(outcome->message, sizeof outcome->message,
		    "cancelled");
		return HERALD_MODULE_RETRY;
	}
	text = json_string_value(json_object_get(payload, "result"));
	if (text != NULL && strcmp(text, "retry") == 0)
		result = HERALD_MODULE_RETRY;
	else if (text != NULL && strcmp(text, "permanent") == 0)
		result = HERALD_MODULE_PERMANENT;
	if ((value = json_object_get(payload, "delay_ms")) != NULL)
		outcome->retry_delay_ms = json_integer_value(value);
	if ((text = json_string_value(json_object_get(payload,
	    "message"))) != NULL)
		snprintf(outcome->message, sizeof outcome->message, "%s",
		    text);
	json_decref(payload);
	return result;
}
