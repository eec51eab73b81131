/* tu_assert — CUnit checks the integration tests share. See tu_assert.h. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tu_assert.h"
#include "tu_json.h"

void expect_error(int port, const char *method, const char *target,
		  const char *headers, const char *body, int want,
		  const char *tool)
{
	int status = 0;
	char *resp = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_http(port, method, target, headers, body,
				      &status, &resp, NULL),
			      0);
	CU_ASSERT_EQUAL(status, want);
	json_object *o = parse_json(resp), *err = NULL;
	CU_ASSERT_PTR_NOT_NULL(o);
	if (o != NULL && json_object_object_get_ex(o, "error", &err)) {
		CU_ASSERT_EQUAL(json_int_at(err, "code"), want);
		CU_ASSERT_PTR_NOT_NULL(json_str_at(err, "message"));
		const char *got = json_str_at(err, "tool");
		if (tool != NULL)
			CU_ASSERT(got != NULL && strcmp(got, tool) == 0);
	} else {
		CU_FAIL("no error object");
		fprintf(stderr, "%s %s -> %d %s\n", method, target, status,
			resp ? resp : "");
	}
	json_object_put(o);
	free(resp);
}
