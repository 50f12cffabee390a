/*
 * view_workers.c: screen 2, every registered heraldd and its children on
 * every host, with the job each worker runs and its heartbeat age.
 */

#include <stdio.h>
#include <string.h>

#include "console.h"
#include "format.h"
#include "screen.h"

/*
 * heraldd refreshes heartbeats every 10 seconds; three missed ones mean
 * the process is gone or cut off from the database.
 */
#define WORKERS_STALE_MS	30000

static const struct hd_key workers_keys[] = {
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static struct hd_list	workers_list;

static void
workers_refresh(struct hd_console *console)
{
	hd_model_fetch(console->model, HD_Q_WORKERS, 0, NULL, 0, NULL, NULL);
	hd_model_fetch(console->model, HD_Q_FAILED_CHILDREN, 0, NULL, 0, NULL,
	    NULL);
}

/* Failed children shown at most, under the list. */
#define FAILED_ROWS_MAX		4

/*
 * Draw the children that a heraldd stopped restarting, as herald status
 * lists them, from line y on, at most n lines.  A process that is gone
 * leaves the list, so without these lines a failed relay or janitor
 * would leave no trace on this screen.
 */
static void
workers_draw_failed(const struct hd_snapshot *snap, int y, int n, int cols)
{
	const PGresult	*res = snap->res;
	char		 child[128], pid[32];
	int		 row;

	for (row = 0; row < n; row++) {
		if (strcmp(PQgetvalue(res, row, HD_FC_ROLE), "worker") == 0)
			snprintf(child, sizeof child, "worker #%s of queue %s",
			    PQgetvalue(res, row, HD_FC_SLOT),
			    PQgetvalue(res, row, HD_FC_QUEUE));
		else
			snprintf(child, sizeof child, "%s",
			    PQgetvalue(res, row, HD_FC_ROLE));
		/*
		 * Two heraldd may run on one host: name which one, by the
		 * pid that the list above shows too while it runs.
		 */
		pid[0] = '\0';
		if (!PQgetisnull(res, row, HD_FC_PID))
			snprintf(pid, sizeof pid, " (pid %s)",
			    PQgetvalue(res, row, HD_FC_PID));
		hd_putf(y + row, 1, cols - 1, hd_attr(HD_ATTR_ERROR),
		    "FAILED %s, %s failures; reload heraldd %.8s on %s%s",
		    child, PQgetvalue(res, row, HD_FC_FAILURES),
		    PQgetvalue(res, row, HD_FC_SUPERVISOR),
		    PQgetvalue(res, row, HD_FC_HOST), pid);
	}
}

/*
 * Column layout: host takes what the fixed columns leave.  The heartbeat
 * comes right after the kind, so that a narrow terminal cuts the job
 * columns at the right edge and keeps it.
 */
#define PID_W		8
#define KIND_W		11
#define QUEUE_W		10
#define JOB_W		9
#define RUN_W		8
#define BEAT_W		7

static void
workers_heading(int y, int cols, int host_w, int task_w)
{
	int	attr = hd_attr(HD_ATTR_HEADER), x = 1;

	hd_put_fill(y, 0, cols, attr, "");
	hd_put(y, x, host_w, attr, "host");
	x += host_w;
	hd_putf(y, x, PID_W, attr, "%*s ", PID_W - 1, "pid");
	x += PID_W;
	hd_put(y, x, KIND_W, attr, "kind");
	x += KIND_W;
	hd_putf(y, x, BEAT_W, attr, "%*s ", BEAT_W - 1, "beat");
	x += BEAT_W;
	hd_put(y, x, QUEUE_W, attr, "queue");
	x += QUEUE_W;
	hd_putf(y, x, JOB_W, attr, "%*s ", JOB_W - 1, "job");
	x += JOB_W;
	hd_put(y, x, task_w, attr, "task");
	x += task_w;
	hd_putf(y, x, cols - x, attr, "%*s", RUN_W, "running");
}

static void
workers_row(const struct hd_snapshot *snap, int row, int y, int cols,
    int host_w, int task_w, bool selected)
{
	const PGresult	*res = snap->res;
	const char	*kind = PQgetvalue(res, row, HD_WORKERS_KIND);
	int64_t		 beat, age = hd_snapshot_age(snap);
	int		 attr, x = 1;
	char		 text[32], shown_kind[32];
	bool		 stale, child;

	/*
	 * A snapshot that aged while the database was unreachable shows
	 * nothing of the processes since, so only its own beat counts.
	 */
	beat = hd_value_ll(res, row, HD_WORKERS_HEARTBEAT_MS);
	stale = beat > WORKERS_STALE_MS;
	beat += age;
	child = strcmp(kind, "supervisor") != 0;
	attr = selected ? hd_attr(HD_ATTR_SELECTED) :
	    stale ? hd_attr(HD_ATTR_ERROR) : hd_attr(HD_ATTR_NORMAL);

	hd_put_fill(y, 0, cols, attr, "");
	hd_put(y, x, host_w - 1, attr, PQgetvalue(res, row, HD_WORKERS_HOST));
	x += host_w;
	hd_putf(y, x, PID_W, attr, "%*s ", PID_W - 1,
	    PQgetvalue(res, row, HD_WORKERS_PID));
	x += PID_W;
	snprintf(shown_kind, sizeof(shown_kind), "%s%s", child ? " " : "",
	    stale && !child ? "DEAD" : kind);
	if (stale && child)
		snprintf(shown_kind, sizeof(shown_kind), " %s?", kind);
	hd_put(y, x, KIND_W - 1, attr, shown_kind);
	x += KIND_W;
	hd_fmt_age(beat, text, sizeof(text));
	hd_putf(y, x, BEAT_W, attr, "%*s ", BEAT_W - 1, text);
	x += BEAT_W;
	hd_put(y, x, QUEUE_W - 1, attr,
	    PQgetvalue(res, row, HD_WORKERS_QUEUE));
	x += QUEUE_W;
	if (!PQgetisnull(res, row, HD_WORKERS_JOB_ID)) {
		hd_putf(y, x, JOB_W, attr, "%*s ", JOB_W - 1,
		    PQgetvalue(res, row, HD_WORKERS_JOB_ID));
		hd_put(y, x + JOB_W, task_w - 1, attr,
		    PQgetvalue(res, row, HD_WORKERS_TASK));
		hd_fmt_age(hd_value_ll(res, row, HD_WORKERS_RUNNING_MS) + age,
		    text, sizeof(text));
		hd_putf(y, x + JOB_W + task_w, cols - x - JOB_W - task_w,
		    attr, "%*s", RUN_W, text);
	} else if (strcmp(kind, "worker") == 0)
		hd_put(y, x + JOB_W, task_w, selected ? attr :
		    hd_attr(HD_ATTR_DIM), "idle");
	else if (strcmp(kind, "janitor") == 0 &&
	    strcmp(PQgetvalue(res, row, HD_WORKERS_ACTIVE), "t") == 0)
		hd_put(y, x + JOB_W, task_w, attr, "active");
	else if (strcmp(kind, "janitor") == 0)
		hd_put(y, x + JOB_W, task_w, selected ? attr :
		    hd_attr(HD_ATTR_DIM), "standby");
}

static void
workers_draw(struct hd_console *console, int top, int lines, int cols)
{
	const struct hd_snapshot	*snap, *failed;
	int				 host_w, task_w, spare, nrows, row, y;
	int				 supervisors = 0, dead = 0, busy = 0;
	int				 nfailed;

	snap = hd_model_snapshot(console->model, HD_SNAP_WORKERS);
	spare = cols - 1 - PID_W - KIND_W - QUEUE_W - JOB_W - RUN_W - BEAT_W;
	host_w = hd_text_width(snap->res, HD_WORKERS_HOST, "host", 8,
	    spare * 2 / 5);
	task_w = hd_text_width(snap->res, HD_WORKERS_TASK, "idle", 8,
	    spare - host_w);
	workers_heading(top + 1, cols, host_w, task_w);
	if (snap->res == NULL) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM), "loading...");
		return;
	}

	nrows = PQntuples(snap->res);
	for (row = 0; row < nrows; row++) {
		const char	*kind = PQgetvalue(snap->res, row,
		    HD_WORKERS_KIND);

		if (strcmp(kind, "supervisor") == 0) {
			supervisors++;
			dead += hd_value_ll(snap->res, row,
			    HD_WORKERS_HEARTBEAT_MS) > WORKERS_STALE_MS;
		}
		busy += !PQgetisnull(snap->res, row, HD_WORKERS_JOB_ID);
	}
	hd_putf(top, 1, cols - 1, dead > 0 ? hd_attr(HD_ATTR_ERROR) :
	    hd_attr(HD_ATTR_DIM), "%d supervisor%s (%d dead), %d job%s "
	    "running; dead = no heartbeat for %ds when read", supervisors,
	    supervisors == 1 ? "" : "s", dead, busy, busy == 1 ? "" : "s",
	    WORKERS_STALE_MS / 1000);
	if (nrows == 0) {
		hd_put(top + 2, 1, cols - 1, hd_attr(HD_ATTR_DIM),
		    "no heraldd is registered in this job database");
		return;
	}

	failed = hd_model_snapshot(console->model, HD_SNAP_FAILED_CHILDREN);
	nfailed = failed->res != NULL ? PQntuples(failed->res) : 0;
	if (nfailed > FAILED_ROWS_MAX)
		nfailed = FAILED_ROWS_MAX;
	if (nfailed > (lines - 2) / 2)
		nfailed = (lines - 2) / 2;
	hd_list_clamp(&workers_list, nrows, lines - 2 - nfailed);
	y = top + 2;
	for (row = workers_list.top; row < nrows &&
	    y < top + lines - nfailed; row++)
		workers_row(snap, row, y++, cols, host_w, task_w,
		    row == workers_list.cursor);
	workers_draw_failed(failed, top + lines - nfailed, nfailed, cols);
}

static int
workers_key(struct hd_console *console, enum hd_command command)
{
	const struct hd_snapshot	*snap;
	int				 count = 0;

	snap = hd_model_snapshot(console->model, HD_SNAP_WORKERS);
	if (snap->res != NULL)
		count = PQntuples(snap->res);
	if (hd_list_move(&workers_list, command, count, LINES - 4))
		return HD_REACT_REDRAW;
	return HD_REACT_UNHANDLED;
}

const struct hd_view hd_view_workers = {
	.name = "Workers",
	.keys = workers_keys,
	.snapshot = HD_SNAP_WORKERS,
	.fetch = workers_refresh,
	.draw = workers_draw,
	.key = workers_key,
};
