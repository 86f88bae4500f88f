/*
 * smtp-probe: drives one smtp_session for tests/integration/smtp_session.sh.
 *
 *   smtp-probe [--smtps] [--tls-none] [--no-verify] [--ca-file F]
 *              [--user U] [--password-file F] [--token-file F]
 *              [--auth default|plain|login|xoauth2|none] [--timeout S]
 *              [--helo NAME] HOST PORT < SCRIPT
 *
 * Opens the session (prints "open ok" or "open fail: WHY" and exits 1),
 * then runs SCRIPT, one command a line:
 *   send FROM RCPT[,RCPT...] FILE  -> "send STATUS CODE TEXT", then
 *                                     "refused N STATUS CODE TEXT" each
 *   reset                          -> "reset ok" | "reset fail: WHY"
 *   noop                           -> "alive yes" | "alive no: WHY"
 *   echo TEXT                      -> TEXT
 *   wait FILE                      -> returns once FILE exists (30 s max)
 * Every output line is flushed at once, so a test can wait for it.
 * The endpoint is filled from the command line, not from a config file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "smtp_session.h"
#include "xmalloc.h"

static const char *status_names[] = {
	[SMTP_OK] = "OK", [SMTP_TEMPFAIL] = "TEMPFAIL",
	[SMTP_PERMFAIL] = "PERMFAIL", [SMTP_CONNECTION] = "CONNECTION",
};

static void
usage(void)
{
	fprintf(stderr, "usage: smtp-probe [options] HOST PORT < SCRIPT\n");
	exit(2);
}

static enum config_auth
auth_parse(const char *a)
{
	if (strcmp(a, "plain") == 0)
		return AUTH_PLAIN;
	if (strcmp(a, "login") == 0)
		return AUTH_LOGIN;
	if (strcmp(a, "xoauth2") == 0)
		return AUTH_XOAUTH2;
	if (strcmp(a, "none") == 0)
		return AUTH_NONE;
	if (strcmp(a, "default") == 0)
		return AUTH_DEFAULT;
	usage();
	return AUTH_DEFAULT;
}

static int
parse_args(int argc, char **argv, struct endpoint *ep, const char **helo)
{
	int i;

	ep->kind = "smtp";
	ep->tls_verify = true;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "--smtps") == 0)
			ep->implicit_tls = true;
		else if (strcmp(o, "--tls-none") == 0)
			ep->tls = TLS_NONE;
		else if (strcmp(o, "--no-verify") == 0)
			ep->tls_verify = false;
		else if (v == NULL)
			usage();
		else if (strcmp(o, "--ca-file") == 0)
			ep->ca_file = xstrdup(v), i++;
		else if (strcmp(o, "--user") == 0)
			ep->user = xstrdup(v), i++;
		else if (strcmp(o, "--password-file") == 0)
			ep->password_file = xstrdup(v), i++;
		else if (strcmp(o, "--token-file") == 0)
			ep->token_file = xstrdup(v), i++;
		else if (strcmp(o, "--auth") == 0)
			ep->auth = auth_parse(v), i++;
		else if (strcmp(o, "--timeout") == 0)
			ep->timeout = atoi(v), i++;
		else if (strcmp(o, "--helo") == 0)
			*helo = v, i++;
		else
			usage();
	}
	if (argc - i != 2)
		usage();
	ep->host = xstrdup(argv[i]);
	ep->port = atoi(argv[i + 1]);
	return 0;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	do {
		if (*len == cap)
			buf = xreallocarray(buf, cap = cap ? cap * 2 : 4096, 1);
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	fclose(f);
	return buf;
}

static void
do_send(struct smtp_session *s, char *args)
{
	char *from = strtok(args, " "), *list = strtok(NULL, " "),
	    *file = strtok(NULL, " \n"), *p, *data;
	const char *rcpts[16];
	size_t n = 0, len, i;
	struct smtp_reply r;

	if (from == NULL || list == NULL || file == NULL) {
		printf("send usage: send FROM RCPT[,RCPT] FILE\n");
		return;
	}
	for (p = strtok(list, ","); p != NULL && n < 16; p = strtok(NULL, ","))
		rcpts[n++] = p;
	if ((data = slurp(file, &len)) == NULL) {
		printf("send cannot read %s\n", file);
		return;
	}
	smtp_session_send(s, from, rcpts, n, data, len, &r);
	printf("send %s %d %s\n", status_names[r.status], r.code, r.text);
	for (i = 0; i < r.n_refused; i++)
		printf("refused %zu %s %d %s\n", r.refused[i].index,
		    status_names[r.refused[i].status], r.refused[i].code,
		    r.refused[i].text);
	smtp_reply_clear(&r);
	free(data);
}

static void
do_wait(const char *path)
{
	struct stat st;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 3000 && stat(path, &st) < 0; i++)
		nanosleep(&ts, NULL);
}

static void
run_script(struct smtp_session *s)
{
	char line[4096];

	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "send ", 5) == 0)
			do_send(s, line + 5);
		else if (strcmp(line, "reset") == 0) {
			if (smtp_session_reset(s) == 0)
				printf("reset ok\n");
			else
				printf("reset fail: %s\n",
				    smtp_session_error(s));
		} else if (strcmp(line, "noop") == 0) {
			if (smtp_session_alive(s))
				printf("alive yes\n");
			else
				printf("alive no: %s\n", smtp_session_error(s));
		} else if (strncmp(line, "echo ", 5) == 0)
			printf("%s\n", line + 5);
		else if (strncmp(line, "wait ", 5) == 0)
			do_wait(line + 5);
		else if (line[0] != '\0')
			printf("unknown command: %s\n", line);
		fflush(stdout);
	}
}

static void
endpoint_free(struct endpoint *ep)
{
	free(ep->host);
	free(ep->user);
	free(ep->password_file);
	free(ep->token_file);
	free(ep->ca_file);
}

int
main(int argc, char **argv)
{
	struct endpoint ep;
	struct smtp_session *s;
	const char *helo = NULL;
	char err[1024];

	signal(SIGPIPE, SIG_IGN);
	log_init("smtp-probe", getenv("SMTP_PROBE_DEBUG") != NULL);
	if (getenv("SMTP_PROBE_DEBUG") != NULL)
		log_set_trace(TRACE_SMTP);
	memset(&ep, 0, sizeof ep);
	parse_args(argc, argv, &ep, &helo);
	s = smtp_session_open(&ep, helo, err, sizeof err);
	if (s == NULL) {
		printf("open fail: %s\n", err);
		endpoint_free(&ep);
		return 1;
	}
	printf("open ok\n");
	fflush(stdout);
	run_script(s);
	smtp_session_close(s);
	endpoint_free(&ep);
	return 0;
}
