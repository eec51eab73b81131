/* contain — see contain.h.
 *
 * The orphan sweep needs no record of what a run forked: an orphan is a
 * child of carapaced that is no run's own child (exec's), and the only
 * children carapaced makes are those. An orphan inside the cgroup of a
 * run still under way is that run's, and lives until the run ends; any
 * other dies, unless a run without a cgroup (the fallback) could have
 * started it: every process of a run starts no earlier than the run's
 * child (clock ticks since boot, /proc/PID/stat), so an orphan that
 * started before every such run is none of theirs. Without cgroups the
 * rule is exact when runs do not overlap, late by the overlap when they
 * do. The spawn lock makes "no run's own child" exact: a child is
 * registered before any sweep can see it.
 *
 * Only carapaced's own children are signalled by the sweep: their pids
 * cannot be reused until they are reaped, so no stranger is ever hit.
 * Their descendants are remembered (pid and start time) and killed in a
 * later round, once their parent's death has made them orphans too. */
#include "config.h"

#include "contain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define EMPTY_MS 2000    /* for a killed cgroup to empty */
#define REAP_MS 1000     /* for a killed orphan to exit */
#define SWEEP_ROUNDS 32  /* orphans of orphans: one level a round */
#define MAX_PROCS (1u << 20)

struct contain {
	struct contain *next;    /* in runs, once attached */
	pid_t pid;               /* the run's child; 0 before attach */
	unsigned long long start;/* its start time; 0: unknown */
	int cg_fd;               /* the run's cgroup directory; -1: none */
	char name[64];           /* ... its name under base_fd */
};

struct proc {
	pid_t pid;
	pid_t ppid;
	unsigned long long start;
	char state;
	int doomed;
};

struct ident {
	pid_t pid;
	unsigned long long start;
};

/* The spawn lock: held from contain_begin() to contain_attach(), and by
 * a sweep, so a sweep never sees a run's child before it is in runs. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct contain *runs;      /* runs attached, not ended; lock */
static int active;                /* contain_init() was called */
static int subreaper;
static int base_fd = -1;          /* carapaced's cgroup v2 directory */
static char self_cg[PATH_MAX];    /* ... as /proc/PID/cgroup names it */
static int cgroup_warned;         /* lock */
static unsigned long seq;         /* lock */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- /proc ---- */

static int read_proc(pid_t pid, struct proc *p)
{
	char path[64], buf[1024];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* the name, in parentheses, may hold anything: skip to the last ) */
	char *q = strrchr(buf, ')');
	int ppid;
	if (q == NULL ||
	    sscanf(q + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u"
			  " %*d %*d %*d %*d %*d %*d %llu",
		   &p->state, &ppid, &p->start) != 3)
		return -1;
	p->pid = pid;
	p->ppid = ppid;
	p->doomed = 0;
	return 0;
}

/* Every process; *n set. NULL when /proc cannot be read. Caller frees. */
static struct proc *scan(size_t *n)
{
	DIR *d = opendir("/proc");
	struct proc *v = NULL;
	size_t cap = 0;
	struct dirent *e;

	*n = 0;
	if (d == NULL)
		return NULL;
	/* cppcheck 2.10 (posix.cfg) flags every readdir() as not reentrant
	 * and points at readdir_r(), which glibc 2.36 deprecates (a
	 * -Wdeprecated-declarations error here): glibc's readdir() is safe
	 * for concurrent calls on different streams (readdir(3)), and this
	 * stream is d, this call's own. */
	/* cppcheck-suppress readdirCalled */
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0' || pid <= 0)
			continue;
		if (*n == cap) {
			size_t c = cap ? cap * 2 : 512;
			struct proc *w = c <= MAX_PROCS ?
						 realloc(v, c * sizeof(*v)) :
						 NULL;
			if (w == NULL)
				break;
			v = w;
			cap = c;
		}
		if (read_proc((pid_t)pid, &v[*n]) == 0)
			(*n)++;
	}
	closedir(d);
	return v;
}

/* ---- the cgroup of a run ---- */

/* Writes text into the file name of the directory dir. 0 or -1. */
static int put(int dir, const char *name, const char *text)
{
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (write(fd, text, len) == (ssize_t)len)
		rc = 0;
	close(fd);
	return rc;
}

/* Lock held. Once per daemon: runs go on, contained by the sweep. */
static void cgroup_failed(const char *what)
{
	if (cgroup_warned)
		return;
	cgroup_warned = 1;
	log_warn("cli runs: the subreaper sweep only, cannot %s a cgroup",
		 what);
}

