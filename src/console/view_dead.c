/*
 * view_dead.c: screen 4, the dead-letter queue: filter, mark, retry and
 * purge dead jobs, and open one to read its payload and attempts.
 *
 * The screen keeps a window of up to DEAD_PAGE rows in id order and
 * moves it with keyset queries (WHERE id > $n ORDER BY id LIMIT
 * DEAD_PAGE, or id < $n in descending order), so scrolling costs the same
 * with a million dead jobs as with ten.  A refresh reloads the window
 * from its first id.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "format.h"
#include "screen.h"
#include "util.h"

#define DEAD_PAGE	200
#define DEAD_PAGE_TEXT	"200"

static const struct hd_key dead_keys[] = {
	{ { '\r', '\n', KEY_ENTER }, "Enter",
	    "show the payload and every attempt", HD_CMD_OPEN, false },
	{ { '/' }, "/", "filter: queue:NAME task:NAME and words to find",
	    HD_CMD_FILTER, false },
	{ { ' ' }, "Space", "mark or unmark the row and move down",
	    HD_CMD_MARK, false },
	{ { 'u' }, "u", "unmark every row", HD_CMD_UNMARK_ALL, false },
	{ { 'r' }, "r", "retry the marked rows, or the row under the cursor",
	    HD_CMD_RETRY, true },
	{ { 'd', KEY_DC }, "d Del",
	    "purge the marked rows, or the row under the cursor (asks)",
	    HD_CMD_PURGE, true },
	{ { 'R' }, "R", "retry every dead job the filter matches (asks)",
	    HD_CMD_RETRY_ALL, true },
	{ { 'D' }, "D", "purge every dead job the filter matches (asks)",
	    HD_CMD_PURGE_ALL, true },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

struct dead_row {
	int64_t	id;
	char	task[HERALD_NAME_MAX + 1];
	char	queue[HERALD_NAME_MAX + 1];
	int	attempt;
	int	max_attempts;
	char	reason[12];
	int64_t	died_ms;	/* age when fetched */
	char	end[32];	/* how the last attempt ended */
};

static struct dead_row	rows[DEAD_PAGE];
static int		nrows;
static int64_t		rows_fetched_ms;
static struct hd_list	dead_list;
static int		dead_lines = 10;	/* rows visible at last draw */

/* The window starts at the first dead job with id >= anchor. */
static int64_t		anchor;

/*
 * Where the cursor goes when the next page arrives: on the first row
 * with id >= want_id, or want_offset rows into the window, shown
 * want_screen_row rows below the top.  A backward page first finds its
 * target want_back rows before the old window, then reloads forward from
 * there.  With neither, the cursor stays on its row.
 */
static int64_t		want_id = -1;
static int		want_offset = -1;
static int		want_screen_row;
static int		want_back;

static char		filter_queue[HERALD_NAME_MAX + 1];
static char		filter_task[HERALD_NAME_MAX + 1];
static char		filter_text[128];

static int64_t		*marks;
static size_t		 nmarks, marks_cap;

/* The bulk action that the confirmation prompt is for. */
static enum hd_action_kind bulk_kind;
static int64_t		bulk_count, bulk_max_id;

static void	dead_fetch(struct hd_console *, enum hd_query, int64_t);
static void	dead_fetch_after(struct hd_console *, int64_t);

static void
dead_filter_values(const char **values)
{
	values[0] = filter_queue[0] != '\0' ? filter_queue : NULL;
	values[1] = filter_task[0] != '\0' ? filter_task : NULL;
	values[2] = filter_text[0] != '\0' ? filter_text : NULL;
}

