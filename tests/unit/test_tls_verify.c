/*
 * Certificate verdicts on chains made here with GnuTLS: a CA and the
 * server certificates it signs (good, wrong host, expired), and a
 * self-signed one.  No openssl or certtool needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>

#include "tap.h"
#include "tls_verify.h"

struct cert {
	gnutls_x509_privkey_t	key;
	gnutls_x509_crt_t	crt;
	gnutls_datum_t		der;
};

static void
must(int rc, const char *what)
{
	if (rc < 0) {
		printf("# %s: %s\n", what, gnutls_strerror(rc));
		exit(1);
	}
}

/* A certificate for cn with DNS/IP SANs, valid [from, until], signed by
 * issuer (NULL: self-signed). */
static void
cert_make(struct cert *c, const char *cn, const char *dns, const char *ip4,
    bool ca, time_t from, time_t until, const struct cert *issuer)
{
	static unsigned char serial = 1;
	unsigned char sn[2] = { 0x10, serial++ };

	must(gnutls_x509_privkey_init(&c->key), "privkey_init");
	must(gnutls_x509_privkey_generate(c->key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), "generate");
	must(gnutls_x509_crt_init(&c->crt), "crt_init");
	must(gnutls_x509_crt_set_version(c->crt, 3), "version");
	must(gnutls_x509_crt_set_serial(c->crt, sn, sizeof(sn)), "serial");
	must(gnutls_x509_crt_set_activation_time(c->crt, from), "from");
	must(gnutls_x509_crt_set_expiration_time(c->crt, until), "until");
	must(gnutls_x509_crt_set_dn_by_oid(c->crt, GNUTLS_OID_X520_COMMON_NAME,
	    0, cn, (unsigned)strlen(cn)), "cn");
	must(gnutls_x509_crt_set_key(c->crt, c->key), "key");
	must(gnutls_x509_crt_set_basic_constraints(c->crt, ca, -1), "bc");
	must(gnutls_x509_crt_set_key_usage(c->crt, ca ?
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN :
	    GNUTLS_KEY_DIGITAL_SIGNATURE), "usage");
	if (!ca)
		must(gnutls_x509_crt_set_key_purpose_oid(c->crt,
		    GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose");
	if (dns)
		must(gnutls_x509_crt_set_subject_alt_name(c->crt,
		    GNUTLS_SAN_DNSNAME, dns, (unsigned)strlen(dns),
		    GNUTLS_FSAN_APPEND), "san dns");
	if (ip4) {
		unsigned char a[4];

		if (sscanf(ip4, "%hhu.%hhu.%hhu.%hhu", &a[0], &a[1], &a[2],
		    &a[3]) != 4)
			exit(1);
		must(gnutls_x509_crt_set_subject_alt_name(c->crt,
		    GNUTLS_SAN_IPADDRESS, a, 4, GNUTLS_FSAN_APPEND), "san ip");
	}
	must(gnutls_x509_crt_sign2(c->crt, issuer ? issuer->crt : c->crt,
	    issuer ? issuer->key : c->key, GNUTLS_DIG_SHA256, 0), "sign");
	must(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_DER, &c->der),
	    "export");
}

static void
cert_free(struct cert *c)
{
	gnutls_free(c->der.data);
	gnutls_x509_crt_deinit(c->crt);
	gnutls_x509_privkey_deinit(c->key);
}

static void
cert_write_pem(const struct cert *c, const char *path)
{
	gnutls_datum_t pem;
	FILE *f;

	must(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &pem), "pem");
	if ((f = fopen(path, "w")) == NULL ||
	    fwrite(pem.data, 1, pem.size, f) != pem.size || fclose(f) != 0)
		exit(1);
	gnutls_free(pem.data);
}

static enum tls_verify_result
verify(const struct cert *leaf, const struct cert *inter, const char *host,
    const char *ca_file, char *err, size_t errlen)
{
	struct tls_der der[2] = {
		{ leaf->der.data, leaf->der.size },
		{ inter ? inter->der.data : NULL, inter ? inter->der.size : 0 },
	};

	return tls_verify_der(der, inter ? 2 : 1, host, ca_file, err, errlen);
}

