/*
 * test_config.c: reading herald.conf, its defaults, and the errors that
 * name the file, the line and the setting.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

/*
 * NOTE: libconfig 1.5 (Debian 12) leaks the string it was reading when
 * the file ends inside it, as a case of the syntax hints below does.  The
 * leak is in the library, so LeakSanitizer skips it here, as in
 * tests/fuzz/fuzz_config.c.
 */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

struct fixture {
	char	dir[64];
	char	path[128];
	char	error[HD_CONFIG_ERROR_MAX];
};

static const char full_config[] =
    "job_db = \"dbname=herald\";\n"
    "app_db = \"dbname=shop\";\n"
    "log_level = \"debug\";\n"
    "grace_period = \"45s\";\n"
    "\n"
    "queues = {\n"
    "  mail    = { workers = 2; };\n"
    "  default = { workers = 1; concurrency = 16; poll_interval = 2; };\n"
    "};\n"
    "\n"
    "tasks = {\n"
    "  send_welcome_email = {\n"
    "    queue   = \"mail\";\n"
    "    exec    = [ \"/usr/libexec/send\", \"--spool\", \"/var/spool\" ];\n"
    "    timeout = \"30s\";\n"
    "    retry   = { max_attempts = 4; base_delay = \"250ms\";\n"
    "                factor = 3; max_delay = \"1h\"; jitter = 0.1; };\n"
    "  };\n"
    "  resize_image = {\n"
    "    queue  = \"default\";\n"
    "    module = { path = \"/usr/lib/images.so\"; symbol = \"resize\"; };\n"
    "  };\n"
    "};\n"
    "\n"
    "events = {\n"
    "  UserRegistered = [ \"send_welcome_email\", \"resize_image\" ];\n"
    "};\n";

/* A minimal valid file, used as the base of the error cases. */
static const char small_prefix[] =
    "job_db = \"dbname=herald\";\n"
    "queues = { mail = { workers = 1; }; };\n";

