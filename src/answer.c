/* answer — see answer.h. */
#include "config.h"

#include "answer.h"

#include <stdint.h>
#include <stdlib.h>

#include "ledger.h"
#include "log.h"

#define SMALL_BLOCK 1024
#define LARGE_BLOCK (16 * 1024)

/* The content reader's state; owned by the MHD response. */
struct body_reader {
	struct stream *stream;          /* the consumer's reference */
	struct ledger_entry *entry;     /* ended when MHD drops the response;
					 * NULL for a refusal the worker
					 * answered (and recorded) */
	const atomic_int *stopping;     /* the server's */
	int complete;                   /* MHD sent it all */
};

/* Never blocks. Nothing queued: the stream has parked the connection
 * (MHD_suspend_connection) and 0 tells MHD to call again once the
 * producer resumes it; 0 without the suspension would spin MHD's
 * thread. */
static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body_reader *br = cls;
	(void)pos;

	ssize_t n = stream_try_read(br->stream, buf, max);
	if (n > 0) {
		if (br->entry != NULL)
			ledger_entry_add_out(br->entry, (size_t)n);
		return n;
	}
	if (n == STREAM_AGAIN)
		return 0;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM :
			MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum ledger_ending ending_of(struct body_reader *br)
{
	if (br->complete)
		return LEDGER_ENDED_COMPLETE;
	if (stream_was_stalled(br->stream))
		return LEDGER_ENDED_CLIENT_STALLED;
	if (atomic_load(br->stopping))
		return LEDGER_ENDED_SHUTDOWN;
	return stream_was_broken(br->stream) ? LEDGER_ENDED_ERROR :
					       LEDGER_ENDED_CLIENT_CLOSED;
}

/* MHD dropped the response: the request is over, for whatever reason. */
static void free_body_reader(void *cls)
{
	struct body_reader *br = cls;
	struct ledger_exit ex;

	stream_cancel(br->stream);
	int has_exit = stream_get_exit(br->stream, &ex.code, &ex.signal);
	if (br->entry != NULL) /* else a refusal, recorded by its worker */
		ledger_entry_end(br->entry, ending_of(br),
				 has_exit ? &ex : NULL);
	stream_release(br->stream);
	free(br);
}

void answer_set_complete(struct body_reader *br, int complete)
{
	br->complete = complete;
}

struct MHD_Response *answer_response(const struct stream_head *head,
				     struct stream *s, struct request *rq,
				     const atomic_int *stopping,
				     struct body_reader **reader)
{
	struct body_reader *br = calloc(1, sizeof(*br));
	uint64_t size = head->content_length < 0 ?
				MHD_SIZE_UNKNOWN :
				(uint64_t)head->content_length;
	/* MHD gives a chunked body the connection's own write buffer; its
	 * block buffer serves only known-length (and HTTP/1.0) bodies. */
	size_t block = head->content_length < 0 ? SMALL_BLOCK : LARGE_BLOCK;

	if (br == NULL)
		return NULL;
	br->stream = s;
	br->stopping = stopping;
	if (head->status == MHD_HTTP_NO_CONTENT)
		size = 0; /* MHD writes no framing for it at all */
	struct MHD_Response *resp = MHD_create_response_from_callback(
		size, block, read_body, br, free_body_reader);
	if (resp == NULL) {
		free(br);
		return NULL;
	}
	/* A HEAD or 304 answer of unknown length: MHD would frame the body
	 * that is not there as chunked. Without chunking, it writes neither
	 * Transfer-Encoding nor Content-Length (and closes after). */
	if (size == MHD_SIZE_UNKNOWN &&
	    (rq->is_head || head->status == MHD_HTTP_NOT_MODIFIED))
		MHD_set_response_options(resp,
					 MHD_RF_HTTP_1_0_COMPATIBLE_STRICT,
					 MHD_RO_END);
	br->entry = request_hand_entry(rq); /* the response ends it now */
	*reader = br;
	for (size_t i = 0; i < head->n_fields; i++)
		if (MHD_add_response_header(resp, head->fields[i].name,
					    head->fields[i].value) != MHD_YES)
			log_warnx("upstream header %s dropped",
				  head->fields[i].name);
	return resp;
}