static void
dead_copy_row(const PGresult *res, int row, struct dead_row *r)
{
	const char	*outcome = PQgetvalue(res, row, HD_DEAD_OUTCOME);

	r->id = hd_value_ll(res, row, HD_DEAD_ID);
	snprintf(r->task, sizeof(r->task), "%s",
	    PQgetvalue(res, row, HD_DEAD_TASK));
	snprintf(r->queue, sizeof(r->queue), "%s",
	    PQgetvalue(res, row, HD_DEAD_QUEUE));
	r->attempt = (int)hd_value_ll(res, row, HD_DEAD_ATTEMPT);
	r->max_attempts = (int)hd_value_ll(res, row, HD_DEAD_MAX_ATTEMPTS);
	snprintf(r->reason, sizeof(r->reason), "%s",
	    PQgetvalue(res, row, HD_DEAD_REASON));
	r->died_ms = hd_value_ll(res, row, HD_DEAD_DIED_MS);
	if (strcmp(outcome, "timeout") == 0 || strcmp(outcome, "lost") == 0)
		snprintf(r->end, sizeof(r->end), "%s", outcome);
	else if (hd_value_ll(res, row, HD_DEAD_SIGNAL) > 0)
		snprintf(r->end, sizeof(r->end), "signal %s",
		    PQgetvalue(res, row, HD_DEAD_SIGNAL));
	else if (!PQgetisnull(res, row, HD_DEAD_EXIT_CODE))
		snprintf(r->end, sizeof(r->end), "exit %s",
		    PQgetvalue(res, row, HD_DEAD_EXIT_CODE));
	else
		snprintf(r->end, sizeof(r->end), "%s",
		    outcome[0] != '\0' ? outcome : "-");
}

/* Put the cursor on want_id, or keep it on the row it was on. */
static void
dead_place_cursor(int64_t current_id)
{
	int	i, target = want_id >= 0 ? -1 : dead_list.cursor;
	int64_t	id = want_id >= 0 ? want_id : current_id;

	if (want_offset >= 0)
		target = want_offset;
	else
		for (i = 0; i < nrows; i++)
			if (rows[i].id >= id) {
				target = i;
				break;
			}
	if (target == -1 || target >= nrows)
		target = nrows - 1;
	dead_list.cursor = target;
	if (want_id >= 0 || want_offset >= 0)
		dead_list.top = target - want_screen_row;
	want_id = -1;
	want_offset = -1;
	hd_list_clamp(&dead_list, nrows, dead_lines);
}

static void
dead_page_done(void *arg, const struct hd_snapshot *snap)
{
	struct hd_console	*console = arg;
	const PGresult		*res = snap->res;
	int64_t			 current_id = -1;
	int			 i, n = PQntuples(res);
	bool			 backward = snap->query == HD_Q_DEAD_BEFORE;

	if (dead_list.cursor < nrows)
		current_id = rows[dead_list.cursor].id;
	if (backward) {
		/* Rows come newest first: find the target, reload forward. */
		if (n == 0) {
			dead_fetch_after(console, 0);
			return;
		}
		i = want_back - 1 < n ? want_back - 1 : n - 1;
		want_id = hd_value_ll(res, i, HD_DEAD_ID);
		anchor = hd_value_ll(res, n - 1, HD_DEAD_ID);
		dead_fetch_after(console, anchor);
		return;
	}

	nrows = n < DEAD_PAGE ? n : DEAD_PAGE;
	for (i = 0; i < nrows; i++)
		dead_copy_row(res, i, &rows[i]);
	rows_fetched_ms = snap->fetched_ms;

	/*
	 * A window loaded from the start stays at the start, so a job that
	 * dies again under its old, smaller id shows up at its place.
	 */
	if (nrows > 0)
		anchor = snap->tag == 0 ? 0 : rows[0].id;
	else if (anchor > 0) {
		/* Every row from the anchor on is gone: show the last ones. */
		want_back = 1;
		want_screen_row = dead_lines - 1;
		anchor = 0;
		dead_fetch(console, HD_Q_DEAD_BEFORE, INT64_MAX);
		return;
	}
	/*
	 * Jobs that died again under smaller ids pushed the row under the
	 * cursor out of a full window: load the window that ends with it.
	 */
	if (want_id < 0 && want_offset < 0 && current_id >= 0 &&
	    nrows == DEAD_PAGE && rows[nrows - 1].id < current_id) {
		want_back = 1;
		want_screen_row = dead_list.cursor - dead_list.top;
		dead_fetch(console, HD_Q_DEAD_BEFORE, current_id + 1);
		return;
	}
	dead_place_cursor(current_id);
	console->dirty = true;
}

