/* admin_approvals — the admin API's approvals endpoints (admin.c routes
 * them, after it has decided who may ask):
 *
 *   GET /v1/approvals        {"pending":[...], "grants":[...]}; with
 *                            Accept: text/event-stream a live feed: the
 *                            pending requests, then events "pending" and
 *                            "decided" as they come ("dropped" with a
 *                            count when a slow reader lost some)
 *   POST /v1/approvals/ID    {"decision":"approve"|"deny",
 *                            "grant_secs":N, "scope":"call"|"method",
 *                            "reason":"..."}: 200 with the decision, 404
 *                            an unknown or decided id, 400 a bad body
 *
 * On the admin listener's connection threads (one per connection). */
#ifndef CARAPACE_ADMIN_APPROVALS_H
#define CARAPACE_ADMIN_APPROVALS_H

#include <microhttpd.h>
#include <stddef.h>

#include "approvals.h"

/* The largest decision body taken. */
#define ADMIN_APPROVALS_MAX_BODY 4096u
#define ADMIN_APPROVALS_PREFIX "/v1/approvals/"

enum MHD_Result admin_approvals_get(struct approvals *ap,
				    struct MHD_Connection *c);
/* id: what follows the prefix in the path; body[0..len) as received,
 * too_large when it was cut at ADMIN_APPROVALS_MAX_BODY; by: who
 * decided ("admin" for the token, "unix:uid=N" for a unix peer). */
enum MHD_Result admin_approvals_post(struct approvals *ap,
				     struct MHD_Connection *c, const char *id,
				     const char *body, size_t len,
				     int too_large, const char *by);

#endif
