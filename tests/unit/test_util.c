/* Unit tests of the small shared pieces: strbuf, clock, json, address. */
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "json.h"
#include "strbuf.h"
#include "tap.h"

static void
test_strbuf(void)
{
	struct strbuf sb;

	strbuf_init(&sb, 8);
	ok(strbuf_adds(&sb, "abcd") == 0, "strbuf adds under its limit");
	ok(strbuf_addf(&sb, "%d", 1234) == 0, "strbuf reaches its limit exactly");
	ok(strbuf_addc(&sb, 'x') == -1, "strbuf refuses to grow past its limit");
	is_str(strbuf_str(&sb), "abcd1234", "strbuf keeps what fitted");
	strbuf_free(&sb);
}

static void
test_clock(void)
{
	int64_t t;
	char buf[32];

	ok(clock_parse_iso8601("2026-12-01T09:00:00Z", &t) == 0, "parse Z time");
	is_int(t, 1796115600, "2026-12-01T09:00:00Z in epoch seconds");
	ok(clock_parse_iso8601("2026-12-01T10:00:00+01:00", &t) == 0, "parse offset");
	is_int(t, 1796115600, "an offset is subtracted");
	ok(clock_parse_iso8601("2026-12-01", &t) == 0, "a date alone");
	ok(clock_parse_iso8601("2026-13-01", &t) == -1, "month 13 refused");
	ok(clock_parse_iso8601("2026-12-01T09:00Zjunk", &t) == -1, "trailing junk refused");
	clock_format_utc(1796115600, buf, sizeof(buf));
	is_str(buf, "2026-12-01T09:00:00Z", "format round-trips");
	setenv("RAPPORT_NOW", "2026-12-01T09:00:00Z", 1);
	ok(clock_init(buf, sizeof(buf)) == 0 && clock_now() == 1796115600,
	    "RAPPORT_NOW pins the clock");
	setenv("RAPPORT_NOW", "tomorrow", 1);
	ok(clock_init(buf, sizeof(buf)) == -1, "a bad RAPPORT_NOW is an error");
	unsetenv("RAPPORT_NOW");
	clock_init(buf, sizeof(buf));
}

static void
test_json(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	struct json j;

	json_init(&j, fp, false);
	json_object_begin(&j);
	json_kv_string(&j, "name", "a\"b\\c\n\x01");
	json_key(&j, "list");
	json_array_begin(&j);
	json_int(&j, 1);
	json_string(&j, "bad \xff utf8");
	json_null(&j);
	json_array_end(&j);
	json_kv_bool(&j, "ok", true);
	json_object_end(&j);
	fclose(fp);
	is_str(out, "{\"name\":\"a\\\"b\\\\c\\n\\u0001\",\"list\":[1,\"bad \xef\xbf\xbd utf8\",null],\"ok\":true}",
	    "json escapes quotes, controls and invalid UTF-8");
	free(out);
}

static void
test_address(void)
{
	char out[256];

	ok(address_normalize("  Kim.Lee+crm@Example.COM ", true, out, sizeof(out)) == 0 &&
	    strcmp(out, "kim.lee@example.com") == 0, "case and +tag folded");
	ok(address_normalize("kim+crm@example.com", false, out, sizeof(out)) == 0 &&
	    strcmp(out, "kim+crm@example.com") == 0, "+tag kept when folding is off");
	ok(address_normalize("+x@example.com", true, out, sizeof(out)) == 0 &&
	    strcmp(out, "+x@example.com") == 0, "a local part that is only +tag stays");
	ok(address_normalize("no-at-sign", true, out, sizeof(out)) == -1, "no @ refused");
	ok(address_normalize("a@b@c", true, out, sizeof(out)) == -1, "two @ refused");
	ok(address_normalize("a b@c.com", true, out, sizeof(out)) == -1, "space refused");
	ok(address_normalize("a@c.com\r\nBcc: x@y", true, out, sizeof(out)) == -1,
	    "CR/LF refused");
	ok(address_normalize("a@c.com", true, out, 4) == -1, "too long for out refused");
	is_str(address_domain("kim@example.com"), "example.com", "domain of an address");
	ok(address_normalize("Kim@\xec\x98\x88\xec\x8b\x9c.KR", true, out, sizeof(out)) == 0 &&
	    strncmp(out, "kim@xn--", 8) == 0 && strstr(out, ".kr") != NULL,
	    "IDN domain in its ASCII form: %s", out);
	{
		char ace[128];
		address_normalize(out, true, ace, sizeof(ace));
		is_str(ace, out, "an ASCII-form IDN address normalizes to itself");
	}
	ok(address_normalize("kim@b\xc3\xbc" "cher.example", true, out, sizeof(out)) == 0,
	    "Latin IDN domain accepted");
	is_str(out, "kim@xn--bcher-kva.example", "IDN b\xc3\xbc" "cher -> xn--bcher-kva");
	ok(address_normalize("kim@\xff\xfe.example", true, out, sizeof(out)) == -1,
	    "invalid UTF-8 domain refused");
}

int
main(void)
{
	test_strbuf();
	test_clock();
	test_json();
	test_address();
	return tap_done();
}
