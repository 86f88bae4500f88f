/* rapport.conf: loading, defaults, every error's file:line, secrets. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_value.h"
#include "tap.h"

#define BASE	"[rapport]\ndatabase = x.db\nfrom = kim@example.com\n"

static char tmpdir[PATH_MAX];
static char cpath[PATH_MAX + 16];
static char confdir[PATH_MAX];

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	chmod(path, mode);
}

static int
load_text(const char *text, struct config *c, char *err, size_t errlen)
{
	write_file(cpath, text, strlen(text), 0644);
	return config_load(cpath, c, err, errlen);
}

/* A config that must be refused with exactly "PATH" + want. */
static void
bad(const char *text, const char *want, const char *what)
{
	struct config c;
	char err[512], full[PATH_MAX + 600];
	int rc = load_text(text, &c, err, sizeof(err));

	snprintf(full, sizeof(full), "%s%s", cpath, want);
	is_int(rc, -1, "%s: refused", what);
	is_str(err, full, "%s: message", what);
	ok(c.path == NULL && c.imap == NULL && c.link.free_mail == NULL,
	    "%s: nothing left to free", what);
}

/* A config that must load; the caller checks and frees. */
static int
good(const char *text, struct config *c, const char *what)
{
	char err[512] = "";
	int rc = load_text(text, c, err, sizeof(err));

	if (!ok(rc == 0, "%s: loads", what))
		printf("#   %s\n", err);
	return rc;
}

static char *
in_conf(const char *rel)
{
	static char buf[PATH_MAX * 2];

	snprintf(buf, sizeof(buf), "%s/%s", confdir, rel);
	return buf;
}

