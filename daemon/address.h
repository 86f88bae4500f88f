/*
 * E-mail address normalization: the identity of a customer is the set of
 * their normalized addresses.  Lowercases the domain and the local part,
 * folds "user+tag@" to "user@" when fold_plus is set, and rejects
 * anything that is not a plausible single addr-spec.
 */
#ifndef RAPPORT_ADDRESS_H
#define RAPPORT_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the normalized form of addr into out (NUL-terminated).
 * Returns 0, or -1 if addr is not a valid address or does not fit. */
int address_normalize(const char *addr, bool fold_plus, char *out, size_t outlen);

/* The domain part of a normalized address (points into addr). */
const char *address_domain(const char *addr);

#endif
