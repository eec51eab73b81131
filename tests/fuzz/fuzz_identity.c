/* Which client a request is (identity_of), with the fixed config's
 * clients (fuzz.h: two tokens, one with allow_from, an address client, a
 * unix uid client) and a fuzzed Authorization header, from each kind of
 * peer: the first byte picks the peer. A refusal is 401 (500 only when
 * hashing fails); the client found is one of the config's and may hold
 * its token only if the header carried it. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "identity.h"

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &sin.sin_addr);
	return sin;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct sockaddr_in lo = v4("127.0.0.1"), ten = v4("10.1.2.3"),
			   c = v4("192.168.1.5");
	struct sockaddr_in6 six = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "fd00::1", &six.sin6_addr);
	const struct sockaddr *addrs[] = {
		(const struct sockaddr *)&lo, (const struct sockaddr *)&ten,
		(const struct sockaddr *)&c, (const struct sockaddr *)&six,
	};
	struct identity_peer peer = { .is_unix = data[0] & 1 };
	if (peer.is_unix) {
		peer.has_cred = 1;
		peer.uid = (data[0] & 2) ? 1000 : 0;
	} else {
		peer.addr = addrs[(data[0] >> 1) & 3];
	}
	/* a header is a C string: MHD's value, up to a NUL */
	char *auth = data[0] & 0x80 ? NULL : fuzz_string(data + 1, size - 1);
	const struct cfg_client *who;
	struct error err;

	int rc = identity_of(fuzz_config(), &peer, auth, &who, &err);
	if (rc == 0 && who == NULL && fuzz_config()->has_clients)
		abort();
	if (rc < 0 && (who != NULL || (err.status != 401 && err.status != 500)))
		abort();
	if (who != NULL && who->has_token && auth == NULL)
		abort();
	free(auth);
	return 0;
}
