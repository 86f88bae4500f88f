/*
 * bench/send's ceiling: the least an SMTP client can do to deliver
 * pre-rendered messages, so that what it reaches is the sink's limit and
 * not the client's.  Each of C processes opens one plain connection,
 * says EHLO once, and then for each of its messages MAIL, RCPT, DATA and
 * the dot-stuffed message, one command at a time (no PIPELINING, as
 * rapportd), no RSET.  Prints "messages seconds messages/s".
 *
 *	bare-smtp [-c CONNECTIONS] [-n LIMIT] PORT DIR
 *
 * The messages are the *.eml files of DIR in numeric order, whole messages with CRLF
 * line ends as rapportd writes them in dry-run mode; the envelope is kim@sales.example to the
 * address of its To header.  Messages are read and dot-stuffed before
 * the clock starts.  Built only by bench/send/run, never by make.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* versionsort */
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg {
	char	*rcpt;
	char	*data;		/* dot-stuffed, ends with CRLF.CRLF */
	size_t	 len;
};

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		die(path);
	do {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 16384;
			if ((buf = realloc(buf, cap)) == NULL)
				die("realloc");
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

/* The address in <...> of the first To: line of the header, or a stand-in. */
static char *
to_address(const char *m, size_t len)
{
	const char *p = m, *end = m + len, *lt, *gt, *eol;

	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (eol - p <= 2)
			break;			/* the blank line */
		if (strncasecmp(p, "To:", 3) == 0 &&
		    (lt = memchr(p, '<', (size_t)(eol - p))) != NULL &&
		    (gt = memchr(lt, '>', (size_t)(eol - lt))) != NULL)
			return strndup(lt + 1, (size_t)(gt - lt - 1));
		p = eol + 1;
	}
	return strdup("reader@example.com");
}

static void
load(struct msg *m, const char *path)
{
	size_t len, o = 0;
	char *raw = slurp(path, &len);
	int bol = 1;

	m->rcpt = to_address(raw, len);
	if ((m->data = malloc(2 * len + 8)) == NULL)
		die("malloc");
	for (size_t i = 0; i < len; i++) {
		if (bol && raw[i] == '.')
			m->data[o++] = '.';
		m->data[o++] = raw[i];
		bol = raw[i] == '\n';
	}
	if (!bol) {
		m->data[o++] = '\r';
		m->data[o++] = '\n';
	}
	memcpy(m->data + o, ".\r\n", 3);
	m->len = o + 3;
	free(raw);
}

struct conn {
	int	fd;
	char	buf[4096];
	size_t	have;
};

static void
send_all(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

/* Reads one reply (all its lines); returns its code. */
static int
reply(struct conn *c)
{
	for (;;) {
		char *eol;

		while ((eol = memchr(c->buf, '\n', c->have)) != NULL) {
			size_t line = (size_t)(eol - c->buf) + 1;
			int last = line >= 4 && c->buf[3] != '-';
			int code = atoi(c->buf);

			memmove(c->buf, c->buf + line, c->have - line);
			c->have -= line;
			if (last)
				return code;
		}
		if (c->have == sizeof(c->buf))
			c->have = 0;	/* a silly long line: drop it */
		ssize_t n = read(c->fd, c->buf + c->have,
		    sizeof(c->buf) - c->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		c->have += (size_t)n;
	}
}

static void
command(struct conn *c, const char *cmd, int want)
{
	int code;

	send_all(c, cmd, strlen(cmd));
	if ((code = reply(c)) != want) {
		fprintf(stderr, "bare-smtp: %.*s: answered %d\n",
		    (int)strcspn(cmd, "\r"), cmd, code);
		exit(1);
	}
}

static void
worker(int port, const struct msg *v, size_t n, size_t first, size_t step)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	struct conn c = { .have = 0 };
	char cmd[600];
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	if (reply(&c) != 220)
		die("greeting");
	command(&c, "EHLO bare.example\r\n", 250);
	for (size_t i = first; i < n; i += step) {
		command(&c, "MAIL FROM:<kim@sales.example>\r\n", 250);
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", v[i].rcpt);
		command(&c, cmd, 250);
		command(&c, "DATA\r\n", 354);
		send_all(&c, v[i].data, v[i].len);
		if (reply(&c) != 250)
			die("end of data");
	}
	command(&c, "QUIT\r\n", 221);
	close(c.fd);
}

static int
is_message(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 4 &&
	    strcmp(d->d_name + len - 4, ".eml") == 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	size_t conns = 1, limit = 0, n;
	struct msg *v;
	struct dirent **names;
	char path[4096];
	int found;
	double t0, secs;
	int opt, port, status, failed = 0;

	while ((opt = getopt(argc, argv, "c:n:")) != -1)
		switch (opt) {
		case 'c':
			conns = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			limit = strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	if (argc - optind != 2 || conns == 0)
		goto usage;
	port = atoi(argv[optind]);
	if ((found = scandir(argv[optind + 1], &names, is_message,
	    versionsort)) < 0)
		die(argv[optind + 1]);
	n = (size_t)found;
	if (limit && limit < n)
		n = limit;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL)
		die("calloc");
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", argv[optind + 1],
		    names[i]->d_name);
		load(&v[i], path);
	}
	for (int i = 0; i < found; i++)
		free(names[i]);
	free(names);
	t0 = now();
	for (size_t k = 0; k < conns; k++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			worker(port, v, n, k, conns);
			_exit(0);
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	secs = now() - t0;
	if (failed)
		return 1;
	printf("%zu %.3f %.1f\n", n, secs, (double)n / secs);
	for (size_t i = 0; i < n; i++) {
		free(v[i].rcpt);
		free(v[i].data);
	}
	free(v);
	return 0;
usage:
	fprintf(stderr, "usage: bare-smtp [-c CONNECTIONS] [-n LIMIT] PORT "
	    "DIR\n");
	return 2;
}
