/*
 * imap-probe: drives connectors/imap_session against a real server and
 * prints what it saw, one fact per line, for tests/integration/
 * imap_session.sh to assert on.
 *
 *   imap-probe [-H host] [-p port] [-m imaps|starttls|none] [-u user]
 *              [-P password | -F password_file] [-a default|login|plain|
 *              xoauth2] [-c ca_file] [-k] [-t timeout] [-b batch] [-T]
 *              COMMAND [ARG...]
 *
 *   caps                           capabilities after login
 *   examine FOLDER [UIDVALIDITY MODSEQ]   state (and VANISHED with QRESYNC)
 *   status FOLDER                  STATUS, the folder not examined
 *   headers FOLDER [FROM [TO]]     one line per message (parsed headers)
 *   excerpt FOLDER UID [MAX]       the first text of one message
 *   changed FOLDER MODSEQ          CHANGEDSINCE: changed UIDs, vanished
 *   idle FOLDER SECONDS            prints "idling", then what happened
 *
 * Exit status: 0 done, 1 a command failed, 2 connect/login failed,
 * 64 usage.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "imap_session.h"
#include "log.h"
#include "message.h"

static void
usage(void)
{
	fprintf(stderr, "usage: imap-probe [-H host] [-p port] "
	    "[-m imaps|starttls|none] [-u user] [-P pass|-F file] [-a auth] "
	    "[-c ca_file] [-k] [-t timeout] [-b batch] [-T] COMMAND ...\n");
	exit(64);
}

/* Prints s on one line (control characters as '?'). */
static void
print_clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
}

struct probe {
	struct message	last;		/* for excerpt: headers first */
	bool		have_last;
};

static int
on_header(void *ctx, const struct imap_fetched *f)
{
	struct probe *p = ctx;
	struct message m;

	message_parse(&m, f->data, f->len, NULL);
	message_set_date_fallback(&m, f->internaldate);
	printf("uid=%" PRIu32 " internaldate=%" PRId64 " modseq=%" PRIu64
	    " from=%s msgid=%s subject=", f->uid, f->internaldate, f->modseq,
	    m.from.n ? m.from.v[0].addr : "-", m.message_id);
	print_clean(m.subject, strlen(m.subject));
	putchar('\n');
	if (p->have_last)
		message_free(&p->last);
	p->last = m;
	p->have_last = true;
	return 0;
}

static int
on_batch(void *ctx, uint32_t last_uid)
{
	(void)ctx;
	printf("batch last=%" PRIu32 "\n", last_uid);
	return 0;
}

static int
on_text(void *ctx, const struct imap_fetched *f)
{
	struct probe *p = ctx;

	printf("text uid=%" PRIu32 " bytes=%zu\n", f->uid, f->len);
	if (!p->have_last)
		return 0;
	message_parse_body(&p->last, f->data, f->len, NULL);
	printf("excerpt=");
	if (p->last.excerpt)
		print_clean(p->last.excerpt, strlen(p->last.excerpt));
	putchar('\n');
	return 0;
}

static int
on_changed(void *ctx, const struct imap_fetched *f)
{
	(void)ctx;
	printf("changed uid=%" PRIu32 " modseq=%" PRIu64 "\n", f->uid,
	    f->modseq);
	return 0;
}

static void
print_ranges(const char *label, const struct imap_uid_range *v, size_t n)
{
	printf("%s=", label);
	for (size_t i = 0; i < n; i++) {
		if (v[i].first == v[i].last)
			printf("%s%" PRIu32, i ? "," : "", v[i].first);
		else
			printf("%s%" PRIu32 ":%" PRIu32, i ? "," : "",
			    v[i].first, v[i].last);
	}
	putchar('\n');
}

static int
examine(struct imap_session *s, const char *folder, uint32_t uv,
    uint64_t modseq)
{
	struct imap_folder_state st;

	if (imap_session_examine(s, folder, uv, modseq, &st) != IMAP_OK) {
		fprintf(stderr, "imap-probe: %s\n", imap_session_error(s));
		return -1;
	}
	printf("uidvalidity=%" PRIu32 " uidnext=%" PRIu32 " exists=%" PRIu32
	    " highestmodseq=%" PRIu64 "\n", st.uidvalidity, st.uidnext,
	    st.exists, st.highestmodseq);
	if (st.vanished_valid)
		print_ranges("vanished", st.vanished, st.n_vanished);
	imap_folder_state_free(&st);
	return 0;
}

