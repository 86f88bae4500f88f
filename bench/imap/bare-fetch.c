/*
 * bench/imap/bare-fetch: the floor rapport's IMAP ingest is compared to.
 * A minimal IMAP client on plain sockets that parses nothing it does not
 * have to: it skips literals by their announced length and stops at its
 * tagged reply.  No TLS, no libetpan, no allocation per message.
 *
 *   bare-fetch fetch HOST PORT USER PASS
 *	LOGIN, EXAMINE INBOX, one UID FETCH 1:* of the header fields rapport
 *	links with, read to the tagged OK.  Prints one line of key=value:
 *	messages, bytes (everything the server sent for the FETCH), the FETCH
 *	alone in seconds, and the whole session in seconds.
 *
 *   bare-fetch idle HOST PORT USER PASS [SAMPLES]
 *	One connection IDLEs on INBOX (EXAMINEd); a second one APPENDs a small
 *	message SAMPLES times (default 20).  Each sample is the time from just
 *	before the APPEND command to the IDLE connection's untagged EXISTS.
 *	Prints each sample, then median and worst, in milliseconds.
 *
 * Exit status 0, or 1 with a line on stderr: it is a benchmark tool, so any
 * surprise ends the run rather than being worked around.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FETCH_ITEMS "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (From To " \
	"Cc Reply-To Date Subject Message-ID In-Reply-To References " \
	"Auto-Submitted Precedence List-Id Content-Type)])"

/* Outside literals IMAP lines are short; a longer one means a broken peer. */
#define LINE_MAX_BYTES 65536