static void
dead_fetch(struct hd_console *console, enum hd_query query, int64_t key)
{
	const char	*values[5];
	char		 key_text[24];

	dead_filter_values(values);
	snprintf(key_text, sizeof(key_text), "%" PRId64, key);
	values[3] = key_text;
	values[4] = DEAD_PAGE_TEXT;
	hd_model_fetch(console->model, query, 5, values, key, dead_page_done,
	    console);
}

/* Load the window of rows with id >= first; 0 is the start. */
static void
dead_fetch_after(struct hd_console *console, int64_t first)
{
	dead_fetch(console, HD_Q_DEAD_AFTER, first > 0 ? first - 1 : 0);
}

static void
dead_refresh(struct hd_console *console)
{
	const char	*values[4];
	char		 anchor_text[24];

	dead_fetch_after(console, anchor);
	dead_filter_values(values);
	snprintf(anchor_text, sizeof(anchor_text), "%" PRId64, anchor);
	values[3] = anchor_text;
	hd_model_fetch(console->model, HD_Q_DEAD_COUNT, 4, values, 0, NULL,
	    NULL);
	hd_model_fetch(console->model, HD_Q_RETENTION, 0, NULL, 0, NULL,
	    NULL);
}

/* Format a retention in ms as "30d", or "forever" for 0. */
static void
dead_fmt_keep(const PGresult *res, int col, char *buf, size_t size)
{
	int64_t	ms = hd_value_ll(res, 0, col);

	if (ms <= 0)
		snprintf(buf, size, "forever");
	else if (ms % (24 * 3600 * 1000) == 0)
		snprintf(buf, size, "%lldd", (long long)(ms / (24 * 3600 * 1000)));
	else
		hd_format_duration(ms, buf, size);
}

/*
 * Draw the last line: the retention the janitor applies, so that
 * operators know when a dead job will be pruned.
 */
static void
dead_draw_retention(struct hd_console *console, int y, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	char				 dead[32], minute[32], hour[32];
	long long			 rows_kept;

	snap = hd_model_snapshot(console->model, HD_SNAP_RETENTION);
	res = snap->res;
	if (res == NULL)
		return;
	if (PQntuples(res) != 1) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "retention: not "
		    "reported yet (no janitor has pruned this database)");
		return;
	}
	dead_fmt_keep(res, HD_RETENTION_DEAD_MS, dead, sizeof(dead));
	dead_fmt_keep(res, HD_RETENTION_COUNTERS_MS, minute, sizeof(minute));
	dead_fmt_keep(res, HD_RETENTION_HOURLY_MS, hour, sizeof(hour));
	rows_kept = hd_value_ll(res, 0, HD_RETENTION_DEAD_ROWS);
	if (rows_kept > 0)
		hd_putf(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "retention: "
		    "dead jobs %s, newest %lld kept; counters %s/min, %s/h",
		    dead, rows_kept, minute, hour);
	else
		hd_putf(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "retention: "
		    "dead jobs %s, any number; counters %s/min, %s/h", dead,
		    minute, hour);
}

static bool
dead_marked(int64_t id)
{
	size_t	i;

	for (i = 0; i < nmarks; i++)
		if (marks[i] == id)
			return true;
	return false;
}

static void
dead_toggle_mark(int64_t id)
{
	size_t	i;

	for (i = 0; i < nmarks; i++)
		if (marks[i] == id) {
			marks[i] = marks[--nmarks];
			return;
		}
	if (nmarks == marks_cap) {
		marks_cap = marks_cap == 0 ? 64 : marks_cap * 2;
		marks = hd_xrealloc(marks, marks_cap, sizeof(*marks));
	}
	marks[nmarks++] = id;
}

