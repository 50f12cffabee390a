/*
 * view_queues.c: screen 1, one row per queue with its jobs by state, its
 * rates and whether it is paused, a totals row, and the health panel:
 * the signals of the queue under the cursor and of the job database.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "format.h"
#include "outbox.h"
#include "screen.h"
#include "table_sql.h"
#include "util.h"

static const struct hd_key queues_keys[] = {
	{ { 'p' }, "p", "pause or resume the queue under the cursor",
	    HD_CMD_PAUSE, true },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static struct hd_list	queues_list;
static char		*configured;	/* text[] literal of config queues */
static unsigned		 configured_reads; /* of the file it lists */

/*
 * The queue names of the configuration, so idle queues show too.  The
 * console reads the file again when it changes, and the list follows.
 */
static const char *
queues_configured(const struct hd_console *console)
{
	const struct hd_config	*config = console->config;
	size_t			 i, len = 3;

	if (configured != NULL && configured_reads == console->config_reads)
		return configured;
	free(configured);
	configured_reads = console->config_reads;
	for (i = 0; config != NULL && i < config->nqueues; i++)
		len += strlen(config->queues[i].name) + 3;
	configured = hd_xmalloc(len);
	strcpy(configured, "{");
	for (i = 0; config != NULL && i < config->nqueues; i++) {
		/* Queue names are [A-Za-z0-9_.:-], so need no escaping. */
		strcat(configured, i > 0 ? ",\"" : "\"");
		strcat(configured, config->queues[i].name);
		strcat(configured, "\"");
	}
	strcat(configured, "}");
	return configured;
}

static void
queues_refresh(struct hd_console *console)
{
	const char	*values[1];

	values[0] = queues_configured(console);
	hd_model_fetch(console->model, HD_Q_QUEUES, 1, values, 0, NULL, NULL);
	hd_model_fetch(console->model, HD_Q_QUEUE_HEALTH, 0, NULL, 0, NULL,
	    NULL);
	hd_model_fetch(console->model, HD_Q_DB_HEALTH, 0, NULL, 0, NULL,
	    NULL);
	hd_model_fetch(console->model, HD_Q_PERIODIC, 0, NULL, 0, NULL,
	    NULL);
	hd_model_fetch(console->model, HD_Q_FAILED, 0, NULL, 0, NULL, NULL);
}

/*
 * Return the workers of queue that a heraldd stopped restarting after
 * too many failures, as herald status lists them.
 */
static long long
queue_failed_workers(struct hd_console *console, const char *queue)
{
	const struct hd_snapshot	*snap;
	int				 row;

	snap = hd_model_snapshot(console->model, HD_SNAP_FAILED);
	if (snap->res == NULL)
		return 0;
	for (row = 0; row < PQntuples(snap->res); row++)
		if (strcmp(PQgetvalue(snap->res, row, 0), queue) == 0)
			return hd_value_ll(snap->res, row, 1);
	return 0;
}

/* Periodic jobs shown at most, above the health panel. */
#define PERIODIC_ROWS_MAX	3

/* Return the lines the periodic jobs take: a heading and a row each. */
static int
periodic_lines(struct hd_console *console, int room)
{
	const struct hd_snapshot	*snap;
	int				 n;

	snap = hd_model_snapshot(console->model, HD_SNAP_PERIODIC);
	if (snap->res == NULL || (n = PQntuples(snap->res)) == 0)
		return 0;
	if (n > PERIODIC_ROWS_MAX)
		n = PERIODIC_ROWS_MAX;
	return n + 1 <= room ? n + 1 : 0;
}

