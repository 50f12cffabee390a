/*
 * starting-pg.c: a socket that rejects every connection as PostgreSQL
 * does while it starts up or shuts down, for the reconnection tests.
 *
 *	starting-pg DIR PORT starting|recovering|shutting
 *
 * It listens on DIR/.s.PGSQL.PORT, where libpq looks for host=DIR
 * port=PORT, and replies to each startup packet with a FATAL error of
 * SQLSTATE 57P03 and the message of the server's state, then closes the
 * connection.  It runs until it is killed.
 */

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The protocol codes of the requests that come before a startup packet. */
#define SSL_REQUEST_CODE	80877103
#define GSS_REQUEST_CODE	80877104

/* Read exactly len bytes; return -1 at the end of the stream. */
static int
read_full(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one packet of the startup phase and return its protocol code, or
 * -1 when the client went away or sent more than a startup packet holds.
 */
static long
read_startup(int fd)
{
	char		 body[10000];
	uint32_t	 len, code;

	if (read_full(fd, &len, sizeof len) == -1)
		return -1;
	len = ntohl(len);
	if (len < 8 || len - 4 > sizeof body ||
	    read_full(fd, body, len - 4) == -1)
		return -1;
	memcpy(&code, body, sizeof code);
	return (long)ntohl(code);
}

static void
reject(int fd, const char *message)
{
	char		 buf[256];
	uint32_t	 len;
	int		 n;

	/* An ErrorResponse: S, V, C and M fields, each ending in a NUL. */
	n = snprintf(buf + 5, sizeof buf - 5, "SFATAL%cVFATAL%cC57P03%cM%s%c",
	    0, 0, 0, message, 0);
	if (n < 0 || (size_t)n + 6 > sizeof buf)
		return;
	buf[0] = 'E';
	buf[5 + n] = '\0';
	len = htonl((uint32_t)n + 5);
	memcpy(buf + 1, &len, sizeof len);
	(void)write(fd, buf, (size_t)n + 6);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	 addr;
	struct timeval		 timeout = { 1, 0 };
	const char		*message;
	long			 code;
	int			 sock, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: starting-pg DIR PORT "
		    "starting|recovering|shutting\n");
		return 2;
	}
	if (strcmp(argv[3], "starting") == 0)
		message = "the database system is starting up";
	else if (strcmp(argv[3], "recovering") == 0)
		message = "the database system is not yet accepting "
		    "connections";
	else if (strcmp(argv[3], "shutting") == 0)
		message = "the database system is shutting down";
	else {
		fprintf(stderr, "starting-pg: invalid state \"%s\"\n",
		    argv[3]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/.s.PGSQL.%s",
	    argv[1], argv[2]) >= (int)sizeof addr.sun_path) {
		fprintf(stderr, "starting-pg: socket path too long\n");
		return 1;
	}
	if ((sock = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(sock, (struct sockaddr *)&addr, sizeof addr) == -1 ||
	    listen(sock, 16) == -1) {
		perror("starting-pg");
		return 1;
	}
	for (;;) {
		if ((fd = accept(sock, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("starting-pg: accept");
			return 1;
		}
		/* A client that sends nothing delays the others 1 s at most. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
		    sizeof timeout);
		/* Encryption is declined, as a server without it does. */
		while ((code = read_startup(fd)) == SSL_REQUEST_CODE ||
		    code == GSS_REQUEST_CODE)
			if (write(fd, "N", 1) != 1)
				break;
		if (code != -1)
			reject(fd, message);
		close(fd);
	}
}