/* The filter as typed: "queue:mail task:x words". */
static void
dead_describe_filter(char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s%s%s", filter_queue[0] ? "queue:" : "",
	    filter_queue, filter_queue[0] && (filter_task[0] ||
	    filter_text[0]) ? " " : "", filter_task[0] ? "task:" : "",
	    filter_task, filter_task[0] && filter_text[0] ? " " : "",
	    filter_text);
}

#define MARK_W	2
#define ID_W	8
#define ATT_W	7
#define DIED_W	13

static void
dead_draw_row(int y, int cols, int task_w, int queue_w,
    const struct dead_row *r, bool selected, int64_t age)
{
	bool	marked = dead_marked(r->id);
	int	attr = selected ? hd_attr(HD_ATTR_SELECTED) :
	    marked ? hd_attr(HD_ATTR_MARK) : hd_attr(HD_ATTR_NORMAL);
	int	x = 0;
	char	text[64];

	hd_put_fill(y, 0, cols, attr, "");
	hd_put(y, x, MARK_W, attr, marked ? "*" : " ");
	x += MARK_W;
	hd_putf(y, x, ID_W, attr, "%*" PRId64 " ", ID_W - 1, r->id);
	x += ID_W;
	hd_put(y, x, task_w - 1, attr, r->task);
	x += task_w;
	hd_put(y, x, queue_w - 1, attr, r->queue);
	x += queue_w;
	hd_putf(y, x, ATT_W, attr, "%d/%d", r->attempt, r->max_attempts);
	x += ATT_W;
	hd_fmt_relative(-(r->died_ms + age), text, sizeof(text));
	hd_put(y, x, DIED_W - 1, attr, text);
	x += DIED_W;
	/* A handler's permanent failure is its own reason. */
	if (strcmp(r->end, r->reason) == 0)
		hd_put(y, x, cols - x, attr, r->end);
	else
		hd_putf(y, x, cols - x, attr, "%s (%s)", r->end, r->reason);
}

/*
 * Return width widened to fit the longest task name (or queue name) of
 * the page and a space, but to at most widest.
 */
static int
dead_widen(int width, int widest, bool task)
{
	int	i, len;

	for (i = 0; i < nrows && widest > width; i++) {
		len = (int)strlen(task ? rows[i].task : rows[i].queue) + 1;
		if (len > width)
			width = len < widest ? len : widest;
	}
	return width;
}

