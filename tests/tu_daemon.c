/* tu_daemon — ports for the daemons of the tests, and the one way to start
 * carapaced. See testutil.h.
 *
 * Why ports come from below the kernel's ephemeral range, each held by a
 * lock file: make -j check runs several test programs at once, and each
 * hands ports to a daemon it starts later. A port found free by binding
 * port 0 and closing was free for nobody in particular: another program's
 * bind(0), or the test upstream's, could take it before our daemon did.
 * The kernel never hands out a port below ip_local_port_range by itself,
 * so there the only contenders are other tu_free_port() callers, and an
 * flock(2) on a per-port file settles those across processes. The lock is
 * held until the test program exits (the kernel drops it even on a
 * crash), so a port is never given twice while its daemon may run. */
#include "config.h"

#include "testutil.h"
#include "tu_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORT_FLOOR 10000	/* below: well-known and registered ports */
#define LOCK_TRIES 2000

/* The first port of the kernel's ephemeral range (32768 when unknown). */
static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int lo = 32768;

	if (f != NULL) {
		if (fscanf(f, "%d", &lo) != 1)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

/* Whether 127.0.0.1:port can be bound right now (nothing listens there,
 * nothing lingers in TIME_WAIT). */
static int bindable(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Takes the lock of port for the rest of this process: 0, or -1 when
 * someone (this process included) holds it. */
static int lock_port(int port)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600];
	int fd;

	snprintf(dir, sizeof(dir), "%s/carapace-test-ports-%u",
		 tmp && *tmp ? tmp : "/tmp", (unsigned)getuid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/%d", dir, port);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return 0;	/* fd stays open: the lock lives as long as we do */
}

int tu_free_port(void)
{
	int hi = ephemeral_low() - 1, span = hi - PORT_FLOOR + 1;
	static unsigned seed;

	if (span <= 0)
		return -1;
	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)tu_now_ns();
	for (int i = 0; i < LOCK_TRIES; i++) {
		int port = PORT_FLOOR + (int)(rand_r(&seed) % (unsigned)span);
		if (lock_port(port) == 0) {
			if (bindable(port))
				return port;
			/* used by something else: keep it locked, skip it */
		}
	}
	return -1;
}

/* Whether child pid has exited (it is reaped then). */
static int exited(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == pid;
}

pid_t tu_start_daemon(const struct tu_daemon *d)
{
	const char *bin = getenv("CARAPACED");
	const char *argv[] = { "prlimit", d->prlimit, bin, "-f", "-c", d->conf,
			       NULL };
	const char *const *run = d->prlimit ? argv : argv + 2;
	int saved = -1, fd = -1;
	pid_t pid;

	if (bin == NULL || d->conf == NULL)
		return -1;
	if (d->errlog != NULL) {
		saved = dup(2);
		fd = open(d->errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
			goto fail;
	}
	pid = tu_spawn(run, NULL);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
		close(fd);
	}
	/* a port that answers while our daemon is gone is someone else's */
	for (size_t i = 0; pid > 0 && i < TU_DAEMON_PORTS && d->ports[i]; i++) {
		if (exited(pid))
			return -1;
		if (tu_wait_port(d->ports[i], 10000) < 0 || exited(pid)) {
			tu_stop(pid);
			return -1;
		}
	}
	return pid;
fail:
	if (saved >= 0)
		close(saved);
	if (fd >= 0)
		close(fd);
	return -1;
}

pid_t tu_suite_upstream(const char **carapaced, int *up_port)
{
	const char *up = getenv("UPSTREAM");

	*carapaced = getenv("CARAPACED");
	if (up == NULL || *carapaced == NULL)
		return -1;
	tu_prepare_process();
	return tu_spawn_upstream(up, up_port);
}

int tu_upstream_stat(int up_port, const char *key)
{
	int status, n = -1;
	char *body = NULL;

	if (tu_http(up_port, "GET", "/_upstream/stats", NULL, NULL, &status,
		    &body, NULL) == 0) {
		json_object *o = parse_json(body);
		n = (int)json_int_at(o, key);
		json_object_put(o);
	}
	free(body);
	return n;
}

int tu_stop_daemon(pid_t pid)
{
	if (tu_stop(pid) == 0)
		return 0;
	fprintf(stderr, "carapaced did not exit 0 on SIGTERM\n");
	return -1;
}

int tu_cli_ct_tool(char *buf, size_t len, const char *tool, const char *jail,
		   const char *more_allow)
{
	int n = snprintf(buf, len,
		 "\"ct\": { \"type\": \"cli\",\n"
		 "    \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"println *\", \"eprint *\",\n"
		 "      \"args *\", \"env\", \"cwd\", \"cat\", \"sleep *\",\n"
		 "      \"lines *\", \"flood *\", \"exit *\", \"kill *\",\n"
		 "      \"ignore-term *\", \"bytes\", \"fds\", \"detach *\"%s%s%s],\n"
		 "    \"argv_deny_patterns\": [\"* secret*\"],\n"
		 "    \"argv_deny_flags\": [\"--output\", \"-o\"],\n"
		 "    \"env_inject\": { \"TOOL_TOKEN\": \"s3cr3t-token\" },\n"
		 "    \"cwd_allowed\": [\"%s\"],\n"
		 "    \"timeout_secs\": 2, \"max_output_bytes\": 1048576,\n"
		 "    \"max_concurrent\": 2 }",
		 tool, more_allow ? ", \"" : "", more_allow ? more_allow : "",
		 more_allow ? "\"" : "", jail);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}
