/*
 * show.c: the parts of herald dead show and herald job show that print a
 * job: its payload, its attempts and its history.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "store.h"
#include "util.h"

void
hd_cli_format_end(const char *outcome, const char *exit_code,
    const char *signal, char *buf, size_t size)
{
	if (outcome != NULL && (strcmp(outcome, "timeout") == 0 ||
	    strcmp(outcome, "lost") == 0))
		snprintf(buf, size, "%s", outcome);
	else if (signal != NULL && strtol(signal, NULL, 10) > 0)
		snprintf(buf, size, "signal %s", signal);
	else if (exit_code != NULL && strtol(exit_code, NULL, 10) >= 0)
		snprintf(buf, size, "exit %s", exit_code);
	else
		snprintf(buf, size, "%s", outcome != NULL ? outcome : "-");
}

/*
 * The replaced characters include the C1 controls U+0080 to U+009F,
 * because some terminals obey them: U+009B starts a sequence as ESC [
 * does.  In UTF-8 they are 0xc2 followed by 0x80 to 0x9f.
 */
void
hd_cli_print_indented(const char *text, const char *indent)
{
	const unsigned char	*p;
	bool			 line_start = true;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (line_start)
			fputs(indent, stdout);
		line_start = *p == '\n';
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			putchar('?');
			p++;
		} else if (*p == '\n' || *p == '\t' ||
		    (*p >= 0x20 && *p != 0x7f))
			putchar(*p);
		else
			putchar('?');
	}
	if (!line_start)
		putchar('\n');
}

/* Store a member of a history entry in buf as text, "" when null. */
static void
member_text(json_t *entry, const char *key, char *buf, size_t size)
{
	json_t	*value = json_object_get(entry, key);

	if (json_is_string(value))
		snprintf(buf, size, "%s", json_string_value(value));
	else if (json_is_integer(value))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(value));
	else
		buf[0] = '\0';
}

/*
 * Print an entry that records an operator's action on the dead job, such
 * as "retried  2026-03-04 14:10:00Z", then its text.  It has no
 * number: the attempts around it are numbered.
 */
static void
print_action(json_t *entry)
{
	char	at[64], when[64], outcome[32];
	json_t	*output, *payload;

	member_text(entry, "at", at, sizeof at);
	member_text(entry, "outcome", outcome, sizeof outcome);
	hd_history_time(at, when, sizeof when);
	printf("  %s  %s\n", outcome, at[0] != '\0' ? when : "-");
	output = json_object_get(entry, "output");
	if (json_is_string(output) && json_string_length(output) > 0)
		hd_cli_print_indented(json_string_value(output), "    | ");
	/*
	 * An edit keeps the payload it replaced, which the query gives as
	 * its JSON text (HD_SQL_HISTORY_SHOWN).
	 */
	payload = json_object_get(entry, "payload");
	if (json_is_string(payload)) {
		printf("    payload before the edit:\n");
		hd_cli_print_indented(json_string_value(payload), "    | ");
	}
}

static void
print_attempt(json_t *entry)
{
	char	attempt[24], at[64], when[64], outcome[32], exit_code[24];
	char	signal[24];
	char	duration_ms[24], duration[32], end[48];
	json_t	*output;

	member_text(entry, "attempt", attempt, sizeof attempt);
	member_text(entry, "at", at, sizeof at);
	member_text(entry, "outcome", outcome, sizeof outcome);
	if (hd_history_is_action(outcome)) {
		print_action(entry);
		return;
	}
	hd_history_time(at, when, sizeof when);
	member_text(entry, "exit_code", exit_code, sizeof exit_code);
	member_text(entry, "signal", signal, sizeof signal);
	member_text(entry, "duration_ms", duration_ms, sizeof duration_ms);

	hd_cli_format_end(outcome[0] != '\0' ? outcome : NULL,
	    exit_code[0] != '\0' ? exit_code : NULL,
	    signal[0] != '\0' ? signal : NULL, end, sizeof end);
	if (duration_ms[0] != '\0')
		hd_format_duration(strtoll(duration_ms, NULL, 10), duration,
		    sizeof duration);
	else
		snprintf(duration, sizeof duration, "-");

	/* "timeout" and "lost" are both the outcome and the end. */
	printf("  attempt %s  %s  %s%s%s  %s\n",
	    attempt[0] != '\0' ? attempt : "?", at[0] != '\0' ? when : "-",
	    outcome[0] != '\0' ? outcome : "-",
	    strcmp(outcome, end) == 0 ? "" : "  ",
	    strcmp(outcome, end) == 0 ? "" : end, duration);

	output = json_object_get(entry, "output");
	if (json_is_string(output) && json_string_length(output) > 0)
		hd_cli_print_indented(json_string_value(output), "    | ");
}

void
hd_cli_print_history(const char *errors)
{
	json_error_t	 jerror;
	json_t		*history, *entry;
	size_t		 i;

	printf("history:\n");
	history = json_loads(errors, 0, &jerror);
	if (!json_is_array(history) || json_array_size(history) == 0) {
		printf("  (no attempts recorded)\n");
		json_decref(history);
		return;
	}
	json_array_foreach(history, i, entry)
		print_attempt(entry);
	json_decref(history);
}

void
hd_cli_print_time(const char *name, const char *when, const char *delta_ms)
{
	char	relative[48];

	hd_cli_format_relative(strtoll(delta_ms, NULL, 10), relative,
	    sizeof relative);
	printf("%-11s %s (%s)\n", name, when, relative);
}

void
hd_cli_print_attempts(const char *attempt_text, const char *max_attempts,
    const char *errors)
{
	json_error_t	 jerror;
	json_t		*history;
	long long	 before, attempt;

	history = json_loads(errors, 0, &jerror);
	before = hd_history_attempts_before_retry(history);
	json_decref(history);
	attempt = strtoll(attempt_text, NULL, 10);
	if (before > 0)
		printf("%-11s %lld of %s since the last retry, %lld in all\n",
		    "attempts:", attempt, max_attempts, before + attempt);
	else
		printf("%-11s %lld of %s\n", "attempts:", attempt,
		    max_attempts);
}
