/* Test builds only (compiled with -DLSC_TESTING into the static library lsc_testing, which only
 * tests/test_alloc links): a failure counter consulted by lsc_malloc / lsc_calloc and by
 * lsc_ctx_create's allocation of the context. The installed library carries none of this. */
#ifndef LSC_TESTING_H
#define LSC_TESTING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the n-th allocation from now fail (n >= 1; 0 turns failures off) and resets the count
 * of allocations. Only that one allocation fails; later ones succeed. Thread-safe (atomics). */
void lsc_testing_fail_alloc(int64_t n);
/* Allocations attempted (failed ones included) since the last lsc_testing_fail_alloc. */
int64_t lsc_testing_alloc_count(void);
/* From now on, records the largest host allocation the calling thread makes under the name
 * `what` (lsc_malloc's, compared as strings; NULL: none), so a test can bound a buffer's size. */
void lsc_testing_watch_alloc(const char *what);
/* That largest allocation's bytes (0: none made since lsc_testing_watch_alloc). */
size_t lsc_testing_watched_bytes(void);

#ifdef __cplusplus
}
#endif

#endif /* LSC_TESTING_H */