static void
dead_draw(struct hd_console *console, int top, int lines, int cols)
{
	const struct hd_snapshot	*count;
	int				 task_w, queue_w, x, y, i;
	long long			 total = -1, before = 0;
	char				 filter[320];

	dead_lines = lines - 3;
	dead_draw_retention(console, top + lines - 1, cols);
	task_w = (cols - MARK_W - ID_W - ATT_W - DIED_W) / 4;
	if (task_w < 10)
		task_w = 10;
	queue_w = task_w * 2 / 3;

	/*
	 * Widen the queue column to the longest queue name on the page, up
	 * to half of the width beside the task column.  Then widen the task
	 * column to the longest task name, up to half of the width beside
	 * the queue column.  So similar names stay apart, and the last
	 * column keeps the rest for the exit status and the reason.  On a
	 * narrow screen a column that gets less than its minimum keeps the
	 * minimum.
	 */
	queue_w = dead_widen(queue_w, (cols - MARK_W - ID_W - ATT_W - DIED_W -
	    task_w) / 2, false);
	task_w = dead_widen(task_w, (cols - MARK_W - ID_W - ATT_W - DIED_W -
	    queue_w) / 2, true);

	count = hd_model_snapshot(console->model, HD_SNAP_DEAD_COUNT);
	if (count->res != NULL && PQntuples(count->res) == 1) {
		total = hd_value_ll(count->res, 0, HD_DEAD_COUNT_TOTAL);
		before = hd_value_ll(count->res, 0, HD_DEAD_COUNT_BEFORE);
	}
	dead_describe_filter(filter, sizeof(filter));
	x = 1;
	if (total >= 0)
		hd_putf_next(top, &x, cols, hd_attr(HD_ATTR_NORMAL),
		    "%lld dead job%s%s%s", total, total == 1 ? "" : "s",
		    filter[0] ? " matching " : "", filter);
	if (nmarks > 0)
		hd_putf_next(top, &x, cols, hd_attr(HD_ATTR_MARK),
		    ", %zu marked", nmarks);
	if (nrows > 0 && total > 0)
		hd_putf_next(top, &x, cols, hd_attr(HD_ATTR_DIM),
		    ", row %lld", before + dead_list.cursor + 1);

	y = top + 1;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	x = MARK_W;
	hd_putf(y, x, ID_W, hd_attr(HD_ATTR_HEADER), "%*s ", ID_W - 1, "id");
	x += ID_W;
	hd_put(y, x, task_w, hd_attr(HD_ATTR_HEADER), "task");
	x += task_w;
	hd_put(y, x, queue_w, hd_attr(HD_ATTR_HEADER), "queue");
	x += queue_w;
	hd_put(y, x, ATT_W, hd_attr(HD_ATTR_HEADER), "tries");
	x += ATT_W;
	hd_put(y, x, DIED_W, hd_attr(HD_ATTR_HEADER), "died");
	x += DIED_W;
	hd_put(y, x, cols - x, hd_attr(HD_ATTR_HEADER), "last attempt");

	if (total < 0 && nrows == 0) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	if (nrows == 0) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    filter[0] ? "no dead job matches the filter" :
		    "no dead jobs");
		return;
	}
	hd_list_clamp(&dead_list, nrows, dead_lines);
	y = top + 2;
	for (i = dead_list.top; i < nrows && y < top + lines - 1; i++)
		dead_draw_row(y++, cols, task_w, queue_w, &rows[i],
		    i == dead_list.cursor, hd_monotonic_ms() - rows_fetched_ms);
}

/*
 * Move the cursor, loading the next or previous window when it leaves
 * this one.  A full window means more rows may follow it.
 */
static void
dead_move(struct hd_console *console, enum hd_command command)
{
	int	page = dead_lines > 1 ? dead_lines - 1 : 1;
	int	target, screen_row = dead_list.cursor - dead_list.top;

	switch (command) {
	case HD_CMD_UP:
		target = dead_list.cursor - 1;
		break;
	case HD_CMD_DOWN:
		target = dead_list.cursor + 1;
		break;
	case HD_CMD_PAGE_UP:
		target = dead_list.cursor - page;
		break;
	case HD_CMD_PAGE_DOWN:
		target = dead_list.cursor + page;
		break;
	case HD_CMD_HOME:
		target = 0;
		if (anchor == 0)
			break;
		want_id = 0;
		want_screen_row = 0;
		dead_fetch_after(console, 0);
		return;
	default:
		target = nrows - 1;
		if (anchor == 0 && nrows < DEAD_PAGE)
			break;
		want_back = 1;
		want_screen_row = dead_lines - 1;
		dead_fetch(console, HD_Q_DEAD_BEFORE, INT64_MAX);
		return;
	}

	if (target >= nrows && nrows == DEAD_PAGE) {
		/* Start the new window where the screen's top will be. */
		int	first = target - screen_row;

		if (first > nrows - 1)
			first = nrows - 1;
		want_offset = target - first;
		want_screen_row = screen_row;
		dead_fetch_after(console, rows[first].id);
		return;
	}
	if (target < 0 && nrows > 0 && anchor > 0) {
		want_back = -target;
		want_screen_row = 0;
		dead_fetch(console, HD_Q_DEAD_BEFORE, rows[0].id);
		return;
	}
	hd_list_move(&dead_list, command, nrows, dead_lines);
}

/*
 * Send a retry or purge of the dead jobs that filter selects, and clear
 * the marks once the action is prepared.
 */
