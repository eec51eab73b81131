/* The configuration parser (cfg_load_string): the operator's bytes, and
 * what `carapaced -t` is run on. A config that loads must also be
 * releasable, and the error of one that does not must name a key. */
#include "config.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct cfg *cfg = NULL;
	struct error err;

	if (text == NULL)
		return 0;
	if (cfg_load_string(text, &cfg, &err) == 0) {
		cfg_has_cli_tools(cfg);
		for (size_t i = 0; i < cfg->n_tools; i++)
			if (cfg_find_tool(cfg, cfg->tools[i].name,
					  strlen(cfg->tools[i].name)) == NULL)
				abort();
		cfg_release(cfg);
	} else if (cfg != NULL || memchr(err.msg, '\0', sizeof(err.msg)) ==
					  NULL) {
		abort();
	}
	free(text);
	return 0;
}
