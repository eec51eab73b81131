/* ctl_sniff — carapacectl's live audit tail: GET /v1/audit as server-sent
 * events, each record shown as one line (or as JSON) the moment it
 * arrives, until SIGINT or SIGTERM. Installs handlers for those two
 * signals; one thread. */
#ifndef CARAPACE_CTL_SNIFF_H
#define CARAPACE_CTL_SNIFF_H

#include <stddef.h>

#include "ctl_admin.h"

/* Follows path (/v1/audit with its query) of t; json: each record as
 * the daemon's JSON instead of a line. 0 once told to stop; -1 after a
 * complaint (unreachable, refused, not an event stream, the stream
 * ended). */
int ctl_sniff(const struct ctl_target *t, const char *path, int json);

/* Any other event stream of the admin API the same way: show(type,
 * data, len, arg) gets each event (its return is ignored). */
typedef int (*ctl_event_fn)(const char *type, const char *data, size_t len,
			    void *arg);
int ctl_follow(const struct ctl_target *t, const char *path, int json,
	       ctl_event_fn show, void *arg);

#endif
