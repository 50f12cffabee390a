/*
 * provision-account: the exec handler of the provision_account task.
 *
 *	provision-account DIR
 *
 * It reads a UserRegistered payload on standard input and creates the
 * user's home directory DIR/<user_id> with a small profile file, as a
 * stand-in for provisioning storage on another system.  Doing it twice
 * leaves the same result, so a retried attempt is harmless.
 *
 * Exit 0 when done, 65 (EX_DATAERR) for a payload without a user_id, and
 * 75 (EX_TEMPFAIL) when DIR cannot be written.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <jansson.h>

int
main(int argc, char **argv)
{
	const char	*user_id, *email;
	json_error_t	 jerr;
	json_t		*user;
	char		 home[4096], profile[4200];
	FILE		*fp;

	if (argc != 2) {
		fprintf(stderr, "usage: provision-account DIR\n");
		return EX_USAGE;
	}
	user = json_loadf(stdin, 0, &jerr);
	user_id = json_string_value(json_object_get(user, "user_id"));
	email = json_string_value(json_object_get(user, "email"));
	if (user_id == NULL || strspn(user_id, "0123456789") !=
	    strlen(user_id) || email == NULL) {
		fprintf(stderr, "provision-account: payload has no valid "
		    "user_id and email\n");
		return EX_DATAERR;
	}

	snprintf(home, sizeof home, "%s/%s", argv[1], user_id);
	if (mkdir(home, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "provision-account: could not create \"%s\": "
		    "%s\n", home, strerror(errno));
		return EX_TEMPFAIL;
	}
	snprintf(profile, sizeof profile, "%s/profile", home);
	fp = fopen(profile, "w");
	if (fp == NULL || fprintf(fp, "email=%s\n", email) < 0 ||
	    fclose(fp) != 0) {
		fprintf(stderr, "provision-account: could not write \"%s\"\n",
		    profile);
		return EX_TEMPFAIL;
	}
	json_decref(user);
	return 0;
}
