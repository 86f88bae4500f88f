/*
 * The daemon's plumbing: connector backoff and thread lifecycle, the
 * wake-up channel, the main loop's timers.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"
#include "mainloop.h"
#include "store.h"
#include "wake.h"

#include "tap.h"

static void
test_backoff(void)
{
	unsigned i, ms, prev = 0;
	int monotone = 1, bounded = 1;

	is_int(connector_backoff_ms(1, 0xffff), 1000, "first retry: 1 s at most");
	is_int(connector_backoff_ms(1, 0), 500, "first retry: 0.5 s at least");
	is_int(connector_backoff_ms(2, 0xffff), 2000, "second retry doubles");
	is_int(connector_backoff_ms(9, 0xffff), 256000, "ninth retry: 256 s");
	is_int(connector_backoff_ms(10, 0xffff), 300000, "then capped at 5 min");
	is_int(connector_backoff_ms(1000, 0xffff), 300000, "still capped later");
	is_int(connector_backoff_ms(1000000, 0), 150000, "jitter keeps half");
	for (i = 1; i < 40; i++) {
		ms = connector_backoff_ms(i, 0xffff);
		if (ms < prev)
			monotone = 0;
		if (ms > 300000)
			bounded = 0;
		prev = ms;
	}
	ok(monotone && bounded, "the ceiling never falls and never passes 5 min");
}

static void
test_wake(void)
{
	char reason[64];

	wake_daemon("before init");	/* must do nothing */
	ok(wake_init() == 0, "wake channel created");
	ok(wake_take(reason, sizeof(reason)) == 0, "nothing pending at first");
	wake_daemon("one");
	wake_daemon("two");
	ok(wake_take(reason, sizeof(reason)) == 1, "wake-ups are pending");
	is_str(reason, "two", "the latest reason is kept");
	ok(wake_take(reason, sizeof(reason)) == 0, "and they coalesce into one");
	wake_fini();
	wake_daemon("after fini");
	ok(wake_fd() == -1, "closed after wake_fini");
}

struct loop_count {
	struct mainloop	*ml;
	int		 fast, slow;
};

static void
on_fast(void *arg)
{
	struct loop_count *lc = arg;

	if (++lc->fast == 5)
		mainloop_quit(lc->ml, 7);
}

static void
on_slow(void *arg)
{
	((struct loop_count *)arg)->slow++;
}

static void
test_mainloop(void)
{
	struct loop_count lc = { .ml = mainloop_new() };
	uint64_t t0 = mainloop_now_ms();
	int slow;

	mainloop_add_timer(lc.ml, 10, on_fast, &lc);
	slow = mainloop_add_timer(lc.ml, 100000, on_slow, &lc);
	mainloop_timer_now(lc.ml, slow);
	is_int(mainloop_run(lc.ml), 7, "mainloop_run returns the quit status");
	is_int(lc.fast, 5, "a 10 ms timer ran five times");
	is_int(lc.slow, 1, "a kicked timer ran once, at once");
	ok(mainloop_now_ms() - t0 < 1000, "and it all took well under a second");
	mainloop_free(lc.ml);
}

/* ---- a connector that fails once, then waits for stop or wake-ups ---- */

static atomic_int fake_runs, fake_wakes, fake_stops, fake_stores;

static enum connector_result
fake_run(struct connector_ctx *ctx)
{
	int r;

	if (ctx->store)
		atomic_fetch_add(&fake_stores, 1);
	if (atomic_fetch_add(&fake_runs, 1) == 0)
		return CONNECTOR_RETRY;
	connector_healthy(ctx);
	while (!connector_stopping(ctx)) {
		r = connector_wait(ctx, -1, 0, 10000);
		if (r == CONNECTOR_WAIT_WAKE && !connector_stopping(ctx))
			atomic_fetch_add(&fake_wakes, 1);
	}
	return CONNECTOR_OK;
}

static enum connector_result
fake_once(struct connector_ctx *ctx)
{
	return strcmp(ctx->ep->name, "bad") == 0 ? CONNECTOR_RETRY : CONNECTOR_OK;
}

static void
fake_stop(struct connector_ctx *ctx)
{
	atomic_fetch_add(&fake_stops, 1);
}

static const struct connector_ops fake_ops = {
	.name = "fake", .kind = "imap",
	.run = fake_run, .once = fake_once, .stop = fake_stop,
};
static const struct connector_ops *const fake_registry[] = { &fake_ops, NULL };

static void
wait_for(atomic_int *v, int want, int ms)
{
	while (atomic_load(v) < want && ms-- > 0)
		usleep(1000);
}

static void
test_connectors(const char *dir)
{
	struct imap_account acc[2];
	struct config cfg;
	struct connector_set *set;
	struct store *st;
	char db[512], err[256];
	uint64_t t0;

	memset(&cfg, 0, sizeof(cfg));
	memset(acc, 0, sizeof(acc));
	snprintf(db, sizeof(db), "%s/connector.db", dir);
	cfg.database = db;
	acc[0].ep.name = "work";
	acc[1].ep.name = "bad";
	cfg.imap = acc;
	cfg.n_imap = 2;

	ok(connector_set_start(fake_registry, &cfg, &set) == 0,
	    "one thread per account started");
	is_int(connector_set_count(set), 2, "two accounts, two threads");
	/* Each fails once (only the first run overall), backs off ≤ 1 s. */
	wait_for(&fake_runs, 3, 3000);
	is_int(atomic_load(&fake_runs), 3, "a failed run is retried after the backoff");
	is_int(atomic_load(&fake_stores), 3, "each run has its own store connection");
	connector_set_wake(set);
	wait_for(&fake_wakes, 2, 2000);
	is_int(atomic_load(&fake_wakes), 2, "a wake-up reaches every account");
	t0 = mainloop_now_ms();
	is_int(connector_set_stop(set, 500), 0, "every thread stopped in time");
	ok(mainloop_now_ms() - t0 < 500, "stopping took under 500 ms");
	is_int(atomic_load(&fake_stops), 2, "ops->stop was called for each");

	ok(store_open(db, &st, err, sizeof(err)) == STORE_OK, "store opens");
	is_int(connector_run_once(fake_registry, &cfg, st), 1,
	    "--once counts the account that failed");
	store_close(st);
}

int
main(void)
{
	char dir[] = "/tmp/test_connector.XXXXXX", cmd[600];

	test_backoff();
	test_wake();
	test_mainloop();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_connectors(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