static void
test_full(void)
{
	struct config c;
	char err[512] = "", path[PATH_MAX];
	const struct imap_account *w, *h;
	const struct smtp_account *s, *b;
	const struct caldav_account *d;
	size_t i;

	snprintf(path, sizeof(path), "%s/full.conf", CONF_DIR);
	if (!ok(config_load(path, &c, err, sizeof(err)) == 0, "full.conf loads")) {
		printf("#   %s\n", err);
		return;
	}
	is_str(c.path, path, "path as given");
	is_str(c.database, in_conf("data/rapport.db"), "database relative to the file");
	is_str(c.templates, "/etc/rapport/templates", "templates absolute kept");
	is_str(c.timezone, "Europe/Berlin", "timezone");
	is_str(c.from, "Kim Sales <kim@example.com>", "from");

	is_int(c.n_imap, 2, "two imap accounts");
	w = &c.imap[0];
	h = &c.imap[1];
	is_str(w->ep.name, "work", "imap name");
	is_str(w->ep.kind, "imap", "imap kind");
	is_str(w->ep.url, "imaps://IMAP.Example.com/", "url without its comment");
	is_str(w->ep.host, "imap.example.com", "host lowercased");
	is_int(w->ep.port, 993, "imaps default port");
	ok(w->ep.implicit_tls, "imaps is implicit TLS");
	is_str(w->ep.user, "kim", "user");
	ok(w->ep.password == NULL, "no inline password");
	is_str(w->ep.password_file, in_conf("secrets/imap-work"), "password_file relative");
	ok(w->ep.token_file == NULL, "no token_file");
	is_int(w->ep.auth, AUTH_LOGIN, "auth login");
	is_int(w->ep.tls, TLS_AUTO, "tls auto");
	ok(w->ep.tls_verify, "tls_verify yes");
	is_str(w->ep.ca_file, in_conf("ca.pem"), "ca_file relative");
	is_int(w->ep.timeout, 120, "timeout 2m");
	is_int(w->ep.line, 9, "section line");
	is_int(w->n_folders, 4, "four folders");
	if (w->n_folders == 4) {
		is_str(w->folders[0], "INBOX", "folder 1");
		is_str(w->folders[1], "Sent", "folder 2");
		is_str(w->folders[2], "Sent Items", "quoted folder keeps its blank");
		is_str(w->folders[3], "Archive", "folder after a comma");
	}
	is_int(w->n_idle_folders, 1, "one idle folder");
	is_str(w->idle_folders[0], "INBOX", "idle INBOX");
	is_int(w->poll, 600, "poll 10m");
	is_int(w->batch, 250, "batch");
	ok(w->sent, "sent defaults to true with a Sent folder");

	is_str(h->ep.name, "home", "indented section keys parse");
	is_str(h->ep.host, "127.0.0.1", "home host");
	is_int(h->ep.port, 1143, "explicit port");
	ok(!h->ep.implicit_tls, "imap is STARTTLS");
	is_int(h->ep.tls, TLS_NONE, "tls none on loopback");
	is_str(h->ep.password, "inline-secret", "inline password");
	is_int(h->ep.auth, AUTH_DEFAULT, "auth default");
	ok(h->ep.tls_verify, "tls_verify default");
	is_int(h->ep.timeout, 60, "timeout default");
	is_int(h->n_folders, 1, "one folder");
	is_int(h->poll, 300, "poll default");
	is_int(h->batch, 500, "batch default");
	ok(h->sent, "sent = on");

	is_int(c.n_smtp, 2, "two smtp accounts");
	s = &c.smtp[0];
	b = &c.smtp[1];
	is_str(s->ep.name, "default", "unnamed [smtp] is default");
	is_str(s->ep.kind, "smtp", "smtp kind");
	is_str(s->ep.host, "smtp.example.com", "smtp host");
	is_int(s->ep.port, 587, "submission port");
	ok(!s->ep.implicit_tls, "submission is STARTTLS");
	is_str(s->ep.password_file, "/run/credentials/rapportd.service/smtp", "absolute password_file");
	is_int(s->ep.auth, AUTH_PLAIN, "auth plain");
	ok(!s->ep.tls_verify, "tls_verify false");
	is_str(s->ep.ca_file, "/etc/ssl/private-ca.pem", "absolute ca_file");
	is_int(s->ep.timeout, 30, "bare timeout in seconds");
	is_str(s->from, "Kim <kim@sales.example.com>", "smtp from");
	is_int(s->connections, 3, "connections");
	is_str(s->sent_imap, "work", "sent_imap");
	is_str(s->sent_folder, "Sent Items", "sent_folder");
	is_str(b->ep.name, "bulk", "named smtp");
	is_str(b->ep.host, "2001:db8::25", "IPv6 host");
	is_int(b->ep.port, 4650, "IPv6 port");
	ok(b->ep.implicit_tls, "smtps implicit");
	is_int(b->ep.auth, AUTH_XOAUTH2, "token_file implies xoauth2");
	is_str(b->ep.token_file, in_conf("tokens/bulk"), "token_file relative");
	is_str(b->from, "Kim Sales <kim@example.com>", "smtp from defaults to [rapport] from");
	is_int(b->connections, 1, "connections default");
	ok(b->sent_imap == NULL, "sent_imap default");
	is_str(b->sent_folder, "Sent", "sent_folder default");

	is_int(c.n_caldav, 1, "one caldav");
	d = &c.caldav[0];
	is_str(d->ep.kind, "caldav", "caldav kind");
	is_str(d->ep.url, "https://dav.example.com/kim/", "caldav url");
	is_int(d->ep.port, 443, "https port");
	ok(d->ep.implicit_tls, "https implicit");
	is_str(d->ep.password_file, in_conf("secrets/dav"), "caldav password_file");
	is_int(d->ep.timeout, 90, "timeout 90s");
	is_int(d->n_calendars, 2, "two calendars");
	if (d->n_calendars == 2) {
		is_str(d->calendars[0], "Work", "calendar 1");
		is_str(d->calendars[1], "Team Visits", "calendar 2");
	}
	is_str(d->planning_calendar, "visits", "planning_calendar");
	is_int(d->window_past, 30, "window past");
	is_int(d->window_future, 14, "window future");
	is_int(d->poll, 3600, "caldav poll");
	is_int(d->rediscover, 86400, "rediscover default: a day");

	is_int(c.send.quiet_start, 20 * 60, "quiet start");
	is_int(c.send.quiet_end, 8 * 60, "quiet end");
	is_int(c.send.per_minute, 20, "budget per minute");
	is_int(c.send.per_day, 1000, "budget per day");
	is_str(c.send.dry_run, in_conf("outbox-dry"), "dry_run relative");
	is_str(c.send.unsubscribe_address, "mailto:unsubscribe@example.com", "unsubscribe_address gets mailto:");
	is_str(c.send.unsubscribe_url, "https://example.com/unsub", "unsubscribe_url");
	is_int(c.send.birthday_hour, 10, "birthday_hour");
	ok(!c.send.feb29_on_feb28, "feb29 mar1");
	is_int(c.send.retry_max, 5, "retry_max");

	is_int(c.visits.cadence_days[0], 14, "cadence A");
	is_int(c.visits.cadence_days[1], 14, "cadence B 2w");
	is_int(c.visits.cadence_days[2], 0, "cadence C never");
	is_int(c.visits.hours_days, 1 | 4 | 8 | 16, "hours days Mon,Wed-Fri");
	is_int(c.visits.hours_start, 8 * 60 + 30, "hours start");
	is_int(c.visits.hours_end, 16 * 60, "hours end");
	is_int(c.visits.length, 90, "length 1h30m");
	is_int(c.visits.buffer, 15, "buffer bare minutes");
	is_int(c.visits.horizon, 21, "horizon 3w");
	is_int(c.visits.per_day, 2, "per_day");

	ok(!c.link.fold_plus, "fold_plus no");
	ok(c.link.company_by_domain, "company_by_domain");
	ok(c.link.n_free_mail > 40, "free_mail default expanded");
	is_str(c.link.free_mail[0], "gmail.com", "free_mail starts with the shipped list");
	is_str(c.link.free_mail[c.link.n_free_mail - 1], "example-mail.com", "free_mail addition lowercased");
	is_int(c.link.n_aliases, 2, "aliases");
	is_str(c.link.aliases[0], "kim.sales@example.com", "alias lowercased");
	is_int(c.link.n_own_domains, 2, "own_domains");
	is_str(c.link.own_domains[1], "sales.example.com", "own domain");

	is_int(c.agenda.hour, 7, "agenda hour from HH:00");
	is_str(c.agenda.to, "boss@example.com", "agenda to");
	is_str(c.agenda.lang, "ko", "agenda lang");

	is_int(c.n_sale_rules, 2, "two sale rules");
	is_str(c.sale_rules[0].name, "shop", "sale name");
	is_str(c.sale_rules[0].sender, "orders@*.shop.example", "sale sender");
	is_str(c.sale_rules[0].subject, "^Order (confirmation|#[0-9]+)", "sale subject regex");
	is_str(c.sale_rules[0].product, "Widget", "sale product");
	ok(c.sale_rules[1].sender == NULL && c.sale_rules[1].product == NULL,
	    "sale defaults");
	for (i = 0; i < c.n_sale_rules; i++)
		ok(c.sale_rules[i].line > 0, "sale rule %zu has a line", i);
	config_free(&c);
	ok(c.imap == NULL && c.path == NULL, "config_free zeroes");
	config_free(&c);
	ok(1, "config_free twice is harmless");
}

