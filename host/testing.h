/* Test builds only (compiled with -DLSC_TESTING into the static library lsc_testing, which only
 * tests/test_alloc links): a failure counter consulted by lsc_malloc / lsc_calloc and by
 * lsc_ctx_create's allocation of the context. The installed library carries none of this. */
#ifndef LSC_TESTING_H
#define LSC_TESTING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the n-th allocation from now fail (n >= 1; 0 turns failures off) and resets the count
 * of allocations. Only that one allocation fails; later ones succeed. Thread-safe (atomics). */
void lsc_testing_fail_alloc(int64_t n);
/* Allocations attempted (failed ones included) since the last lsc_testing_fail_alloc. */
int64_t lsc_testing_alloc_count(void);

#ifdef __cplusplus
}
#endif

#endif /* LSC_TESTING_H */
