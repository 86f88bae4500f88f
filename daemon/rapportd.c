/*
 * rapportd: loads the configuration and the templates, opens the store,
 * starts one thread per connector account and then runs the main loop:
 * signals, wake-ups, the planner timer and the watchdog, none of which
 * ever waits on the network.
 */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "caldav.h"
#include "clock.h"
#include "config.h"
#include "connector.h"
#include "log.h"
#include "mainloop.h"
#include "notify.h"
#include "planner.h"
#include "store.h"
#include "template.h"
#include "wake.h"
#include "xmalloc.h"

#define DEFAULT_CONFIG		SYSCONFDIR "/rapport/rapport.conf"
#define PLANNER_PERIOD_MS	(60u * 1000u)
/* How often STATUS= shows the connectors' latest progress. */
#define STATUS_PERIOD_MS	(5u * 1000u)
/* systemd's default stop timeout is 90 s; we aim far below one. */
#define STOP_TIMEOUT_MS		500

enum { EXIT_USAGE = 2 };

enum {
	OPT_ONCE = 256,
	OPT_CHECK_CONFIG,
	OPT_VERSION,
};

struct options {
	const char	*config;
	bool		 once;
	bool		 check;
	bool		 verbose;
	int		 trace;
};

/* What a reload replaces as one piece. */
struct daemon_conf {
	struct config		 cfg;
	struct template_set	*templates;
};

struct daemon {
	const char		*config_path;
	struct daemon_conf	*conf;
	struct store		*store;
	struct connector_set	*connectors;
	struct mainloop		*ml;
	int			 sigfd;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rapportd [-c FILE] [--once | --check-config] [-v] [-T LIST]\n"
	    "\n"
	    "  -c, --config FILE   configuration (default %s)\n"
	    "      --once          sync every account, plan, send what is due, exit\n"
	    "      --check-config  check the configuration and the templates, exit\n"
	    "  -v, --verbose       log debug messages\n"
	    "  -T, --trace LIST    trace imap,caldav,smtp,plan,store,link or all\n"
	    "      --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n",
	    DEFAULT_CONFIG);
}