static void
test_defaults(void)
{
	struct config c;
	char err[512] = "", path[PATH_MAX], want[PATH_MAX * 2];
	unsigned i;

	setenv("TZ", "Asia/Seoul", 1);
	snprintf(path, sizeof(path), "%s/minimal.conf", CONF_DIR);
	if (!ok(config_load(path, &c, err, sizeof(err)) == 0, "minimal.conf loads")) {
		printf("#   %s\n", err);
		return;
	}
	is_str(c.database, in_conf("rapport.db"), "database resolved");
	is_str(c.templates, in_conf("templates"), "templates default: beside the file");
	is_str(c.timezone, "Asia/Seoul", "timezone default from TZ");
	ok(c.from == NULL, "no from");
	is_int(c.n_imap + c.n_smtp + c.n_caldav + c.n_sale_rules, 0, "no accounts");
	is_int(c.send.quiet_start, -1, "no quiet hours");
	is_int(c.send.quiet_end, -1, "no quiet hours end");
	is_int(c.send.per_minute, 0, "budget unlimited");
	is_int(c.send.per_day, 0, "day budget unlimited");
	ok(c.send.dry_run == NULL, "no dry_run");
	is_int(c.send.birthday_hour, 9, "birthday_hour 9");
	ok(c.send.feb29_on_feb28, "feb29 on feb28");
	is_int(c.send.retry_max, 8, "retry_max 8");
	is_int(c.visits.cadence_days[0], 30, "cadence A 30");
	is_int(c.visits.cadence_days[1], 90, "cadence B 90");
	is_int(c.visits.cadence_days[2], 365, "cadence C 365");
	is_int(c.visits.hours_days, 0x1f, "Mon-Fri");
	is_int(c.visits.hours_start, 540, "09:00");
	is_int(c.visits.hours_end, 1020, "17:00");
	is_int(c.visits.length, 60, "length 60");
	is_int(c.visits.buffer, 30, "buffer 30");
	is_int(c.visits.horizon, 14, "horizon 14");
	is_int(c.visits.per_day, 3, "per_day 3");
	ok(c.link.fold_plus, "fold_plus");
	ok(!c.link.company_by_domain, "company_by_domain off");
	for (i = 0; i < c.link.n_free_mail; i++)
		if (strcmp(c.link.free_mail[i], "naver.com") == 0)
			break;
	ok(i < c.link.n_free_mail, "naver.com is free mail");
	is_int(c.link.n_aliases + c.link.n_own_domains, 0, "no aliases");
	is_int(c.agenda.hour, -1, "no agenda");
	ok(c.agenda.to == NULL && c.agenda.lang == NULL, "agenda to/lang unset");
	config_free(&c);

	setenv("TZ", "Mars/Olympus", 1);
	good(BASE, &c, "bogus TZ");
	ok(c.timezone != NULL && strcmp(c.timezone, "Mars/Olympus") != 0,
	    "a bogus TZ is not the default zone");
	config_free(&c);
	unsetenv("TZ");

	good(BASE "[imap \"a\"]\nurl = imaps://h.example/\nfolders = Archive\n"
	    "[agenda]\nhour = 6\n", &c, "defaults of an account");
	is_int(c.imap[0].n_idle_folders, 0, "no idle folder without INBOX");
	ok(!c.imap[0].sent, "no Sent folder: sent false");
	is_int(c.imap[0].ep.port, 993, "port");
	is_int(c.agenda.hour, 6, "agenda hour");
	is_str(c.agenda.to, "kim@example.com", "agenda to defaults to from");
	snprintf(want, sizeof(want), "%s/x.db", tmpdir);
	is_str(c.database, want, "database beside a temp config");
	config_free(&c);

	good(BASE "[imap \"a\"]\nurl = imap://localhost\ntls = none\n"
	    "folders = INBOX INBOX.Sent\n[smtp]\nurl = smtp://[::1]:2525\n"
	    "tls = none\nrate = 20/s\n"
	    "[caldav \"c\"]\nurl = http://127.0.0.1:5232/\n", &c, "loopback clear text");
	ok(c.imap[0].sent, "INBOX.Sent counts as Sent");
	is_int(c.smtp[0].ep.port, 2525, "smtp port");
	is_int(c.smtp[0].ep.tls, TLS_NONE, "smtp tls none");
	is_int(c.caldav[0].ep.tls, TLS_NONE, "http is clear text");
	ok(!c.caldav[0].ep.implicit_tls, "http not implicit");
	is_int(c.caldav[0].ep.port, 5232, "caldav port");
	is_int(c.send.per_minute, 1200, "rate 20/s is 1200/min");
	is_int(c.send.per_day, 0, "rate gives no day budget");
	config_free(&c);

	good(BASE "[smtp]\nurl = smtp://mx.example\nuser = u\npassword = p\n",
	    &c, "smtp scheme");
	is_int(c.smtp[0].ep.port, 25, "smtp:// port 25");
	config_free(&c);
}

