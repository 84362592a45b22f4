/* SPDX-License-Identifier: BSD-3-Clause */
#include "counters.h"

const char *const lg_drop_names[LG_DROP_MAX] = {
#define LG_X(e, n, d) [LG_DROP_##e] = #n,
	LG_DROP_LIST(LG_X)
#undef LG_X
};

const char *const lg_drop_descr[LG_DROP_MAX] = {
#define LG_X(e, n, d) [LG_DROP_##e] = d,
	LG_DROP_LIST(LG_X)
#undef LG_X
};