static void
dead_submit(struct hd_console *console, enum hd_action_kind kind,
    const struct hd_dead_filter *filter, int64_t selected)
{
	struct hd_action	*action;
	struct herald_error	 error;
	int			 prepared;

	action = hd_xmalloc(sizeof(*action));
	prepared = hd_action_dead(action, kind, filter, &error);
	action->selected = selected;
	if (hd_console_submit(console, action, prepared, &error) == 0)
		nmarks = 0;
}

static void
dead_unmark_all(void)
{
	nmarks = 0;
}

/* Retry or purge the marked rows, or the row under the cursor. */
static void
dead_act_selected(struct hd_console *console, enum hd_action_kind kind)
{
	struct hd_dead_filter	 filter = { 0 };
	struct hd_action	*action;
	struct herald_error	 error;
	int64_t			 id = 0;
	int			 prepared;

	if (nmarks == 0 && nrows == 0) {
		hd_console_message(console, true, "no dead job under the cursor");
		return;
	}
	if (nmarks > 0) {
		filter.ids = marks;
		filter.nids = nmarks;
	} else {
		id = rows[dead_list.cursor].id;
		filter.ids = &id;
		filter.nids = 1;
	}
	if (kind != HD_ACTION_DEAD_PURGE) {
		dead_submit(console, kind, &filter, (int64_t)filter.nids);
		return;
	}

	/* A purge deletes for good, so it needs a confirmation. */
	action = hd_xmalloc(sizeof(*action));
	prepared = hd_action_dead(action, kind, &filter, &error);
	if (nmarks > 0)
		hd_console_submit_asking(console, action, prepared, &error,
		    dead_unmark_all, "Purge the %zu marked dead job%s", nmarks,
		    nmarks == 1 ? "" : "s");
	else
		hd_console_submit_asking(console, action, prepared, &error,
		    NULL, "Purge dead job %" PRId64, id);
}

static void
dead_bulk_confirmed(struct hd_console *console, const char *text)
{
	struct hd_dead_filter	 filter = { 0 };
	char			 expected[24];

	snprintf(expected, sizeof(expected), "%" PRId64, bulk_count);
	if (strcmp(text, expected) != 0) {
		hd_console_message(console, true, "not confirmed (typed "
		    "\"%.20s\", expected %s): nothing changed", text, expected);
		return;
	}
	filter.queue = filter_queue[0] != '\0' ? filter_queue : NULL;
	filter.task = filter_task[0] != '\0' ? filter_task : NULL;
	filter.text = filter_text[0] != '\0' ? filter_text : NULL;
	filter.max_id = bulk_max_id;
	dead_submit(console, bulk_kind, &filter, bulk_count);
}

/* Ask for the count before a retry or purge of everything matching. */
static void
dead_bulk(struct hd_console *console, enum hd_action_kind kind)
{
	const struct hd_snapshot	*count;
	char				 filter[320];

	if (!hd_console_can_act(console))
		return;
	count = hd_model_snapshot(console->model, HD_SNAP_DEAD_COUNT);
	if (count->res == NULL || PQntuples(count->res) != 1) {
		hd_console_message(console, true,
		    "the number of dead jobs is not known yet");
		return;
	}
	bulk_count = hd_value_ll(count->res, 0, HD_DEAD_COUNT_TOTAL);
	bulk_max_id = hd_value_ll(count->res, 0, HD_DEAD_COUNT_MAX_ID);
	if (bulk_count == 0) {
		hd_console_message(console, true, "no dead job to %s",
		    kind == HD_ACTION_DEAD_RETRY ? "retry" : "purge");
		return;
	}
	bulk_kind = kind;
	dead_describe_filter(filter, sizeof(filter));
	hd_console_prompt(console, dead_bulk_confirmed,
	    "%s ALL %" PRId64 " dead jobs%s%s? Type %" PRId64 " to confirm: ",
	    kind == HD_ACTION_DEAD_RETRY ? "Retry" : "Purge", bulk_count,
	    filter[0] ? " matching " : "", filter, bulk_count);
}