static int
setup(void **state)
{
	struct fixture	*f;

	f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/herald-test-config.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof f->path, "%s/herald.conf", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct hd_config *
load_text(struct fixture *f, const char *text)
{
	FILE	*fp;

	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	f->error[0] = '\0';
	return hd_config_load(f->path, f->error, sizeof f->error);
}

/* Load small_prefix followed by rest, expect failure and return the error. */
static const char *
load_error(struct fixture *f, const char *rest)
{
	char			 text[2048];
	struct hd_config	*config;

	snprintf(text, sizeof text, "%s%s", small_prefix, rest);
	config = load_text(f, text);
	assert_null(config);
	/* Every message starts with the file's path. */
	assert_memory_equal(f->error, f->path, strlen(f->path));
	return f->error + strlen(f->path);
}

static void
test_config_full_file(void **state)
{
	struct fixture			*f = *state;
	struct hd_config		*c;
	const struct hd_task_config	*t;

	c = load_text(f, full_config);
	assert_non_null(c);

	assert_string_equal(c->job_db, "dbname=herald");
	assert_string_equal(c->app_db, "dbname=shop");
	assert_int_equal(c->log_level, HD_LOG_DEBUG);
	assert_int_equal(c->grace_period_ms, 45000);
	assert_int_equal(c->nqueues, 2);
	assert_int_equal(hd_config_queue(c, "mail")->workers, 2);
	assert_int_equal(hd_config_queue(c, "default")->concurrency, 16);
	assert_int_equal(hd_config_queue(c, "default")->poll_interval_ms,
	    2000);

	t = hd_config_task(c, "send_welcome_email");
	assert_non_null(t);
	assert_string_equal(t->queue, "mail");
	assert_int_equal(t->argc, 3);
	assert_string_equal(t->argv[2], "/var/spool");
	assert_null(t->argv[3]);
	assert_int_equal(t->timeout_ms, 30000);
	assert_int_equal(t->retry.max_attempts, 4);
	assert_int_equal(t->retry.base_delay_ms, 250);
	assert_true(t->retry.factor == 3.0);
	assert_int_equal(t->retry.max_delay_ms, 3600 * 1000);
	assert_true(t->retry.jitter == 0.1);

	t = hd_config_task(c, "resize_image");
	assert_non_null(t);
	assert_null(t->argv);
	assert_string_equal(t->module_path, "/usr/lib/images.so");
	assert_string_equal(t->module_symbol, "resize");

	assert_int_equal(c->nevents, 1);
	assert_string_equal(c->events[0].type, "UserRegistered");
	assert_int_equal(c->events[0].ntasks, 2);
	assert_string_equal(c->events[0].tasks[1], "resize_image");

	hd_config_free(c);
}

static void
test_config_defaults(void **state)
{
	struct fixture			*f = *state;
	struct hd_config		*c;
	const struct hd_task_config	*t;
	const struct hd_queue_config	*q;

	c = load_text(f, "job_db = \"\";\n"
	    "queues = { q = {}; };\n"
	    "tasks = { t = { queue = \"q\"; exec = [ \"/bin/true\" ]; }; };\n");
	assert_non_null(c);

	assert_null(c->app_db);
	assert_int_equal(c->log_level, HD_LOG_INFO);
	assert_int_equal(c->grace_period_ms, HD_DEFAULT_GRACE_PERIOD_MS);
	assert_int_equal(c->lease_ms, HD_DEFAULT_LEASE_MS);
	q = hd_config_queue(c, "q");
	assert_int_equal(q->workers, 1);
	assert_int_equal(q->concurrency, 1);
	t = hd_config_task(c, "t");
	assert_int_equal(t->timeout_ms, HD_DEFAULT_TIMEOUT_MS);
	assert_int_equal(t->retry.max_attempts, 10);
	assert_int_equal(t->retry.base_delay_ms, 5000);
	assert_null(hd_config_task(c, "missing"));

	hd_config_free(c);
}

/* A configuration after the common prefix and the error it must give. */
struct error_row {
	const char	*name;
	const char	*rest;
	const char	*expected;
};

/* Load each row's text and check that its error contains expected. */
static void
check_error_rows(struct fixture *f, const struct error_row *rows,
    size_t nrows)
{
	const char	*error;
	size_t		 i;

	for (i = 0; i < nrows; i++) {
		print_message("%s\n", rows[i].name);
		error = load_error(f, rows[i].rest);
		if (strstr(error, rows[i].expected) == NULL)
			print_error("got \"%s\"\n", error);
		assert_non_null(strstr(error, rows[i].expected));
	}
}

static void
test_config_errors_name_line_and_setting(void **state)
{
	static const struct error_row rows[] = {
		{ "wrong type",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  timeout = [ 1 ]; }; };\n",
		  ":4: tasks.t.timeout: must be a duration such as \"30s\"" },
		{ "bad duration",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  timeout = \"5 parsecs\"; }; };\n",
		  ":4: tasks.t.timeout: invalid duration \"5 parsecs\"" },
		{ "duration over a year",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  timeout = \"400d\"; }; };\n",
		  ":4: tasks.t.timeout: duration \"400d\" is out of range: the "
		  "maximum is 366d" },
		{ "missing queue",
		  "tasks = {\n t = { exec = [ \"/bin/true\" ]; }; };\n",
		  ":4: tasks.t: missing setting \"queue\"" },
		{ "undefined queue",
		  "tasks = { t = {\n queue = \"nope\"; exec = [ \"/bin/x\" ]; }; };\n",
		  ":4: tasks.t.queue: queue \"nope\" is not defined in queues" },
		{ "relative program",
		  "tasks = { t = { queue = \"mail\";\n exec = [ \"true\" ]; }; };\n",
		  ":4: tasks.t.exec: program \"true\" must be an absolute path" },
		{ "empty module symbol",
		  "tasks = { t = { queue = \"mail\"; module = {\n"
		  "  path = \"/x.so\"; symbol = \"\"; }; }; };\n",
		  ":4: tasks.t.module.symbol: must not be empty" },
		{ "empty module path",
		  "tasks = { t = { queue = \"mail\"; module = {\n"
		  "  path = \"\"; symbol = \"run\"; }; }; };\n",
		  ":4: tasks.t.module.path: must not be empty" },
		{ "no handler",
		  "tasks = { t = { queue = \"mail\"; }; };\n",
		  ":3: tasks.t: missing handler" },
		{ "unrecognized setting",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  timout = \"1s\"; }; };\n",
		  ":4: tasks.t.timout: unrecognized setting" },
		{ "out of range",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  retry = { max_attempts = 0; }; }; };\n",
		  ":4: tasks.t.retry.max_attempts: 0 is out of range (1 to 1000)" },
		{ "jitter out of range",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  retry = { jitter = 1.5; }; }; };\n",
		  ":4: tasks.t.retry.jitter: 1.5 is out of range (0 to 1)" },
		{ "whole factor out of range",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  retry = { factor = 1000000000; }; }; };\n",
		  ":4: tasks.t.retry.factor: 1000000000 is out of range (1 to "
		  "100)" },
		{ "whole seconds over a year",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  timeout = 100000000; }; };\n",
		  ":4: tasks.t.timeout: invalid duration 100000000 (use 0 to "
		  "366 days in seconds)" },
		{ "duplicate top-level setting",
		  "tasks = {};\nqueues = {};\n",
		  ":4: duplicate setting name \"queues\" (a group may contain "
		  "each name only once)" },
		{ "duplicate setting after others on its line",
		  "tasks = { t = { exec = [ \"/bin/true\" ];\n"
		  "  queue = \"queue\"; timeout = 5; queue = \"mail\"; }; };\n",
		  ":4: duplicate setting name \"queue\"" },
		{ "duplicate group",
		  "tasks = { t = { queue = \"mail\";\n"
		  "  exec = [ \"/bin/true\" ]; }; t = {}; };\n",
		  ":4: duplicate setting name \"t\"" },
		{ "unknown event task",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = { Happened = [ \"t\",\n \"u\" ]; };\n",
		  ":5: events.Happened[1]: task \"u\" is not defined in tasks" },
		{ "schedule that never fires",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "periodic = { p = {\n schedule = \"0 0 31 2 *\"; task = \"t\"; }; };\n",
		  ":5: periodic.p.schedule: schedule \"0 0 31 2 *\" matches no "
		  "date in the next 8 years" },
		{ "syntax error",
		  "tasks = { t = { queue = ; }; };\n",
		  ":3: syntax error" },
		{ "bad log level",
		  "log_level = \"loud\";\ntasks = {};\n",
		  ":3: log_level: must be \"error\", \"warn\", \"info\" or \"debug\"" },
	};
	check_error_rows(*state, rows, sizeof rows / sizeof rows[0]);
}

/*
 * Herald names that a setting name cannot hold come from name (type for
 * an event), and references use them.
 */
static void
test_config_explicit_names(void **state)
{
	static const char text[] =
	    "job_db = \"dbname=herald\";\n"
	    "queues = {\n"
	    "  mail_v2 = { name = \"mail.v2\"; limit = 2; };\n"
	    "  plain = {};\n"
	    "};\n"
	    "tasks = {\n"
	    "  send = { name = \"mail.send\"; queue = \"mail.v2\";\n"
	    "    exec = [ \"/bin/true\" ]; };\n"
	    "  t = { queue = \"plain\"; exec = [ \"/bin/true\" ]; };\n"
	    "};\n"
	    "events = {\n"
	    "  orders_created = { type = \"orders.created\";\n"
	    "    tasks = [ \"mail.send\", \"t\" ]; };\n"
	    "  Plain = [ \"t\" ];\n"
	    "};\n"
	    "periodic = {\n"
	    "  nightly = { name = \"2fa:sweep\"; schedule = \"@daily\";\n"
	    "    task = \"mail.send\"; };\n"
	    "};\n";
	struct fixture			*f = *state;
	struct hd_config		*c;
	const struct hd_task_config	*t;

	c = load_text(f, text);
	if (c == NULL)
		print_error("%s\n", f->error);
	assert_non_null(c);

	assert_int_equal(c->nqueues, 2);
	assert_string_equal(c->queues[0].name, "mail.v2");
	assert_string_equal(c->queues[0].setting, "mail_v2");
	assert_int_equal(hd_config_queue(c, "mail.v2")->global_limit, 2);
	assert_null(hd_config_queue(c, "mail_v2"));
	assert_string_equal(c->queues[1].name, "plain");
	assert_string_equal(c->queues[1].setting, "plain");

	t = hd_config_task(c, "mail.send");
	assert_non_null(t);
	assert_string_equal(t->setting, "send");
	assert_string_equal(t->queue, "mail.v2");
	assert_null(hd_config_task(c, "send"));

	assert_int_equal(c->nevents, 2);
	assert_string_equal(c->events[0].type, "orders.created");
	assert_string_equal(c->events[0].setting, "orders_created");
	assert_true(c->events[0].group);
	assert_int_equal(c->events[0].ntasks, 2);
	assert_string_equal(c->events[0].tasks[0], "mail.send");
	assert_string_equal(c->events[1].type, "Plain");
	assert_false(c->events[1].group);

	assert_int_equal(c->nperiodic, 1);
	assert_string_equal(c->periodic[0].name, "2fa:sweep");
	assert_string_equal(c->periodic[0].setting, "nightly");
	assert_string_equal(c->periodic[0].task, "mail.send");
	hd_config_free(c);
}

