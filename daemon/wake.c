#include "wake.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

static atomic_int wake_efd = -1;
/* The reason of the most recent wake-up; several coalesce into one. */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static char wake_reason[128];

int
wake_init(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return -1;
	atomic_store(&wake_efd, fd);
	return 0;
}

void
wake_fini(void)
{
	int fd = atomic_exchange(&wake_efd, -1);

	if (fd >= 0)
		close(fd);
}

int
wake_fd(void)
{
	return atomic_load(&wake_efd);
}

void
wake_daemon(const char *reason)
{
	uint64_t one = 1;
	int fd = atomic_load(&wake_efd);

	if (fd < 0)
		return;
	pthread_mutex_lock(&wake_lock);
	snprintf(wake_reason, sizeof(wake_reason), "%s", reason ? reason : "");
	pthread_mutex_unlock(&wake_lock);
	/* EAGAIN means the counter is full: a wake-up is pending anyway. */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

int
wake_take(char *reason, size_t len)
{
	uint64_t n = 0;
	int fd = atomic_load(&wake_efd);

	if (fd < 0 || read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n) || n == 0)
		return 0;
	if (reason && len) {
		pthread_mutex_lock(&wake_lock);
		snprintf(reason, len, "%s", wake_reason);
		pthread_mutex_unlock(&wake_lock);
	}
	return 1;
}
