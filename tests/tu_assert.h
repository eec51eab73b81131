/* tu_assert — CUnit checks the integration tests share (test_proxy,
 * test_policy_e2e, test_cli). Each records its failures in the running
 * CUnit test; call from that test's thread. */
#ifndef CARAPACE_TU_ASSERT_H
#define CARAPACE_TU_ASSERT_H

/* METHOD target (headers, body: NULL or as tu_http takes them) on port
 * answers status want with a JSON error object {"error": {"code": want,
 * "message": ..., "tool": tool}}; tool NULL: any or none. A failure to
 * connect is fatal to the test. */
void expect_error(int port, const char *method, const char *target,
		  const char *headers, const char *body, int want,
		  const char *tool);

#endif
