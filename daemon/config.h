/*
 * rapport.conf: parsed once into a struct config, which is then read-only.
 * A reload (SIGHUP) parses a new one and swaps it in only if it is valid,
 * so a typo never stops a running daemon.
 *
 * Every error is "FILE:LINE: message".  Unknown sections and keys are errors:
 * a misspelt key must never silently disable a mailbox.  Relative paths are
 * resolved against the config file's folder when loading.
 *
 * Secrets are not kept in memory longer than needed: config_secret() reads
 * the password (or bearer token) at connect time, so an outside refresher
 * can rotate a token file.  Only tests use password = in the file.
 */
#ifndef RAPPORT_CONFIG_H
#define RAPPORT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_auth {
	AUTH_DEFAULT = 0,	/* LOGIN/PLAIN with a password, else none */
	AUTH_LOGIN,
	AUTH_PLAIN,
	AUTH_XOAUTH2,		/* bearer token from token_file */
	AUTH_NONE,
};

enum config_tls {
	TLS_AUTO = 0,		/* by scheme: imaps/smtps/https implicit, else STARTTLS */
	TLS_NONE,		/* plain text: tests on 127.0.0.1 only */
};

/* What every server account shares. */
struct endpoint {
	char	*name;		/* the section's subsection name: [imap "work"] */
	const char *kind;	/* "imap", "smtp", "caldav" (static) */
	char	*url;
	char	*host;		/* parsed from url */
	int	 port;		/* parsed from url, or the scheme's default */
	bool	 implicit_tls;	/* imaps://, smtps://, https:// */
	char	*user;
	char	*password;	/* inline (tests); NULL when password_file */
	char	*password_file;
	char	*token_file;	/* XOAUTH2 / bearer token, re-read per connect */
	enum config_auth auth;
	enum config_tls tls;
	bool	 tls_verify;	/* default true */
	char	*ca_file;	/* NULL: the system trust store */
	int	 timeout;	/* seconds, default 60 */
	int	 line;		/* where the section starts, for messages */
};

struct imap_account {
	struct endpoint ep;
	char	**folders;	/* default: INBOX */
	size_t	  n_folders;
	char	**idle_folders;	/* default: INBOX */
	size_t	  n_idle_folders;
	int	  poll;		/* seconds between polls without IDLE, default 300 */
	int	  batch;	/* UIDs per FETCH, default 500 */
	bool	  sent;		/* mail in this account's Sent folder is outreach */
};

struct smtp_account {
	struct endpoint ep;
	char	*from;		/* default: [rapport] from */
	int	 connections;	/* parallel connections, default 1 */
	char	*sent_imap;	/* name of an [imap] account to APPEND to, or NULL */
	char	*sent_folder;	/* default "Sent" */
};

struct caldav_account {
	struct endpoint ep;
	char	**calendars;	/* display names or hrefs; none: all */
	size_t	  n_calendars;
	char	 *planning_calendar;	/* where visit proposals go, or NULL */
	int	  window_past;	/* days of recurrence expansion, default 365 */
	int	  window_future;	/* default 365 */
	int	  poll;		/* seconds between syncs, default 300 */
	int	  rediscover;	/* seconds a discovery is trusted, default 1 day */
};

struct send_config {
	int	 quiet_start;	/* minutes after local midnight, -1: no quiet hours */
	int	 quiet_end;
	int	 per_minute;	/* budget per sending account; 0: unlimited */
	int	 per_day;	/* rolling 24 hours; 0: unlimited */
	char	*dry_run;	/* folder: write messages there instead of sending */
	char	*unsubscribe_address;	/* mailto: for List-Unsubscribe */
	char	*unsubscribe_url;	/* https one-click, optional */
	int	 birthday_hour;	/* local hour, default 9 */
	bool	 feb29_on_feb28;	/* default true; false: 1 March */
	int	 retry_max;	/* attempts on 4xx before failing, default 8 */
};

struct visits_config {
	int	 cadence_days[3];	/* tiers A, B, C; 0: never */
	unsigned hours_days;	/* bit 0 = Monday … bit 6 = Sunday */
	int	 hours_start;	/* minutes after local midnight */
	int	 hours_end;
	int	 length;	/* minutes */
	int	 buffer;	/* minutes of travel before and after */
	int	 horizon;	/* days */
	int	 per_day;
};

struct link_config {
	bool	 fold_plus;	/* user+tag@ → user@, default true */
	bool	 company_by_domain;	/* default false */
	char	**free_mail;	/* domains never used for the company rule */
	size_t	  n_free_mail;
	char	**aliases;	/* the user's own addresses besides the accounts' */
	size_t	  n_aliases;
	char	**own_domains;
	size_t	  n_own_domains;
};

struct agenda_config {
	int	 hour;		/* -1: no agenda */
	char	*to;		/* default: [rapport] from */
	char	*lang;
};

/* A rule that records a sale from mail, e.g. an order confirmation. */
struct sale_rule {
	char	*name;
	char	*sender;	/* glob on the From address, or NULL */
	char	*subject;	/* POSIX extended regex on the subject, or NULL */
	char	*product;	/* product name recorded, default: the subject */
	int	 line;
};

struct config {
	char	*path;		/* the file, as given */
	char	*database;
	char	*templates;
	char	*timezone;	/* default time zone of customers, IANA */
	char	*from;		/* "Name <addr>" */
	struct imap_account   *imap;
	size_t		       n_imap;
	struct smtp_account   *smtp;
	size_t		       n_smtp;
	struct caldav_account *caldav;
	size_t		       n_caldav;
	struct sale_rule      *sale_rules;
	size_t		       n_sale_rules;
	struct send_config     send;
	struct visits_config   visits;
	struct link_config     link;
	struct agenda_config   agenda;
};

/*
 * Parses path into *cfg (zeroed by the caller or not; it is overwritten).
 * On error returns -1 with "FILE:LINE: message" in err, and *cfg holds
 * nothing to free.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);

/*
 * The password (or, for AUTH_XOAUTH2, the token) of an endpoint, read now
 * from its file (trailing newline removed) or copied from the config.
 * Returns a malloc'd string the caller must wipe (explicit_bzero) and free,
 * or NULL with a message (never containing the secret) in err.
 */
char *config_secret(const struct endpoint *ep, char *err, size_t errlen);

#endif
