/*
 * notify-listen.c: a stand-in for systemd's notify socket in the tests.
 *
 *	notify-listen SOCKET FILE
 *
 * It binds a unix datagram socket at the path SOCKET and appends each
 * datagram it receives, followed by a newline, to FILE, until it is
 * killed or 120 seconds pass.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un	addr;
	char			buf[4096];
	ssize_t			n;
	int			sock, out;

	if (argc != 3) {
		fprintf(stderr, "usage: notify-listen SOCKET FILE\n");
		return 2;
	}
	if (strlen(argv[1]) >= sizeof addr.sun_path) {
		fprintf(stderr, "notify-listen: socket path too long\n");
		return 2;
	}
	out = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
	sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (out == -1 || sock == -1) {
		perror("notify-listen");
		return 1;
	}
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, argv[1]);
	unlink(argv[1]);
	if (bind(sock, (struct sockaddr *)&addr, sizeof addr) == -1) {
		perror("notify-listen: bind");
		return 1;
	}
	alarm(120);
	while ((n = recv(sock, buf, sizeof buf - 1, 0)) >= 0) {
		buf[n++] = '\n';
		if (write(out, buf, (size_t)n) != n) {
			perror("notify-listen: write");
			return 1;
		}
	}
	perror("notify-listen: recv");
	return 1;
}
