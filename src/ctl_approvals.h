/* ctl_approvals — carapacectl's approvals, approve and deny: the
 * requests held for a person's decision and the grants in force (GET
 * /v1/approvals, or its live feed), and a decision (POST
 * /v1/approvals/ID). Output on stdout, complaints on stderr; one
 * thread. */
#ifndef CARAPACE_CTL_APPROVALS_H
#define CARAPACE_CTL_APPROVALS_H

#include "ctl_admin.h"

/* The longest grant --for takes: 30 days, as the daemon. */
#define CTL_MAX_GRANT_SECS 2592000u

/* "90s", "15m", "1h", "2d" or plain seconds, 1..CTL_MAX_GRANT_SECS, into
 * *secs. 0, or -1 (nothing said). */
int ctl_parse_duration(const char *text, unsigned *secs);

/* The pending requests and the grants; json: as the daemon sent them.
 * follow: then each new or decided request as it comes, until SIGINT or
 * SIGTERM. 0, or -1 after a complaint. */
int ctl_approvals_show(const struct ctl_target *t, int json, int follow);

/* approve: grant_secs 0 for none, method_scope for --scope method;
 * deny: reason (may be NULL). 0, or -1 after a complaint. */
int ctl_approvals_decide(const struct ctl_target *t, const char *id,
			 int approve, unsigned grant_secs, int method_scope,
			 const char *reason, int json);

#endif