static void
test_syntax(void)
{
	struct config c;
	char text[512], line[256];

	good("\xEF\xBB\xBF[rapport]\r\ndatabase = a;b.db ; comment\r\n"
	    "templates = t#1 # not a comment\r\n", &c, "BOM, CRLF, comments");
	ok(c.database != NULL && strstr(c.database, "/a;b.db") != NULL,
	    "';' without a blank before stays");
	ok(c.templates != NULL && strstr(c.templates, "/t#1 # not a comment") != NULL,
	    "'#' inside a line stays");
	config_free(&c);
	bad(BASE "from2: x\n", ":4: unknown key 'from2' in [rapport] (did you mean 'from'?)",
	    "name: value is a key");

	memset(line, 'x', sizeof(line));
	snprintf(text, sizeof(text), "[rapport]\ndatabase = %.*s\n", 199 - 11, line);
	good(text, &c, "a 199-byte line");
	config_free(&c);
	snprintf(text, sizeof(text), "[rapport]\ndatabase = %.*s\nfoo = bar\n", 200 - 11, line);
	bad(text, ":2: line longer than 199 bytes", "a 200-byte line");
	snprintf(text, sizeof(text), "[rapport]\ndatabase = x\n; %.*s\n", 250, line);
	bad(text, ":3: line longer than 199 bytes", "a long comment");

	write_file(cpath, "[rapport]\ndatabase = a\0b\n", 26, 0644);
	{
		char err[512], want[PATH_MAX + 64];

		is_int(config_load(cpath, &c, err, sizeof(err)), -1, "NUL byte refused");
		snprintf(want, sizeof(want), "%s:2: a NUL byte", cpath);
		is_str(err, want, "NUL byte message");
	}
	bad("[rapport]\ndatabase = x\njunk\n", ":3: expected 'key = value' or '[section]'",
	    "a line without =");
	bad("[rapport\n", ":1: section header without ']'", "unclosed header");
	bad("[rapport] x\n", ":1: text after ']'", "text after header");
	bad("database = x\n", ":1: 'database' outside any section", "key before any section");
	bad("", ": no [rapport] section (database is required)", "empty file");
	bad("[send]\nretry_max = 3\n", ": no [rapport] section (database is required)",
	    "no [rapport]");
	bad("[rapport]\ntimezone = UTC\n", ":1: [rapport] has no database", "no database");
	bad("[rapport]\ndatabase =\n", ":2: database has no value", "empty database");
}

static void
test_names(void)
{
	bad(BASE "[imap \"work\"]\nurl = imaps://x.example/\nfoldrs = INBOX\n",
	    ":6: unknown key 'foldrs' in [imap \"work\"] (did you mean 'folders'?)",
	    "misspelt key");
	bad(BASE "[imap \"work\"]\nurl = imaps://x.example/\nzzzzzzzz = 1\n",
	    ":6: unknown key 'zzzzzzzz' in [imap \"work\"]", "unknown key, no suggestion");
	bad(BASE "[smtp]\nsent_imao = w\n",
	    ":5: unknown key 'sent_imao' in [smtp \"default\"] (did you mean 'sent_imap'?)",
	    "smtp suggestion");
	bad(BASE "[send]\nbudjet = 1/min\n",
	    ":5: unknown key 'budjet' in [send] (did you mean 'budget'?)", "send suggestion");
	bad(BASE "[imapp \"work\"]\n", ":4: unknown section [imapp] (did you mean [imap]?)",
	    "misspelt section");
	bad(BASE "[frobnicate]\n", ":4: unknown section [frobnicate]", "unknown section");
	bad(BASE "[caldav \"w\"]\ntls = none\n",
	    ":5: unknown key 'tls' in [caldav \"w\"]",
	    "caldav has no tls key");
	bad(BASE "from = a@b.example\n", ":4: 'from' again in [rapport] (first at line 3)",
	    "repeated key");
	bad(BASE "[imap \"a\"]\nurl = imaps://x.example\n[imap \"a\"]\n",
	    ":6: [imap \"a\"] again (first at line 4)", "repeated section name");
	bad(BASE "[smtp]\nurl = smtps://x.example\n[smtp \"default\"]\n",
	    ":6: [smtp \"default\"] again (first at line 4)", "[smtp] is \"default\"");
	bad(BASE "[send]\n[send]\n", ":5: [send] again (first at line 4)", "repeated [send]");
	bad(BASE "[rapport]\n", ":4: [rapport] again (first at line 1)", "repeated [rapport]");
	bad(BASE "[imap]\n", ":4: [imap] needs a name: [imap \"work\"]", "unnamed imap");
	bad(BASE "[send \"x\"]\n", ":4: [send] takes no name", "named send");
	bad(BASE "[imap \"a b\"]\n",
	    ":4: section name: only letters, digits and - _ . @ + are allowed", "name charset");
	bad(BASE "[imap work]\n", ":4: bad section header: write [kind \"name\"]", "unquoted name");
	bad(BASE "[imap \"\"]\n", ":4: bad section header: write [kind \"name\"]", "empty name");
	bad(BASE "[imap \"0123456789012345678901234567890123\"]\n",
	    ":4: section name longer than 32 bytes", "long name");
}

