/*
 * test_exec_tail.c: the output tail of an exec handler, as stored with a
 * failed attempt: the last HD_EXEC_TAIL_MAX bytes, cut on a character
 * boundary and made valid UTF-8 without NUL bytes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "exec.h"
#include "util.h"

/* Run sh -c script to its end and return its tail in buf. */
static void
run_tail(const char *script, char *buf, size_t size)
{
	char *const		 argv[] = { "/bin/sh", "-c", (char *)script,
				     NULL };
	char *const		 envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct hd_exec		 exec;
	struct hd_attempt	 attempt;
	struct pollfd		 fds[3];
	int			 n, status;
	pid_t			 pid;

	assert_int_equal(hd_exec_start(&exec, argv, envp, NULL, NULL, 0,
	    10000), 0);
	while (!hd_exec_done(&exec)) {
		n = hd_exec_pollfds(&exec, fds);
		if (n > 0 && poll(fds, (nfds_t)n, 100) > 0)
			hd_exec_io(&exec, fds, n);
		if (!exec.reaped &&
		    (pid = waitpid(exec.pid, &status, WNOHANG)) > 0)
			hd_exec_reaped(&exec, pid, status);
		hd_exec_tick(&exec, hd_monotonic_ms());
	}
	hd_exec_result(&exec, &attempt, buf, size);
	hd_exec_close(&exec);
	assert_ptr_equal(attempt.output, buf);
}

/* Return whether text is valid UTF-8. */
static int
valid_utf8(const unsigned char *s)
{
	size_t	need, i;

	while (*s != '\0') {
		if (*s < 0x80)
			need = 1;
		else if (*s >= 0xc2 && *s <= 0xdf)
			need = 2;
		else if (*s >= 0xe0 && *s <= 0xef)
			need = 3;
		else if (*s >= 0xf0 && *s <= 0xf4)
			need = 4;
		else
			return 0;
		for (i = 1; i < need; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		s += need;
	}
	return 1;
}

/*
 * 3000 two-byte characters and a final "x" are 6001 bytes, so the last
 * 4096 start with the second byte of a character, which is dropped, and
 * end with the "x", which must stay.
 */
static void
test_exec_tail_cuts_on_character(void **state)
{
	char	buf[HD_EXEC_TAIL_MAX + 1];
	size_t	len;

	run_tail("i=0; while [ $i -lt 3000 ]; do printf '\\303\\251';"
	    " i=$((i + 1)); done; printf x", buf, sizeof buf);
	len = strlen(buf);

	assert_int_equal(len, HD_EXEC_TAIL_MAX - 1);
	assert_true(valid_utf8((const unsigned char *)buf));
	assert_memory_equal(buf, "\xc3\xa9", 2);
	assert_int_equal(buf[len - 1], 'x');
}

/* The rest of a three-byte character cut by the tail's start is dropped. */
static void
test_exec_tail_cuts_three_byte_character(void **state)
{
	char	buf[HD_EXEC_TAIL_MAX + 1];

	/*
	 * 2 + 1366 * 3 = 4100 bytes: the tail starts 4 bytes in, at the
	 * last byte of the first character.
	 */
	run_tail("printf ab; i=0; while [ $i -lt 1366 ]; do"
	    " printf '\\342\\202\\254'; i=$((i + 1)); done", buf, sizeof buf);

	assert_true(valid_utf8((const unsigned char *)buf));
	assert_memory_equal(buf, "\xe2\x82\xac", 3);
	assert_int_equal(strlen(buf), HD_EXEC_TAIL_MAX - 1);
}

/* Invalid bytes and NUL bytes become '?'. */
static void
test_exec_tail_replaces_invalid_bytes(void **state)
{
	char	buf[HD_EXEC_TAIL_MAX + 1];

	run_tail("printf 'a\\377b\\000c\\300\\257d'", buf, sizeof buf);

	assert_string_equal(buf, "a?b?c??d");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_tail_cuts_on_character),
		cmocka_unit_test(test_exec_tail_cuts_three_byte_character),
		cmocka_unit_test(test_exec_tail_replaces_invalid_bytes),
	};

	return cmocka_run_group_tests_name("exec_tail", tests, NULL, NULL);
}
