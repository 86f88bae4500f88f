/* What every rapportctl command shares: messages, help, config and store. */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "xmalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

int
ctl_usage(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rapportctl%s%s: ", ctl->cmd ? " " : "",
	    ctl->cmd ? ctl->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rapportctl%s%s --help)\n", ctl->cmd ? " " : "",
	    ctl->cmd ? ctl->cmd : "");
	return CTL_USAGE;
}

int
ctl_fail(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	(void)ctl;
	fputs("rapportctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_FAIL;
}

void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("rapportctl: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_getopt_error(struct ctl *ctl, char **argv, int opt)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return ctl_usage(ctl, "option %s needs a value", arg);
	if (optopt && arg[0] == '-' && arg[1] != '-')
		return ctl_usage(ctl, "unknown option -%c", optopt);
	return ctl_usage(ctl, "unknown option %s", arg);
}

int
ctl_json_args(struct ctl *ctl, int argc, char **argv, const char *synopsis,
    const char *help, bool *helped)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			*helped = true;
			return ctl_help(ctl->cmd, synopsis, help);
		}
		if (opt != 'j')
			return ctl_getopt_error(ctl, argv, opt);
		ctl->json = true;
	}
	return CTL_OK;
}

int
ctl_help(const char *name, const char *synopsis, const char *body)
{
	printf("Usage: rapportctl %s%s%s\n", name, *synopsis ? " " : "", synopsis);
	if (body && *body)
		printf("\n%s", body);
	return CTL_OK;
}

static int
ctl_family_help(const char *family, const struct ctl_cmd *cmds, const char *body)
{
	printf("Usage: rapportctl [-c FILE] [--json] %s COMMAND [ARG...]\n\n", family);
	if (body)
		printf("%s\n", body);
	printf("Commands:\n");
	for (const struct ctl_cmd *c = cmds; c->name; c++)
		printf("  %-8s %s\n", c->name, c->summary);
	printf("\n'rapportctl %s COMMAND --help' describes each one.\n", family);
	return CTL_OK;
}

int
ctl_dispatch(struct ctl *ctl, const char *family, const struct ctl_cmd *cmds,
    const char *body, int argc, char **argv)
{
	static char name[64];

	ctl->cmd = family;
	if (argc < 2)
		return ctl_usage(ctl, "a command is needed");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return ctl_family_help(family, cmds, body);
	for (const struct ctl_cmd *c = cmds; c->name; c++) {
		if (strcmp(argv[1], c->name) == 0) {
			snprintf(name, sizeof(name), "%s %s", family, c->name);
			ctl->cmd = name;
			return c->run(ctl, argc - 1, argv + 1);
		}
	}
	return ctl_usage(ctl, "unknown command '%s'", argv[1]);
}

int
ctl_open(struct ctl *ctl)
{
	char err[512];
	const char *path = ctl->config_path;

	if (ctl->st)
		return CTL_OK;
	if (!path)
		path = getenv("RAPPORT_CONFIG");
	if (!path || !*path)
		path = SYSCONFDIR "/rapport/rapport.conf";
	if (config_load(path, &ctl->cfg, err, sizeof(err)) == -1)
		return ctl_fail(ctl, "%s", err);
	ctl->cfg_loaded = true;
	if (!ctl->cfg.database || !*ctl->cfg.database)
		return ctl_fail(ctl, "%s: [rapport] database is not set", path);
	if (store_open(ctl->cfg.database, &ctl->st, err, sizeof(err)) != STORE_OK)
		return ctl_fail(ctl, "%s: %s", ctl->cfg.database, err);
	return CTL_OK;
}

void
ctl_close(struct ctl *ctl)
{
	if (ctl->st)
		store_close(ctl->st);
	ctl->st = NULL;
	if (ctl->cfg_loaded)
		config_free(&ctl->cfg);
	ctl->cfg_loaded = false;
}

int
ctl_normalize(struct ctl *ctl, const char *addr, char *out, size_t len)
{
	bool fold = ctl->cfg_loaded ? ctl->cfg.link.fold_plus : true;

	return address_normalize(addr, fold, out, len);
}

/* "#12" or "12": a customer id, for customers reached without an address. */
static bool
ctl_parse_id(const char *arg, int64_t *id)
{
	char *end;
	long long v;

	if (*arg == '#')
		arg++;
	if (*arg < '0' || *arg > '9')
		return false;
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || v <= 0)
		return false;
	*id = v;
	return true;
}

int
ctl_find_customer(struct ctl *ctl, const char *arg, int64_t *id)
{
	char norm[320];
	struct customer c;
	int rc;

	if (ctl_parse_id(arg, id)) {
		customer_init(&c);
		rc = store_customer_get(ctl->st, *id, &c);
		customer_clear(&c);
		if (rc == STORE_NOTFOUND)
			return ctl_fail(ctl, "no customer #%" PRId64, *id);
		if (rc != STORE_OK)
			return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
		return CTL_OK;
	}
	if (ctl_normalize(ctl, arg, norm, sizeof(norm)) == -1)
		return ctl_usage(ctl, "'%s' is not an e-mail address", arg);
	rc = store_customer_find_email(ctl->st, norm, id);
	if (rc == STORE_NOTFOUND)
		return ctl_fail(ctl, "no customer has the address %s", norm);
	if (rc != STORE_OK)
		return ctl_fail(ctl, "%s", store_errmsg(ctl->st));
	return CTL_OK;
}

void
ctl_owner_message(struct ctl *ctl, const char *addr, int64_t owner,
    char *buf, size_t len)
{
	struct customer c;

	customer_init(&c);
	if (store_customer_get(ctl->st, owner, &c) == STORE_OK)
		snprintf(buf, len, "%s already belongs to customer #%" PRId64 " (%s)",
		    addr, owner, c.name);
	else
		snprintf(buf, len, "%s already belongs to customer #%" PRId64,
		    addr, owner);
	customer_clear(&c);
}