static void
test_config_explicit_name_errors(void **state)
{
	static const struct error_row rows[] = {
		{ "explicit task name not a string",
		  "tasks = { t = {\n name = 5; queue = \"mail\";\n"
		  "  exec = [ \"/bin/true\" ]; }; };\n",
		  ":4: tasks.t.name: must be a string" },
		{ "bad explicit task name",
		  "tasks = { t = {\n name = \".t\"; queue = \"mail\";\n"
		  "  exec = [ \"/bin/true\" ]; }; };\n",
		  ":4: tasks.t.name: invalid task name \".t\"" },
		{ "duplicate task name",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; };\n"
		  "  u = {\n name = \"t\"; queue = \"mail\";\n"
		  "  exec = [ \"/bin/true\" ]; }; };\n",
		  ":5: tasks.u.name: task \"t\" is also the name of tasks.t "
		  "(line 3)" },
		{ "unknown queue of a named task",
		  "tasks = { t = { name = \"a.b\";\n queue = \"mail.v2\";\n"
		  "  exec = [ \"/bin/true\" ]; }; };\n",
		  ":4: tasks.t.queue: queue \"mail.v2\" is not defined in queues" },
		{ "bad event type",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = { e = {\n type = \"a/b\"; tasks = [ \"t\" ]; }; };\n",
		  ":5: events.e.type: invalid event type name \"a/b\"" },
		{ "duplicate event type",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = { e_1 = [ \"t\" ];\n e_2 = {\n type = \"e_1\";\n"
		  "  tasks = [ \"t\" ]; }; };\n",
		  ":6: events.e_2.type: event type \"e_1\" is also the name of "
		  "events.e_1 (line 4)" },
		{ "event group without tasks",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = {\n e = { type = \"a.b\"; }; };\n",
		  ":5: events.e: missing setting \"tasks\"" },
		{ "unknown setting of an event group",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = { e = { type = \"a.b\";\n name = \"x\"; }; };\n",
		  ":5: events.e.name: unrecognized setting" },
		{ "unknown task of a named event",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "events = { e = { type = \"a.b\"; tasks = [ \"t\",\n"
		  " \"t.2\" ]; }; };\n",
		  ":5: events.e.tasks[1]: task \"t.2\" is not defined in tasks" },
		{ "duplicate periodic name",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "periodic = { p = { schedule = \"@daily\"; task = \"t\"; };\n"
		  " q = { schedule = \"@daily\"; task = \"t\";\n"
		  " name = \"p\"; }; };\n",
		  ":6: periodic.q.name: periodic entry \"p\" is also the name of "
		  "periodic.p (line 4)" },
		{ "unknown task of a periodic entry",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n"
		  "periodic = { p = { name = \"p.1\"; schedule = \"@daily\";\n"
		  " task = \"t.1\"; }; };\n",
		  ":5: periodic.p.task: task \"t.1\" is not defined in tasks" },
		{ "dotted setting name",
		  "tasks = {};\nevents = {\n orders.created = [ \"t\" ]; };\n",
		  ":5: syntax error (a setting name may contain only letters, "
		  "digits, '_' and '-'; write the herald name with name = "
		  "\"orders.created\" inside the group, or type = "
		  "\"orders.created\" for an event)" },
		{ "setting name with a colon",
		  "tasks = {};\nperiodic = { a:b = {}; };\n",
		  ":4: syntax error (a setting name may contain only letters, "
		  "digits, '_' and '-'; write the herald name with name = "
		  "\"a:b\"" },
		{ "setting name with a leading digit",
		  "tasks = {};\nperiodic = {\n 2fa = {}; };\n",
		  ":5: syntax error (a setting name may contain only letters, "
		  "digits, '_' and '-'; write the herald name with name = "
		  "\"2fa\"" },
	};
	check_error_rows(*state, rows, sizeof rows / sizeof rows[0]);
}

/* Two queues with one herald name, and a syntax error without a hint. */
static void
test_config_duplicate_queue_and_plain_syntax_error(void **state)
{
	struct fixture	*f = *state;
	const char	*at;

	assert_null(load_text(f, "job_db = \"dbname=herald\";\n"
	    "queues = { mail = {};\n"
	    "  mail_2 = {\n name = \"mail\"; }; };\ntasks = {};\n"));
	at = f->error + strlen(f->path);
	assert_string_equal(at, ":4: queues.mail_2.name: queue \"mail\" is "
	    "also the name of queues.mail (line 2)");

	assert_null(load_text(f, "job_db = \"dbname=herald\";\n"
	    "queues = { q = {\n name = \"mail v2\"; }; };\ntasks = {};\n"));
	at = f->error + strlen(f->path);
	assert_non_null(strstr(at, ":3: queues.q.name: invalid queue name "
	    "\"mail v2\": a space at position 5"));

	/* A dot inside a string is no setting name. */
	assert_null(load_text(f, "job_db = \"host=a.b\" x;\n"
	    "queues = {};\ntasks = {};\n"));
	at = f->error + strlen(f->path);
	assert_string_equal(at, ":1: syntax error");
}

/*
 * Write contents to events.conf in the fixture's directory, its path to
 * include, and load a configuration that includes it, which must fail.
 */
static void
load_include(struct fixture *f, char *include, size_t size,
    const char *contents)
{
	char	 text[512];
	FILE	*fp;

	snprintf(include, size, "%s/events.conf", f->dir);
	fp = fopen(include, "w");
	assert_non_null(fp);
	fputs(contents, fp);
	fclose(fp);

	snprintf(text, sizeof text, "%stasks = {};\n@include \"%s\"\n",
	    small_prefix, include);
	assert_null(load_text(f, text));
}

/*
 * A syntax error with a hint in an included file names that file, as the
 * same error without a hint does.
 */
static void
test_config_include_hint_names_file(void **state)
{
	struct fixture	*f = *state;
	char		 include[160], expected[256];

	load_include(f, include, sizeof include,
	    "events = {\n orders.created = [ \"t\" ]; };\n");
	unlink(include);
	snprintf(expected, sizeof expected, "%s:2: syntax error (a setting "
	    "name may contain only letters", include);
	assert_memory_equal(f->error, expected, strlen(expected));
}

static void
write_file(const char *path, const char *contents)
{
	FILE	*fp;

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(contents, fp);
	fclose(fp);
}

/*
 * The fingerprint of a file changes with a file it includes, at any
 * depth, and with an included file that comes into being.
 */
static void
test_config_fingerprint_follows_includes(void **state)
{
	struct fixture	*f = *state;
	char		 outer[160], inner[160], text[512];
	uint64_t	 before;

	snprintf(outer, sizeof outer, "%s/outer.conf", f->dir);
	snprintf(inner, sizeof inner, "%s/inner.conf", f->dir);
	snprintf(text, sizeof text, "%stasks = {};\n@include \"%s\"\n",
	    small_prefix, outer);
	write_file(f->path, text);
	write_file(outer, "events = {};\n");
	before = hd_config_fingerprint(f->path);
	assert_true(hd_config_fingerprint(f->path) == before);

	write_file(outer, "events = { e = [ \"t\" ]; };\n");
	assert_true(hd_config_fingerprint(f->path) != before);

	snprintf(text, sizeof text, "  @include \"%s\"\n", inner);
	write_file(outer, text);
	before = hd_config_fingerprint(f->path);
	write_file(inner, "events = {};\n");
	assert_true(hd_config_fingerprint(f->path) != before);
	before = hd_config_fingerprint(f->path);
	unlink(inner);
	assert_true(hd_config_fingerprint(f->path) != before);
	unlink(outer);
}

/*
 * Load the fixture's file with hd_config_load_each(), the errors after
 * the first into *more, of *size bytes, which the caller frees.
 */
static struct hd_config *
load_each(struct fixture *f, char **more, size_t *size)
{
	struct hd_config	*config;
	FILE			*stream;

	*more = NULL;
	stream = open_memstream(more, size);
	assert_non_null(stream);
	config = hd_config_load_each(f->path, f->error, sizeof f->error,
	    stream);
	fclose(stream);
	return config;
}

/*
 * Every error of a file is reported: the first one as hd_config_load()
 * reports it, the others one per line, each queue, task and event type up
 * to its first error.
 */
static void
test_config_load_each_reports_every_error(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*config;
	char			*more = NULL;
	size_t			 size = 0;

	write_file(f->path,
	    "job_db = \"dbname=herald\";\n"
	    "log_level = \"loud\";\n"
	    "bogus = 1;\n"
	    "queues = { mail = { workers = -1; }; ok = {}; };\n"
	    "tasks = {\n"
	    "  a = { queue = \"mail\"; exec = [ \"bin/true\" ];\n"
	    "        timeout = \"x\"; };\n"
	    "  b = { queue = \"nope\"; exec = [ \"/bin/true\" ]; };\n"
	    "  c = { queue = \"ok\"; exec = [ \"/bin/true\" ]; };\n"
	    "};\n"
	    "events = { E = [ \"zz\" ]; F = [ \"c\" ]; };\n");
	config = load_each(f, &more, &size);
	assert_null(config);
	assert_non_null(strstr(f->error, ":3: bogus: unrecognized setting"));
	assert_non_null(strstr(more, ":2: log_level: must be"));
	assert_non_null(strstr(more, ":4: queues.mail.workers: -1 is out"));
	assert_non_null(strstr(more, ":7: tasks.a.timeout: invalid"));
	assert_null(strstr(more, "tasks.a.exec"));
	assert_non_null(strstr(more, ":8: tasks.b.queue: queue \"nope\""));
	assert_non_null(strstr(more, ":11: events.E[0]: task \"zz\""));
	assert_null(strstr(more, "bogus"));
	free(more);

	/* A top-level user that does not exist is named once, not per task. */
	write_file(f->path, "job_db = \"dbname=herald\";\n"
	    "user = \"no-such-user-of-herald\";\n"
	    "queues = { ok = {}; };\n"
	    "tasks = { a = { queue = \"ok\"; exec = [ \"/bin/true\" ]; };\n"
	    "  b = { queue = \"ok\"; exec = [ \"/bin/true\" ]; }; };\n");
	config = load_each(f, &more, &size);
	assert_null(config);
	assert_non_null(strstr(f->error, ":2: user: user "
	    "\"no-such-user-of-herald\" does not exist"));
	assert_int_equal(size, 0);
	free(more);

	/* A file without errors loads, and more stays empty. */
	write_file(f->path, "job_db = \"dbname=herald\";\n"
	    "queues = { ok = {}; };\ntasks = {};\n");
	config = load_each(f, &more, &size);
	assert_non_null(config);
	assert_int_equal(size, 0);
	hd_config_free(config);
	free(more);
}

/* A missing included file is named, with the reason it cannot be read. */
static void
test_config_include_missing_names_file(void **state)
{
	struct fixture	*f = *state;
	char		 rest[256], expected[256];

	snprintf(rest, sizeof rest, "tasks = {};\n@include \"%s/none.conf\"\n",
	    f->dir);
	snprintf(expected, sizeof expected, ":4: cannot open include file "
	    "\"%s/none.conf\": No such file or directory", f->dir);
	assert_string_equal(load_error(f, rest), expected);
}

/*
 * A duplicate setting in an included file is named with that file, unless
 * it repeats a setting of the including file, which the search misses.
 */
static void
test_config_include_duplicate_names_setting(void **state)
{
	struct fixture	*f = *state;
	char		 include[160], expected[256];

	load_include(f, include, sizeof include,
	    "events = {};\n\nevents = {};\n");
	snprintf(expected, sizeof expected, "%s:3: duplicate setting name "
	    "\"events\" (a group may contain each name only once)", include);
	assert_string_equal(f->error, expected);

	load_include(f, include, sizeof include, "tasks = {};\n");
	unlink(include);
	snprintf(expected, sizeof expected, "%s:1: duplicate setting name",
	    include);
	assert_string_equal(f->error, expected);
}

static void
test_config_missing_job_db(void **state)
{
	struct fixture	*f = *state;

	char	 expected[256];

	assert_null(load_text(f, "queues = {};\ntasks = {};\n"));
	snprintf(expected, sizeof expected, "%s: missing setting \"job_db\"",
	    f->path);
	assert_string_equal(f->error, expected);
}

/* libconfig 1.5 ends a comment only at a newline. */
static void
test_config_comment_at_end_without_newline(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;

	c = load_text(f, "job_db = \"dbname=herald\";\n"
	    "queues = {};\ntasks = {};\n# the last line");
	assert_non_null(c);
	hd_config_free(c);

	c = load_text(f, "job_db = \"dbname=herald\";\n"
	    "queues = {};\ntasks = {}; // the last line");
	assert_non_null(c);
	hd_config_free(c);
}

static void
test_config_directory_path(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;
	char			 expected[256];

	c = hd_config_load(f->dir, f->error, sizeof f->error);

	assert_null(c);
	snprintf(expected, sizeof expected, "%s: could not read configuration "
	    "file: it is a directory", f->dir);
	assert_string_equal(f->error, expected);
}

/* Write full_config padded with a comment to size bytes and load it. */
static struct hd_config *
load_padded(struct fixture *f, size_t size)
{
	size_t	 len = strlen(full_config);
	char	*text;
	FILE	*fp;

	assert_true(size > len + 2);
	text = malloc(size);
	assert_non_null(text);
	memcpy(text, full_config, len);
	text[len] = '#';
	memset(text + len + 1, 'x', size - len - 2);
	text[size - 1] = '\n';
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, size, fp), size);
	assert_int_equal(fclose(fp), 0);
	free(text);
	f->error[0] = '\0';
	return hd_config_load(f->path, f->error, sizeof f->error);
}

static void
test_config_size_limit(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;

	c = load_padded(f, HD_CONFIG_TEXT_MAX);
	assert_non_null(c);
	assert_int_equal(c->text_len, HD_CONFIG_TEXT_MAX);
	hd_config_free(c);

	c = load_padded(f, HD_CONFIG_TEXT_MAX + 1);
	assert_null(c);
	assert_non_null(strstr(f->error, "larger than 16 MiB"));
}

static void
test_config_missing_file(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;

	c = hd_config_load("/nonexistent/herald.conf", f->error,
	    sizeof f->error);

	assert_null(c);
	assert_string_equal(f->error, "/nonexistent/herald.conf: could not "
	    "read configuration file: No such file or directory");
}

static void
test_config_durations(void **state)
{
	static const struct {
		const char	*text;
		int		 ok;
		int64_t		 ms;
	} rows[] = {
		{ "250ms", 1, 250 },
		{ "5s", 1, 5000 },
		{ "2m", 1, 120000 },
		{ "1h", 1, 3600000 },
		{ "1.5s", 1, 1500 },
		{ "30", 1, 30000 },
		{ "0", 1, 0 },
		{ "", 0, 0 },
		{ "-1s", 0, 0 },
		{ "5 s", 0, 0 },
		{ "5d", 1, 5LL * 24 * 3600 * 1000 },
		{ "0.5d", 1, 12LL * 3600 * 1000 },
		{ "366d", 1, 366LL * 24 * 3600 * 1000 },
		{ "400d", -2, 0 },
		{ "5w", 0, 0 },
		{ "s", 0, 0 },
		{ "1e30h", -2, 0 },
		{ "nan", 0, 0 },
	};
	int64_t	ms;
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("\"%s\"\n", rows[i].text);
		ms = -42;
		if (rows[i].ok == 1) {
			assert_int_equal(hd_parse_duration_ms(rows[i].text,
			    &ms), 0);
			assert_int_equal(ms, rows[i].ms);
		} else {
			/* -2 marks a valid duration that is too long. */
			assert_int_equal(hd_parse_duration_ms(rows[i].text,
			    &ms), rows[i].ok == 0 ? -1 : -2);
			assert_int_equal(ms, -42);
		}
	}
}

static void
test_config_retention_and_limits(void **state)
{
	struct fixture			*f = *state;
	struct hd_config		*c;
	const struct hd_queue_config	*q;

	c = load_text(f, "job_db = \"\";\n"
	    "retention = { counters = \"2d\"; dead = \"0\"; "
	    "processes = \"30s\"; };\n"
	    "restart_limit = { failures = 3; window = \"10s\"; "
	    "cool_down = \"2m\"; };\n"
	    "queues = { q = { max_jobs = 100; max_rss = \"64MB\"; };\n"
	    "  r = { max_rss = 4096; }; };\n"
	    "tasks = {};\n");
	assert_non_null(c);

	assert_int_equal(c->keep_counters_ms, 2LL * 24 * 3600 * 1000);
	assert_int_equal(c->keep_dead_ms, 0);
	assert_int_equal(c->keep_processes_ms, 30000);
	assert_int_equal(c->restart_failures, 3);
	assert_int_equal(c->restart_window_ms, 10000);
	assert_int_equal(c->restart_cool_down_ms, 120000);
	q = hd_config_queue(c, "q");
	assert_int_equal(q->max_jobs, 100);
	assert_int_equal(q->max_rss, 64LL * 1024 * 1024);
	q = hd_config_queue(c, "r");
	assert_int_equal(q->max_jobs, 0);
	assert_int_equal(q->max_rss, 4096);
	hd_config_free(c);
}

static void
test_config_retention_defaults(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;

	c = load_text(f, "job_db = \"\";\nqueues = { q = {}; };\n"
	    "tasks = {};\n");
	assert_non_null(c);

	assert_int_equal(c->keep_counters_ms, HD_DEFAULT_KEEP_COUNTERS_MS);
	assert_int_equal(c->keep_dead_ms, HD_DEFAULT_KEEP_DEAD_MS);
	assert_int_equal(c->keep_processes_ms, HD_DEFAULT_KEEP_PROCESSES_MS);
	assert_int_equal(c->restart_failures, HD_DEFAULT_RESTART_FAILURES);
	assert_int_equal(c->restart_window_ms, HD_DEFAULT_RESTART_WINDOW_MS);
	assert_int_equal(c->restart_cool_down_ms,
	    HD_DEFAULT_RESTART_COOL_DOWN_MS);
	assert_int_equal(hd_config_queue(c, "q")->max_jobs, 0);
	assert_int_equal(hd_config_queue(c, "q")->max_rss, 0);
	hd_config_free(c);
}

static void
test_config_restart_cool_down_zero(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*c;

	c = load_text(f, "job_db = \"\";\n"
	    "restart_limit = { cool_down = 0; };\n"
	    "queues = { q = {}; };\ntasks = {};\n");
	assert_non_null(c);

	assert_int_equal(c->restart_cool_down_ms, 0);
	hd_config_free(c);
}

static void
test_config_limit_errors(void **state)
{
	static const struct error_row rows[] = {
		{ "bad size unit",
		  "queues = { q = { max_rss = \"5 parsecs\"; }; };\n",
		  ":3: queues.q.max_rss: invalid size \"5 parsecs\"" },
		{ "negative max_jobs",
		  "queues = { q = { max_jobs = -1; }; };\n",
		  ":3: queues.q.max_jobs: -1 is out of range" },
		{ "unrecognized retention",
		  "retention = { jobs = \"1d\"; };\n",
		  ":3: retention.jobs: unrecognized setting" },
		{ "short process retention",
		  "retention = { processes = \"20s\"; };\n",
		  ":3: retention.processes: must be at least 30s" },
		{ "zero restart failures",
		  "restart_limit = { failures = 0; };\n",
		  ":3: restart_limit.failures: 0 is out of range" },
		{ "short restart cool-down",
		  "restart_limit = { cool_down = \"500ms\"; };\n",
		  ":3: restart_limit.cool_down: must be 0, which leaves a "
		  "failed child to a reload, or at least 1s" },
		{ "invalid restart cool-down",
		  "restart_limit = { cool_down = \"soon\"; };\n",
		  ":3: restart_limit.cool_down: invalid duration \"soon\"" },
	};
	struct fixture	*f = *state;
	const char	*error;
	char		 text[512];
	size_t		 i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		print_message("%s\n", rows[i].name);
		/* small_prefix defines queues, so the queue rows replace it. */
		snprintf(text, sizeof text, "job_db = \"\";\ntasks = {};\n%s%s",
		    rows[i].rest, strstr(rows[i].rest, "queues") == NULL ?
		    "queues = {};\n" : "");
		assert_null(load_text(f, text));
		error = f->error + strlen(f->path);
		if (strstr(error, rows[i].expected) == NULL)
			print_error("got \"%s\"\n", error);
		assert_non_null(strstr(error, rows[i].expected));
	}
}

static void
test_config_isolation_settings(void **state)
{
	static const char text[] =
	    "job_db = \"\";\n"
	    "user = \"nobody\";\n"
	    "limits = { address_space = \"512MB\"; open_files = 64;\n"
	    "  cpu_time = \"90s\"; };\n"
	    "queues = { q = {}; };\n"
	    "tasks = {\n"
	    "  a = { queue = \"q\"; exec = [ \"/bin/true\" ];\n"
	    "    env = [ \"TZ\", \"HOME=/var/lib/shop\" ];\n"
	    "    limits = { open_files = 32; }; };\n"
	    "  b = { queue = \"q\"; exec = [ \"/bin/true\" ];\n"
	    "    user = \"root\"; group = \"nogroup\"; };\n"
	    "};\n";
	struct fixture		*f = *state;
	struct hd_config	*config;
	const struct hd_task_config *a, *b;

	config = load_text(f, text);
	if (config == NULL)
		print_error("%s\n", f->error);
	assert_non_null(config);
	a = hd_config_task(config, "a");
	b = hd_config_task(config, "b");

	assert_int_equal(a->nenv, 2);
	assert_string_equal(a->env[0], "TZ");
	assert_string_equal(a->env[1], "HOME=/var/lib/shop");
	assert_null(a->env[2]);
	assert_true(a->isolation.set_ids);
	assert_string_equal(a->isolation.user, "nobody");
	assert_int_not_equal(a->isolation.uid, 0);
	assert_true(a->isolation.ngroups >= 1);
	assert_int_equal(a->isolation.address_space, 512LL * 1024 * 1024);
	assert_int_equal(a->isolation.open_files, 32);
	assert_int_equal(a->isolation.cpu_time_s, 90);

	assert_int_equal(b->isolation.uid, 0);
	assert_string_equal(b->isolation.group, "nogroup");
	assert_int_not_equal(b->isolation.gid, 0);
	assert_int_equal(b->isolation.open_files, 64);
	assert_false(config->allow_root_handlers);
	hd_config_free(config);
}

static void
test_config_isolation_errors(void **state)
{
	static const struct error_row rows[] = {
		{ "unknown user",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  user = \"no_such_user_h3r\"; }; };\n",
		  ":4: tasks.t.user: user \"no_such_user_h3r\" does not exist" },
		{ "unknown top-level group",
		  "group = \"no_such_group_h3r\";\n"
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; }; };\n",
		  ":3: group: group \"no_such_group_h3r\" does not exist" },
		{ "empty user",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  user = \"\"; }; };\n",
		  ":4: tasks.t.user: must not be empty" },
		{ "bad variable name",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  env = [ \"TZ\", \"1X=2\" ]; }; };\n",
		  ":4: tasks.t.env[1]: invalid variable \"1X=2\"" },
		{ "reserved variable",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  env = [ \"HERALD_TASK=x\" ]; }; };\n",
		  ":4: tasks.t.env[0]: variable \"HERALD_TASK\" is set by heraldd" },
		{ "variable twice",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  env = [ \"TZ\", \"TZ=UTC\" ]; }; };\n",
		  ":4: tasks.t.env[1]: variable \"TZ\" is listed twice" },
		{ "tiny address space",
		  "limits = { address_space = 4096; };\ntasks = {};\n",
		  ":3: limits.address_space: must be at least 1MB" },
		{ "open files out of range",
		  "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ];\n"
		  "  limits = { open_files = 0; }; }; };\n",
		  ":4: tasks.t.limits.open_files: 0 is out of range (3 to 1048576)" },
		{ "short cpu time",
		  "limits = { cpu_time = \"10ms\"; };\ntasks = {};\n",
		  ":3: limits.cpu_time: must be at least 1s" },
		{ "unrecognized limit",
		  "limits = { stack = 1; };\ntasks = {};\n",
		  ":3: limits.stack: unrecognized setting" },
		{ "root opt-in not a boolean",
		  "allow_root_handlers = \"yes\";\ntasks = {};\n",
		  ":3: allow_root_handlers: must be true or false" },
	};
	check_error_rows(*state, rows, sizeof rows / sizeof rows[0]);
}

/* heraldd as root refuses root handlers unless the file allows them. */
static void
test_config_exec_must_be_executable(void **state)
{
	static const char *const programs[] = {
		"/nonexistent/program", "/etc/passwd", "/tmp"
	};
	struct fixture		*f = *state;
	struct hd_config	*config;
	char			 text[512], error[HD_CONFIG_ERROR_MAX];
	char			 expected[128];
	size_t			 i, next;

	for (i = 0; i < sizeof programs / sizeof programs[0]; i++) {
		print_message("%s\n", programs[i]);
		snprintf(text, sizeof text, "%sallow_root_handlers = true;\n"
		    "tasks = { t = { queue = \"mail\"; exec = [ \"%s\" ]; };"
		    " };\n", small_prefix, programs[i]);
		config = load_text(f, text);
		assert_non_null(config);
		next = 0;
		assert_int_equal(hd_config_check_programs(config, &next, error,
		    sizeof error), -1);
		snprintf(expected, sizeof expected, "tasks.t.exec: \"%s\" is "
		    "not an executable file", programs[i]);
		assert_non_null(strstr(error, expected));
		assert_int_equal(hd_config_check_programs(config, &next, error,
		    sizeof error), 0);
		hd_config_free(config);
	}
}

/* A module path that is not a readable file gets the same warning. */
static void
test_config_module_must_be_readable(void **state)
{
	static const char *const paths[] = {
		"/nonexistent/module.so", "/tmp"
	};
	struct fixture		*f = *state;
	struct hd_config	*config;
	char			 text[512], error[HD_CONFIG_ERROR_MAX];
	char			 expected[128];
	size_t			 i, next;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		print_message("%s\n", paths[i]);
		snprintf(text, sizeof text, "%sallow_root_handlers = true;\n"
		    "tasks = { t = { queue = \"mail\"; module = { path = "
		    "\"%s\"; symbol = \"f\"; }; }; };\n", small_prefix,
		    paths[i]);
		config = load_text(f, text);
		assert_non_null(config);
		next = 0;
		assert_int_equal(hd_config_check_programs(config, &next, error,
		    sizeof error), -1);
		snprintf(expected, sizeof expected, "tasks.t.module.path: "
		    "\"%s\" is not a readable file", paths[i]);
		assert_non_null(strstr(error, expected));
		assert_int_equal(hd_config_check_programs(config, &next, error,
		    sizeof error), 0);
		hd_config_free(config);
	}

	/* dlopen(3) searches the library path for a bare name. */
	snprintf(text, sizeof text, "%sallow_root_handlers = true;\n"
	    "tasks = { t = { queue = \"mail\"; module = { path = "
	    "\"libm.so.6\"; symbol = \"f\"; }; }; };\n", small_prefix);
	config = load_text(f, text);
	assert_non_null(config);
	next = 0;
	assert_int_equal(hd_config_check_programs(config, &next, error,
	    sizeof error), 0);
	hd_config_free(config);
}

static void
test_config_bad_conninfo(void **state)
{
	struct fixture	*f = *state;

	assert_null(load_text(f, "job_db = \"bogus==x password=secret\";\n"
	    "queues = {};\ntasks = {};\n"));
	assert_non_null(strstr(f->error, ":1: job_db: invalid connection "
	    "string"));
	assert_null(strstr(f->error, "secret"));
	assert_null(load_text(f, "job_db = \"dbname=jobs\";\n"
	    "app_db = \"host='/tmp\";\nqueues = {};\ntasks = {};\n"));
	assert_non_null(strstr(f->error, ":2: app_db: invalid connection "
	    "string"));
}

static void
test_config_check_root(void **state)
{
	static const char base[] =
	    "job_db = \"\";\nqueues = { q = {}; };\n";
	struct fixture		*f = *state;
	struct hd_config	*config;
	char			 text[512], error[HD_CONFIG_ERROR_MAX];

	snprintf(text, sizeof text, "%stasks = { t = { queue = \"q\";"
	    " exec = [ \"/bin/true\" ]; }; };\n", base);
	config = load_text(f, text);
	assert_non_null(config);
	assert_int_equal(hd_config_check_root(config, 0, error,
	    sizeof error), -1);
	assert_non_null(strstr(error, "tasks.t: the handler would run as "
	    "root"));
	assert_non_null(strstr(error, "allow_root_handlers = true"));
	assert_int_equal(hd_config_check_root(config, 1000, error,
	    sizeof error), 0);
	hd_config_free(config);

	snprintf(text, sizeof text, "%sallow_root_handlers = true;\n"
	    "tasks = { t = { queue = \"q\"; exec = [ \"/bin/true\" ]; }; };\n",
	    base);
	config = load_text(f, text);
	assert_non_null(config);
	assert_int_equal(hd_config_check_root(config, 0, error,
	    sizeof error), 0);
	hd_config_free(config);

	snprintf(text, sizeof text, "%suser = \"nobody\";\n"
	    "tasks = { t = { queue = \"q\"; exec = [ \"/bin/true\" ]; };\n"
	    " m = { queue = \"q\"; module = { path = \"/x.so\";"
	    " symbol = \"run\"; }; }; };\n", base);
	config = load_text(f, text);
	assert_non_null(config);
	assert_int_equal(hd_config_check_root(config, 0, error,
	    sizeof error), -1);
	assert_non_null(strstr(error, "tasks.m: a module handler runs inside "
	    "a worker, which runs as root like heraldd"));
	/* Another user cannot switch to nobody. */
	assert_int_equal(hd_config_check_root(config, 1000, error,
	    sizeof error), -1);
	assert_non_null(strstr(error, "needs heraldd to start as root"));
	hd_config_free(config);
}

/*
 * Messages about a task name the line of its setting: the module task's
 * is on line 4, its module on line 5 and the exec on line 7.  A control
 * byte of the file is written as \xHH, so that it cannot act on a
 * terminal.
 */
static void
test_config_messages_lines_and_controls(void **state)
{
	struct fixture		*f = *state;
	struct hd_config	*config;
	char			 text[512], error[HD_CONFIG_ERROR_MAX];
	char			 expected[256], include[160];
	const char		*e;
	size_t			 next = 0;

	snprintf(text, sizeof text, "%s"
	    "tasks = {\n"
	    "  m = { queue = \"mail\";\n"
	    "    module = { path = \"/x.so\"; symbol = \"run\"; }; };\n"
	    "  t = { queue = \"mail\";\n"
	    "    exec = [ \"/bin/tr\001ue\" ]; user = \"nobody\"; };\n"
	    "};\n", small_prefix);
	config = load_text(f, text);
	assert_non_null(config);
	assert_int_equal(hd_config_check_root(config, 0, error,
	    sizeof error), -1);
	snprintf(expected, sizeof expected, "%s:4: tasks.m: a module "
	    "handler runs inside a worker", f->path);
	assert_memory_equal(error, expected, strlen(expected));
	assert_int_equal(hd_config_check_programs(config, &next, error,
	    sizeof error), -1);
	snprintf(expected, sizeof expected, "%s:5: tasks.m.module.path: "
	    "\"/x.so\" is not a readable file", f->path);
	assert_string_equal(error, expected);
	assert_int_equal(hd_config_check_programs(config, &next, error,
	    sizeof error), -1);
	snprintf(expected, sizeof expected, "%s:7: tasks.t.exec: "
	    "\"/bin/tr\\x01ue\" is not an executable file", f->path);
	assert_string_equal(error, expected);
	hd_config_free(config);

	e = load_error(f, "tasks = { t = { queue = \"a\033[2J\";"
	    " exec = [ \"/bin/true\" ]; }; };\n");
	assert_non_null(strstr(e, "queue \"a\\x1b[2J\" is not defined"));
	assert_null(strchr(e, '\033'));

	/* libconfig finds both only where the file ends. */
	e = load_error(f, "app_db = \"dbname=shop;\n"
	    "tasks = { t = { queue = \"mail\"; exec = [ \"/bin/true\" ]; };"
	    " };\n");
	assert_non_null(strstr(e, "syntax error (the string that starts on "
	    "line 3 goes on past the end of that line"));
	e = load_error(f, "tasks = { t = { queue = \"mail\";\n"
	    "  exec = [ \"/bin/true\" ];\n"
	    "};\n");
	assert_non_null(strstr(e, "syntax error (the '{' on line 3 is never "
	    "closed)"));
	e = load_error(f, "tasks = { t = { queue = \"mail\";\n"
	    "  exec = [ \"/bin/true\" }; };\n");
	assert_non_null(strstr(e, "syntax error (the '[' on line 4 is closed "
	    "by '}' on line 4)"));
	/* A string may span lines; the hint comes only when one is open. */
	e = load_error(f, "app_db = \"dbname=shop\n port=5432\";\n"
	    "log_level = = \"info\";\n");
	assert_null(strstr(e, "("));
	/* A setting of an included file is named with that file. */
	load_include(f, include, sizeof include,
	    "events = {\n\n  Ordered = [ \"nosuch\" ]; };\n");
	unlink(include);
	snprintf(expected, sizeof expected, "%s:3: events.Ordered", include);
	assert_memory_equal(f->error, expected, strlen(expected));

	/* U+009B, a control in UTF-8, is escaped as well. */
	e = load_error(f, "tasks = { t = { queue = \"a\xc2\x9b\";"
	    " exec = [ \"/bin/true\" ]; }; };\n");
	assert_non_null(strstr(e, "queue \"a\\xc2\\x9b\" is not defined"));
}

static void
test_config_default_path_order(void **state)
{
	setenv("HERALD_CONFIG", "/tmp/from-env.conf", 1);
	assert_string_equal(hd_config_default_path("/x.conf"), "/x.conf");
	assert_string_equal(hd_config_default_path(NULL), "/tmp/from-env.conf");

	unsetenv("HERALD_CONFIG");
	assert_string_equal(hd_config_default_path(NULL),
	    SYSCONFDIR "/herald.conf");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_full_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_fingerprint_follows_includes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_load_each_reports_every_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_errors_name_line_and_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_exec_must_be_executable, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_module_must_be_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_conninfo,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_missing_job_db,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_comment_at_end_without_newline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_size_limit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_directory_path,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_missing_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_explicit_names,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_explicit_name_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_duplicate_queue_and_plain_syntax_error, setup,
		    teardown),
		cmocka_unit_test(test_config_durations),
		cmocka_unit_test_setup_teardown(test_config_retention_and_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_retention_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_restart_cool_down_zero,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_limit_errors,
		    setup, teardown),
		cmocka_unit_test(test_config_default_path_order),
		cmocka_unit_test_setup_teardown(test_config_isolation_settings,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_isolation_errors,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_include_hint_names_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_include_missing_names_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_include_duplicate_names_setting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_check_root,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_config_messages_lines_and_controls, setup, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
