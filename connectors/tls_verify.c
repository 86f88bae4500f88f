#include "tls_verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/mmapstring.h>

#include "xmalloc.h"

#define TLS_CHAIN_MAX	16

static enum tls_verify_result tls_fail(enum tls_verify_result, char *,
    size_t, const char *, ...) __attribute__((format(printf, 4, 5)));

static enum tls_verify_result
tls_fail(enum tls_verify_result r, char *err, size_t errlen, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

static int
tls_trust_load(gnutls_x509_trust_list_t tl, const char *ca_file)
{
	if (ca_file == NULL)
		return gnutls_x509_trust_list_add_system_trust(tl, 0, 0) < 0 ?
		    -1 : 0;
	return gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL,
	    GNUTLS_X509_FMT_PEM, 0, 0) <= 0 ? -1 : 0;
}

/* A verification status to our result, most specific reason first. */
static enum tls_verify_result
tls_status(unsigned status, const char *ca_file, char *err, size_t errlen)
{
	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return tls_fail(TLS_VERIFY_EXPIRED, err, errlen, "%s",
		    status & GNUTLS_CERT_EXPIRED ? "certificate expired" :
		    "certificate not yet valid");
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return tls_fail(TLS_VERIFY_UNTRUSTED, err, errlen,
		    "certificate not trusted (self-signed / unknown issuer; "
		    "trusted: %s)", ca_file ? ca_file : "system store");
	return tls_fail(TLS_VERIFY_UNTRUSTED, err, errlen,
	    "certificate not trusted (%s)",
	    status & GNUTLS_CERT_REVOKED ? "revoked" :
	    status & GNUTLS_CERT_INSECURE_ALGORITHM ? "insecure algorithm" :
	    status & GNUTLS_CERT_SIGNATURE_FAILURE ? "bad signature" :
	    "invalid chain");
}

enum tls_verify_result
tls_verify_der(const struct tls_der *certs, size_t n, const char *host,
    const char *ca_file, char *err, size_t errlen)
{
	gnutls_x509_crt_t crts[TLS_CHAIN_MAX];
	gnutls_x509_trust_list_t tl = NULL;
	enum tls_verify_result r;
	size_t ncrt = 0;
	unsigned status = 0;

	if (n == 0)
		return tls_fail(TLS_VERIFY_ERROR, err, errlen, "%s",
		    "server sent no certificate");
	if (n > TLS_CHAIN_MAX)
		n = TLS_CHAIN_MAX;
	for (; ncrt < n; ncrt++) {
		gnutls_datum_t d = { (unsigned char *)certs[ncrt].data,
		    (unsigned)certs[ncrt].len };

		if (gnutls_x509_crt_init(&crts[ncrt]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[ncrt], &d,
		    GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[ncrt]);
			r = tls_fail(TLS_VERIFY_ERROR, err, errlen, "%s",
			    "unreadable certificate from server");
			goto out;
		}
	}
	if (ncrt < n || gnutls_x509_trust_list_init(&tl, 0) < 0) {
		r = tls_fail(TLS_VERIFY_ERROR, err, errlen, "%s",
		    "cannot set up certificate verification");
		goto out;
	}
	if (tls_trust_load(tl, ca_file) == -1) {
		r = tls_fail(TLS_VERIFY_ERROR, err, errlen,
		    "cannot load trusted certificates from %s",
		    ca_file ? ca_file : "the system store");
		goto out;
	}
	if (gnutls_x509_trust_list_verify_crt2(tl, crts, (unsigned)ncrt, NULL,
	    0, 0, &status, NULL) < 0) {
		r = tls_fail(TLS_VERIFY_ERROR, err, errlen, "%s",
		    "certificate verification failed");
		goto out;
	}
	if (status != 0) {
		r = tls_status(status, ca_file, err, errlen);
		goto out;
	}
	/* check_hostname2 matches IP literals against IP SANs only. */
	if (host == NULL || !gnutls_x509_crt_check_hostname2(crts[0], host, 0)) {
		r = tls_fail(TLS_VERIFY_HOST, err, errlen,
		    "certificate does not match host %s", host ? host : "?");
		goto out;
	}
	r = TLS_VERIFY_OK;
	if (errlen > 0)
		err[0] = '\0';
out:
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	for (size_t i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return r;
}

enum tls_verify_result
tls_verify_chain(carray *chain, const char *host, const char *ca_file,
    char *err, size_t errlen)
{
	struct tls_der der[TLS_CHAIN_MAX];
	size_t n = 0;

	for (unsigned i = 0; chain && i < carray_count(chain) &&
	    n < TLS_CHAIN_MAX; i++) {
		MMAPString *s = carray_get(chain, i);

		if (s == NULL)
			continue;
		der[n].data = (const unsigned char *)s->str;
		der[n].len = s->len;
		n++;
	}
	return tls_verify_der(der, n, host, ca_file, err, errlen);
}
