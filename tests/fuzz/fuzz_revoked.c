/* The revocation file (revoked_load), the one record carapacectl revoke
 * edits and the daemon reads: its bytes, from a memfd named by
 * /proc/self/fd. A file that loads revokes the first name it lists
 * (every word of a line up to a '#' is a name), and holds no more names
 * than it has bytes. */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "revoked.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct revoked *r = revoked_new();
	struct error err;

	if (fd < 0) {
		fd = memfd_create("revoked", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (r == NULL || ftruncate(fd, 0) < 0 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (revoked_load(r, path, &err) == 0) {
		/* the first name: a line's first word, blanks before it
		 * skipped, a comment (#) ending it */
		char *text = fuzz_string(data, size);
		if (text == NULL)
			abort();
		for (char *line = text; *line != '\0';) {
			line += strspn(line, " \t\r\n");
			size_t n = strcspn(line, " \t\r\n#");
			if (n > 0) {
				line[n] = '\0';
				if (!revoked_has(r, line))
					abort();
				break;
			}
			line += strcspn(line, "\n");
		}
		if (revoked_count(r) > size)
			abort();
		free(text);
	}
	revoked_free(r);
	return 0;
}
