/*
 * The daemon's one poll() loop: file descriptors (signals through a
 * signalfd, the wake-up channel) and periodic timers (planner, watchdog).
 * Callbacks run on the loop's thread, one at a time, and must not block:
 * anything that may wait on the network belongs to a connector thread.
 */
#ifndef RAPPORT_MAINLOOP_H
#define RAPPORT_MAINLOOP_H

#include <stdint.h>

struct mainloop;

struct mainloop *mainloop_new(void);
void mainloop_free(struct mainloop *ml);

/* fn runs whenever fd is readable.  The loop does not own fd. */
void mainloop_add_fd(struct mainloop *ml, int fd,
    void (*fn)(void *arg, int fd), void *arg);
/*
 * fn runs every period_ms (the first time period_ms from now).  Returns
 * the timer's id for mainloop_timer_*.
 */
int mainloop_add_timer(struct mainloop *ml, uint64_t period_ms,
    void (*fn)(void *arg), void *arg);
/* Runs the timer at the next turn of the loop, then every period again. */
void mainloop_timer_now(struct mainloop *ml, int id);

/* Loops until mainloop_quit(); returns its status, or -1 if poll fails. */
int mainloop_run(struct mainloop *ml);
void mainloop_quit(struct mainloop *ml, int status);

/* Milliseconds on the monotonic clock. */
uint64_t mainloop_now_ms(void);

#endif