/* Draw the periodic jobs due soonest, with their next and last runs. */
static void
periodic_draw(struct hd_console *console, int y, int lines, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	char				 next[32], last[32];
	int				 row, n;

	snap = hd_model_snapshot(console->model, HD_SNAP_PERIODIC);
	if ((res = snap->res) == NULL || lines == 0)
		return;
	n = PQntuples(res);
	/* "periodic (20)" says that only the soonest are shown. */
	if (n > lines - 1)
		snprintf(next, sizeof next, "periodic (%d)", n);
	else
		snprintf(next, sizeof next, "periodic");
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_putf(y, 1, cols - 1, hd_attr(HD_ATTR_HEADER),
	    "%-18.18s %-16s %-16s %10s  %s", next, "schedule", "zone", "next",
	    "last job");
	for (row = 0; row < n && row < lines - 1; row++) {
		if (PQgetisnull(res, row, 3))
			snprintf(next, sizeof next, "-");
		else
			hd_fmt_relative(hd_value_ll(res, row, 3) -
			    hd_snapshot_age(snap), next, sizeof next);
		if (PQgetisnull(res, row, 5))
			snprintf(last, sizeof last, "-");
		else if (strcmp(PQgetvalue(res, row, 5), "t") == 0)
			snprintf(last, sizeof last, "#%s",
			    PQgetvalue(res, row, 4));
		else
			snprintf(last, sizeof last, "missed");
		hd_put_fill(y + 1 + row, 0, cols, hd_attr(HD_ATTR_NORMAL), "");
		hd_putf(y + 1 + row, 1, cols - 1, hd_attr(HD_ATTR_NORMAL),
		    "%-18.18s %-16.16s %-16.16s %10.10s  %s",
		    PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
		    PQgetvalue(res, row, 2), next, last);
	}
}

/*
 * The health panel's lines at the bottom, and the thresholds past which
 * a signal shows in the warning colour (the starting alerts of
 * doc/operations.md).
 */
#define HEALTH_LINES		4
#define HEALTH_OLDEST_WARN_MS	(5 * 60 * 1000)
#define HEALTH_BLOCKER_WARN_MS	(5 * 60 * 1000)
#define HEALTH_DEAD_TUPLES_WARN	100000

/* The row of herald.queue_health() for queue, or -1. */
static int
health_row(const PGresult *res, const char *queue)
{
	int	row;

	for (row = 0; res != NULL && row < PQntuples(res); row++)
		if (strcmp(PQgetvalue(res, row, HD_QH_QUEUE), queue) == 0)
			return row;
	return -1;
}

