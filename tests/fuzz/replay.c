/*
 * replay.c: run one fuzz target on every file of its corpus, for make
 * check, which needs no clang: a file that once crashed a target stays a
 * regression test.
 *
 *	fuzz_NAME [DIR]	(default $HERALD_SRCDIR/tests/fuzz/corpus/NAME)
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target's corpus"
#endif

static int
replay_file(const char *path)
{
	FILE	*fp;
	uint8_t	*data = NULL;
	size_t	 size = 0, got;
	uint8_t	 chunk[4096];

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: could not open \"%s\"\n", path);
		return -1;
	}
	while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
		if ((data = realloc(data, size + got)) == NULL)
			abort();
		memcpy(data + size, chunk, got);
		size += got;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(data != NULL ? data : chunk, size);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*srcdir = getenv("HERALD_SRCDIR");
	char		 dir[1024], path[2048];
	struct dirent	*entry;
	DIR		*d;
	int		 n = 0;

	if (argc > 1)
		snprintf(dir, sizeof dir, "%s", argv[1]);
	else
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s",
		    srcdir != NULL ? srcdir : ".", FUZZ_NAME);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: could not open corpus \"%s\"\n", dir);
		return 1;
	}
	while ((entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
		if (replay_file(path) == -1) {
			closedir(d);
			return 1;
		}
		n++;
	}
	closedir(d);
	printf("%s: %d inputs replayed\n", FUZZ_NAME, n);
	return n > 0 ? 0 : 1;
}
