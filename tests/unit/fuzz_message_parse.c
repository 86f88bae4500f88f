/*
 * libFuzzer entry for the ingest parsers: the input is a whole message,
 * split at its first blank line into the header block and the body
 * beginning, as the IMAP connector fetches them; the result is
 * classified too.  Not built yet (no --enable-fuzzing); to run by hand:
 *
 *   clang -g -fsanitize=fuzzer,address -D_GNU_SOURCE -Idaemon \
 *       tests/unit/fuzz_message_parse.c daemon/message_parse.c \
 *       daemon/charset.c daemon/classify.c daemon/address.c \
 *       daemon/xmalloc.c daemon/strbuf.c daemon/log.c \
 *       $(pkg-config --cflags --libs libetpan gnutls) -o fuzz_message_parse
 *   ./fuzz_message_parse -max_len=65536 tests/unit/mail
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "charset.h"
#include "classify.h"
#include "message.h"

/* What message.h promises, checked on every input. */
static void
check(const char *s, size_t cap)
{
	if (s && (strlen(s) > cap || !charset_utf8_valid(s, strlen(s))))
		__builtin_trap();
}

static void
check_list(const struct message_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		check(l->v[i].addr, MESSAGE_ADDR_MAX);
		check(l->v[i].name, MESSAGE_NAME_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct message m;
	struct classify_result r;
	size_t h = size;

	for (size_t i = 0; i + 1 < size; i++)
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < size && buf[i + 2] == '\n'))) {
			h = i + 1;
			break;
		}
	message_parse(&m, buf, h, NULL);
	message_parse_body(&m, buf + h, size - h, NULL);
	if (m.message_id == NULL || m.subject == NULL)
		__builtin_trap();
	check(m.message_id, MESSAGE_ID_MAX);
	check(m.subject, MESSAGE_SUBJECT_MAX);
	check(m.excerpt, MESSAGE_EXCERPT_MAX);
	check(m.delivery_status, MESSAGE_DSN_MAX);
	check_list(&m.from);
	check_list(&m.to);
	check_list(&m.cc);
	classify_message(&m, NULL, &r);
	for (size_t i = 0; i < r.nbounces; i++)
		check(r.bounces[i].reason, 300);
	classify_result_free(&r);
	message_free(&m);
	return 0;
}