static void cgroup_remove(struct contain *c)
{
	if (c->cg_fd < 0)
		return;
	close(c->cg_fd);
	c->cg_fd = -1;
	if (unlinkat(base_fd, c->name, AT_REMOVEDIR) < 0)
		log_warn("cli run cgroup %s: rmdir", c->name);
}

static int cgroup_populated(int dir)
{
	char buf[256];
	int fd = openat(dir, "cgroup.events", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0; /* the cgroup is gone */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "populated 1") != NULL;
}

/* Before cgroup.kill (Linux 5.14): each member by hand. A member that
 * forks meanwhile is caught by the next call (contain_end loops). */
static void cgroup_kill_each(int dir)
{
	char buf[64];
	int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *end;
		long pid = strtol(buf, &end, 10);
		/* a pid of 0 or less would reach a group or everyone */
		if (end != buf && pid > 0)
			kill((pid_t)pid, SIGKILL);
	}
	fclose(f);
}

/* ---- the sweep ---- */

static int is_run_child(pid_t pid)
{
	for (struct contain *c = runs; c != NULL; c = c->next)
		if (c->pid == pid)
			return 1;
	return 0;
}

/* The earliest start of a run under way that has no cgroup; ULLONG_MAX:
 * none. Only such a run can own an orphan outside every run's cgroup. */
static unsigned long long earliest_uncontained(void)
{
	unsigned long long min = ULLONG_MAX;

	for (struct contain *c = runs; c != NULL; c = c->next)
		if (c->cg_fd < 0 && c->start < min)
			min = c->start;
	return min;
}

/* Whether pid is in the cgroup of a run under way. A process may leave
 * its run's cgroup (tools run as carapaced's user may write the cgroup
 * files it was delegated), so what is outside every live one is not
 * spared by its age alone: a process that forks anew every moment would
 * always look younger than the runs under way. */
static int in_live_cgroup(pid_t pid)
{
	char path[64], line[PATH_MAX + 8], want[PATH_MAX + 80];
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(path, "re");
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (struct contain *c = runs; c != NULL && !found;
		     c = c->next) {
			snprintf(want, sizeof(want), "%s/%s",
				 strcmp(self_cg, "/") == 0 ? "" : self_cg,
				 c->name);
			found = c->cg_fd >= 0 && strcmp(line + 3, want) == 0;
		}
	}
	if (f != NULL)
		fclose(f);
	return found;
}

static int known(const struct ident *v, size_t n, const struct proc *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == p->pid && v[i].start == p->start)
			return 1;
	return 0;
}

/* Marks the descendants of doomed processes doomed, and adds them to
 * *list. -1 when out of memory. */
static int doom_descendants(struct proc *v, size_t n, struct ident **list,
			    size_t *len)
{
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].doomed)
				continue;
			for (size_t j = 0; j < n; j++) {
				if (!v[j].doomed || v[j].pid != v[i].ppid)
					continue;
				struct ident *w = realloc(
					*list, (*len + 1) * sizeof(**list));
				if (w == NULL)
					return -1;
				*list = w;
				w[(*len)++] = (struct ident){ v[i].pid,
							      v[i].start };
				v[i].doomed = changed = 1;
				break;
			}
		}
	}
	return 0;
}

/* Waits for a killed child of ours, for REAP_MS at most. */
static void reap(pid_t pid)
{
	for (int ms = 0; ms <= REAP_MS; ms += 5) {
		pid_t w = waitpid(pid, NULL, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return;
		sleep_ms(5);
	}
	log_warnx("cli runs: orphan %d does not die", (int)pid);
}

/* Lock held. One round: kills and reaps the orphans due. The number
 * found, or -1 when /proc cannot be read. */
static int sweep_round(pid_t self, struct ident **doomed, size_t *n_doomed)
{
	unsigned long long first = earliest_uncontained();
	size_t n;
	struct proc *v = scan(&n);
	int found = 0;

	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct proc *p = &v[i];
		if (p->ppid != self || is_run_child(p->pid))
			continue;
		p->doomed = p->state == 'Z' || known(*doomed, *n_doomed, p) ||
			    (p->start < first && !in_live_cgroup(p->pid));
		found += p->doomed;
	}
	if (found && doom_descendants(v, n, doomed, n_doomed) < 0)
		log_warnx("cli runs: out of memory sweeping orphans");
	for (size_t i = 0; i < n; i++)
		if (v[i].doomed && v[i].ppid == self && v[i].state != 'Z')
			kill(v[i].pid, SIGKILL);
	for (size_t i = 0; i < n; i++)
		if (v[i].doomed && v[i].ppid == self)
			reap(v[i].pid);
	free(v);
	return found;
}

