#include "address.h"

#include <ctype.h>
#include <string.h>

#include <gnutls/gnutls.h>

/* Characters that never appear in an unquoted addr-spec we accept. */
static bool
address_bad_char(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("<>()[],;:\\\"", c) != NULL;
}

static int address_domain_ascii(const char *at, const char *end, char *out,
    size_t o, size_t outlen);

int
address_normalize(const char *addr, bool fold_plus, char *out, size_t outlen)
{
	const char *start = addr, *end, *at = NULL, *plus = NULL;
	size_t o = 0;

	while (*start && isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	for (const char *p = start; p < end; p++) {
		if (address_bad_char((unsigned char)*p))
			return -1;
		if (*p == '@') {
			if (at)
				return -1;
			at = p;
		} else if (*p == '+' && !at && !plus) {
			plus = p;
		}
	}
	if (!at || at == start || at + 1 == end || at[1] == '.' || end[-1] == '.')
		return -1;
	/* "+tag" folding must leave a local part behind. */
	if (!fold_plus || plus == start)
		plus = NULL;
	for (const char *p = start; p < at; p++) {
		if (plus && p >= plus)
			continue;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)tolower((unsigned char)*p);
	}
	return address_domain_ascii(at, end, out, o, outlen);
}

static bool
address_is_ascii(const char *p, const char *end)
{
	for (; p < end; p++)
		if ((unsigned char)*p >= 0x80)
			return false;
	return true;
}

/*
 * Appends "@domain" to out[0..o): an internationalized domain in its ASCII
 * (punycode) form, so that "kim@예시.kr" and "kim@xn--...kr" are one
 * customer.  GnuTLS already links libidn2 for certificate names.
 */
static int
address_domain_ascii(const char *at, const char *end, char *out, size_t o,
    size_t outlen)
{
	const char *dom = at + 1;
	gnutls_datum_t ace = { NULL, 0 };
	int rc = 0;

	if (!address_is_ascii(dom, end)) {
		if (gnutls_idna_map(dom, (unsigned)(end - dom), &ace, 0) < 0)
			return -1;
		dom = (const char *)ace.data;
		end = dom + ace.size;
	}
	if (o + 1 + (size_t)(end - dom) + 1 > outlen) {
		rc = -1;
	} else {
		out[o++] = '@';
		for (const char *p = dom; p < end; p++)
			out[o++] = (char)tolower((unsigned char)*p);
		out[o] = '\0';
	}
	gnutls_free(ace.data);
	return rc;
}

const char *
address_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : addr;
}
