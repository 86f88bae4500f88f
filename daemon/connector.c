#include "connector.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "caldav.h"
#include "config.h"
#include "imap.h"
#include "log.h"
#include "sender.h"
#include "store.h"
#include "xmalloc.h"

/*
 * The IMAP, CalDAV and SMTP connectors of the next issues are listed here.
 */
const struct connector_ops *const connector_registry[] = {
	&imap_connector,
	&caldav_connector,
	&sender_ops,
	NULL,
};

#define BACKOFF_FIRST_MS	1000u
#define BACKOFF_MAX_MS		(5u * 60u * 1000u)

/* One running account.  ctx comes first: the thread gets only ctx. */
struct connector {
	struct connector_ctx	 ctx;
	pthread_t		 thread;
	atomic_bool		 stop;
	unsigned		 failures;	/* consecutive, reset by connector_healthy() */
	unsigned		 seed;		/* for the jitter, this thread's only */
};

struct connector_set {
	struct connector	**c;
	size_t			  n;
};

static struct connector *
connector_of(const struct connector_ctx *ctx)
{
	return (struct connector *)ctx;
}

bool
connector_stopping(const struct connector_ctx *ctx)
{
	return atomic_load(&connector_of(ctx)->stop);
}

void
connector_healthy(struct connector_ctx *ctx)
{
	connector_of(ctx)->failures = 0;
}

unsigned
connector_backoff_ms(unsigned failures, unsigned rnd)
{
	unsigned ms = BACKOFF_FIRST_MS;
	uint64_t scaled;

	while (failures > 1 && ms < BACKOFF_MAX_MS) {
		ms *= 2;
		failures--;
	}
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* [ms/2, ms]: enough spread to break lockstep, never a busy loop. */
	scaled = (uint64_t)(ms / 2) * (rnd & 0xffff) / 0xffff;
	return ms / 2 + (unsigned)scaled;
}

static void
connector_drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

int
connector_wait(struct connector_ctx *ctx, int fd, short events, int timeout_ms)
{
	struct pollfd pfd[2];
	struct timespec start, now;
	int r, left = timeout_ms, elapsed;

	pfd[0] = (struct pollfd){ .fd = ctx->fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = fd, .events = events };
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (connector_stopping(ctx))
			return CONNECTOR_WAIT_WAKE;
		r = poll(pfd, fd >= 0 ? 2 : 1, left);
		if (r > 0)
			break;
		if (r == 0)
			return CONNECTOR_WAIT_TIMEOUT;
		if (errno != EINTR)
			return CONNECTOR_WAIT_ERROR;
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			elapsed = (int)((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000);
			left = timeout_ms > elapsed ? timeout_ms - elapsed : 0;
		}
	}
	if (pfd[0].revents) {
		connector_drain(ctx->fd);
		return CONNECTOR_WAIT_WAKE;
	}
	return CONNECTOR_WAIT_READY;
}

static const char *
connector_account(const struct connector *c)
{
	return c->ctx.ep && c->ctx.ep->name ? c->ctx.ep->name : "-";
}

/* Opens the thread's own store connection when it has none yet. */
static enum connector_result
connector_open_store(struct connector *c)
{
	char err[256];

	if (c->ctx.store)
		return CONNECTOR_OK;
	if (store_open(c->ctx.cfg->database, &c->ctx.store, err,
	    sizeof(err)) != STORE_OK) {
		log_warnx("%s account=%s: %s", c->ctx.ops->name,
		    connector_account(c), err);
		c->ctx.store = NULL;
		return CONNECTOR_RETRY;
	}
	return CONNECTOR_OK;
}

/* Sleeps out the backoff; a stop or an explicit wake-up cuts it short. */
static void
connector_backoff(struct connector *c)
{
	unsigned ms;

	c->failures++;
	ms = connector_backoff_ms(c->failures, (unsigned)rand_r(&c->seed));
	log_notice("%s account=%s: retrying in %u.%03u s (failure %u)",
	    c->ctx.ops->name, connector_account(c), ms / 1000, ms % 1000,
	    c->failures);
	connector_wait(&c->ctx, -1, 0, (int)ms);
}

/* A broken account waits for the reload that may repair it. */
static void
connector_idle(struct connector *c)
{
	log_warnx("%s account=%s: disabled until the configuration is "
	    "reloaded", c->ctx.ops->name, connector_account(c));
	while (!connector_stopping(&c->ctx))
		if (connector_wait(&c->ctx, -1, 0, -1) == CONNECTOR_WAIT_ERROR)
			break;
}

static void *
connector_thread(void *arg)
{
	struct connector *c = arg;
	enum connector_result r;

	log_debug("%s account=%s: started", c->ctx.ops->name,
	    connector_account(c));
	while (!connector_stopping(&c->ctx)) {
		r = connector_open_store(c);
		if (r == CONNECTOR_OK)
			r = c->ctx.ops->run(&c->ctx);
		if (connector_stopping(&c->ctx))
			break;
		if (r == CONNECTOR_FATAL) {
			connector_idle(c);
			break;
		}
		/* run returning OK without a stop is a bug of the connector:
		 * backing off keeps it from spinning. */
		connector_backoff(c);
	}
	if (c->ctx.store)
		store_close(c->ctx.store);
	c->ctx.store = NULL;
	log_debug("%s account=%s: stopped", c->ctx.ops->name,
	    connector_account(c));
	return NULL;
}

