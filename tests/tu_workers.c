/* tu_workers — see tu_workers.h. */
#include "config.h"

#include "tu_workers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "promtext.h"
#include "testutil.h"

/* One GET /metrics on fd, kept open: the idle workers, or -1. */
static int idle_on(int fd)
{
	struct tu_resp r = { 0 };
	size_t len = 0, cap = 1 << 16;
	char *body = malloc(cap);
	double v = -1;
	ssize_t n = 0;

	if (body == NULL ||
	    tu_send_request(fd, "GET", "/metrics", TU_ADMIN_AUTH, NULL,
			    0) < 0 ||
	    tu_read_head(&r, fd, 10000) < 0 || r.status != 200)
		goto out;
	while (len + 1 < cap &&
	       (n = tu_read_body(&r, body + len, cap - 1 - len, 10000)) > 0)
		len += (size_t)n;
	body[len] = '\0';
	if (n != 0 || promtext_value(body, "carapace_worker_threads",
				     "state=\"idle\"", &v) < 0)
		v = -1;
out:
	tu_resp_free(&r);
	free(body);
	return (int)v;
}

int tu_threads_idle(pid_t pid, int admin_port, int *threads, int *idle)
{
	int fd = tu_connect(admin_port);

	if (fd < 0)
		return -1;
	int before = idle_on(fd);
	int now = tu_proc_threads(pid);
	int after = idle_on(fd);
	close(fd);
	if (before < 0 || now < 1 || before != after)
		return -1;
	*threads = now - 1; /* the connection's own */
	*idle = after;
	return 0;
}

int tu_threads_baseline(pid_t pid, int admin_port, int *threads, int *idle)
{
	int t = -1, i = -1;
	uint64_t until = tu_now_ns() + 5000000000ull;

	while (tu_now_ns() < until) {
		int t2, i2;

		if (tu_threads_idle(pid, admin_port, &t2, &i2) == 0) {
			if (t2 == t && i2 == i) {
				*threads = t;
				*idle = i;
				return 0;
			}
			t = t2;
			i = i2;
		}
		tu_sleep_ms(50);
	}
	return -1;
}

int tu_threads_back(pid_t pid, int admin_port, int threads0, int idle0,
		    int *threads, int *want)
{
	int now = -1, idle = 0;
	int ok = tu_threads_idle(pid, admin_port, &now, &idle) == 0;

	if (threads != NULL)
		*threads = now;
	if (want != NULL)
		*want = threads0 + idle - idle0;
	return ok && now == threads0 + idle - idle0;
}
