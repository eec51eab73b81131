/* auditchain_priv — what auditchain.c and auditchain_resume.c share and
 * nobody else: SHA-256 over pieces. GnuTLS's (nettle's, with the CPU's
 * SHA instructions where it has them) is about three times libsodium's
 * portable one, and a record is hashed under the audit lock, on the
 * thread that ends the request; libsodium's is the fallback should
 * GnuTLS refuse a hash context. Both compute the same digest. */
#ifndef CARAPACE_AUDITCHAIN_PRIV_H
#define CARAPACE_AUDITCHAIN_PRIV_H

#include <gnutls/crypto.h>
#include <sodium.h>
#include <stddef.h>

struct auditchain_sha256 {
	gnutls_hash_hd_t gnutls;        /* NULL: the fallback is used */
	crypto_hash_sha256_state sodium;
};

void auditchain_sha256_init(struct auditchain_sha256 *h);
void auditchain_sha256_update(struct auditchain_sha256 *h, const void *p,
			      size_t n);
void auditchain_sha256_final(struct auditchain_sha256 *h,
			     unsigned char out[32]);

#endif
