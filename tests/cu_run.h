/* cu_run — how every CUnit test program here ends.
 *
 * Runs the registry verbosely and counts every failure record: a failed
 * assertion, but also a suite whose set-up or clean-up failed (which
 * CU_get_number_of_failures() would not count). Cleans the registry up.
 * Returns the program's exit status. */
#ifndef CARAPACE_CU_RUN_H
#define CARAPACE_CU_RUN_H

#include <CUnit/Basic.h>

static inline int cu_run(void)
{
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failures = CU_get_number_of_failure_records();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}

#endif
