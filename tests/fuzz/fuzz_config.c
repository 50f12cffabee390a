/*
 * fuzz_config.c: hd_config_load() on any file.  It either returns a
 * configuration or an error that starts with the file's path.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/*
 * NOTE: libconfig 1.5 (Debian 12) leaks the string it was reading when a
 * string is where a setting name belongs, such as a file holding
 * only "" (corpus/config/leak-string-name).  The leak is in the library
 * and a few bytes per failed load, so LeakSanitizer skips it here.
 */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* The file every input is written to, for the configuration loader. */
static char	path[64];

static void
remove_path(void)
{
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			 error[HD_CONFIG_ERROR_MAX];
	struct hd_config	*config;
	FILE			*fp;
	int			 fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof path, "/tmp/herald-fuzz-config.XXXXXX");
		if ((fd = mkstemp(path)) == -1)
			abort();
		close(fd);
		atexit(remove_path);
	}
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, fp);
	fclose(fp);

	error[0] = '\0';
	config = hd_config_load(path, error, sizeof error);
	if (config == NULL && strncmp(error, path, strlen(path)) != 0)
		abort();
	hd_config_free(config);
	return 0;
}