static int
status(struct imap_session *s, const char *folder)
{
	struct imap_folder_state st;

	if (imap_session_status(s, folder, &st) != IMAP_OK) {
		fprintf(stderr, "imap-probe: %s\n", imap_session_error(s));
		return -1;
	}
	printf("status uidvalidity=%" PRIu32 " uidnext=%" PRIu32
	    " messages=%" PRIu32 " highestmodseq=%" PRIu64 "\n",
	    st.uidvalidity, st.uidnext, st.exists, st.highestmodseq);
	imap_folder_state_free(&st);
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
run(struct imap_session *s, int argc, char **argv, unsigned batch)
{
	struct probe p = { .have_last = false };
	struct imap_fetch_handler h = { on_header, on_batch, &p };
	const char *cmd = argv[0];
	int rc = 0;

	if (strcmp(cmd, "caps") == 0) {
		unsigned c = imap_session_caps(s);

		printf("caps%s%s%s%s\n", c & IMAP_CAP_IDLE ? " IDLE" : "",
		    c & IMAP_CAP_CONDSTORE ? " CONDSTORE" : "",
		    c & IMAP_CAP_QRESYNC ? " QRESYNC" : "",
		    c & IMAP_CAP_ENABLE ? " ENABLE" : "");
		return 0;
	}
	if (argc < 2)
		usage();
	if (strcmp(cmd, "examine") == 0)
		return examine(s, argv[1], argc > 3 ? strtoul(argv[2], NULL,
		    10) : 0, argc > 3 ? strtoull(argv[3], NULL, 10) : 0) ?
		    1 : 0;
	if (strcmp(cmd, "status") == 0)
		return status(s, argv[1]) ? 1 : 0;
	if (examine(s, argv[1], 0, 0) < 0)
		return 1;
	if (strcmp(cmd, "headers") == 0) {
		rc = imap_session_fetch_headers(s, argc > 2 ? strtoul(argv[2],
		    NULL, 10) : 1, argc > 3 ? strtoul(argv[3], NULL, 10) : 0,
		    batch, &h);
	} else if (strcmp(cmd, "excerpt") == 0 && argc > 2) {
		uint32_t uid = strtoul(argv[2], NULL, 10);
		struct imap_fetch_handler th = { on_text, NULL, &p };

		rc = imap_session_fetch_headers(s, uid, uid, 1, &h);
		if (rc == IMAP_OK)
			rc = imap_session_fetch_excerpt(s, uid, argc > 3 ?
			    strtoul(argv[3], NULL, 10) : 4096, &th);
	} else if (strcmp(cmd, "changed") == 0 && argc > 2) {
		struct imap_fetch_handler ch = { on_changed, NULL, NULL };
		struct imap_uid_range *v;
		size_t n;

		rc = imap_session_fetch_changed_since(s, strtoull(argv[2],
		    NULL, 10), &ch, &v, &n);
		if (rc == IMAP_OK)
			print_ranges("vanished", v, n);
		free(v);
	} else if (strcmp(cmd, "idle") == 0 && argc > 2) {
		static const char *names[] = { "changed", "timeout", "woken",
		    "error" };
		int64_t t0 = now_ms();
		enum imap_idle_result r;

		printf("idling\n");
		fflush(stdout);
		r = imap_session_idle(s, atoi(argv[2]), -1);
		printf("idle: %s after %" PRId64 " ms\n", names[r],
		    now_ms() - t0);
		rc = r == IMAP_IDLE_ERROR ? IMAP_FAIL : IMAP_OK;
	} else {
		usage();
	}
	if (p.have_last)
		message_free(&p.last);
	if (rc != IMAP_OK) {
		fprintf(stderr, "imap-probe: %s\n", imap_session_error(s));
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct endpoint ep = {
		.name = "probe", .kind = "imap", .host = "127.0.0.1",
		.port = 143, .tls_verify = true, .timeout = 10,
	};
	const char *mode = "starttls";
	struct imap_session *s;
	unsigned batch = 500;
	char err[512];
	int c, rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("imap-probe", false);
	while ((c = getopt(argc, argv, "H:p:m:u:P:F:a:c:kt:b:T")) != -1) {
		switch (c) {
		case 'H': ep.host = optarg; break;
		case 'p': ep.port = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'u': ep.user = optarg; break;
		case 'P': ep.password = optarg; break;
		case 'F': ep.password_file = optarg; break;
		case 'c': ep.ca_file = optarg; break;
		case 'k': ep.tls_verify = false; break;
		case 't': ep.timeout = atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		case 'T': log_set_trace(TRACE_IMAP); break;
		case 'a':
			if (strcmp(optarg, "login") == 0)
				ep.auth = AUTH_LOGIN;
			else if (strcmp(optarg, "plain") == 0)
				ep.auth = AUTH_PLAIN;
			else if (strcmp(optarg, "xoauth2") == 0)
				ep.auth = AUTH_XOAUTH2;
			else if (strcmp(optarg, "none") == 0)
				ep.auth = AUTH_NONE;
			else
				ep.auth = AUTH_DEFAULT;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(mode, "imaps") == 0)
		ep.implicit_tls = true;
	else if (strcmp(mode, "none") == 0)
		ep.tls = TLS_NONE;
	if (ep.auth == AUTH_XOAUTH2)
		ep.token_file = ep.password_file;

	s = imap_session_open(&ep, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, "imap-probe: %s\n", err);
		return 2;
	}
	rc = run(s, argc, argv, batch);
	imap_session_close(s);
	fflush(stdout);
	return rc;
}
