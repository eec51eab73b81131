/* curl_nopair — a libcurl multi handle without its wake-up socketpair.
 *
 * libcurl 7.88 gives every multi handle (and the internal one of
 * curl_easy_perform) a socketpair for curl_multi_wakeup() and
 * curl_multi_poll(): two descriptors per transfer that a worker which
 * waits in curl_multi_wait() and is woken by a shutdown(2) of its own
 * socket never uses. curl_nopair_multi_init() makes a multi handle
 * without them: on it curl_multi_wakeup() fails and curl_multi_poll()
 * cannot be woken from another thread; curl_multi_wait() works.
 *
 * How: this module defines socketpair(), which libcurl binds to through
 * the dynamic symbol table of the program. It fails (EMFILE) only on the
 * thread that is inside curl_nopair_multi_init(), and is the system call
 * everywhere else, for every caller in the process. Thread-safe. */
#ifndef CARAPACE_CURL_NOPAIR_H
#define CARAPACE_CURL_NOPAIR_H

#include <curl/curl.h>

/* A multi handle without a wake-up pair; should a libcurl refuse to make
 * a multi handle without one, a plain one (warned about once), so that
 * transfers still work at two more descriptors each. NULL when even that
 * fails (out of memory, or of descriptors). */
CURLM *curl_nopair_multi_init(void);

#endif