/* Parse "queue:NAME task:NAME words"; empty text clears the filter. */
static void
dead_filter_done(struct hd_console *console, const char *text)
{
	char		 copy[128], *word, *save = NULL;
	size_t		 len;

	filter_queue[0] = filter_task[0] = filter_text[0] = '\0';
	snprintf(copy, sizeof(copy), "%s", text);
	for (word = strtok_r(copy, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save)) {
		if (strncmp(word, "queue:", 6) == 0)
			snprintf(filter_queue, sizeof(filter_queue), "%s",
			    word + 6);
		else if (strncmp(word, "task:", 5) == 0)
			snprintf(filter_task, sizeof(filter_task), "%s",
			    word + 5);
		else {
			len = strlen(filter_text);
			snprintf(filter_text + len, sizeof(filter_text) - len,
			    "%s%s", len > 0 ? " " : "", word);
		}
	}
	nmarks = 0;
	anchor = 0;
	want_id = 0;
	want_screen_row = 0;
	dead_list.cursor = dead_list.top = 0;
	dead_refresh(console);

	/* A misspelt name matches nothing, so name it. */
	if (console->config != NULL && filter_queue[0] != '\0' &&
	    hd_config_queue(console->config, filter_queue) == NULL)
		hd_console_message(console, true, "filter set; the "
		    "configuration has no queue \"%s\"", filter_queue);
	else if (console->config != NULL && filter_task[0] != '\0' &&
	    hd_config_task(console->config, filter_task) == NULL)
		hd_console_message(console, true, "filter set; the "
		    "configuration has no task \"%s\"", filter_task);
	else
		hd_console_message(console, false, text[0] != '\0' ?
		    "filter set" : "filter cleared");
}

static int
dead_key(struct hd_console *console, enum hd_command command)
{
	char	filter[320];
	size_t	len;

	switch (command) {
	case HD_CMD_UP:
	case HD_CMD_DOWN:
	case HD_CMD_PAGE_UP:
	case HD_CMD_PAGE_DOWN:
	case HD_CMD_HOME:
	case HD_CMD_END:
		dead_move(console, command);
		return HD_REACT_REDRAW;
	case HD_CMD_OPEN:
		if (nrows > 0)
			hd_detail_open(console, rows[dead_list.cursor].id,
			    true);
		return HD_REACT_REDRAW;
	case HD_CMD_FILTER:
		dead_describe_filter(filter, sizeof(filter));
		hd_console_prompt(console, dead_filter_done, "filter "
		    "(queue:NAME task:NAME words; ^U and Enter clear): ");
		len = strlen(filter);
		if (len >= sizeof(console->prompt_text))
			len = sizeof(console->prompt_text) - 1;
		memcpy(console->prompt_text, filter, len);
		console->prompt_text[len] = '\0';
		console->prompt_len = len;
		return HD_REACT_REDRAW;
	case HD_CMD_MARK:
		if (nrows > 0) {
			dead_toggle_mark(rows[dead_list.cursor].id);
			dead_move(console, HD_CMD_DOWN);
		}
		return HD_REACT_REDRAW;
	case HD_CMD_UNMARK_ALL:
		nmarks = 0;
		return HD_REACT_REDRAW;
	case HD_CMD_RETRY:
		dead_act_selected(console, HD_ACTION_DEAD_RETRY);
		return HD_REACT_REDRAW;
	case HD_CMD_PURGE:
		dead_act_selected(console, HD_ACTION_DEAD_PURGE);
		return HD_REACT_REDRAW;
	case HD_CMD_RETRY_ALL:
		dead_bulk(console, HD_ACTION_DEAD_RETRY);
		return HD_REACT_REDRAW;
	case HD_CMD_PURGE_ALL:
		dead_bulk(console, HD_ACTION_DEAD_PURGE);
		return HD_REACT_REDRAW;
	default:
		return HD_REACT_UNHANDLED;
	}
}

const struct hd_view hd_view_dead = {
	.name = "Dead",
	.keys = dead_keys,
	.snapshot = HD_SNAP_DEAD_PAGE,
	.fetch = dead_refresh,
	.draw = dead_draw,
	.key = dead_key,
};