struct conn {
	const char	*name;		/* for messages: which connection */
	int		 fd;
	size_t		 off, len;	/* unread bytes are buf[off..len) */
	unsigned long long bytes;	/* everything received */
	unsigned long	 literals;	/* literals skipped */
	char		 buf[256 * 1024];
	char		 line[LINE_MAX_BYTES];
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bare-fetch: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
conn_open(struct conn *c, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		die("%s:%s: %s", host, port, gai_strerror(rc));
	c->fd = -1;
	for (ai = res; ai != NULL && c->fd == -1; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (c->fd != -1 && connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			close(c->fd);
			c->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (c->fd == -1)
		die("cannot connect to %s:%s: %s", host, port, strerror(errno));
	c->off = c->len = 0;
	c->bytes = 0;
	c->literals = 0;
}

/* conn_fill: at least one more byte in the buffer, or die. */
static void
conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->off == c->len)
		c->off = c->len = 0;
	else if (c->len == sizeof(c->buf)) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	do
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		die("read: %s", strerror(errno));
	if (n == 0)
		die("%s: the server closed the connection", c->name);
	c->len += (size_t)n;
	c->bytes += (unsigned long long)n;
}

static void
conn_send(struct conn *c, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(c->fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("write: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
}

static void
conn_printf(struct conn *c, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		die("command too long");
	conn_send(c, cmd, (size_t)n);
}

/* conn_line: the next line (CRLF included) into c->line, NUL-terminated;
 * returns its length. */
static size_t
conn_line(struct conn *c)
{
	size_t n = 0, take;
	char *nl;

	for (;;) {
		if (c->off == c->len)
			conn_fill(c);
		nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		take = nl != NULL ? (size_t)(nl - (c->buf + c->off)) + 1 :
		    c->len - c->off;
		if (n + take >= sizeof(c->line))
			die("a line of more than %d bytes", LINE_MAX_BYTES);
		memcpy(c->line + n, c->buf + c->off, take);
		n += take;
		c->off += take;
		if (nl != NULL)
			break;
	}
	c->line[n] = '\0';
	return n;
}

static void
conn_skip(struct conn *c, unsigned long long n)
{
	size_t take;

	while (n > 0) {
		if (c->off == c->len)
			conn_fill(c);
		take = c->len - c->off;
		if (take > n)
			take = (size_t)n;
		c->off += take;
		n -= take;
	}
}

/* literal_size: the N of a line ending in "{N}\r\n", or -1. */
static long long
literal_size(const char *line, size_t len)
{
	const char *p;

	if (len < 4 || strcmp(line + len - 3, "}\r\n") != 0)
		return -1;
	p = line + len - 4;
	while (p > line && *p >= '0' && *p <= '9')
		p--;
	if (*p != '{' || p == line + len - 4)
		return -1;
	return strtoll(p + 1, NULL, 10);
}

/*
 * conn_wait: reads responses until the line tagged TAG; literals are
 * skipped by length, so a message body can never pass for the tag.
 * Dies unless the reply is OK.  Counts the "* N FETCH" and remembers the
 * last "* N EXISTS" on the way.
 */
static void
conn_wait(struct conn *c, const char *tag, unsigned long *fetches,
    unsigned long *exists)
{
	size_t tl = strlen(tag), len;
	int line_start = 1;
	long long lit;

	for (;;) {
		len = conn_line(c);
		if (line_start && strncmp(c->line, tag, tl) == 0 &&
		    c->line[tl] == ' ') {
			if (strncmp(c->line + tl + 1, "OK", 2) != 0)
				die("%s", c->line);
			return;
		}
		if (line_start && c->line[0] == '*') {
			if (fetches != NULL && strstr(c->line, " FETCH (") != NULL)
				(*fetches)++;
			if (exists != NULL && strstr(c->line, " EXISTS\r") != NULL)
				*exists = strtoul(c->line + 2, NULL, 10);
		}
		lit = literal_size(c->line, len);
		if (lit >= 0) {
			conn_skip(c, (unsigned long long)lit);
			c->literals++;
			line_start = 0;	/* the line goes on after the literal */
		} else
			line_start = 1;
	}
}

static void
conn_login(struct conn *c, const char *user, const char *pass,
    unsigned long *exists)
{
	conn_line(c);
	if (strncmp(c->line, "* OK", 4) != 0)
		die("greeting: %s", c->line);
	if (strpbrk(user, "\"\\\r\n") != NULL || strpbrk(pass, "\"\\\r\n") != NULL)
		die("user and password must not hold quotes, backslashes or newlines");
	conn_printf(c, "L LOGIN \"%s\" \"%s\"\r\n", user, pass);
	conn_wait(c, "L", NULL, NULL);
	if (exists != NULL) {
		conn_printf(c, "E EXAMINE INBOX\r\n");
		conn_wait(c, "E", NULL, exists);
	}
}

static int
cmd_fetch(char **argv)
{
	static struct conn c;
	unsigned long exists = 0, fetches = 0;
	unsigned long long before;
	double t0, t1, t2;

	c.name = "connection";
	t0 = now_mono();
	conn_open(&c, argv[0], argv[1]);
	conn_login(&c, argv[2], argv[3], &exists);
	before = c.bytes - (c.len - c.off);
	t1 = now_mono();
	conn_printf(&c, "F UID FETCH 1:* " FETCH_ITEMS "\r\n");
	conn_wait(&c, "F", &fetches, NULL);
	t2 = now_mono();
	conn_printf(&c, "Z LOGOUT\r\n");
	close(c.fd);
	if (fetches != exists)
		die("%lu FETCH responses for %lu messages", fetches, exists);
	printf("messages=%lu bytes=%llu literals=%lu fetch_seconds=%.3f "
	    "session_seconds=%.3f\n", fetches, c.bytes - before, c.literals,
	    t2 - t1, t2 - t0);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* idle_append: one APPEND on B; returns the seconds until A saw EXISTS. */
static double
idle_append(struct conn *a, struct conn *b, int i, unsigned long *exists)
{
	char msg[1024], tag[16];
	unsigned long want = *exists + 1, got;
	double t0, t1;
	int n;

	n = snprintf(msg, sizeof(msg),
	    "From: Bare Idle <bare-idle@bench.example>\r\n"
	    "To: alice@example.com\r\n"
	    "Subject: bare idle sample %d\r\n"
	    "Message-ID: <bare-idle-%d-%ld@bench.example>\r\n"
	    "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
	    "\r\n"
	    "Sample %d of the bare IDLE client.\r\n", i, i, (long)getpid(), i);
	snprintf(tag, sizeof(tag), "A%d", i);
	t0 = now_mono();
	conn_printf(b, "%s APPEND INBOX {%d}\r\n", tag, n);
	conn_line(b);
	if (b->line[0] != '+')
		die("APPEND: %s", b->line);
	conn_send(b, msg, (size_t)n);
	conn_send(b, "\r\n", 2);
	for (;;) {
		conn_line(a);
		if (a->line[0] == '*' && strstr(a->line, " EXISTS\r") != NULL) {
			got = strtoul(a->line + 2, NULL, 10);
			if (got >= want)
				break;
		}
	}
	t1 = now_mono();
	*exists = got;
	conn_wait(b, tag, NULL, NULL);
	return t1 - t0;
}

static int
cmd_idle(char **argv, int samples)
{
	static struct conn a, b;
	unsigned long exists = 0;
	double *ms;
	int i;

	if (samples < 1 || samples > 10000)
		die("SAMPLES must be 1 to 10000");
	ms = calloc((size_t)samples, sizeof(*ms));
	if (ms == NULL)
		die("out of memory");
	a.name = "IDLE connection";
	b.name = "APPEND connection";
	conn_open(&a, argv[0], argv[1]);
	conn_login(&a, argv[2], argv[3], &exists);
	conn_printf(&a, "I IDLE\r\n");
	conn_line(&a);
	if (a.line[0] != '+')
		die("IDLE: %s", a.line);
	conn_open(&b, argv[0], argv[1]);
	conn_login(&b, argv[2], argv[3], NULL);
	for (i = 0; i < samples; i++) {
		ms[i] = 1000.0 * idle_append(&a, &b, i + 1, &exists);
		printf("sample=%d ms=%.2f\n", i + 1, ms[i]);
	}
	conn_printf(&a, "DONE\r\n");
	conn_wait(&a, "I", NULL, NULL);
	conn_printf(&b, "Z LOGOUT\r\n");
	close(a.fd);
	close(b.fd);
	qsort(ms, (size_t)samples, sizeof(*ms), cmp_double);
	printf("samples=%d median_ms=%.2f worst_ms=%.2f\n", samples,
	    samples % 2 ? ms[samples / 2] :
	    (ms[samples / 2 - 1] + ms[samples / 2]) / 2, ms[samples - 1]);
	free(ms);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "fetch") == 0)
		return cmd_fetch(argv + 2);
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "idle") == 0)
		return cmd_idle(argv + 2, argc == 7 ? atoi(argv[6]) : 20);
	fprintf(stderr, "usage: bare-fetch fetch HOST PORT USER PASS\n"
	    "       bare-fetch idle HOST PORT USER PASS [SAMPLES]\n");
	return 2;
}