/* Lock held. */
static void sweep(void)
{
	struct ident *doomed = NULL;
	size_t n_doomed = 0;
	pid_t self = getpid();

	for (int round = 0; round < SWEEP_ROUNDS; round++)
		if (sweep_round(self, &doomed, &n_doomed) <= 0)
			break;
	free(doomed);
}

/* ---- the interface ---- */

/* The cgroup v2 directory carapaced is in: the "0::" line of
 * /proc/self/cgroup below the cgroup2 mount. 0 or -1. */
static int find_cgroup(char *dir, size_t len)
{
	char line[4096], rel[PATH_MAX] = "", mnt[PATH_MAX] = "";
	char root[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "0::", 3) == 0 &&
		    sscanf(line + 3, "%4095s", rel) != 1)
			rel[0] = '\0';
	if (f != NULL)
		fclose(f);
	snprintf(self_cg, sizeof(self_cg), "%s", rel);
	f = fopen("/proc/self/mountinfo", "re");
	while (f != NULL && mnt[0] == '\0' &&
	       fgets(line, sizeof(line), f) != NULL) {
		char *dash = strstr(line, " - cgroup2 ");
		if (dash == NULL ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		/* a mount of part of the tree (a namespace): below its root */
		size_t k = strcmp(root, "/") == 0 ? 0 : strlen(root);
		if (k && (strncmp(rel, root, k) != 0 ||
			  (rel[k] != '\0' && rel[k] != '/')))
			mnt[0] = '\0';
		else
			memmove(rel, rel + k, strlen(rel + k) + 1);
	}
	if (f != NULL)
		fclose(f);
	if (rel[0] != '/' || mnt[0] == '\0')
		return -1;
	return (size_t)snprintf(dir, len, "%s%s", mnt,
				strcmp(rel, "/") == 0 ? "" : rel) < len ?
		       0 : -1;
}

void contain_init(void)
{
	char dir[PATH_MAX];

	active = 1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
		subreaper = 1;
	else
		log_warn("cli runs: cannot be a child subreaper");
	if (find_cgroup(dir, sizeof(dir)) == 0)
		base_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base_fd >= 0)
		log_info("cli runs: a cgroup each under %s where it can be "
			 "made, and the subreaper sweep", dir);
	else
		log_info("cli runs: no cgroup v2; the subreaper sweep only");
}

struct contain *contain_begin(void)
{
	struct contain *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cg_fd = -1;
	pthread_mutex_lock(&lock);
	if (base_fd < 0)
		return c;
	snprintf(c->name, sizeof(c->name), "carapaced-%d.run%lu",
		 (int)getpid(), ++seq);
	if (mkdirat(base_fd, c->name, 0755) < 0) {
		cgroup_failed("make");
		return c;
	}
	c->cg_fd = openat(base_fd, c->name, O_RDONLY | O_DIRECTORY |
						    O_CLOEXEC);
	if (c->cg_fd < 0) {
		cgroup_failed("open");
		unlinkat(base_fd, c->name, AT_REMOVEDIR);
	}
	return c;
}

void contain_attach(struct contain *c, pid_t pid)
{
	struct proc p;
	char text[32];

	if (pid <= 0) {
		cgroup_remove(c);
		pthread_mutex_unlock(&lock);
		free(c);
		return;
	}
	c->pid = pid;
	snprintf(text, sizeof(text), "%d", (int)pid);
	if (c->cg_fd >= 0 && put(c->cg_fd, "cgroup.procs", text) < 0) {
		cgroup_failed("move a run into");
		cgroup_remove(c);
	}
	c->start = read_proc(pid, &p) == 0 ? p.start : 0;
	if (active) {
		c->next = runs;
		runs = c;
	}
	pthread_mutex_unlock(&lock);
}

void contain_kill(struct contain *c)
{
	if (c->cg_fd >= 0 && put(c->cg_fd, "cgroup.kill", "1") < 0)
		cgroup_kill_each(c->cg_fd);
}

void contain_end(struct contain *c)
{
	for (int ms = 0; c->cg_fd >= 0; ms += 5) {
		contain_kill(c);
		if (!cgroup_populated(c->cg_fd))
			break;
		if (ms >= EMPTY_MS) {
			log_warnx("cli run cgroup %s does not empty",
				  c->name);
			break;
		}
		sleep_ms(5);
	}
	pthread_mutex_lock(&lock);
	cgroup_remove(c);
	for (struct contain **p = &runs; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	/* those the cgroup killed were re-parented to us: reaped here */
	if (subreaper)
		sweep();
	pthread_mutex_unlock(&lock);
	free(c);
}
