#include "event.h"

#include <stdlib.h>
#include <string.h>

size_t
event_declined_count(const struct event *ev)
{
	size_t n = 0;

	for (size_t i = 0; i < ev->nattendees; i++)
		if (ev->attendees[i].partstat == EVENT_PART_DECLINED)
			n++;
	return n;
}

void
event_free(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->uid);
	free(ev->summary);
	free(ev->location);
	free(ev->description);
	free(ev->organizer);
	for (size_t i = 0; i < ev->nattendees; i++) {
		free(ev->attendees[i].addr);
		free(ev->attendees[i].name);
	}
	free(ev->attendees);
	memset(ev, 0, sizeof(*ev));
}

void
event_list_free(struct event_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++)
		event_free(&list->v[i]);
	free(list->v);
	memset(list, 0, sizeof(*list));
}