/* Line 1 of the panel: the signals of queue. */
static void
health_draw_queue(struct hd_console *console, int y, int cols,
    const char *queue)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	long long			 oldest = -1, expired = 0, dead = 0;
	long long			 wall[3] = { 0, 0, 0 };
	char				 age[32];
	int				 row, x = 1, i;

	snap = hd_model_snapshot(console->model, HD_SNAP_QUEUE_HEALTH);
	res = snap->res;
	if (res == NULL) {
		hd_put(y, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	if ((row = health_row(res, queue)) >= 0) {
		if (!PQgetisnull(res, row, HD_QH_OLDEST_MS))
			oldest = hd_value_ll(res, row, HD_QH_OLDEST_MS) +
			    hd_snapshot_age(snap);
		for (i = 0; i < 3; i++)
			wall[i] = hd_value_ll(res, row, HD_QH_RETRY_1M + i);
		expired = hd_value_ll(res, row, HD_QH_EXPIRED_1H);
		dead = hd_value_ll(res, row, HD_QH_DEAD_1H);
	}
	if (oldest >= 0)
		hd_fmt_age(oldest, age, sizeof(age));
	else
		snprintf(age, sizeof(age), "-");
	hd_putf_next(y, &x, cols, oldest > HEALTH_OLDEST_WARN_MS ?
	    hd_attr(HD_ATTR_WARN) : hd_attr(HD_ATTR_NORMAL),
	    "oldest ready %s", age);
	hd_putf_next(y, &x, cols, hd_attr(HD_ATTR_NORMAL),
	    "  retry<1m:%lld <5m:%lld <15m:%lld", wall[0], wall[1],
	    wall[2]);
	hd_putf_next(y, &x, cols, expired > 0 ? hd_attr(HD_ATTR_WARN) :
	    hd_attr(HD_ATTR_NORMAL), "  expired/1h %lld", expired);
	hd_putf_next(y, &x, cols, dead > 0 ? hd_attr(HD_ATTR_WARN) :
	    hd_attr(HD_ATTR_NORMAL), "  dead/1h %lld", dead);
}

/* Lines 2 and 3: the job table, the outbox and the vacuum horizon. */
static void
health_draw_database(struct hd_console *console, int y, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	long long			 tuples, age_ms, report_ms;
	char				 age[32];
	int				 x = 1;

	snap = hd_model_snapshot(console->model, HD_SNAP_DB_HEALTH);
	res = snap->res;
	if (res == NULL || PQntuples(res) != 1)
		return;

	if (!PQgetisnull(res, 0, HD_DH_DEAD_TUPLES)) {
		tuples = hd_value_ll(res, 0, HD_DH_DEAD_TUPLES);
		if (PQgetisnull(res, 0, HD_DH_AUTOVACUUM_MS))
			snprintf(age, sizeof(age), "never");
		else
			hd_fmt_age(hd_value_ll(res, 0, HD_DH_AUTOVACUUM_MS) +
			    hd_snapshot_age(snap), age, sizeof(age));
		hd_putf_next(y, &x, cols, tuples > HEALTH_DEAD_TUPLES_WARN ?
		    hd_attr(HD_ATTR_WARN) : hd_attr(HD_ATTR_NORMAL),
		    "job table: %lld dead tuples, autovacuum %s%s", tuples,
		    age, strcmp(age, "never") == 0 ? "" : " ago");
	}
	report_ms = PQgetisnull(res, 0, HD_DH_RELAY_REPORT_MS) ? 0 :
	    hd_value_ll(res, 0, HD_DH_RELAY_REPORT_MS) + hd_snapshot_age(snap);
	if (!PQgetisnull(res, 0, HD_DH_OUTBOX_BACKLOG) &&
	    report_ms > HD_RELAY_STALE_MS) {
		/* A relay is gone: its backlog is unknown, not zero. */
		hd_fmt_age(report_ms, age, sizeof(age));
		hd_putf_next(y, &x, cols, hd_attr(HD_ATTR_ERROR),
		    "  outbox ?, no relay report for %s", age);
	} else if (!PQgetisnull(res, 0, HD_DH_OUTBOX_BACKLOG)) {
		if (PQgetisnull(res, 0, HD_DH_RELAY_LAG_MS))
			snprintf(age, sizeof(age), "-");
		else
			hd_fmt_age(hd_value_ll(res, 0, HD_DH_RELAY_LAG_MS),
			    age, sizeof(age));
		hd_putf_next(y, &x, cols, hd_attr(HD_ATTR_NORMAL),
		    "  outbox %s, lag %s",
		    PQgetvalue(res, 0, HD_DH_OUTBOX_BACKLOG), age);
	}

	y++;
	age_ms = PQgetisnull(res, 0, HD_DH_BLOCKER_AGE_MS) ? -1 :
	    hd_value_ll(res, 0, HD_DH_BLOCKER_AGE_MS) + hd_snapshot_age(snap);
	/* As in herald status, a young transaction is not named. */
	if (PQgetisnull(res, 0, HD_DH_BLOCKER_KIND) ||
	    (strcmp(PQgetvalue(res, 0, HD_DH_BLOCKER_KIND),
	    "transaction") == 0 && age_ms >= 0 &&
	    age_ms < HD_VACUUM_BLOCKER_MIN_MS)) {
		hd_putf(y, 1, cols - 1, hd_attr(HD_ATTR_GOOD),
		    "vacuum: no transaction open for %ds or more holds it back",
		    HD_VACUUM_BLOCKER_MIN_MS / 1000);
		return;
	}
	if (age_ms >= 0)
		hd_fmt_age(age_ms, age, sizeof(age));
	else
		snprintf(age, sizeof(age), "-");
	hd_putf(y, 1, cols - 1, age_ms > HEALTH_BLOCKER_WARN_MS ?
	    hd_attr(HD_ATTR_WARN) : hd_attr(HD_ATTR_NORMAL),
	    "vacuum held back %s by %s pid %s (%s), xmin age %s", age,
	    PQgetvalue(res, 0, HD_DH_BLOCKER_KIND),
	    PQgetisnull(res, 0, HD_DH_BLOCKER_PID) ? "?" :
	    PQgetvalue(res, 0, HD_DH_BLOCKER_PID),
	    PQgetisnull(res, 0, HD_DH_BLOCKER_APPLICATION) ? "?" :
	    PQgetvalue(res, 0, HD_DH_BLOCKER_APPLICATION),
	    PQgetvalue(res, 0, HD_DH_BLOCKER_XMIN_AGE));
}

/* The panel under the list, for the queue under the cursor. */
/*
 * The lines of the health panel in a screen of lines: none when it would
 * leave the queues fewer than two rows, as in a 10-line terminal.
 */
static int
health_lines(int lines)
{
	return lines - HEALTH_LINES - 4 >= 2 ? HEALTH_LINES : 0;
}

static void
health_draw(struct hd_console *console, int y, int cols, const char *queue)
{
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_putf(y, 1, cols - 1, hd_attr(HD_ATTR_HEADER), "health%s%s",
	    queue != NULL ? " of queue " : "", queue != NULL ? queue : "");
	if (queue != NULL)
		health_draw_queue(console, y + 1, cols, queue);
	health_draw_database(console, y + 2, cols);
}

/* Columns after the name: heading and width. */
static const struct {
	const char	*heading;
	int		 width;
	int		 column;
} counts[] = {
	{ "ready", 7, HD_QUEUES_READY },
	{ "sched", 7, HD_QUEUES_SCHEDULED },
	{ "run", 5, HD_QUEUES_RUNNING },
	{ "retry", 6, HD_QUEUES_RETRYING },
	{ "dead", 6, HD_QUEUES_DEAD },
	{ "done/m", 7, HD_QUEUES_DONE_RATE },
	{ "fail/m", 7, HD_QUEUES_FAIL_RATE },
};
#define NCOUNTS	((int)(sizeof(counts) / sizeof(counts[0])))
/* The oldest wait and the paused column after the counts. */
#define WAIT_WIDTH	9
#define STATE_WIDTH	10

/*
 * The columns shown on a narrow terminal, so that the state column, which
 * shows whether a queue is paused, always fits.  The rates go first,
 * then the scheduled count, the oldest wait and the dead count.
 */
struct queues_layout {
	bool	shown[NCOUNTS];
	bool	wait;		/* the oldest wait is shown */
	int	name_width;
};

static void
queues_fit(struct queues_layout *layout, const PGresult *res, int cols)
{
	static const int	drop[] = {
		HD_QUEUES_FAIL_RATE, HD_QUEUES_DONE_RATE, HD_QUEUES_SCHEDULED,
		-1, HD_QUEUES_DEAD
	};
	int			width = 1 + 8 + WAIT_WIDTH + 2 + STATE_WIDTH;
	int			i, j;

	layout->wait = true;
	for (i = 0; i < NCOUNTS; i++) {
		layout->shown[i] = true;
		width += counts[i].width;
	}
	for (j = 0; j < (int)(sizeof(drop) / sizeof(drop[0])) && width > cols;
	    j++) {
		if (drop[j] == -1) {
			layout->wait = false;
			width -= WAIT_WIDTH;
			continue;
		}
		for (i = 0; i < NCOUNTS; i++)
			if (counts[i].column == drop[j]) {
				layout->shown[i] = false;
				width -= counts[i].width;
			}
	}
	layout->name_width = cols - (width - 8);
	layout->name_width = hd_text_width(res, HD_QUEUES_NAME, "total", 8,
	    layout->name_width);
}

/* The column of the state. */
static int
queues_state_x(const struct queues_layout *layout)
{
	int	i, x = 1 + layout->name_width + 2;

	for (i = 0; i < NCOUNTS; i++)
		if (layout->shown[i])
			x += counts[i].width;
	return x + (layout->wait ? WAIT_WIDTH : 0);
}

/* Draw one row: name, the counts, the oldest wait, the state. */
static void
queues_row(int y, int cols, const struct queues_layout *layout, int attr,
    const char *name, const long long *values, const char *wait,
    const char *state, int state_attr)
{
	int	i, x;

	hd_put_fill(y, 0, cols, attr, "");
	hd_put(y, 1, layout->name_width, attr, name);
	x = 1 + layout->name_width;
	for (i = 0; i < NCOUNTS; i++) {
		if (!layout->shown[i])
			continue;
		hd_putf(y, x, counts[i].width, attr == hd_attr(HD_ATTR_NORMAL) &&
		    counts[i].column == HD_QUEUES_DEAD && values[i] > 0 ?
		    hd_attr(HD_ATTR_WARN) : attr, "%*lld", counts[i].width,
		    values[i]);
		x += counts[i].width;
	}
	if (layout->wait) {
		hd_putf(y, x, WAIT_WIDTH, attr, "%*s", WAIT_WIDTH, wait);
		x += WAIT_WIDTH;
	}
	x += 2;
	hd_put(y, x, cols - x, attr == hd_attr(HD_ATTR_NORMAL) ? state_attr :
	    attr, state);
}

static void
queues_draw(struct hd_console *console, int top, int lines, int cols)
{
	const struct hd_snapshot	*snap;
	const PGresult			*res;
	struct queues_layout		 layout;
	long long			 values[NCOUNTS], totals[NCOUNTS] = { 0 };
	long long			 oldest = -1, ms;
	int				 nrows, row, i, x, y;
	int				 npaused = 0, health_y, hlines, plines;
	int				 state_x;
	char				 wait[32];
	const char			*state;
	int				 state_attr;
	bool				 paused;

	snap = hd_model_snapshot(console->model, HD_SNAP_QUEUES);
	res = snap->res;
	queues_fit(&layout, res, cols);
	state_x = queues_state_x(&layout);

	/* The headings. */
	y = top + 1;
	hd_put_fill(y, 0, cols, hd_attr(HD_ATTR_HEADER), "");
	hd_put(y, 1, layout.name_width, hd_attr(HD_ATTR_HEADER), "queue");
	x = 1 + layout.name_width;
	for (i = 0; i < NCOUNTS; i++) {
		if (!layout.shown[i])
			continue;
		hd_putf(y, x, counts[i].width, hd_attr(HD_ATTR_HEADER),
		    "%*s", counts[i].width, counts[i].heading);
		x += counts[i].width;
	}
	if (layout.wait)
		hd_putf(y, x, WAIT_WIDTH, hd_attr(HD_ATTR_HEADER), "%*s",
		    WAIT_WIDTH, "oldest");
	hd_put(y, state_x, cols - state_x, hd_attr(HD_ATTR_HEADER), "state");

	if (res == NULL) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}
	nrows = PQntuples(res);
	hlines = health_lines(lines);
	lines -= hlines;
	health_y = top + lines;
	/* Leave the queues at least two rows. */
	plines = periodic_lines(console, lines - 6);
	lines -= plines;
	hd_list_follow(&queues_list, snap, HD_QUEUES_NAME, lines - 4);
	if (hlines > 0)
		health_draw(console, health_y, cols, nrows > 0 ?
		    PQgetvalue(res, queues_list.cursor, HD_QUEUES_NAME) :
		    NULL);
	periodic_draw(console, health_y - plines, plines, cols);

	y = top + 2;
	for (row = 0; row < nrows; row++) {
		for (i = 0; i < NCOUNTS; i++) {
			values[i] = hd_value_ll(res, row, counts[i].column);
			totals[i] += values[i];
		}
		ms = -1;
		if (!PQgetisnull(res, row, HD_QUEUES_OLDEST_MS))
			ms = hd_value_ll(res, row, HD_QUEUES_OLDEST_MS) +
			    hd_snapshot_age(snap);
		if (ms > oldest)
			oldest = ms;
		paused = strcmp(PQgetvalue(res, row, HD_QUEUES_PAUSED),
		    "t") == 0;
		npaused += paused;
		if (row < queues_list.top ||
		    row >= queues_list.top + lines - 4)
			continue;
		if (ms >= 0)
			hd_fmt_age(ms, wait, sizeof(wait));
		else
			snprintf(wait, sizeof(wait), "-");
		/* No worker on any host: nothing claims the queue's jobs. */
		state = "running";
		state_attr = hd_attr(HD_ATTR_GOOD);
		if (paused) {
			state = "PAUSED";
			state_attr = hd_attr(HD_ATTR_WARN);
		} else if (queue_failed_workers(console,
		    PQgetvalue(res, row, HD_QUEUES_NAME)) > 0) {
			/* herald status names the workers and hosts. */
			state = "FAILED";
			state_attr = hd_attr(HD_ATTR_WARN);
		} else if (hd_value_ll(res, row, HD_QUEUES_WORKERS) == 0) {
			state = "no workers";
			state_attr = hd_attr(HD_ATTR_WARN);
		}
		queues_row(y++, cols, &layout, row == queues_list.cursor ?
		    hd_attr(HD_ATTR_SELECTED) : hd_attr(HD_ATTR_NORMAL),
		    PQgetvalue(res, row, HD_QUEUES_NAME), values, wait, state,
		    state_attr);
	}

	if (oldest >= 0)
		hd_fmt_age(oldest, wait, sizeof(wait));
	else
		snprintf(wait, sizeof(wait), "-");
	queues_row(y, cols, &layout, hd_attr(HD_ATTR_HEADER), "total",
	    totals, wait, "", hd_attr(HD_ATTR_HEADER));
	if (npaused > 0)
		hd_putf(y, state_x, cols - state_x, hd_attr(HD_ATTR_HEADER),
		    "%d paused", npaused);

	hd_putf(top, 1, cols - 1, hd_attr(HD_ATTR_DIM),
	    "%d queue%s; ready = due now, sched = first run later, retry = "
	    "waiting for backoff", nrows, nrows == 1 ? "" : "s");
}

