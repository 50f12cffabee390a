/*
 * view_detail.c: one job in full, opened with Enter on the dead-letter
 * or retries screen: its fields, its payload as indented JSON and every
 * attempt with its time, outcome, duration and output tail.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "console.h"
#include "format.h"
#include "screen.h"
#include "util.h"

static const struct hd_key detail_keys[] = {
	{ { 27, KEY_LEFT, KEY_BACKSPACE }, "Esc Left", "back to the list",
	    HD_CMD_BACK, false },
	{ { 'h', 127 }, "h", "back to the list", HD_CMD_BACK, false },
	{ { 'r' }, "r", "retry this dead job", HD_CMD_RETRY, true },
	{ { 'd', KEY_DC }, "d Del", "purge this dead job (asks)", HD_CMD_PURGE,
	    true },
	{ { 'c' }, "c", "cancel this queued job (asks)", HD_CMD_CANCEL, true },
	{ { 'e' }, "e", "edit the payload in $EDITOR and retry this dead job",
	    HD_CMD_EDIT, true },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

struct detail_line {
	char	*text;
	int	 attr;
};

static int64_t			 detail_id;
static bool			 detail_dead;
static struct detail_line	*lines;
static int			 nlines, lines_cap;
static int64_t			 built_from_ms = -1;	/* snapshot's time */
static int			 built_cols;	/* width the lines wrap at */
static struct hd_list		 detail_list;

static void
detail_clear(void)
{
	int	i;

	for (i = 0; i < nlines; i++)
		free(lines[i].text);
	nlines = 0;
}

static void
detail_add(int attr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
detail_add(int attr, const char *fmt, ...)
{
	va_list	ap;
	char	*text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		text = hd_xstrdup("");
	va_end(ap);
	if (nlines == lines_cap) {
		lines_cap = lines_cap == 0 ? 64 : lines_cap * 2;
		lines = hd_xrealloc(lines, lines_cap, sizeof(*lines));
	}
	lines[nlines].text = text;
	lines[nlines].attr = attr;
	nlines++;
}

/*
 * Add text line by line, each with prefix in front, and wrap a line
 * longer than the screen, so that the end of an error message stays in
 * view.  A cut never splits a UTF-8 character.
 */
static void
detail_add_text(int attr, const char *prefix, const char *text)
{
	const char	*p = text, *nl, *cut;
	int		 width = built_cols - 1 - (int)strlen(prefix);

	if (width < 20)
		width = 20;
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		cut = p + hd_text_fit(p, (size_t)(nl - p), width);
		if (cut == p && p < nl)
			cut = p + 1;
		detail_add(attr, "%s%.*s", prefix, (int)(cut - p), p);
		if (cut < nl)
			p = cut;
		else if (*nl == '\n')
			p = nl + 1;
		else
			p = nl;
	}
}

/* The payload as jsonb_pretty() formats it, every number as stored. */
static void
detail_add_payload(const char *payload)
{
	detail_add(hd_attr(HD_ATTR_HEADER), "payload");
	/* Only the redacted views give a NULL payload. */
	if (payload == NULL) {
		detail_add(hd_attr(HD_ATTR_DIM), "  (hidden: no privilege)");
		return;
	}
	detail_add_text(hd_attr(HD_ATTR_NORMAL), "  ", payload);
}

/* One attempt: "#2  2026-03-04 14:02:11Z  failed  exit 75  1.2s". */
static void
detail_add_failure(json_t *entry, const char *when, const char *outcome)
{
	json_t	*exit_code = json_object_get(entry, "exit_code");
	json_t	*signal = json_object_get(entry, "signal");
	char	 end[32] = "", duration[32] = "-";

	if (json_is_integer(signal) && json_integer_value(signal) > 0)
		snprintf(end, sizeof(end), "signal %lld",
		    (long long)json_integer_value(signal));
	else if (json_is_integer(exit_code))
		snprintf(end, sizeof(end), "exit %lld",
		    (long long)json_integer_value(exit_code));
	if (json_is_integer(json_object_get(entry, "duration_ms")))
		hd_format_duration(json_integer_value(json_object_get(entry,
		    "duration_ms")), duration, sizeof(duration));

	detail_add(hd_attr(HD_ATTR_WARN), "  #%lld  %s  %-9s %-10s %s",
	    (long long)json_integer_value(json_object_get(entry, "attempt")),
	    when, outcome != NULL ? outcome : "-", end, duration);
}

