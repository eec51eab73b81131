/* approval_webhook — tells a URL (approval_webhook) of each new request
 * held for approval, so that a chat bridge can notify a person: the
 * request's record (approvals.h) POSTed as JSON by libcurl on a worker
 * thread (workers.h), never on the holding worker's own time.
 *
 * Bounded: APPROVAL_WEBHOOK_MAX_INFLIGHT posts at once, each at most
 * APPROVAL_WEBHOOK_TIMEOUT_SECS; a post past that is dropped, counted and
 * logged. A failure is logged and counted; nothing it answers is read
 * for anything, so no answer can approve a request. Thread-safe. */
#ifndef CARAPACE_APPROVAL_WEBHOOK_H
#define CARAPACE_APPROVAL_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define APPROVAL_WEBHOOK_MAX_INFLIGHT 4u
#define APPROVAL_WEBHOOK_TIMEOUT_SECS 5L

struct approval_webhook;

/* NULL on out of memory. curl_global_init must have been called. */
struct approval_webhook *approval_webhook_new(void);
/* Waits for the posts in flight (each ends within its timeout), then
 * frees. */
void approval_webhook_free(struct approval_webhook *w);
/* For approvals_set_notify(arg = the webhook): posts json[0..len) to
 * url (both copied). Never blocks on the network. */
void approval_webhook_send(void *w, const char *url, const char *json,
			   size_t len);
/* Posts dropped (too many in flight) and failed (no 2xx), so far. */
void approval_webhook_counts(struct approval_webhook *w, uint64_t *dropped,
			     uint64_t *failed);

#endif