/* Returns -1 to continue, or the exit status. */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config",	  required_argument, NULL, 'c' },
		{ "once",	  no_argument,	     NULL, OPT_ONCE },
		{ "check-config", no_argument,	     NULL, OPT_CHECK_CONFIG },
		{ "verbose",	  no_argument,	     NULL, 'v' },
		{ "trace",	  required_argument, NULL, 'T' },
		{ "version",	  no_argument,	     NULL, OPT_VERSION },
		{ "help",	  no_argument,	     NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct options){ .config = DEFAULT_CONFIG };
	while ((ch = getopt_long(argc, argv, "c:vT:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case OPT_ONCE:
			o->once = true;
			break;
		case OPT_CHECK_CONFIG:
			o->check = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'T':
			if (log_trace_parse(optarg, &o->trace) < 0) {
				fprintf(stderr, "rapportd: --trace %s: unknown "
				    "category (imap, caldav, smtp, plan, store, "
				    "link, all)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_VERSION:
			printf("rapportd %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rapportd: unexpected argument: %s\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o->once && o->check) {
		fprintf(stderr, "rapportd: --once and --check-config exclude "
		    "each other\n");
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- loading ---- */

struct load_errors {
	bool	 to_log;	/* the daemon logs; --check-config prints */
	char	*first;		/* for the one-line reload message */
	int	 n;
};

static void
load_error(void *arg, const char *msg)
{
	struct load_errors *e = arg;

	if (e->to_log)
		log_errx("%s", msg);
	else
		fprintf(stderr, "%s\n", msg);
	if (!e->first)
		e->first = xstrdup(msg);
	e->n++;
}

static void
daemon_conf_free(struct daemon_conf *dc)
{
	if (!dc)
		return;
	config_free(&dc->cfg);
	template_set_free(dc->templates);
	free(dc);
}

/*
 * Parses the config and its templates.  Returns NULL with every error
 * reported through e (the first one kept in e->first).
 */
static struct daemon_conf *
daemon_conf_load(const char *path, struct load_errors *e)
{
	struct daemon_conf *dc = xcalloc(1, sizeof(*dc));
	char err[512];
	int r;

	if (config_load(path, &dc->cfg, err, sizeof(err)) < 0) {
		load_error(e, err);
		free(dc);
		return NULL;
	}
	if (!dc->cfg.templates)
		return dc;
	r = template_set_load(dc->cfg.templates, &dc->templates, load_error, e);
	if (r < 0 && e->n == 0) {
		snprintf(err, sizeof(err), "%s: cannot read the templates",
		    dc->cfg.templates);
		load_error(e, err);
	}
	if (r != 0 || e->n > 0) {
		daemon_conf_free(dc);
		return NULL;
	}
	return dc;
}

static int
check_config(const char *path)
{
	struct load_errors e = { .to_log = false };
	struct daemon_conf *dc = daemon_conf_load(path, &e);

	free(e.first);
	if (!dc)
		return EXIT_FAILURE;
	printf("%s: ok (%zu imap, %zu smtp, %zu caldav accounts)\n", path,
	    dc->cfg.n_imap, dc->cfg.n_smtp, dc->cfg.n_caldav);
	if (dc->cfg.templates)
		printf("%s: ok (%zu templates)\n", dc->cfg.templates,
		    template_set_count(dc->templates));
	daemon_conf_free(dc);
	return EXIT_SUCCESS;
}

/* ---- status ---- */

static void
daemon_status_row(struct daemon *d, const char *key, const char *value)
{
	if (store_status_set(d->store, key, value, clock_now()) != STORE_OK)
		log_warnx("status %s: %s", key, store_errmsg(d->store));
}

static void
daemon_status_started(struct daemon *d)
{
	char buf[32];

	clock_format_utc(clock_now(), buf, sizeof(buf));
	daemon_status_row(d, "daemon.started", buf);
	snprintf(buf, sizeof(buf), "%ld", (long)getpid());
	daemon_status_row(d, "daemon.pid", buf);
	daemon_status_row(d, "daemon.version", PACKAGE_VERSION);
}

/* Connector threads may not call sd_notify: they write status rows
 * ("imap.work" = "INBOX: 1200 of 5000"), which the main thread relays. */
static int
daemon_status_progress(void *arg, const char *key, const char *value,
    int64_t at)
{
	char *buf = arg;
	const char *dot = strchr(key, '.');
	size_t len = strlen(buf);

	(void)at;
	if (!dot || !value || (strncmp(key, "imap.", 5) != 0 &&
	    strncmp(key, "caldav.", 7) != 0) || len + 8 >= 256)
		return 0;
	snprintf(buf + len, 256 - len, "; %.*s %s: %s", (int)(dot - key), key,
	    dot + 1, value);
	return 0;
}

/* The line `systemctl status` shows. */
static void
daemon_notify_status(struct daemon *d)
{
	int64_t customers = 0;
	char progress[256] = "";

	if (store_customer_count(d->store, &customers) != STORE_OK)
		customers = -1;
	if (store_status_foreach(d->store, daemon_status_progress,
	    progress) != STORE_OK)
		progress[0] = '\0';
	notify_status("idle; %lld customers; %zu connectors%s",
	    (long long)customers, connector_set_count(d->connectors),
	    progress);
}

static void
on_status_timer(void *arg)
{
	daemon_notify_status(arg);
}

/* ---- the main loop's work ---- */

static void
daemon_plan(struct daemon *d)
{
	planner_run(d->store, &d->conf->cfg, d->conf->templates,
	    (time_t)clock_now());
	/* What was just planned may be due now: the senders look again. */
	connector_set_wake_kind(d->connectors, "smtp");
	daemon_notify_status(d);
}

static void
on_planner_timer(void *arg)
{
	daemon_plan(arg);
}

static void
on_watchdog_timer(void *arg)
{
	notify_watchdog();
}

static void
on_wake(void *arg, int fd)
{
	char reason[128];

	if (!wake_take(reason, sizeof(reason)))
		return;
	log_debug("wake-up: %s", reason[0] ? reason : "-");
	daemon_plan(arg);
}

static void
daemon_start_connectors(struct daemon *d)
{
	if (connector_set_start(connector_registry, &d->conf->cfg,
	    &d->connectors) < 0)
		log_warnx("some connector accounts did not start");
}

/*
 * Stops the connectors.  Threads that did not stop in time still read
 * their config, so the caller must then keep it; returns how many.
 */
static size_t
daemon_stop_connectors(struct daemon *d)
{
	size_t stuck = connector_set_stop(d->connectors, STOP_TIMEOUT_MS);

	d->connectors = NULL;
	return stuck;
}

/* A new database path needs a new main connection; NULL: keep the old. */
static int
daemon_reopen_store(struct daemon *d, const struct config *ncfg,
    struct store **nst, char *err, size_t errlen)
{
	*nst = NULL;
	if (strcmp(ncfg->database, d->conf->cfg.database) == 0)
		return 0;
	return store_open(ncfg->database, nst, err, errlen) == STORE_OK ? 0 : -1;
}

static void
daemon_reload(struct daemon *d)
{
	struct load_errors e = { .to_log = true };
	struct daemon_conf *dc;
	struct store *nst = NULL;
	char err[512];

	notify_reloading();
	log_notice("reloading %s", d->config_path);
	dc = daemon_conf_load(d->config_path, &e);
	if (dc && daemon_reopen_store(d, &dc->cfg, &nst, err, sizeof(err)) < 0) {
		load_error(&e, err);
		daemon_conf_free(dc);
		dc = NULL;
	}
	if (!dc) {
		log_errx("reload failed: %s; keeping the running configuration",
		    e.first ? e.first : "unknown error");
		free(e.first);
		notify_ready();
		daemon_notify_status(d);
		return;
	}
	/* Simplest correct swap: every account restarts with the new config. */
	if (daemon_stop_connectors(d) > 0)
		log_warnx("keeping the old configuration in memory for the "
		    "connectors that did not stop");
	else
		daemon_conf_free(d->conf);
	d->conf = dc;
	if (nst) {
		store_close(d->store);
		d->store = nst;
		daemon_status_started(d);
	}
	daemon_start_connectors(d);
	daemon_status_row(d, "daemon.state", "running");
	log_notice("reloaded %s", d->config_path);
	notify_ready();
	daemon_notify_status(d);
}

static void
on_signal(void *arg, int fd)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("SIG%s: stopping", sigabbrev_np((int)si.ssi_signo));
			mainloop_quit(d->ml, EXIT_SUCCESS);
			return;
		case SIGHUP:
			daemon_reload(d);
			break;
		case SIGUSR1:
			/* rapportctl after a write: plan now, sync now. */
			connector_set_wake(d->connectors);
			wake_daemon("SIGUSR1");
			break;
		}
	}
}

/* ---- start and stop ---- */

/* Signals become events on a signalfd; blocked before any thread exists
 * so that every thread inherits the mask. */
static int
daemon_signals(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -1 : 0;
}

static int
daemon_open(struct daemon *d, const char *path)
{
	struct load_errors e = { .to_log = true };
	char err[512];

	d->config_path = path;
	d->sigfd = -1;
	if (clock_init(err, sizeof(err)) < 0) {
		log_errx("%s", err);
		return -1;
	}
	d->conf = daemon_conf_load(path, &e);
	free(e.first);
	if (!d->conf)
		return -1;
	if (store_open(d->conf->cfg.database, &d->store, err, sizeof(err)) !=
	    STORE_OK) {
		log_errx("%s", err);
		d->store = NULL;
		return -1;
	}
	return 0;
}

static void
daemon_close(struct daemon *d)
{
	if (d->store)
		store_close(d->store);
	daemon_conf_free(d->conf);
	if (d->sigfd >= 0)
		close(d->sigfd);
	wake_fini();
	mainloop_free(d->ml);
}

static int
daemon_once(struct daemon *d)
{
	const struct connector_ops *sync[16], *send[16];
	size_t nsync = 0, nsend = 0, failed;

	/* Sync first, then plan from what came in, then send what is due:
	 * one pass sees a sale arrive and its follow-up go out if due. */
	for (const struct connector_ops *const *r = connector_registry; *r; r++) {
		if (strcmp((*r)->kind, "smtp") == 0) {
			if (nsend + 1 < sizeof(send) / sizeof(send[0]))
				send[nsend++] = *r;
		} else if (nsync + 1 < sizeof(sync) / sizeof(sync[0])) {
			sync[nsync++] = *r;
		}
	}
	sync[nsync] = NULL;
	send[nsend] = NULL;
	failed = connector_run_once(sync, &d->conf->cfg, d->store);
	if (planner_run(d->store, &d->conf->cfg, d->conf->templates,
	    (time_t)clock_now()) < 0)
		failed++;
	failed += connector_run_once(send, &d->conf->cfg, d->store);
	log_info("one pass done: %zu failures", failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int
daemon_serve(struct daemon *d)
{
	uint64_t watchdog_ms = notify_init();
	int status;

	if (daemon_signals(d) < 0 || wake_init() < 0) {
		log_err("cannot set up signals and wake-ups");
		return EXIT_FAILURE;
	}
	d->ml = mainloop_new();
	mainloop_add_fd(d->ml, d->sigfd, on_signal, d);
	mainloop_add_fd(d->ml, wake_fd(), on_wake, d);
	mainloop_timer_now(d->ml,
	    mainloop_add_timer(d->ml, PLANNER_PERIOD_MS, on_planner_timer, d));
	if (watchdog_ms)
		mainloop_add_timer(d->ml, watchdog_ms, on_watchdog_timer, d);
	mainloop_add_timer(d->ml, STATUS_PERIOD_MS, on_status_timer, d);

	daemon_status_started(d);
	daemon_status_row(d, "daemon.state", "running");
	daemon_start_connectors(d);
	log_notice("started: %s, %zu connector threads", d->config_path,
	    connector_set_count(d->connectors));
	notify_ready();
	daemon_notify_status(d);

	status = mainloop_run(d->ml);

	notify_stopping();
	if (daemon_stop_connectors(d) > 0)
		status = EXIT_FAILURE;
	daemon_status_row(d, "daemon.state", "stopped");
	log_notice("stopped");
	return status < 0 ? EXIT_FAILURE : status;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct daemon d = { .sigfd = -1 };
	int status;

	status = parse_options(argc, argv, &o);
	if (status >= 0)
		return status;
	log_init("rapportd", o.verbose);
	log_set_trace(o.trace);
	if (o.check)
		return check_config(o.config);
	/* libcurl, libxml2 and libical's zones: before any thread starts. */
	if (caldav_global_init() < 0) {
		log_errx("cannot initialize libcurl or libical's time zones");
		return EXIT_FAILURE;
	}
	if (daemon_open(&d, o.config) < 0) {
		daemon_close(&d);
		return EXIT_FAILURE;
	}
	status = o.once ? daemon_once(&d) : daemon_serve(&d);
	daemon_close(&d);
	caldav_global_shutdown();
	return status;
}