/*
 * One entry of the history, an attempt or an operator's action, which
 * has no number: "retried  2026-03-04 14:10:00Z".  Its output follows.
 */
static void
detail_add_entry(json_t *entry)
{
	json_t		*output = json_object_get(entry, "output"), *payload;
	const char	*at = json_string_value(json_object_get(entry, "at"));
	const char	*outcome = json_string_value(json_object_get(entry,
	    "outcome"));
	char		 when[64] = "-";

	if (at != NULL)
		hd_history_time(at, when, sizeof(when));
	if (hd_history_is_action(outcome))
		detail_add(hd_attr(HD_ATTR_NORMAL), "  %s  %s", outcome, when);
	else
		detail_add_failure(entry, when, outcome);
	if (json_is_string(output) && json_string_length(output) > 0)
		detail_add_text(hd_attr(HD_ATTR_DIM), "      | ",
		    json_string_value(output));
	/* An edit keeps the payload it replaced, as JSON text. */
	payload = json_object_get(entry, "payload");
	if (json_is_string(payload)) {
		detail_add(hd_attr(HD_ATTR_DIM), "      payload before the "
		    "edit:");
		detail_add_text(hd_attr(HD_ATTR_DIM), "      | ",
		    json_string_value(payload));
	}
}

static void
detail_add_history(json_t *history)
{
	json_t	*entry;
	size_t	 i, failed = 0;

	json_array_foreach(history, i, entry)
		if (!hd_history_is_action(json_string_value(
		    json_object_get(entry, "outcome"))))
			failed++;
	detail_add(hd_attr(HD_ATTR_HEADER), "attempts (%zu failed)", failed);
	if (json_array_size(history) == 0)
		detail_add(hd_attr(HD_ATTR_DIM), "  no failed attempt "
		    "recorded");
	else
		json_array_foreach(history, i, entry)
			detail_add_entry(entry);
}

/* Turn the detail snapshot into lines. */
static void
detail_build(const PGresult *res)
{
	json_error_t	 jerror;
	json_t		*history;
	char		 relative[48], attempts[64];
	int		 normal = hd_attr(HD_ATTR_NORMAL);
	long long	 before, attempt;

	history = json_loads(PQgetvalue(res, 0, HD_DETAIL_ERRORS), 0,
	    &jerror);
	before = hd_history_attempts_before_retry(history);
	attempt = hd_value_ll(res, 0, HD_DETAIL_ATTEMPT);
	/* max_attempts limits the attempts since the last retry. */
	if (before > 0)
		snprintf(attempts, sizeof(attempts), "%lld of %s since the "
		    "last retry (%lld in all)", attempt,
		    PQgetvalue(res, 0, HD_DETAIL_MAX_ATTEMPTS),
		    before + attempt);
	else
		snprintf(attempts, sizeof(attempts), "%lld of %s", attempt,
		    PQgetvalue(res, 0, HD_DETAIL_MAX_ATTEMPTS));

	detail_clear();
	detail_add(hd_attr(HD_ATTR_HEADER), "job %s   task %s   queue %s",
	    PQgetvalue(res, 0, HD_DETAIL_ID),
	    PQgetvalue(res, 0, HD_DETAIL_TASK),
	    PQgetvalue(res, 0, HD_DETAIL_QUEUE));
	detail_add(normal, "state      %s",
	    PQgetvalue(res, 0, HD_DETAIL_STATE));
	detail_add(normal, "attempts   %s   priority %s", attempts,
	    PQgetvalue(res, 0, HD_DETAIL_PRIORITY));
	detail_add(normal, "created    %s",
	    PQgetvalue(res, 0, HD_DETAIL_CREATED));
	hd_fmt_relative(hd_value_ll(res, 0, HD_DETAIL_WHEN_MS), relative,
	    sizeof(relative));
	detail_add(normal, "%s %s (%s)", detail_dead ? "died      " :
	    "run at    ", PQgetvalue(res, 0, HD_DETAIL_WHEN), relative);
	if (!PQgetisnull(res, 0, HD_DETAIL_EVENT_ID))
		detail_add(normal, "event      %s (%s)",
		    PQgetvalue(res, 0, HD_DETAIL_EVENT_ID),
		    PQgetisnull(res, 0, HD_DETAIL_EVENT_TYPE) ? "-" :
		    PQgetvalue(res, 0, HD_DETAIL_EVENT_TYPE));
	detail_add(normal, "%s", "");
	detail_add_payload(PQgetisnull(res, 0, HD_DETAIL_PAYLOAD) ? NULL :
	    PQgetvalue(res, 0, HD_DETAIL_PAYLOAD));
	detail_add(normal, "%s", "");
	detail_add_history(history);
	json_decref(history);
}

