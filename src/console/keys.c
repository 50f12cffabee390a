/*
 * keys.c: the keys every screen shares, and the lookup of a key code in
 * a view's table and then in this one.
 */

#include <stddef.h>

#include "console.h"

/* Control-L, as terminals send it. */
#define KEY_CTRL_L	('L' & 0x1f)

const struct hd_key hd_global_keys[] = {
	{ { KEY_UP, 'k' }, "k Up", "move up", HD_CMD_UP, false },
	{ { KEY_DOWN, 'j' }, "j Down", "move down", HD_CMD_DOWN, false },
	{ { KEY_PPAGE, 'b' - 0x60 }, "PgUp ^B", "page up", HD_CMD_PAGE_UP,
	    false },
	{ { KEY_NPAGE, 'f' - 0x60 }, "PgDn ^F", "page down",
	    HD_CMD_PAGE_DOWN, false },
	{ { KEY_HOME, 'g' }, "g Home", "go to the first row", HD_CMD_HOME,
	    false },
	{ { KEY_END, 'G' }, "G End", "go to the last row", HD_CMD_END,
	    false },
	{ { '1' }, "1", "queues", HD_CMD_SCREEN_1, false },
	{ { '2' }, "2", "workers", HD_CMD_SCREEN_2, false },
	{ { '3' }, "3", "retries", HD_CMD_SCREEN_3, false },
	{ { '4' }, "4", "dead letters", HD_CMD_SCREEN_4, false },
	{ { '5' }, "5", "events", HD_CMD_SCREEN_5, false },
	{ { '\t' }, "Tab", "next screen", HD_CMD_NEXT_SCREEN, false },
	{ { KEY_BTAB }, "S-Tab", "previous screen", HD_CMD_PREV_SCREEN,
	    false },
	{ { KEY_CTRL_L, KEY_F(5) }, "^L F5", "refresh now", HD_CMD_REFRESH,
	    false },
	{ { '?', KEY_F(1) }, "? F1", "show the keys of this screen",
	    HD_CMD_HELP, false },
	{ { 'q' }, "q", "quit", HD_CMD_QUIT, false },
	{ { 0 }, NULL, NULL, HD_CMD_NONE, false }
};

static const struct hd_key *
key_find_in(const struct hd_key *table, int key)
{
	const struct hd_key	*row;
	int			 i;

	for (row = table; row != NULL && row->keys[0] != 0; row++)
		for (i = 0; i < 3 && row->keys[i] != 0; i++)
			if (row->keys[i] == key)
				return row;
	return NULL;
}

const struct hd_key *
hd_key_find(const struct hd_view *view, int key)
{
	const struct hd_key	*row;

	if (view != NULL && (row = key_find_in(view->keys, key)) != NULL)
		return row;
	return key_find_in(hd_global_keys, key);
}
