/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_TEST_HARNESS_H
#define LG_TEST_HARNESS_H

/*
 * The shared frame of the unit tests. lg_test_run: one CUnit suite from a
 * table. lg_test_main, for DPDK code: EAL without hugepages in its own
 * runtime directory (runs may overlap under meson and CI), one CUnit suite
 * from a table, verbose output, exit 1 on any failure, 2 if set-up failed.
 * setup() runs after EAL and before the tests (NULL for none).
 */

#include <CUnit/Basic.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

struct lg_test {
	const char *name;
	CU_TestFunc fn;
};

/* Run tests[] as one CUnit suite: 0 all passed, 1 a failure, 2 set-up. */
static inline int
lg_test_run(const char *suite_name, const struct lg_test *tests, size_t n)
{
	CU_pSuite suite;
	unsigned int failures;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (i = 0; suite != NULL && i < n; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			suite = NULL;
	if (suite == NULL)
		return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}

static inline int
lg_test_main(const char *argv0, const char *suite_name, const char *lcores, const char *vdev,
	     int (*setup)(void), const struct lg_test *tests, size_t n)
{
	char prefix[64];
	char *eal[16];
	int ac = 0, rc;

	snprintf(prefix, sizeof(prefix), "lgtest-%s-%d", suite_name, (int)getpid());
	eal[ac++] = (char *)(uintptr_t)argv0;
	eal[ac++] = "--no-huge";
	eal[ac++] = "-m";
	eal[ac++] = "1024";
	eal[ac++] = "--file-prefix";
	eal[ac++] = prefix;
	eal[ac++] = "--no-pci";
	eal[ac++] = "--lcores";
	eal[ac++] = (char *)(uintptr_t)lcores;
	eal[ac++] = "--log-level";
	eal[ac++] = "*:error";
	if (vdev != NULL) {
		eal[ac++] = "--vdev";
		eal[ac++] = (char *)(uintptr_t)vdev;
	}
	eal[ac] = NULL;
	if (rte_eal_init(ac, eal) < 0) {
		fprintf(stderr, "%s: EAL init failed\n", suite_name);
		return 2;
	}
	if (setup != NULL && setup() != 0)
		return 2;
	rc = lg_test_run(suite_name, tests, n);
	rte_eal_cleanup();
	return rc;
}

#endif /* LG_TEST_HARNESS_H */