static int
queues_key(struct hd_console *console, enum hd_command command)
{
	const struct hd_snapshot	*snap;
	struct hd_action		*action;
	struct herald_error		 error;
	int				 count = 0, prepared;
	int				 lines = LINES - 6 - health_lines(LINES - 2);
	bool				 paused;

	snap = hd_model_snapshot(console->model, HD_SNAP_QUEUES);
	if (snap->res != NULL)
		count = PQntuples(snap->res);
	/* A snapshot may have arrived since the screen was drawn. */
	hd_list_follow(&queues_list, snap, HD_QUEUES_NAME, lines);
	if (hd_list_move(&queues_list, command, count, lines))
		return HD_REACT_REDRAW;
	if (command != HD_CMD_PAUSE)
		return HD_REACT_UNHANDLED;
	if (count == 0) {
		hd_console_message(console, true, "no queue to pause");
		return HD_REACT_REDRAW;
	}

	paused = strcmp(PQgetvalue(snap->res, queues_list.cursor,
	    HD_QUEUES_PAUSED), "t") == 0;
	action = hd_xmalloc(sizeof(*action));
	prepared = hd_action_queue(action, PQgetvalue(snap->res,
	    queues_list.cursor, HD_QUEUES_NAME), !paused, &error);
	hd_console_submit(console, action, prepared, &error);
	return HD_REACT_REDRAW;
}

const struct hd_view hd_view_queues = {
	.name = "Queues",
	.keys = queues_keys,
	.snapshot = HD_SNAP_QUEUES,
	.fetch = queues_refresh,
	.draw = queues_draw,
	.key = queues_key,
};
