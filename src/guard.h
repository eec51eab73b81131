/* guard — the limits and timers of client connections, which no client
 * can switch off: connections per client address and in all, the time a
 * request head may take, and the pause allowed between two body reads.
 *
 * The server tells the guard what each connection is doing: reading a
 * head, reading a body, answering, idle between keep-alive requests. A
 * thread of the guard's own wakes once a second while any connection reads
 * a head or a body or sits idle, and cuts the ones past their deadline: it
 * writes a 408 answer straight to the socket (while a connection reads,
 * MHD writes nothing to it) and shuts the socket down, so the connection's
 * own thread sees the end and closes it. An answer under way, a stream
 * above all, is never cut by these timers.
 *
 * All functions are thread-safe. */
#ifndef CARAPACE_GUARD_H
#define CARAPACE_GUARD_H

#include <sys/socket.h>

#include "metrics.h"

struct guard;
struct guard_conn;

struct guard_limits {
	unsigned per_ip;       /* connections per address; 0: no limit */
	unsigned total;        /* connections in all; 0: no limit */
	unsigned header_secs;  /* a whole request head */
	unsigned body_secs;    /* between two body reads */
};

/* Why a connection was cut; GUARD_CUT_NONE while it was not. */
enum guard_cut { GUARD_CUT_NONE, GUARD_CUT_HEADER, GUARD_CUT_BODY };

/* Starts the guard's thread. metrics (borrowed, may be NULL) counts every
 * refusal and cut. NULL on failure. */
struct guard *guard_new(struct metrics *metrics,
			const struct guard_limits *limits);
/* New limits, for connections to come and deadlines not yet set. */
void guard_set_limits(struct guard *g, const struct guard_limits *limits);
/* Stops the thread and frees g; every connection must have closed. */
void guard_free(struct guard *g);

/* Whether a connection from addr may be accepted now (counted in metrics
 * when not): 0 yes, -1 no. Called before the connection exists; the count
 * is taken by guard_open, so a race between listeners may let one or two
 * more through, never an unbounded number. */
int guard_admit(struct guard *g, const struct sockaddr *addr);
/* A connection starts, reading its first head. fd is its socket (borrowed:
 * valid until guard_close). NULL on out of memory (then it is unguarded,
 * which the caller must refuse). */
struct guard_conn *guard_open(struct guard *g, const struct sockaddr *addr,
			      int fd);
/* The connection has closed: its count is given back and gc freed. */
void guard_close(struct guard *g, struct guard_conn *gc);

/* The functions below accept a NULL gc (a connection guard_open could
 * not record): guard_head_done refuses it, the others do nothing. */

/* The head is complete; a body follows or not. -1 when the connection
 * was already cut (the caller answers nothing more). */
int guard_head_done(struct guard *g, struct guard_conn *gc, int body);
/* A piece of the body has been read: the pause timer starts again. */
void guard_body_read(struct guard *g, struct guard_conn *gc);
/* An answer is being sent: no timer of the guard applies until
 * guard_request_done. -1 when the guard has already cut the connection
 * (it was answered 408: nothing more may be done for the request). */
int guard_answering(struct guard *g, struct guard_conn *gc);
/* The request is over; the connection waits for the next one. */
void guard_request_done(struct guard *g, struct guard_conn *gc);
/* Whether, and why, the guard cut the connection. */
enum guard_cut guard_cut_of(struct guard *g, struct guard_conn *gc);

#endif