static void
detail_refresh(struct hd_console *console)
{
	const char	*values[1];
	char		 id_text[24];

	snprintf(id_text, sizeof(id_text), "%" PRId64, detail_id);
	values[0] = id_text;
	hd_model_fetch(console->model, detail_dead ? HD_Q_DETAIL_DEAD :
	    HD_Q_DETAIL_LIVE, 1, values, detail_id, NULL, NULL);
}

void
hd_detail_open(struct hd_console *console, int64_t id, bool dead)
{
	detail_id = id;
	detail_dead = dead;
	detail_clear();
	built_from_ms = -1;
	detail_list.cursor = detail_list.top = 0;
	hd_model_drop(console->model, HD_SNAP_DETAIL);
	hd_console_show(console, &hd_view_detail);
}

static void
detail_draw(struct hd_console *console, int top, int nrows, int cols)
{
	const struct hd_snapshot	*snap;
	int				 i, y;

	snap = hd_model_snapshot(console->model, HD_SNAP_DETAIL);
	if (snap->res == NULL || snap->tag != detail_id) {
		hd_putf(top + 1, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    "loading job %" PRId64 "...", detail_id);
		return;
	}
	if (PQntuples(snap->res) == 0) {
		hd_putf(top + 1, 1, cols - 1, hd_attr(HD_ATTR_WARN),
		    detail_dead ? "job %" PRId64 " is no longer dead: it was "
		    "retried or purged" : "job %" PRId64 " is no longer "
		    "waiting: it ran, died or was cancelled", detail_id);
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    "Esc goes back to the list");
		return;
	}
	if (built_from_ms != snap->fetched_ms || built_cols != cols) {
		built_cols = cols;
		detail_build(snap->res);
		built_from_ms = snap->fetched_ms;
	}

	/* The cursor is the top line: this view scrolls, it selects none. */
	hd_list_clamp(&detail_list, nlines, 1);
	detail_list.top = detail_list.cursor;
	if (detail_list.top > nlines - nrows)
		detail_list.top = nlines - nrows > 0 ? nlines - nrows : 0;
	detail_list.cursor = detail_list.top;
	y = top;
	for (i = detail_list.top; i < nlines && y < top + nrows; i++)
		hd_put(y++, 1, cols - 1, lines[i].attr, lines[i].text);
}

/*
 * Open the dead job's payload, pretty-printed, in the operator's editor
 * and retry the job with what comes back, unless it is unchanged or not
 * valid JSON; either leaves the job as it was.
 */
