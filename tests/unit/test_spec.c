/*
 * test_spec.c: the child specification that heraldd writes and
 * heraldd-child reads, and the started region a worker maps again from
 * its descriptor.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "child.h"
#include "herald.h"
#include "migrate.h"
#include "started.h"

/* The text of a configuration, with a NUL byte to check the length. */
static const char config_text[] = "job_db = \"dbname=x\";\n\0# tail\n";

static void
test_spec_round_trip(void **state)
{
	struct hd_child_spec	spec, got;
	int64_t			ids[] = { 1041, 1042, 9007199254740993 };
	char			error[256];
	int			fd;

	memset(&spec, 0, sizeof spec);
	spec.role = "worker";
	spec.queue = "mail.out";
	spec.supervisor_id = "0f3c9a61d2e4b857";
	spec.worker_id = "5be0c1a9d3f27e46";
	spec.lost_id = "9a4e2b7c0d1f3865";
	spec.lost_started.known = true;
	spec.lost_started.n = 3;
	spec.lost_started.ids = ids;
	assert_int_equal(hd_started_ids_add_crash(&spec.lost_started, 1041,
	    11), 0);
	assert_int_equal(hd_started_ids_add_crash(&spec.lost_started, 1042,
	    6), 0);
	spec.verbose = true;
	spec.load_modules = true;
	spec.config_path = "/etc/herald dir/herald.conf\nsecond line";
	spec.config_text = (char *)config_text;
	spec.config_len = sizeof config_text - 1;

	fd = hd_child_spec_write(&spec);
	assert_true(fd >= 0);
	assert_int_equal(hd_child_spec_read(fd, &got, error, sizeof error), 0);
	close(fd);
	assert_string_equal(got.role, "worker");
	assert_string_equal(got.queue, "mail.out");
	assert_string_equal(got.supervisor_id, spec.supervisor_id);
	assert_string_equal(got.worker_id, spec.worker_id);
	assert_string_equal(got.lost_id, spec.lost_id);
	assert_true(got.lost_started.known);
	assert_int_equal(got.lost_started.n, 3);
	assert_memory_equal(got.lost_started.ids, ids, sizeof ids);
	assert_int_equal(got.lost_started.ncrashed, 2);
	assert_int_equal(hd_started_crash_signal(&got.lost_started, 1041), 11);
	assert_int_equal(hd_started_crash_signal(&got.lost_started, 1042), 6);
	assert_int_equal(hd_started_crash_signal(&got.lost_started,
	    9007199254740993), 0);
	assert_true(got.verbose);
	assert_false(got.check_schema);
	assert_true(got.load_modules);
	assert_string_equal(got.config_path, spec.config_path);
	assert_int_equal(got.config_len, spec.config_len);
	assert_memory_equal(got.config_text, config_text, spec.config_len);
	hd_child_spec_clear(&got);
}

static void
test_spec_started_unknown(void **state)
{
	struct hd_child_spec	spec, got;
	char			error[256];
	int			fd;

	memset(&spec, 0, sizeof spec);
	spec.role = "worker";
	spec.queue = "q";
	spec.supervisor_id = "s";
	spec.worker_id = "w";
	spec.config_path = "p";
	spec.config_text = "";
	fd = hd_child_spec_write(&spec);
	assert_true(fd >= 0);
	assert_int_equal(hd_child_spec_read(fd, &got, error, sizeof error), 0);
	close(fd);
	assert_false(got.lost_started.known);
	assert_null(got.lost_id);
	assert_int_equal(got.config_len, 0);
	hd_child_spec_clear(&got);
}

