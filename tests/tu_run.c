/* tu_run — shell commands whose output a test reads, files read whole,
 * and processes that are not our children (a daemon that forked into the
 * background): their pidfile, whether they live, waiting for them to be
 * gone. See testutil.h. */
#include "config.h"

#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define SLURP_MAX (1 << 20)

char *tu_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(SLURP_MAX);
	n = fread(buf, 1, SLURP_MAX - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

pid_t tu_read_pid(const char *pidfile)
{
	char *text = tu_slurp(pidfile);
	pid_t pid = text ? (pid_t)atol(text) : 0;

	free(text);
	return pid;
}

int tu_alive(pid_t pid)
{
	return pid > 0 && kill(pid, 0) == 0;
}

/* Whether a process that is not our child is gone. */
static int gone(void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)*(pid_t *)arg);
	char *stat = tu_slurp(path);
	/* gone, or a zombie nobody of ours will reap */
	int is_gone = stat == NULL || strstr(stat, ") Z ") != NULL;
	free(stat);
	return is_gone;
}

int tu_wait_gone(pid_t pid, int limit_ms)
{
	return tu_wait_until(gone, &pid, (unsigned)limit_ms);
}

int tu_popen_read(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tu_run(const char *cmd, char *out, size_t len)
{
	char full[8192];

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	return tu_popen_read(full, out, len);
}
