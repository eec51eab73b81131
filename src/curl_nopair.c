/* curl_nopair — see curl_nopair.h.
 *
 * What it relies on, in libcurl 7.88.1's lib/multi.c: Curl_multi_handle()
 * calls Curl_socketpair() (socketpair(2) on Linux) for the wake-up pair
 * and, when that fails, sets both ends to CURL_SOCKET_BAD and goes on
 * (the "wakeup" is an optional feature there); multi_wait() then polls
 * no wake-up descriptor and curl_multi_wakeup() returns
 * CURLM_WAKEUP_FAILURE. tests/test_curl_nopair checks the descriptor count
 * both ways, so a libcurl that changes this is noticed at `make check`.
 *
 * Should a future libcurl treat the failed pair as fatal, its
 * curl_multi_init() returns NULL here; curl_nopair_multi_init() then falls
 * back to a plain multi handle (with its pair) and says so once in the
 * log: streams then cost four descriptors instead of two and the
 * connection limit computed from RLIMIT_NOFILE is too high by that much,
 * but no request fails for it. (Without the fallback the worker would
 * fail every transfer with "cannot set up the upstream transfer", a 500.)
 *
 * If libcurl were linked statically, or called socketpair through another
 * symbol, this definition would not be used: the pair would be made and
 * the test's descriptor count would fail. */
#include "config.h"

#include "curl_nopair.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static _Thread_local int refuse_socketpair;

int socketpair(int domain, int type, int protocol, int sv[2])
{
	if (refuse_socketpair) {
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
}

CURLM *curl_nopair_multi_init(void)
{
	static atomic_int warned;

	refuse_socketpair = 1;
	CURLM *m = curl_multi_init();
	refuse_socketpair = 0;
	if (m != NULL)
		return m;
	m = curl_multi_init();
	if (m != NULL && !atomic_exchange(&warned, 1))
		log_warnx("libcurl needs its wake-up socketpair: two more "
			  "descriptors per stream");
	return m;
}