static void
test_endpoints(void)
{
	struct config c;

	bad(BASE "[imap \"w\"]\nuser = k\n", ":4: [imap \"w\"] has no url", "no url");
	bad(BASE "[imap \"w\"]\nurl = https://x.example/\n",
	    ":5: url: the scheme must be imap or imaps", "imap scheme");
	bad(BASE "[smtp]\nurl = imap://x.example/\n",
	    ":5: url: the scheme must be smtp, submission or smtps", "smtp scheme");
	bad(BASE "[caldav \"c\"]\nurl = ftp://x.example/\n",
	    ":5: url: the scheme must be http or https", "caldav scheme");
	bad(BASE "[imap \"w\"]\nurl = imaps://kim:pw@x.example/\n",
	    ":5: url: a user name in the url: use user = and password_file = instead",
	    "credentials in url");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example:99999/\n",
	    ":5: url: a bad port in the url", "port range");
	bad(BASE "[imap \"w\"]\nurl = imaps:///\n", ":5: url: no host in the url", "no host");
	bad(BASE "[imap \"w\"]\nurl = x.example\n", ":5: url: not a url (scheme://host/)",
	    "not a url");
	bad(BASE "[imap \"w\"]\nurl = imap://x.example/\ntls = none\n",
	    ":6: tls = none without TLS is only allowed to 127.0.0.1, ::1 or localhost",
	    "tls none remote");
	bad(BASE "[imap \"w\"]\ntls = none\nurl = imaps://127.0.0.1/\n",
	    ":5: tls = none contradicts the url's imaps scheme", "tls none with imaps");
	bad(BASE "[caldav \"c\"]\nurl = http://dav.example/\n",
	    ":5: http:// without TLS is only allowed to 127.0.0.1, ::1 or localhost",
	    "http remote");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\ntls = maybe\n",
	    ":6: tls: 'maybe' is not auto or none", "bad tls");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nauth = kerberos\n",
	    ":6: auth: 'kerberos' is not login, plain, xoauth2 or none", "bad auth");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\npassword = s3cret\n"
	    "password_file = pw\n",
	    ":8: password and password_file exclude each other", "password twice");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\nauth = xoauth2\n",
	    ":7: auth = xoauth2 needs token_file", "xoauth2 without token");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\nauth = login\n"
	    "token_file = t\n", ":8: token_file needs auth = xoauth2", "token with login");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\ntoken_file = t\n"
	    "password_file = p\n",
	    ":8: a password is not used with auth = xoauth2 (token_file)", "token and password");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\nauth = plain\n",
	    ":7: auth = plain needs password_file", "plain without password");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nauth = none\npassword = p\n",
	    ":7: a password is not used with auth = none", "none with password");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\npassword_file = p\n",
	    ":4: [imap \"w\"] has a password or token but no user", "password without user");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\ntimeout = 0\n",
	    ":6: timeout: '0' is not from 1 to 3600 seconds", "timeout zero");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\ntimeout = 2h\n",
	    ":6: timeout: '2h' is not from 1 to 3600 seconds", "timeout too long");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\ntimeout = 3x\n",
	    ":6: timeout: '3x' is not a duration (a number and s, m, h, d or w: 45s, 30m, 12h, 3d, 2w)",
	    "bad duration");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\ntls_verify = maybe\n",
	    ":6: tls_verify: 'maybe' is not yes or no", "bad bool");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nbatch = 5k\n",
	    ":6: batch: '5k' is not a whole number from 1 to 10000", "bad int");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nfolders = INBOX \"Sent\n",
	    ":6: folders: a quote is not closed", "unclosed quote");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nfolders =\n",
	    ":6: folders is empty", "empty folders");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\nfolders = INBOX Sent\n"
	    "idle_folders = Archive\n",
	    ":7: idle_folders: 'Archive' is not in folders", "idle not in folders");
	bad(BASE "[imap \"w\"]\nurl = imaps://x.example\npoll = 1\n",
	    ":6: poll: '1' is not from 10 to 86400 seconds", "poll bounds");
	bad(BASE "[caldav \"d\"]\nurl = https://x.example/\nrediscover = 10\n",
	    ":6: rediscover: '10' is not from 60 to 2592000 seconds",
	    "rediscover bounds");
	bad(BASE "[smtp]\nurl = smtps://x.example\nconnections = 17\n",
	    ":6: connections: '17' is not a whole number from 1 to 16", "connections bounds");
	bad("[rapport]\ndatabase = x\n[smtp]\nurl = smtps://x.example\n",
	    ":3: [smtp \"default\"] has no from, and [rapport] has none either", "no from");
	bad(BASE "[smtp]\nurl = smtps://x.example\nsent_imap = nope\n",
	    ":4: [smtp \"default\"] sent_imap: no [imap \"nope\"]", "sent_imap unknown");
	bad(BASE "[smtp]\nurl = smtps://x.example\nrate = 20/s\n[smtp \"b\"]\n"
	    "url = smtps://y.example\nrate = 10/s\n",
	    ":9: rate differs from the one at line 6: the budget is one for every account, "
	    "set it once in [send] budget", "two rates");
	bad(BASE "[smtp]\nurl = smtps://x.example\nfrom = Kim\n",
	    ":6: from: 'Kim' is not an address (Name <user@example.com> or user@example.com)",
	    "bad from");
	bad(BASE "[caldav \"c\"]\nurl = https://x.example\nwindow = 1d 2d 3d\n",
	    ":6: window: two durations at most (past and future: 365d 90d)", "window three");
	bad(BASE "[caldav \"c\"]\nurl = https://x.example\nwindow = 12h\n",
	    ":6: window: '12h' is not a whole number of days", "window hours");

	good(BASE "[smtp]\nurl = smtps://x.example\nrate = 20/s\n[send]\nbudget = 1/min\n",
	    &c, "rate and budget");
	is_int(c.send.per_minute, 1, "[send] budget wins over rate");
	config_free(&c);
	good(BASE "[imap \"w\"]\nurl = imaps://x.example\nuser = k\ntoken_file = /t\n"
	    "[caldav \"c\"]\nurl = https://x.example\nwindow = 10\n", &c, "token and window");
	is_int(c.imap[0].ep.auth, AUTH_XOAUTH2, "token_file: xoauth2");
	is_int(c.caldav[0].window_past, 10, "one window value: past");
	is_int(c.caldav[0].window_future, 10, "one window value: future");
	config_free(&c);
}

