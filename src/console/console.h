/*
 * console.h: herald console, the ncurses operations console.
 *
 * One process, one job database connection (model.c) and one poll()
 * loop (console.c) that serves the keyboard, the signals and the
 * connection, so no query ever blocks the screen.  Each screen is a view
 * (view_*.c) that exports one const struct hd_view: its queries go
 * through the model, and draw() reads only the model's last snapshot.
 *
 * Keys: one table per view and one global table (keys.c) of struct
 * hd_key, which feed the "?" help, the dispatch and --read-only alike.
 */

#ifndef HD_CONSOLE_H
#define HD_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <curses.h>

#include "config.h"
#include "model.h"

/* How long a message stays on the status line. */
#define HD_CONSOLE_MESSAGE_MS	10000

/* The operation behind a key, whichever key the operator pressed. */
enum hd_command {
	HD_CMD_NONE = 0,
	HD_CMD_UP,
	HD_CMD_DOWN,
	HD_CMD_PAGE_UP,
	HD_CMD_PAGE_DOWN,
	HD_CMD_HOME,
	HD_CMD_END,
	HD_CMD_SCREEN_1,	/* .. HD_CMD_SCREEN_1 + 4 */
	HD_CMD_SCREEN_2,
	HD_CMD_SCREEN_3,
	HD_CMD_SCREEN_4,
	HD_CMD_SCREEN_5,
	HD_CMD_NEXT_SCREEN,
	HD_CMD_PREV_SCREEN,
	HD_CMD_HELP,
	HD_CMD_QUIT,
	HD_CMD_REFRESH,
	HD_CMD_BACK,
	HD_CMD_OPEN,
	HD_CMD_PAUSE,
	HD_CMD_CANCEL,
	HD_CMD_FILTER,
	HD_CMD_MARK,
	HD_CMD_UNMARK_ALL,
	HD_CMD_RETRY,
	HD_CMD_PURGE,
	HD_CMD_RETRY_ALL,
	HD_CMD_PURGE_ALL,
	HD_CMD_TOGGLE,
	HD_CMD_RETRY_NOW,
	HD_CMD_EDIT
};

/* A row of a key table; a row with keys[0] == 0 ends the table. */
struct hd_key {
	int		 keys[3];	/* curses key codes; 0 ends the list */
	const char	*label;		/* the keys as "?" shows them */
	const char	*help;
	enum hd_command	 command;
	bool		 action;	/* changes the database */
};

extern const struct hd_key hd_global_keys[];

/* Bits returned by a view's key(). */
#define HD_REACT_REDRAW		0x1
#define HD_REACT_REFETCH	0x2
#define HD_REACT_UNHANDLED	0x4

struct hd_console;

struct hd_view {
	const char		*name;		/* tab title */
	const struct hd_key	*keys;		/* the view's own keys */
	enum hd_snapshot_kind	 snapshot;	/* whose age the status shows */
	/* Queue the view's queries (hd_model_fetch). */
	void			(*fetch)(struct hd_console *console);
	/* Draw rows top .. top + lines - 1 from the model's snapshots. */
	void			(*draw)(struct hd_console *console, int top,
				    int lines, int cols);
	/* React to a command; return HD_REACT_* bits. */
	int			(*key)(struct hd_console *console,
				    enum hd_command command);
};

extern const struct hd_view hd_view_queues;
extern const struct hd_view hd_view_workers;
extern const struct hd_view hd_view_retries;
extern const struct hd_view hd_view_dead;
extern const struct hd_view hd_view_events;
extern const struct hd_view hd_view_detail;

/* Called with the text the operator typed, after Enter. */
typedef void (*hd_prompt_fn)(struct hd_console *console, const char *text);

struct hd_console {
	struct hd_model		*model;
	const struct hd_config	*config;	/* NULL without -c */
	/*
	 * The file read again after it changed, which config then points
	 * to, and the fingerprint of the files last read.
	 */
	struct hd_config	*reread;
	uint64_t		 config_fingerprint;
	int64_t			 config_checked_ms;
	unsigned		 config_reads;	/* times the file was read again */
	bool			 config_failed;	/* the last read failed */
	bool			 read_only;
	int64_t			 interval_ms;

	const struct hd_view	*view;
	const struct hd_view	*back;		/* view the detail returns to */
	bool			 help_shown;
	int			 help_top;

	/* The last action's result or a refusal, on the status line. */
	char			 message[256];
	bool			 message_error;
	int64_t			 message_ms;	/* when it was set */
	/* An action lost with the connection: shown until it is back. */
	bool			 message_until_back;

	/* A line of input at the bottom, for a filter or a confirmation. */
	bool			 prompt_active;
	char			 prompt_label[160];
	char			 prompt_text[128];
	size_t			 prompt_len;
	hd_prompt_fn		 prompt_done;

	bool			 dirty;
};

/*
 * Show a message on the status line until the next one, or until
 * HD_CONSOLE_MESSAGE_MS have passed and no action runs.
 */
void	hd_console_message(struct hd_console *console, bool error,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Ask for a line of input; done gets it after Enter, not after Escape. */
void	hd_console_prompt(struct hd_console *console, hd_prompt_fn done,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Switch to view; the detail view remembers where to go back. */
void	hd_console_show(struct hd_console *console,
	    const struct hd_view *view);

/*
 * Return whether an action can be sent now; when it cannot (read-only or
 * disconnected), show why and return false.
 */
bool	hd_console_can_act(struct hd_console *console);

/*
 * Send an action, prepared with hd_action_*(), which the console takes
 * over.  The result appears on the status line and every view refreshes.
 * Rejected with a message when read-only or disconnected.
 */
void	hd_console_act(struct hd_console *console, struct hd_action *action);

/*
 * Send action with hd_console_act() when prepared, the return value of
 * the hd_action_*() call that prepared it, is 0.  Otherwise show error's
 * message and free the action.  Return prepared.
 */
int	hd_console_submit(struct hd_console *console, struct hd_action *action,
	    int prepared, const struct herald_error *error);

/*
 * As hd_console_submit(), for an action that deletes: ask the question
 * that fmt makes first, and send the action, then call then (if not
 * NULL), only when the operator types y or yes.
 */
int	hd_console_submit_asking(struct hd_console *console,
	    struct hd_action *action, int prepared,
	    const struct herald_error *error, void (*then)(void),
	    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The retry policy of task: the configuration's, else the defaults. */
void	hd_console_policy(const struct hd_console *console, const char *task,
	    struct hd_retry_policy *policy);

/*
 * editor.c: end curses, let $EDITOR (default vi) edit a copy of text in a
 * private temporary file, and restore the screen.  Return 0 and the new
 * text in *edited (malloc'ed), or -1 with a message in error when the
 * editor failed or exited non-zero.
 */
int	hd_console_edit(const char *text, char **edited, char *error,
	    size_t size);

/* keys.c: find the row of a key code in the view's or the global table. */
const struct hd_key *hd_key_find(const struct hd_view *view, int key);

/* Open the detail of a dead (dead true) or live job. */
void	hd_detail_open(struct hd_console *console, int64_t id, bool dead);

#endif /* HD_CONSOLE_H */
