/* The CalDAV discovery cursor's text (connectors/caldav_cache.h). */
#include <stdlib.h>
#include <string.h>

#include "caldav_cache.h"
#include "config.h"
#include "tap.h"

int
main(void)
{
	char *cals_cfg[] = { "Work", "tab\there" };
	struct caldav_account a = { .ep = { .url = "https://dav.example/",
	    .user = "kim" }, .calendars = cals_cfg, .n_calendars = 2 };
	struct caldav_account other = a;
	struct caldav_cal in[2] = {
		{ "/kim/work/", "https://dav.example/kim/work/",
		    "Work 100%\tnew\nline", "#ff0000", "ctag-1", true },
		{ "/kim/old/", "https://dav.example/kim/old/", "/kim/old/",
		    NULL, NULL, false },
	};
	struct caldav_cal *out;
	size_t n;
	int64_t at;
	char *text;

	text = caldav_cache_encode(&a, 1790000000, in, 2);
	ok(strchr(text, '\r') == NULL, "no CR in the text");
	is_int(caldav_cache_decode(text, &a, &at, &out, &n), 0, "decodes");
	is_int((long long)at, 1790000000LL, "time kept");
	is_int((int)n, 2, "two calendars");
	is_str(out[0].href, "/kim/work/", "href");
	is_str(out[0].url, "https://dav.example/kim/work/", "url");
	is_str(out[0].name, "Work 100%\tnew\nline", "name with tab, LF, percent");
	is_str(out[0].color, "#ff0000", "colour");
	ok(out[0].ctag == NULL, "ctag is not remembered");
	ok(out[0].sync && !out[1].sync, "sync-collection flags");
	ok(out[1].color == NULL, "no colour stays NULL");
	caldav_cals_free(out, n);

	other.ep.url = "https://dav2.example/";
	is_int(caldav_cache_decode(text, &other, &at, &out, &n), -1,
	    "another url: no cache");
	other = a;
	other.n_calendars = 1;
	is_int(caldav_cache_decode(text, &other, &at, &out, &n), -1,
	    "other calendars configured: no cache");
	other = a;
	other.ep.user = "lee";
	is_int(caldav_cache_decode(text, &other, &at, &out, &n), -1,
	    "another user: no cache");
	ok(out == NULL && n == 0, "nothing handed back on refusal");

	text[strlen(text) - 3] = '%';
	is_int(caldav_cache_decode(text, &a, &at, &out, &n), -1,
	    "a malformed escape is refused");
	free(text);
	text = caldav_cache_encode(&a, 5, in, 0);
	is_int(caldav_cache_decode(text, &a, &at, &out, &n), -1,
	    "no calendars: no cache");
	free(text);
	is_int(caldav_cache_decode(NULL, &a, &at, &out, &n), -1, "NULL");
	is_int(caldav_cache_decode("rapport-caldav-discovery 1\n", &a, &at,
	    &out, &n), -1, "truncated");
	return tap_done();
}
