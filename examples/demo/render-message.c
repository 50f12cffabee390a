/*
 * render-message: a demo handler that renders a message into a spool
 * directory, as a mail queue's sender would.
 *
 *	render-message SPOOL_DIR
 *
 * The payload on standard input is a JSON object:
 *
 *	{ "to": "ada@example.com", "subject": "Welcome", "body": "...",
 *	  "fail_until_attempt": 2 }
 *
 * The message is written to SPOOL_DIR/outbox/JOB_ID.eml, atomically (a
 * temporary file renamed into place), so a retried job overwrites its own
 * file.  With "fail_until_attempt": N the handler exits 75 (EX_TEMPFAIL)
 * on attempts 1 to N, so the demo shows retries, and every run of it
 * fails the same way.  A payload without "to" or "subject" exits 65
 * (EX_DATAERR), a permanent failure.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <jansson.h>

/* Return $name as a whole number, or fallback when unset or invalid. */
static long
env_number(const char *name, long fallback)
{
	const char	*text = getenv(name);
	char		*end;
	long		 value;

	if (text == NULL || *text == '\0')
		return fallback;
	value = strtol(text, &end, 10);
	return *end == '\0' ? value : fallback;
}

static const char *
payload_string(json_t *payload, const char *key, bool required)
{
	json_t	*value = json_object_get(payload, key);

	if (json_is_string(value))
		return json_string_value(value);
	if (required || value != NULL) {
		fprintf(stderr, "render-message: payload field \"%s\" must be "
		    "a string\n", key);
		exit(EX_DATAERR);
	}
	return "";
}

static int
write_message(const char *spool, const char *job_id, long attempt,
    const char *to, const char *subject, const char *body)
{
	char	 dir[4096], path[4096], tmp[4096];
	FILE	*f;

	if (snprintf(dir, sizeof dir, "%s/outbox", spool) >= (int)sizeof dir ||
	    snprintf(path, sizeof path, "%s/%s.eml", dir, job_id) >=
	    (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.eml.tmp", dir, job_id) >=
	    (int)sizeof tmp) {
		fprintf(stderr, "render-message: spool path is too long\n");
		return EX_USAGE;
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "render-message: could not create %s: %s\n",
		    dir, strerror(errno));
		return EX_CANTCREAT;
	}

	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "render-message: could not create %s: %s\n",
		    tmp, strerror(errno));
		return EX_CANTCREAT;
	}
	fprintf(f, "To: %s\nSubject: %s\nX-Herald-Job: %s\n"
	    "X-Herald-Attempt: %ld\n\n%s\n", to, subject, job_id, attempt,
	    body);
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		fprintf(stderr, "render-message: could not write %s: %s\n",
		    path, strerror(errno));
		remove(tmp);
		return EX_IOERR;
	}
	printf("wrote outbox/%s.eml\n", job_id);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	json_error_t	 error;
	json_t		*payload, *fail_until;
	const char	*job_id = getenv("HERALD_JOB_ID");
	long		 attempt = env_number("HERALD_ATTEMPT", 1);
	int		 status;

	if (argc != 2) {
		fprintf(stderr, "usage: render-message SPOOL_DIR\n");
		return EX_USAGE;
	}
	if (job_id == NULL || strspn(job_id, "0123456789") !=
	    strlen(job_id) || *job_id == '\0') {
		fprintf(stderr, "render-message: HERALD_JOB_ID is not set to "
		    "a job id\n");
		return EX_USAGE;
	}

	payload = json_loadf(stdin, 0, &error);
	if (!json_is_object(payload)) {
		fprintf(stderr, "render-message: payload is not a JSON "
		    "object: %s\n", payload == NULL ? error.text :
		    "wrong type");
		return EX_DATAERR;
	}

	fail_until = json_object_get(payload, "fail_until_attempt");
	if (json_is_integer(fail_until) &&
	    attempt <= json_integer_value(fail_until)) {
		fprintf(stderr, "render-message: simulated temporary failure "
		    "on attempt %ld; attempts after %" JSON_INTEGER_FORMAT
		    " succeed\n", attempt, json_integer_value(fail_until));
		json_decref(payload);
		return EX_TEMPFAIL;
	}

	status = write_message(argv[1], job_id, attempt,
	    payload_string(payload, "to", true),
	    payload_string(payload, "subject", true),
	    payload_string(payload, "body", false));
	json_decref(payload);
	return status;
}