static void
test_other_sections(void)
{
	bad(BASE "timezone = Mars/Olympus\n",
	    ":4: timezone: 'Mars/Olympus' is not a known IANA time zone (Europe/Berlin)",
	    "unknown zone");
	bad(BASE "timezone = ../etc/passwd\n",
	    ":4: timezone: '../etc/passwd' is not a known IANA time zone (Europe/Berlin)",
	    "zone path");
	bad(BASE "[send]\nbudget = 20/hour\n",
	    ":5: budget: unknown unit '/hour' (use /s, /min or /day)", "budget unit");
	bad(BASE "[send]\nbudget = 20/min 30/s\n", ":5: budget: two per-minute rates",
	    "budget twice");
	bad(BASE "[send]\nbudget = lots\n",
	    ":5: budget: 'lots' is not a rate (20/min, 1000/day)", "budget junk");
	bad(BASE "[send]\nquiet_hours = 25:00-08:00\n",
	    ":5: quiet_hours: '25:00' is not a time of day", "quiet hour 25");
	bad(BASE "[send]\nquiet_hours = 8-9\n",
	    ":5: quiet_hours: '8' is not a time (HH:MM)", "quiet short");
	bad(BASE "[send]\nquiet_hours = 08:00-08:00\n",
	    ":5: quiet_hours: '08:00-08:00' is an empty range", "quiet empty");
	bad(BASE "[send]\nfeb29 = feb30\n", ":5: feb29: 'feb30' is not feb28 or mar1",
	    "feb29");
	bad(BASE "[send]\nbirthday_hour = 24\n",
	    ":5: birthday_hour: '24' is not a whole number from 0 to 23", "birthday_hour");
	bad(BASE "[send]\nunsubscribe_url = http://x.example/u\n",
	    ":5: unsubscribe_url must be https:// (RFC 8058)", "unsubscribe http");
	bad(BASE "[send]\nunsubscribe_address = nobody\n",
	    ":5: unsubscribe_address: 'nobody' is not an address (mailto:unsubscribe@example.com)",
	    "unsubscribe address");
	bad(BASE "[visits]\ncadence = D:3d\n",
	    ":5: cadence: 'D:3d' is not TIER:DAYS with tier A, B or C", "cadence tier");
	bad(BASE "[visits]\ncadence = A:3d A:4d\n", ":5: cadence: tier A given twice",
	    "cadence twice");
	bad(BASE "[visits]\nhours = Mon-Frx 09:00-17:00\n",
	    ":5: hours: 'Mon-Frx': unknown day (Mon, Tue, ... Sun)", "hours day");
	bad(BASE "[visits]\nhours = Mon-Fri 17:00-09:00\n",
	    ":5: hours: '17:00-09:00' ends before it starts", "hours backwards");
	bad(BASE "[visits]\nhours = 09:00-17:00\n",
	    ":5: hours: '09:00-17:00' is not DAYS HH:MM-HH:MM (Mon-Fri 09:00-17:00)",
	    "hours without days");
	bad(BASE "[visits]\nlength = 90s\n",
	    ":5: length: '90s' is not a whole number of minutes", "length seconds");
	bad(BASE "[visits]\nhorizon = 2y\n",
	    ":5: horizon: '2y' is not a duration (a number and s, m, h, d or w: 45s, 30m, 12h, 3d, 2w)",
	    "horizon unit");
	bad(BASE "[link]\nfree_mail = gmail\n", ":5: free_mail: 'gmail' is not a domain",
	    "free_mail domain");
	bad(BASE "[link]\nown_domains = default\n",
	    ":5: own_domains: 'default' only stands for a list in free_mail", "default elsewhere");
	bad(BASE "[link]\naliases = Kim <k@x.example>\n",
	    ":5: aliases: 'Kim' is not an address", "aliases");
	bad(BASE "[agenda]\nhour = 07:30\n", ":5: hour: '07:30' is not on the hour",
	    "agenda half hour");
	bad(BASE "[agenda]\nlang = English\n",
	    ":5: lang: 'English' is not a language code (en, de, ko, zh-Hans)", "lang");
	bad("[rapport]\ndatabase = x\n[agenda]\nhour = 7\n",
	    ":3: [agenda] has no to, and [rapport] has no from", "agenda without to");
	bad(BASE "[sale \"s\"]\nproduct = x\n", ":4: [sale \"s\"] needs sender or subject",
	    "sale without match");
	bad(BASE "[sale \"s\"]\nsubject = (\n",
	    ":5: subject: Unmatched ( or \\(", "bad regex");
}