int
main(void)
{
	char dir[] = "/tmp/rapport-tls-XXXXXX", ca_pem[600], self_pem[600];
	char err[256];
	time_t now = time(NULL);
	struct cert ca, good, self, wrong, expired;
	struct tls_der junk = { (const unsigned char *)"not a cert", 10 };
	carray *chain;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(self_pem, sizeof(self_pem), "%s/self.pem", dir);
	cert_make(&ca, "rapport test CA", NULL, NULL, true, now - 3600,
	    now + 86400, NULL);
	cert_make(&good, "localhost", "localhost", "127.0.0.1", false,
	    now - 3600, now + 86400, &ca);
	cert_make(&self, "localhost", "localhost", "127.0.0.1", false,
	    now - 3600, now + 86400, NULL);
	cert_make(&wrong, "imap.other.example", "imap.other.example", NULL,
	    false, now - 3600, now + 86400, &ca);
	cert_make(&expired, "localhost", "localhost", "127.0.0.1", false,
	    now - 10 * 86400, now - 86400, &ca);
	cert_write_pem(&ca, ca_pem);
	cert_write_pem(&self, self_pem);

	is_int(verify(&good, NULL, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_OK, "CA-signed, ca_file, host name: trusted");
	is_str(err, "", "no message when trusted");
	is_int(verify(&good, &ca, "127.0.0.1", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_OK, "CA-signed, chain with CA, IP literal: trusted");
	is_int(verify(&good, NULL, "LOCALHOST", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_OK, "host name case-insensitive");

	is_int(verify(&good, &ca, "localhost", NULL, err, sizeof(err)),
	    TLS_VERIFY_UNTRUSTED, "private CA against system trust: refused");
	ok(strstr(err, "certificate not trusted") != NULL, "message: %s", err);
	is_int(verify(&self, NULL, "localhost", NULL, err, sizeof(err)),
	    TLS_VERIFY_UNTRUSTED, "self-signed against system trust: refused");
	ok(strstr(err, "self-signed / unknown issuer") != NULL,
	    "message: %s", err);
	is_int(verify(&self, NULL, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_UNTRUSTED, "self-signed against another ca_file: refused");
	is_int(verify(&self, NULL, "127.0.0.1", self_pem, err, sizeof(err)),
	    TLS_VERIFY_OK, "self-signed configured as ca_file: trusted");

	is_int(verify(&wrong, NULL, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_HOST, "wrong host: refused");
	is_str(err, "certificate does not match host localhost",
	    "wrong host message");
	is_int(verify(&good, NULL, "127.0.0.2", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_HOST, "other IP: refused");
	is_int(verify(&good, NULL, "evil.localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_HOST, "subdomain not covered: refused");

	is_int(verify(&expired, NULL, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_EXPIRED, "expired: refused");
	is_str(err, "certificate expired", "expired message");

	is_int(tls_verify_der(&junk, 1, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_ERROR, "garbage DER: error");
	is_int(tls_verify_der(NULL, 0, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_ERROR, "no certificate: error");
	is_int(verify(&good, NULL, "localhost", "/nonexistent/ca.pem", err,
	    sizeof(err)), TLS_VERIFY_ERROR, "missing ca_file: error");
	ok(strstr(err, "/nonexistent/ca.pem") != NULL, "message names the file");

	/* The libetpan adapter, on a chain shaped like
	 * mailstream_get_certificate_chain()'s. */
	chain = carray_new(2);
	carray_add(chain, mmap_string_new_len((char *)good.der.data,
	    good.der.size), NULL);
	carray_add(chain, mmap_string_new_len((char *)ca.der.data,
	    ca.der.size), NULL);
	is_int(tls_verify_chain(chain, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_OK, "carray adapter: trusted");
	is_int(tls_verify_chain(chain, "localhost", NULL, err, sizeof(err)),
	    TLS_VERIFY_UNTRUSTED, "carray adapter: system trust refuses");
	mailstream_certificate_chain_free(chain);
	is_int(tls_verify_chain(NULL, "localhost", ca_pem, err, sizeof(err)),
	    TLS_VERIFY_ERROR, "carray adapter: no chain");

	cert_free(&ca);
	cert_free(&good);
	cert_free(&self);
	cert_free(&wrong);
	cert_free(&expired);
	unlink(ca_pem);
	unlink(self_pem);
	rmdir(dir);
	return tap_done();
}
