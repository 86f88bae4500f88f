/*
 * Connectors: the code that talks to one kind of server (IMAP, CalDAV,
 * SMTP) behind one table of functions.  The daemon runs one thread per
 * configured account of each registered kind; each thread has its own
 * store connection and never touches another thread's data, so a slow or
 * dead server stalls only its own account.
 *
 * The framework (connector.c) owns the threads: it opens the thread's store
 * connection, calls ops->run, and when run fails it waits with a capped
 * exponential backoff (1 s doubling to 5 min, jittered so that accounts on
 * one server do not retry in step) before calling run again.  A stop
 * request sets a flag, makes ctx->fd readable and calls ops->stop; run must
 * then return promptly, so it waits only through connector_wait() (or
 * polls ctx->fd itself) and never blocks without a timeout.
 *
 * Ownership: the config, the endpoint and the store in a connector_ctx
 * belong to the framework and stay valid until run/once returns; priv is
 * the connector's own, freed by it.  A secret from config_secret() is wiped
 * with explicit_bzero() and freed as soon as the login is done, and never
 * logged.
 *
 * Adding a connector: write a const struct connector_ops with designated
 * initializers and list it in connector_registry[] (connector.c).
 */
#ifndef RAPPORT_CONNECTOR_H
#define RAPPORT_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct endpoint;
struct store;

/* What run and once report; each maps to one recovery action. */
enum connector_result {
	CONNECTOR_OK = 0,	/* done: the pass finished, or a stop was asked */
	CONNECTOR_RETRY,	/* transient (network, server busy, store busy): back off, run again */
	CONNECTOR_FATAL,	/* cannot work as configured (password refused, no such
				 * mechanism, certificate refused): idle until reload; a
				 * refused XOAUTH2 token is RETRY (a refresher may fix it) */
};

struct connector_ctx {
	const struct connector_ops *ops;
	const struct config	*cfg;
	/*
	 * The account.  It is the first member of struct imap_account,
	 * smtp_account or caldav_account, so a connector of that kind may
	 * cast it to its own account type.
	 */
	const struct endpoint	*ep;
	struct store		*store;	/* this thread's connection */
	/* Readable when a stop or a wake-up is pending: poll it with yours. */
	int			 fd;
	void			*priv;	/* the connector's own state */
};

struct connector_ops {
	const char	*name;	/* for the log: "imap" */
	const char	*kind;	/* the config section it serves: "imap", "smtp", "caldav" */
	/*
	 * The thread body: connect, sync, then wait for changes (IDLE,
	 * polling) until connector_stopping().  Returns CONNECTOR_OK only
	 * when stopping; anything else makes the framework back off and call
	 * it again.  Call connector_healthy() once the account works, so that
	 * the next failure starts again at the shortest delay.
	 */
	enum connector_result (*run)(struct connector_ctx *ctx);
	/* One full pass and return (rapportd --once).  Runs on the main thread. */
	enum connector_result (*once)(struct connector_ctx *ctx);
	/*
	 * Optional, called from the main thread after the stop flag is set:
	 * interrupt a blocking call (e.g. shutdown() the socket) so that run
	 * returns.  Must be safe to call while run is in any state.
	 */
	void		 (*stop)(struct connector_ctx *ctx);
	/*
	 * Optional, called from the main thread: sync now instead of at the
	 * next poll.  Without it, ctx->fd becomes readable and
	 * connector_wait() returns CONNECTOR_WAIT_WAKE.
	 */
	void		 (*wake)(struct connector_ctx *ctx);
};

/* The connectors this build has, NULL-terminated. */
extern const struct connector_ops *const connector_registry[];

/* ---- for connectors, on their own thread ---- */

bool connector_stopping(const struct connector_ctx *ctx);
/* The account works: the next failure backs off from 1 s again. */
void connector_healthy(struct connector_ctx *ctx);

enum {
	CONNECTOR_WAIT_ERROR = -1,
	CONNECTOR_WAIT_TIMEOUT = 0,
	CONNECTOR_WAIT_READY = 1,	/* fd has one of events */
	CONNECTOR_WAIT_WAKE = 2,	/* a wake-up or a stop: check connector_stopping() */
};
/*
 * Waits up to timeout_ms (-1: no limit) for events on fd (fd < 0: none),
 * or for a stop or wake-up.  EINTR is retried.
 */
int connector_wait(struct connector_ctx *ctx, int fd, short events,
    int timeout_ms);

/*
 * The delay before retry number failures (1 for the first): 1 s doubling,
 * capped at 5 min, then scaled into [50%, 100%] by rnd (any 32-bit value).
 */
unsigned connector_backoff_ms(unsigned failures, unsigned rnd);

/* ---- for the main thread ---- */

struct connector_set;

/*
 * Starts a thread for each account of cfg served by a connector of
 * registry (normally connector_registry).  cfg must outlive the set.
 * Returns 0, or -1 if a thread could not be created (those already
 * started keep running).
 */
int connector_set_start(const struct connector_ops *const *registry,
    const struct config *cfg, struct connector_set **out);
size_t connector_set_count(const struct connector_set *set);
/* Asks every account to sync now. */
void connector_set_wake(struct connector_set *set);
/* Only the accounts of one kind ("smtp": the senders, after planning). */
void connector_set_wake_kind(struct connector_set *set, const char *kind);
/*
 * Stops every thread and waits for them together, at most timeout_ms.
 * Frees the set.  Returns the number of threads that did not end in
 * time: they are detached and still use cfg, which must then be kept.
 */
size_t connector_set_stop(struct connector_set *set, int timeout_ms);

/*
 * rapportd --once: runs each account's once on this thread, in turn, with
 * st as its store.  Returns the number of accounts that failed.
 */
size_t connector_run_once(const struct connector_ops *const *registry,
    const struct config *cfg, struct store *st);

#endif