static void
test_relative(void)
{
	struct config c;
	char err[512], want[PATH_MAX * 2], cwd[PATH_MAX];

	write_file(cpath, BASE "[send]\ndry_run = ../dry\n", strlen(BASE) + 24, 0644);
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(tmpdir) != 0) {
		ok(0, "chdir");
		return;
	}
	if (!ok(config_load("t.conf", &c, err, sizeof(err)) == 0, "relative config path loads"))
		printf("#   %s\n", err);
	else {
		snprintf(want, sizeof(want), "%s/x.db", tmpdir);
		is_str(c.database, want, "database absolute from a relative config path");
		snprintf(want, sizeof(want), "%s/../dry", tmpdir);
		is_str(c.send.dry_run, want, "dry_run resolved");
		is_str(c.path, "t.conf", "path kept as given");
		config_free(&c);
	}
	is_int(config_load("missing.conf", &c, err, sizeof(err)), -1, "missing file");
	is_str(err, "missing.conf: cannot open: No such file or directory", "cannot open message");
	if (chdir(cwd) != 0)
		ok(0, "chdir back");
}

static void
test_secret(void)
{
	struct endpoint ep;
	char err[256], path[PATH_MAX + 32], *s;

	memset(&ep, 0, sizeof(ep));
	ep.kind = "imap";
	ep.name = "w";
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL, "no secret configured");
	is_str(err, "[imap \"w\"] has no password or password_file", "no secret message");

	ep.password = "inline";
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "inline", "inline password copied");
	free(s);
	ep.password = NULL;

	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	ep.password_file = path;
	write_file(path, "hunter2\n", 8, 0600);
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "hunter2", "trailing newline stripped");
	free(s);
	write_file(path, "hunter2", 7, 0600);
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "hunter2", "no trailing newline");
	free(s);
	write_file(path, "hunter2\r\n", 9, 0600);
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "hunter2", "CRLF stripped");
	free(s);
	write_file(path, "hunter2\n\n", 9, 0640);
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL, "two newlines: more than one line");
	ok(strstr(err, "more than one line") != NULL && strstr(err, "hunter2") == NULL,
	    "message without the secret");
	write_file(path, "\n", 1, 0600);
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL && strstr(err, ": empty") != NULL, "empty secret refused");
	write_file(path, "a\nb", 3, 0600);
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL && strstr(err, "hunter2") == NULL, "multi-line secret refused");
	write_file(path, "open-sesame\n", 12, 0644);
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "open-sesame", "a world-readable file is read (with a warning)");
	free(s);

	snprintf(path, sizeof(path), "%s/nope", tmpdir);
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL, "missing password_file");
	ok(strstr(err, "/nope: cannot open: No such file or directory") != NULL,
	    "missing file message");
	ep.password_file = tmpdir;
	s = config_secret(&ep, err, sizeof(err));
	ok(s == NULL && strstr(err, "not a regular file") != NULL, "a folder is refused");

	snprintf(path, sizeof(path), "%s/token", tmpdir);
	write_file(path, "ya29.token\n", 11, 0400);
	ep.auth = AUTH_XOAUTH2;
	ep.password = "ignored";
	ep.token_file = path;
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "ya29.token", "xoauth2 reads token_file");
	free(s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	unlink(path);

	snprintf(path, sizeof(path), "%s/secrets/imap-work", CONF_DIR);
	memset(&ep, 0, sizeof(ep));
	ep.password_file = path;
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "imap-pass", "fixture secret with newline");
	free(s);
	snprintf(path, sizeof(path), "%s/secrets/dav", CONF_DIR);
	s = config_secret(&ep, err, sizeof(err));
	is_str(s, "dav-pass", "fixture secret without newline");
	free(s);
}

