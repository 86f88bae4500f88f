/*
 * rapportctl: what the command families (cmd_*.c) share.  A command gets
 * the context and its own argv (argv[0] is its name); it returns the exit
 * status: CTL_OK, CTL_FAIL (a runtime error, "rapportctl: ..." already
 * printed) or CTL_USAGE (a usage error, one line already printed).
 *
 * The config and the database are opened only by ctl_open(), after the
 * command line has been checked, so --help and usage errors never need
 * a config file.
 */
#ifndef RAPPORT_CTL_H
#define RAPPORT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

enum {
	CTL_OK = 0,
	CTL_FAIL = 1,
	CTL_USAGE = 2,
};

struct ctl {
	const char	*config_path;	/* -c, else RAPPORT_CONFIG, else SYSCONFDIR */
	bool		 json;
	const char	*cmd;		/* "customer add": names usage errors */
	struct config	 cfg;
	bool		 cfg_loaded;
	struct store	*st;
};

struct ctl_cmd {
	const char	*name;
	int		(*run)(struct ctl *ctl, int argc, char **argv);
	const char	*synopsis;	/* the arguments, after the name */
	const char	*summary;	/* one line for the family's help */
};

/* Commands: the families and their members. */
int cmd_customer(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_customer_add(struct ctl *ctl, int argc, char **argv);
int cmd_customer_edit(struct ctl *ctl, int argc, char **argv);
int cmd_customer_tag(struct ctl *ctl, int argc, char **argv);
int cmd_customer_forget(struct ctl *ctl, int argc, char **argv);
int cmd_customer_list(struct ctl *ctl, int argc, char **argv);
int cmd_customer_show(struct ctl *ctl, int argc, char **argv);
int cmd_customer_export(struct ctl *ctl, int argc, char **argv);
int cmd_customer_import(struct ctl *ctl, int argc, char **argv);
int cmd_timeline(struct ctl *ctl, int argc, char **argv);
int cmd_sale(struct ctl *ctl, int argc, char **argv);
int cmd_referral(struct ctl *ctl, int argc, char **argv);
int cmd_referrals(struct ctl *ctl, int argc, char **argv);
int cmd_review(struct ctl *ctl, int argc, char **argv);
int cmd_outbox(struct ctl *ctl, int argc, char **argv);
int cmd_template(struct ctl *ctl, int argc, char **argv);
int cmd_visits(struct ctl *ctl, int argc, char **argv);
int cmd_agenda(struct ctl *ctl, int argc, char **argv);
int cmd_unmatched(struct ctl *ctl, int argc, char **argv);
int cmd_unsubscribe(struct ctl *ctl, int argc, char **argv);

/* Messages; each returns the status it stands for. */
int ctl_usage(struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ctl_fail(struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The usage error for what getopt_long() just refused (optstring ":..."). */
int ctl_getopt_error(struct ctl *ctl, char **argv, int opt);
/* Prints help (stdout) for a command: "Usage: rapportctl NAME SYNOPSIS"
 * and body. */
int ctl_help(const char *name, const char *synopsis, const char *body);
/*
 * Parses the options of a command whose only option is --json (and
 * --help, which prints "Usage: rapportctl CMD SYNOPSIS" and help, and sets
 * *helped).  The positional arguments are left from argv[optind] on.
 */
int ctl_json_args(struct ctl *ctl, int argc, char **argv,
    const char *synopsis, const char *help, bool *helped);
/* Runs the member of a family named by argv[1]. */
int ctl_dispatch(struct ctl *ctl, const char *family, const struct ctl_cmd *cmds,
    const char *body, int argc, char **argv);

/* Loads the config and opens the database: CTL_OK or CTL_FAIL. */
int ctl_open(struct ctl *ctl);
void ctl_close(struct ctl *ctl);

/* wake.c: after a write, tells a running rapportd (SIGUSR1) to plan now;
 * silently nothing when none runs.  Needs ctl_open() done. */
void ctl_wake(struct ctl *ctl);

/* Normalizes addr with the config's folding: 0, or -1 if invalid. */
int ctl_normalize(struct ctl *ctl, const char *addr, char *out, size_t len);
/* The customer an argument names (an address, or "#ID"/an id number);
 * prints the error itself. */
int ctl_find_customer(struct ctl *ctl, const char *arg, int64_t *id);
/* "ADDR already belongs to customer 3 (Anna Schmidt)" into buf. */
void ctl_owner_message(struct ctl *ctl, const char *addr, int64_t owner,
    char *buf, size_t len);

/* ---- field.c: values of a customer's fields, checked ---- */

/* Each returns NULL, or why the value is refused. */
const char *field_birthday(const char *s, int *year, int *month, int *day);
const char *field_tier(const char *s, char *tier);
const char *field_tz(const char *s);
/* Writes the lowercased primary language subtag into out (>= 9 bytes). */
const char *field_lang(const char *s, char *out, size_t len);
const char *field_yesno(const char *s, bool *v);
const char *field_tag(const char *s);
/* Formats a birthday as "YYYY-MM-DD" or "--MM-DD" (buf >= 16 bytes);
 * "" when there is none. */
void field_format_birthday(int year, int month, int day, char *buf, size_t len);
/* Trims ASCII white space at both ends, in place. */
char *field_trim(char *s);

#endif
