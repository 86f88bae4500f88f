#include "address.h"

#include <ctype.h>
#include <string.h>

/* Characters that never appear in an unquoted addr-spec we accept. */
static bool
address_bad_char(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("<>()[],;:\\\"", c) != NULL;
}

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
	for (const char *p = start; p < end; p++) {
		if (plus && p >= plus && p < at)
			continue;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)tolower((unsigned char)*p);
	}
	out[o] = '\0';
	return 0;
}

const char *
address_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : addr;
}
