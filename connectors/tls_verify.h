/*
 * Certificate verification for IMAP/SMTP sessions.  libetpan's GnuTLS
 * build checks nothing, so after every handshake (implicit TLS and after
 * STARTTLS) the connector hands the peer's chain here and closes the
 * connection unless it gets TLS_VERIFY_OK.
 *
 * The core takes DER blobs (pointer + length, leaf first), so it is
 * testable without a server; tls_verify_chain() adapts libetpan's
 * mailstream_get_certificate_chain() result (a carray of MMAPString *).
 * Nothing is retained; err receives a one-line reason.
 */
#ifndef RAPPORT_TLS_VERIFY_H
#define RAPPORT_TLS_VERIFY_H

#include <stddef.h>

#include <libetpan/carray.h>

enum tls_verify_result {
	TLS_VERIFY_OK = 0,
	TLS_VERIFY_UNTRUSTED,	/* self-signed, unknown issuer, bad signature */
	TLS_VERIFY_EXPIRED,	/* or not yet valid */
	TLS_VERIFY_HOST,	/* name/IP not in the certificate */
	TLS_VERIFY_ERROR,	/* no certificate, unreadable DER or ca_file */
};

struct tls_der {
	const unsigned char	*data;
	size_t			 len;
};

/*
 * Verifies certs[0..n) (leaf first) for host (a DNS name or an IPv4/IPv6
 * literal) against ca_file (PEM; NULL: the system trust store).
 */
enum tls_verify_result tls_verify_der(const struct tls_der *certs, size_t n,
    const char *host, const char *ca_file, char *err, size_t errlen);

/* The same for a chain from mailstream_get_certificate_chain() (NULL:
 * no certificate). */
enum tls_verify_result tls_verify_chain(carray *chain, const char *host,
    const char *ca_file, char *err, size_t errlen);

#endif
