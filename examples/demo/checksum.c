/*
 * checksum: a demo handler that computes the SHA-256 of a file in a spool
 * directory.
 *
 *	checksum SPOOL_DIR
 *
 * The payload on standard input is { "path": "inputs/file-001.dat" }, a
 * path relative to SPOOL_DIR.  The digest is written to
 * SPOOL_DIR/checksums/NAME.sha256 in sha256sum's format, so that
 * "sha256sum -c checksums/NAME.sha256", run in SPOOL_DIR, verifies it.
 *
 * A missing input file exits 65 (EX_DATAERR): retrying cannot help until
 * someone creates the file, so the job goes straight to the dead-letter
 * queue, from where an operator retries it.  Other read errors exit 74
 * (EX_IOERR), an ordinary failed attempt.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Accept only relative paths without "..", so a job stays in the spool. */
static bool
path_is_inside(const char *path)
{
	const char	*p;

	if (path[0] == '\0' || path[0] == '/')
		return false;
	for (p = path; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return false;
	}
	return true;
}

/* Store the hex SHA-256 of f in hex (65 bytes); 0 or -1 on a read error. */
static int
sha256_file(FILE *f, char *hex)
{
	unsigned char	 buf[65536], digest[EVP_MAX_MD_SIZE];
	unsigned int	 len, i;
	EVP_MD_CTX	*ctx;
	size_t		 n;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		EVP_DigestUpdate(ctx, buf, n);
	if (ferror(f) || EVP_DigestFinal_ex(ctx, digest, &len) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	EVP_MD_CTX_free(ctx);

	for (i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return 0;
}

static int
write_digest(const char *spool, const char *path, const char *hex)
{
	const char	*name = strrchr(path, '/');
	char		 dir[4096], out[4096], tmp[4096];
	FILE		*f;

	name = name != NULL ? name + 1 : path;
	if (snprintf(dir, sizeof dir, "%s/checksums", spool) >=
	    (int)sizeof dir ||
	    snprintf(out, sizeof out, "%s/%s.sha256", dir, name) >=
	    (int)sizeof out ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.sha256.tmp", dir, name) >=
	    (int)sizeof tmp) {
		fprintf(stderr, "checksum: path is too long\n");
		return EX_DATAERR;
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "checksum: could not create %s: %s\n", dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}

	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "checksum: could not create %s: %s\n", tmp,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	fprintf(f, "%s  %s\n", hex, path);
	if (fclose(f) == EOF || rename(tmp, out) == -1) {
		fprintf(stderr, "checksum: could not write %s: %s\n", out,
		    strerror(errno));
		remove(tmp);
		return EX_IOERR;
	}
	printf("%s  %s\n", hex, path);
	return EX_OK;
}

static int
checksum(const char *spool, const char *path)
{
	char	 full[4096], hex[2 * EVP_MAX_MD_SIZE + 1];
	FILE	*f;
	int	 failed;

	if (snprintf(full, sizeof full, "%s/%s", spool, path) >=
	    (int)sizeof full) {
		fprintf(stderr, "checksum: path is too long\n");
		return EX_DATAERR;
	}
	f = fopen(full, "rb");
	if (f == NULL && errno == ENOENT) {
		fprintf(stderr, "checksum: input file \"%s\" not found\n",
		    path);
		return EX_DATAERR;
	}
	if (f == NULL) {
		fprintf(stderr, "checksum: could not open \"%s\": %s\n", path,
		    strerror(errno));
		return EX_IOERR;
	}
	failed = sha256_file(f, hex);
	fclose(f);
	if (failed) {
		fprintf(stderr, "checksum: could not read \"%s\"\n", path);
		return EX_IOERR;
	}
	return write_digest(spool, path, hex);
}

int
main(int argc, char **argv)
{
	json_error_t	 error;
	json_t		*payload, *path;
	int		 status;

	if (argc != 2) {
		fprintf(stderr, "usage: checksum SPOOL_DIR\n");
		return EX_USAGE;
	}

	payload = json_loadf(stdin, 0, &error);
	path = json_object_get(payload, "path");
	if (!json_is_string(path)) {
		fprintf(stderr, "checksum: payload needs a string field "
		    "\"path\"\n");
		json_decref(payload);
		return EX_DATAERR;
	}
	if (!path_is_inside(json_string_value(path))) {
		fprintf(stderr, "checksum: path \"%s\" must be relative and "
		    "must not contain \"..\"\n", json_string_value(path));
		json_decref(payload);
		return EX_DATAERR;
	}

	status = checksum(argv[1], json_string_value(path));
	json_decref(payload);
	return status;
}