/* The accounts of one kind of config section: (first endpoint, count, stride). */
static size_t
connector_accounts(const struct config *cfg, const char *kind,
    const char **base, size_t *stride)
{
	if (strcmp(kind, "imap") == 0) {
		*base = (const char *)cfg->imap;
		*stride = sizeof(*cfg->imap);
		return cfg->n_imap;
	}
	if (strcmp(kind, "smtp") == 0) {
		*base = (const char *)cfg->smtp;
		*stride = sizeof(*cfg->smtp);
		return cfg->n_smtp;
	}
	if (strcmp(kind, "caldav") == 0) {
		*base = (const char *)cfg->caldav;
		*stride = sizeof(*cfg->caldav);
		return cfg->n_caldav;
	}
	return 0;
}

static struct connector *
connector_new(const struct connector_ops *ops, const struct config *cfg,
    const struct endpoint *ep)
{
	struct connector *c = xcalloc(1, sizeof(*c));

	c->ctx.ops = ops;
	c->ctx.cfg = cfg;
	c->ctx.ep = ep;
	c->ctx.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->ctx.fd < 0) {
		log_err("%s account=%s: eventfd", ops->name,
		    ep && ep->name ? ep->name : "-");
		free(c);
		return NULL;
	}
	atomic_init(&c->stop, false);
	c->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
	return c;
}

static void
connector_free(struct connector *c)
{
	close(c->ctx.fd);
	free(c);
}

static void
connector_signal(struct connector *c)
{
	uint64_t one = 1;

	while (write(c->ctx.fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static int
connector_set_add(struct connector_set *set, const struct connector_ops *ops,
    const struct config *cfg, const struct endpoint *ep)
{
	struct connector *c = connector_new(ops, cfg, ep);
	int r;

	if (!c)
		return -1;
	r = pthread_create(&c->thread, NULL, connector_thread, c);
	if (r != 0) {
		errno = r;
		log_err("%s account=%s: cannot start a thread", ops->name,
		    connector_account(c));
		connector_free(c);
		return -1;
	}
	set->c = xreallocarray(set->c, set->n + 1, sizeof(*set->c));
	set->c[set->n++] = c;
	return 0;
}

int
connector_set_start(const struct connector_ops *const *registry,
    const struct config *cfg, struct connector_set **out)
{
	struct connector_set *set = xcalloc(1, sizeof(*set));
	const char *base;
	size_t i, n, stride;
	int rc = 0;

	for (; *registry; registry++) {
		if (!(*registry)->run)
			continue;
		n = connector_accounts(cfg, (*registry)->kind, &base, &stride);
		for (i = 0; i < n; i++)
			if (connector_set_add(set, *registry, cfg,
			    (const struct endpoint *)(base + i * stride)) < 0)
				rc = -1;
	}
	*out = set;
	return rc;
}

size_t
connector_set_count(const struct connector_set *set)
{
	return set ? set->n : 0;
}

void
connector_set_wake(struct connector_set *set)
{
	connector_set_wake_kind(set, NULL);
}

void
connector_set_wake_kind(struct connector_set *set, const char *kind)
{
	size_t i;

	for (i = 0; set && i < set->n; i++) {
		if (kind && strcmp(set->c[i]->ctx.ops->kind, kind) != 0)
			continue;
		if (set->c[i]->ctx.ops->wake)
			set->c[i]->ctx.ops->wake(&set->c[i]->ctx);
		else
			connector_signal(set->c[i]);
	}
}

size_t
connector_set_stop(struct connector_set *set, int timeout_ms)
{
	struct timespec deadline;
	size_t i, stuck = 0;
	struct connector *c;

	if (!set)
		return 0;
	for (i = 0; i < set->n; i++) {
		c = set->c[i];
		atomic_store(&c->stop, true);
		connector_signal(c);
		if (c->ctx.ops->stop)
			c->ctx.ops->stop(&c->ctx);
	}
	/* One deadline for all: they stop in parallel. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < set->n; i++) {
		c = set->c[i];
		if (pthread_timedjoin_np(c->thread, NULL, &deadline) == 0) {
			connector_free(c);
			continue;
		}
		/* Leaked on purpose: the thread may still read c. */
		log_warnx("%s account=%s: did not stop within %d ms",
		    c->ctx.ops->name, connector_account(c), timeout_ms);
		pthread_detach(c->thread);
		stuck++;
	}
	free(set->c);
	free(set);
	return stuck;
}

size_t
connector_run_once(const struct connector_ops *const *registry,
    const struct config *cfg, struct store *st)
{
	struct connector *c;
	const char *base;
	size_t i, n, stride, failed = 0;
	enum connector_result r;

	for (; *registry; registry++) {
		if (!(*registry)->once)
			continue;
		n = connector_accounts(cfg, (*registry)->kind, &base, &stride);
		for (i = 0; i < n; i++) {
			c = connector_new(*registry, cfg,
			    (const struct endpoint *)(base + i * stride));
			if (!c) {
				failed++;
				continue;
			}
			c->ctx.store = st;
			r = c->ctx.ops->once(&c->ctx);
			if (r != CONNECTOR_OK) {
				log_warnx("%s account=%s: pass failed",
				    c->ctx.ops->name, connector_account(c));
				failed++;
			}
			connector_free(c);
		}
	}
	return failed;
}
