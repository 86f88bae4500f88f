#include "mainloop.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "xmalloc.h"

struct mainloop_fd {
	int	  fd;
	void	(*fn)(void *arg, int fd);
	void	 *arg;
};

struct mainloop_timer {
	uint64_t  period;
	uint64_t  due;
	void	(*fn)(void *arg);
	void	 *arg;
};

struct mainloop {
	struct mainloop_fd	*fds;
	size_t			 nfds;
	struct mainloop_timer	*timers;
	size_t			 ntimers;
	struct pollfd		*pfd;
	bool			 quit;
	int			 status;
};

uint64_t
mainloop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct mainloop *
mainloop_new(void)
{
	return xcalloc(1, sizeof(struct mainloop));
}

void
mainloop_free(struct mainloop *ml)
{
	if (!ml)
		return;
	free(ml->fds);
	free(ml->timers);
	free(ml->pfd);
	free(ml);
}

void
mainloop_add_fd(struct mainloop *ml, int fd, void (*fn)(void *, int),
    void *arg)
{
	ml->fds = xreallocarray(ml->fds, ml->nfds + 1, sizeof(*ml->fds));
	ml->fds[ml->nfds++] = (struct mainloop_fd){ fd, fn, arg };
	ml->pfd = xreallocarray(ml->pfd, ml->nfds, sizeof(*ml->pfd));
	/* Added inside a callback: not polled yet, so nothing to report. */
	ml->pfd[ml->nfds - 1] = (struct pollfd){ .fd = -1 };
}

int
mainloop_add_timer(struct mainloop *ml, uint64_t period_ms,
    void (*fn)(void *), void *arg)
{
	ml->timers = xreallocarray(ml->timers, ml->ntimers + 1,
	    sizeof(*ml->timers));
	ml->timers[ml->ntimers] = (struct mainloop_timer){
		.period = period_ms, .due = mainloop_now_ms() + period_ms,
		.fn = fn, .arg = arg,
	};
	return (int)ml->ntimers++;
}

void
mainloop_timer_now(struct mainloop *ml, int id)
{
	if (id >= 0 && (size_t)id < ml->ntimers)
		ml->timers[id].due = 0;
}

void
mainloop_quit(struct mainloop *ml, int status)
{
	ml->quit = true;
	ml->status = status;
}

/* Runs the due timers; returns the wait until the next one (-1: none). */
static int
mainloop_run_timers(struct mainloop *ml)
{
	uint64_t now = mainloop_now_ms(), next = UINT64_MAX;
	size_t i;

	for (i = 0; i < ml->ntimers && !ml->quit; i++) {
		if (ml->timers[i].due <= now) {
			/* From now, not from due: a late run is not repeated. */
			ml->timers[i].due = now + ml->timers[i].period;
			ml->timers[i].fn(ml->timers[i].arg);
			now = mainloop_now_ms();
		}
		if (ml->timers[i].due < next)
			next = ml->timers[i].due;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000u ? 60000 : (int)(next - now);
}

static void
mainloop_run_fds(struct mainloop *ml)
{
	size_t i;

	for (i = 0; i < ml->nfds && !ml->quit; i++)
		if (ml->pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			ml->fds[i].fn(ml->fds[i].arg, ml->fds[i].fd);
}

int
mainloop_run(struct mainloop *ml)
{
	size_t i, n;
	int timeout, r;

	ml->quit = false;
	while (!ml->quit) {
		timeout = mainloop_run_timers(ml);
		if (ml->quit)
			break;
		n = ml->nfds;
		for (i = 0; i < n; i++)
			ml->pfd[i] = (struct pollfd){
				.fd = ml->fds[i].fd, .events = POLLIN };
		r = poll(ml->pfd, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll");
			return -1;
		}
		if (r > 0)
			mainloop_run_fds(ml);
	}
	return ml->status;
}