static void
test_values(void)
{
	char why[256], **v;
	long long secs;
	int a, b, days[3];
	unsigned m;
	size_t n;
	bool bo;

	ok(config_value_bool("YES", &bo, why, sizeof(why)) == 0 && bo, "YES");
	ok(config_value_bool("off", &bo, why, sizeof(why)) == 0 && !bo, "off");
	ok(config_value_bool("0", &bo, why, sizeof(why)) == 0 && !bo, "0");
	ok(config_value_bool("", &bo, why, sizeof(why)) == -1, "empty bool");
	ok(config_value_duration("3d", 1, &secs, why, sizeof(why)) == 0 && secs == 259200, "3d");
	ok(config_value_duration("45s", 1, &secs, why, sizeof(why)) == 0 && secs == 45, "45s");
	ok(config_value_duration("2w", 1, &secs, why, sizeof(why)) == 0 && secs == 1209600, "2w");
	ok(config_value_duration("1h30m", 1, &secs, why, sizeof(why)) == 0 && secs == 5400, "1h30m");
	ok(config_value_duration("5", 60, &secs, why, sizeof(why)) == 0 && secs == 300, "bare number");
	ok(config_value_duration("", 1, &secs, why, sizeof(why)) == -1, "empty duration");
	ok(config_value_duration("d", 1, &secs, why, sizeof(why)) == -1, "unit alone");
	ok(config_value_duration("99999999999999d", 1, &secs, why, sizeof(why)) == -1,
	    "overflow refused");
	ok(config_value_duration("-3d", 1, &secs, why, sizeof(why)) == -1, "negative");
	ok(config_value_hhmm("9:05", false, &a, why, sizeof(why)) == 0 && a == 545, "9:05");
	ok(config_value_hhmm("24:00", false, &a, why, sizeof(why)) == -1, "24:00 not a start");
	ok(config_value_hhmm("24:00", true, &a, why, sizeof(why)) == 0 && a == 1440, "24:00 end");
	ok(config_value_hhmm("12:60", false, &a, why, sizeof(why)) == -1, "minute 60");
	ok(config_value_timerange("22:00-24:00", false, &a, &b, why, sizeof(why)) == 0 &&
	    a == 1320 && b == 1440, "range to midnight");
	ok(config_value_timerange("20:00-08:00", false, &a, &b, why, sizeof(why)) == -1,
	    "wrap refused when not allowed");
	ok(config_value_budget("unlimited", &a, &b, why, sizeof(why)) == 0 && a == 0 && b == 0,
	    "unlimited");
	ok(config_value_budget("1000/day,5/min", &a, &b, why, sizeof(why)) == 0 &&
	    a == 5 && b == 1000, "budget with a comma");
	ok(config_value_budget("", &a, &b, why, sizeof(why)) == -1, "empty budget");
	ok(config_value_cadence("b:60 c:0", days, why, sizeof(why)) == 0 && days[0] == 0 &&
	    days[1] == 60 && days[2] == 0, "cadence: lowercase, bare days, tier left out");
	ok(config_value_hours("Sat-Sun 10:00-14:00", &m, &a, &b, why, sizeof(why)) == 0 &&
	    m == 0x60, "weekend");
	ok(config_value_hours("Fri-Mon 10:00-14:00", &m, &a, &b, why, sizeof(why)) == 0 &&
	    m == (1u | 16 | 32 | 64), "across the week end");
	ok(config_value_hours("monday,Wednesday 10:00-14:00", &m, &a, &b, why, sizeof(why)) == 0 &&
	    m == 5, "full day names");
	ok(config_value_list("  a, b,,\"c d\" \"e\\\"f\"  ", &v, &n, why, sizeof(why)) == 0 &&
	    n == 4, "list items");
	if (n == 4) {
		is_str(v[2], "c d", "quoted item");
		is_str(v[3], "e\"f", "escaped quote");
	}
	config_value_list_free(v, n);
	ok(config_value_list("", &v, &n, why, sizeof(why)) == 0 && n == 0 && v == NULL,
	    "empty list");
	ok(config_value_list("\"\"", &v, &n, why, sizeof(why)) == -1, "empty quoted item");
	ok(config_value_list("\"a\"b", &v, &n, why, sizeof(why)) == -1, "text after quote");
	{
		char *scheme, *host;
		int port;

		ok(config_value_url("HTTPS://Dav.Example:8443/x?y", &scheme, &host, &port,
		    why, sizeof(why)) == 0, "url parses");
		is_str(scheme, "https", "scheme lowercased");
		is_str(host, "dav.example", "host lowercased");
		is_int(port, 8443, "port");
		free(scheme);
		free(host);
		ok(config_value_url("imap://[::1", &scheme, &host, &port, why, sizeof(why)) == -1,
		    "unclosed IPv6");
		ok(config_value_url("imap://h:0/", &scheme, &host, &port, why, sizeof(why)) == -1,
		    "port 0");
		ok(config_value_url("imap://h:/", &scheme, &host, &port, why, sizeof(why)) == -1,
		    "empty port");
		ok(config_value_url("imap://h o/", &scheme, &host, &port, why, sizeof(why)) == -1,
		    "blank in host");
	}
}

int
main(void)
{
	char tmpl[] = "/tmp/rapport-test-config.XXXXXX", *real;

	if (mkdtemp(tmpl) == NULL || (real = realpath(tmpl, NULL)) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	snprintf(cpath, sizeof(cpath), "%s/t.conf", tmpdir);
	if ((real = realpath(CONF_DIR, NULL)) == NULL) {
		perror(CONF_DIR);
		return 99;
	}
	snprintf(confdir, sizeof(confdir), "%s", real);
	free(real);

	test_values();
	test_full();
	test_defaults();
	test_syntax();
	test_names();
	test_endpoints();
	test_other_sections();
	test_relative();
	test_secret();
	unlink(cpath);
	rmdir(tmpdir);
	return tap_done();
}
