/*
 * send-welcome: the exec handler of the send_welcome_email task.
 *
 *	send-welcome SPOOL_DIR
 *
 * It reads a UserRegistered payload ({"user_id", "email", "name"}) on
 * standard input and writes the welcome mail as an RFC 5322 message to
 * SPOOL_DIR/<event id>.eml, where a mail transfer agent would pick it up.
 * The file is written under a temporary name and renamed, so a retried
 * attempt replaces it and the spool never holds half a message.
 *
 * Exit 0 when the mail is in the spool, 65 (EX_DATAERR) for a payload
 * without an email, which no retry can fix, and 75 (EX_TEMPFAIL) when the
 * spool cannot be written, which a retry may get past.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

int
main(int argc, char **argv)
{
	const char	*event_id, *email, *name;
	json_error_t	 jerr;
	json_t		*user;
	char		 path[4096], tmp[4200], date[64];
	time_t		 now;
	FILE		*fp;

	if (argc != 2) {
		fprintf(stderr, "usage: send-welcome SPOOL_DIR\n");
		return EX_USAGE;
	}
	event_id = getenv("HERALD_EVENT_ID");
	if (event_id == NULL)
		event_id = getenv("HERALD_JOB_ID");
	if (event_id == NULL) {
		fprintf(stderr, "send-welcome: HERALD_EVENT_ID is not set\n");
		return EX_USAGE;
	}

	user = json_loadf(stdin, 0, &jerr);
	email = json_string_value(json_object_get(user, "email"));
	name = json_string_value(json_object_get(user, "name"));
	if (email == NULL || strchr(email, '\n') != NULL ||
	    (name != NULL && strchr(name, '\n') != NULL)) {
		fprintf(stderr, "send-welcome: payload has no valid email\n");
		return EX_DATAERR;
	}
	if (name == NULL)
		name = email;

	snprintf(path, sizeof path, "%s/%s.eml", argv[1], event_id);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	fp = fopen(tmp, "w");
	if (fp == NULL) {
		fprintf(stderr, "send-welcome: could not create \"%s\": %s\n",
		    tmp, strerror(errno));
		return EX_TEMPFAIL;
	}
	now = time(NULL);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000",
	    gmtime(&now));
	fprintf(fp, "From: Shop <welcome@shop.example>\r\n"
	    "To: %s <%s>\r\n"
	    "Subject: Welcome to the shop, %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s@shop.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "Hello %s,\r\n"
	    "\r\n"
	    "your account is ready.\r\n",
	    name, email, name, date, event_id, name);
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "send-welcome: could not write \"%s\": %s\n",
		    path, strerror(errno));
		unlink(tmp);
		return EX_TEMPFAIL;
	}
	json_decref(user);
	printf("queued %s\n", path);
	return 0;
}
