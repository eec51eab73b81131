/* The header rules of header.c and policy.c on a client's header: the
 * input is "name:value" (split at the first ':'; none: all name), as MHD
 * hands a field over, counted (a NUL inside is seen). Each function must
 * agree with the others: a name header_field_problem lets through is a
 * token, a name equals itself under header_name_eq, and a hop-by-hop or
 * credential name is never forwarded. */
#include "config.h"

#include "fuzz.h"
#include "header.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *colon = memchr(s, ':', size);
	size_t name_len = colon ? (size_t)(colon - s) : size;
	const char *value = colon ? colon + 1 : "";
	size_t value_len = colon ? size - name_len - 1 : 0;

	const char *problem = header_field_problem(s, name_len, value,
						   value_len);
	if (problem == NULL && !header_is_token(s, name_len))
		abort();
	header_is_token(s, size);
	header_response_hop_by_hop(s, name_len);

	char *name = fuzz_string(data, name_len);
	if (name == NULL)
		return 0;
	if (strlen(name) == name_len) {
		if (!header_name_eq(name, name) ||
		    !header_name_eq_len(s, name_len, name) ||
		    !header_name_has_prefix(name, name))
			abort();
		if (header_name_eq(name, "Authorization") &&
		    header_forwardable(name) != HEADER_NEVER)
			abort();
		int fwd = policy_forward_header(fuzz_tool("web"), name);
		if (fwd && (header_name_eq(name, "X-Api-Key") ||
			    header_name_eq(name, "X-Forwarded-For") ||
			    header_name_eq(name, "Proxy-Authorization")))
			abort();
		policy_forward_header(fuzz_tool("sig"), name);
		header_hop_by_hop(name);
		header_injectable(name);
	}
	free(name);
	return 0;
}