static void
detail_edit(struct hd_console *console)
{
	const struct hd_snapshot	*snap;
	struct hd_action		*action;
	struct herald_error		 error;
	json_error_t			 jerror;
	json_t				*before, *after;
	const char			*pretty;
	char				*edited, message[256];
	size_t				 payload_max = HERALD_PAYLOAD_MAX;
	bool				 same;

	snap = hd_model_snapshot(console->model, HD_SNAP_DETAIL);
	if (!detail_dead || snap->res == NULL || snap->tag != detail_id ||
	    PQntuples(snap->res) != 1) {
		hd_console_message(console, true, "only a dead job's payload "
		    "can be edited, once it is shown");
		return;
	}
	if (PQgetisnull(snap->res, 0, HD_DETAIL_PAYLOAD)) {
		hd_console_message(console, true, "this role may not read "
		    "payloads, so it cannot edit one");
		return;
	}
	/*
	 * The editor gets the text of jsonb_pretty(), so that the numbers
	 * the operator leaves alone are retried as they were stored.
	 */
	pretty = PQgetvalue(snap->res, 0, HD_DETAIL_PAYLOAD);
	if (hd_console_edit(pretty, &edited, message, sizeof(message)) == -1) {
		hd_console_message(console, true, "%s", message);
		return;
	}
	before = json_loads(pretty, 0, &jerror);
	after = json_loads(edited, 0, &jerror);
	same = strcmp(pretty, edited) == 0 ||
	    (before != NULL && after != NULL && json_equal(before, after));
	json_decref(before);
	json_decref(after);
	if (same) {
		hd_console_message(console, false, "payload unchanged; "
		    "nothing retried");
		free(edited);
		return;
	}

	if (console->config != NULL)
		payload_max = console->config->payload_max;
	action = hd_xmalloc(sizeof(*action));
	if (hd_action_retry_edited(action, detail_id, edited, payload_max,
	    &error) == -1) {
		hd_console_message(console, true, "%s; nothing changed",
		    error.message);
		hd_action_release(action);
		free(action);
	} else
		hd_console_act(console, action);
	free(edited);
}

static int
detail_key(struct hd_console *console, enum hd_command command)
{
	struct hd_action	*action;
	struct herald_error	 error;
	struct hd_dead_filter	 filter = { .ids = &detail_id, .nids = 1 };
	int			 page = LINES - 3, rc;

	switch (command) {
	case HD_CMD_UP:
		detail_list.cursor--;
		break;
	case HD_CMD_DOWN:
		detail_list.cursor++;
		break;
	case HD_CMD_PAGE_UP:
		detail_list.cursor -= page;
		break;
	case HD_CMD_PAGE_DOWN:
		detail_list.cursor += page;
		break;
	case HD_CMD_HOME:
		detail_list.cursor = 0;
		break;
	case HD_CMD_END:
		detail_list.cursor = nlines;
		break;
	case HD_CMD_BACK:
		hd_console_show(console, console->back != NULL ?
		    console->back : &hd_view_dead);
		return HD_REACT_REDRAW | HD_REACT_REFETCH;
	case HD_CMD_EDIT:
		if (console->read_only) {
			hd_console_message(console, true, "read-only console: "
			    "actions are disabled");
			return HD_REACT_REDRAW;
		}
		detail_edit(console);
		return HD_REACT_REDRAW | HD_REACT_REFETCH;
	case HD_CMD_RETRY:
	case HD_CMD_PURGE:
	case HD_CMD_CANCEL:
		if (detail_dead == (command == HD_CMD_CANCEL)) {
			hd_console_message(console, true, detail_dead ?
			    "a dead job cannot be cancelled; retry or purge "
			    "it" : "only dead jobs can be retried or purged");
			return HD_REACT_REDRAW;
		}
		action = hd_xmalloc(sizeof(*action));
		if (command == HD_CMD_CANCEL)
			rc = hd_action_cancel(action, &detail_id, 1, &error);
		else
			rc = hd_action_dead(action, command == HD_CMD_RETRY ?
			    HD_ACTION_DEAD_RETRY : HD_ACTION_DEAD_PURGE,
			    &filter, &error);
		if (command == HD_CMD_RETRY)
			hd_console_submit(console, action, rc, &error);
		else
			hd_console_submit_asking(console, action, rc, &error,
			    NULL, "%s job %" PRId64, command == HD_CMD_CANCEL ?
			    "Cancel" : "Purge dead", detail_id);
		return HD_REACT_REDRAW;
	default:
		return HD_REACT_UNHANDLED;
	}
	if (detail_list.cursor < 0)
		detail_list.cursor = 0;
	return HD_REACT_REDRAW;
}

const struct hd_view hd_view_detail = {
	.name = "Job",
	.keys = detail_keys,
	.snapshot = HD_SNAP_DETAIL,
	.fetch = detail_refresh,
	.draw = detail_draw,
	.key = detail_key,
};