/* Return the result of hd_child_spec_read() on text. */
static int
read_text(const char *text, char *error, size_t size)
{
	struct hd_child_spec	 got;
	int			 fd, rc;

	fd = memfd_create("test-spec", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = hd_child_spec_read(fd, &got, error, size);
	close(fd);
	if (rc == 0)
		hd_child_spec_clear(&got);
	return rc;
}

static void
test_spec_rejects_bad_input(void **state)
{
	char	error[256], text[256];

	snprintf(text, sizeof text, "version %s\nrole check\npath 1\np\n"
	    "config 0\n\n", hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), 0);

	assert_int_equal(read_text("version 0.0.0-other\nrole check\n",
	    error, sizeof error), -1);
	assert_non_null(strstr(error, "restart heraldd"));

	snprintf(text, sizeof text, "version %s\nrole check\npath 99\np\n",
	    hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "line 3"));

	snprintf(text, sizeof text, "version %s\nrole worker\n"
	    "started known 2 7\npath 1\np\nconfig 0\n\n", hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "line 3"));

	/* A count that the line cannot hold is rejected before allocating. */
	snprintf(text, sizeof text, "version %s\nrole worker\n"
	    "started known 2000000000 7\npath 1\np\nconfig 0\n\n",
	    hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "line 3"));

	snprintf(text, sizeof text, "version %s\nrole worker\n"
	    "started known 1 99999999999999999999\npath 1\np\nconfig 0\n\n",
	    hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "line 3"));

	/* A repeated line replaces the earlier value. */
	snprintf(text, sizeof text, "version %s\nrole worker\n"
	    "started known 1 5\nstarted known 1 6\npath 1\np\npath 1\nq\n"
	    "config 0\n\nconfig 0\n\n", hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), 0);

	snprintf(text, sizeof text, "version %s\ncolour blue\n",
	    hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "line 2"));

	snprintf(text, sizeof text, "version %s\nrole check\n",
	    hd_child_build());
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "incomplete"));

	assert_int_equal(read_text("", error, sizeof error), -1);
	assert_non_null(strstr(error, "incomplete"));
}

static void
test_started_attach_shares_region(void **state)
{
	struct hd_started	*s = hd_started_map(2), *a;
	struct hd_started_ids	 ids;

	assert_non_null(s);
	a = hd_started_attach(dup(hd_started_fd(s)));
	assert_non_null(a);
	hd_started_add(a, 77);
	hd_started_read(s, &ids);
	assert_true(ids.known);
	assert_int_equal(ids.n, 1);
	assert_int_equal(ids.ids[0], 77);
	hd_started_ids_clear(&ids);
	hd_started_unmap(a);
	hd_started_unmap(s);
}

static void
test_started_attach_rejects_other_fd(void **state)
{
	int	fd = memfd_create("not-started", 0);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_null(hd_started_attach(fd));
	close(fd);
	assert_null(hd_started_attach(-1));
}

/*
 * The version line names the schema versions as well as the release, so
 * a child of the same release built with other migrations is rejected.
 */
static void
test_spec_version_names_schema(void **state)
{
	struct hd_child_spec	 spec;
	char			 text[256], expected[64], error[256];
	ssize_t			 n;
	int			 fd;

	(void)state;
	memset(&spec, 0, sizeof spec);
	spec.role = "check";
	spec.config_path = "/etc/herald/herald.conf";
	spec.config_text = (char *)config_text;
	spec.config_len = sizeof config_text - 1;
	fd = hd_child_spec_write(&spec);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof text - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	snprintf(expected, sizeof expected, "version %s schema %d/%d\n",
	    HERALD_VERSION,
	    hd_job_migrations[hd_job_migrations_count - 1].version,
	    hd_app_migrations[hd_app_migrations_count - 1].version);
	assert_memory_equal(text, expected, strlen(expected));

	snprintf(text, sizeof text, "version %s schema 1/1\nrole check\n"
	    "path 1\np\nconfig 0\n\n", HERALD_VERSION);
	assert_int_equal(read_text(text, error, sizeof error), -1);
	assert_non_null(strstr(error, "schema 1/1 started"));
	assert_non_null(strstr(error, hd_child_build()));
}

/*
 * With one descriptor left, writing a specification fails with EMFILE
 * and leaves that descriptor free.
 */
static void
test_spec_write_out_of_descriptors(void **state)
{
	struct hd_child_spec	 spec;
	struct rlimit		 saved, low;
	int			 fds[64], nfds = 0, fd, write_errno;

	memset(&spec, 0, sizeof spec);
	spec.role = "check";
	spec.config_path = "/etc/herald/herald.conf";
	spec.config_text = (char *)config_text;
	spec.config_len = sizeof config_text - 1;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1)
		fds[nfds++] = fd;
	assert_true(nfds > 0);
	close(fds[--nfds]);

	fd = hd_child_spec_write(&spec);
	write_errno = errno;
	if (fd != -1)
		close(fd);
	/* The one free descriptor must be free again. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd != -1)
		close(fd);
	while (nfds > 0)
		close(fds[--nfds]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

	assert_true(fd != -1);
	assert_int_equal(write_errno, EMFILE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_spec_started_unknown),
		cmocka_unit_test(test_spec_rejects_bad_input),
		cmocka_unit_test(test_spec_version_names_schema),
		cmocka_unit_test(test_spec_write_out_of_descriptors),
		cmocka_unit_test(test_started_attach_shares_region),
		cmocka_unit_test(test_started_attach_rejects_other_fd),
	};

	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
