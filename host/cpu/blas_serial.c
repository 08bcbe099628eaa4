/* The BLAS and LAPACK calls lsc makes from inside its own parallel regions, one call per thread
 * on the thread's own tile (tiles.h). They must run single-threaded.
 *
 * Built two ways (CMakeLists.txt, LSC_PRIVATE_BLAS):
 * - LSC_PRIVATE_BLAS=1 (the shared library, where Debian's OpenBLAS archive is found): the
 *   calls go to a private copy of that OpenBLAS linked into liblsc with every symbol renamed to
 *   lsc_serial_* and hidden (cmake/LscPrivateBlas.cmake), run on one thread. The caller's BLAS -
 *   its library, its thread count, its state - is never touched, and two contexts on two
 *   threads need no coordination.
 * - otherwise (the static library, other systems): the calls go to the BLAS the library is
 *   linked with, and for the duration of a parallel region OpenBLAS's process-wide thread count
 *   is set to 1 and restored after (include/lsc.h says so): a threaded OpenBLAS's pool spins
 *   between calls and fights lsc's threads (measured: kNN 4x the GEMM time against 1.5x). */
#include "tiles.h"

#include <stddef.h>

#if defined(LSC_PRIVATE_BLAS) && LSC_PRIVATE_BLAS
#define SERIAL(f) lsc_serial_##f
#else
#include <dlfcn.h>
#define SERIAL(f) f
#endif

/* The CBLAS and Fortran LAPACK prototypes (as cblas.h and gfortran's calling convention, with
 * the hidden string lengths last), declared here for both names. Their `int`s are the 32-bit
 * interface of Debian's OpenBLAS (blasint, not its 64-bit-index build): lsc's sizes stay int64_t
 * up to the cast, and what is passed is bounded below 2^31 - a tile's rows (lsc_plan_tiles keeps
 * them so), D of a D x D Gram or eigenproblem that was allocated. */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, UPPER = 121 };
void SERIAL(cblas_sgemm)(int order, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
void SERIAL(cblas_ssyrk)(int order, int uplo, int trans, int n, int k, float alpha, const float *a,
                         int lda, float beta, float *c, int ldc);
void SERIAL(cblas_dsyrk)(int order, int uplo, int trans, int n, int k, double alpha,
                         const double *a, int lda, double beta, double *c, int ldc);
void SERIAL(dsyevd_)(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                     double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                     int *info, size_t jobz_len, size_t uplo_len);

#if defined(LSC_PRIVATE_BLAS) && LSC_PRIVATE_BLAS
#include <pthread.h>
/* The copy's own state (OpenBLAS 0.3's names, renamed): its thread counts, and its
 * initialisation, which no longer runs as liblsc loads. With the counts set to 1 first it starts
 * no thread of its own and every call runs on the calling thread; the locks of its threaded build
 * keep concurrent calls from lsc's threads apart (Debian's serial build has none: measured, its
 * concurrent DSYRKs gave wrong sums). */
extern int lsc_serial_blas_cpu_number, lsc_serial_blas_num_threads;
void lsc_serial_gotoblas_init(void);
void lsc_serial_openblas_set_num_threads(int n);
static pthread_once_t one_thread_once = PTHREAD_ONCE_INIT;
static void one_thread(void)
{
    lsc_serial_blas_cpu_number = 1;
    lsc_serial_blas_num_threads = 1; /* the size of the pool it would start */
    lsc_serial_gotoblas_init();
    lsc_serial_openblas_set_num_threads(1); /* the initialisation may have counted the cores */
}
#define SINGLE() pthread_once(&one_thread_once, one_thread)
#else
#define SINGLE() ((void)0)
#endif

void cpu_gemm_nt(int64_t nq, int64_t nb, int64_t d, const float *a, const float *b, float *c)
{
    /* tiles keep nq, nb below 2^31 and d is checked by the callers (cpu_tile_run) */
    SINGLE();
    SERIAL(cblas_sgemm)
    (ROW_MAJOR, NO_TRANS, TRANS, (int)nq, (int)nb, (int)d, 1.0f, a, (int)d, b, (int)d, 0.0f, c,
     (int)nb);
}

void cpu_syrk_upper(int64_t n, int64_t d, const float *a, float *c)
{
    SINGLE();
    SERIAL(cblas_ssyrk)
    (ROW_MAJOR, UPPER, NO_TRANS, (int)n, (int)d, 1.0f, a, (int)d, 0.0f, c, (int)n);
}

void cpu_dsyrk_t_serial(int64_t d, int64_t nr, const double *x, double *c)
{
    SINGLE();
    SERIAL(cblas_dsyrk)(ROW_MAJOR, UPPER, TRANS, (int)d, (int)nr, 1.0, x, (int)d, 1.0, c, (int)d);
}

int cpu_dsyevd_values_serial(int64_t n, double *a, double *w, double *work, int64_t lwork,
                             int *iwork, int64_t liwork)
{
    const int nn = (int)n, lw = (int)lwork, liw = (int)liwork;
    int info = 0;
    SINGLE();
    SERIAL(dsyevd_)("N", "L", &nn, a, &nn, w, work, &lw, iwork, &liw, &info, 1, 1);
    return info;
}

#if defined(LSC_PRIVATE_BLAS) && LSC_PRIVATE_BLAS
int cpu_blas_single_enter(void) { return 0; }
void cpu_blas_single_leave(int previous) { (void)previous; }
int cpu_blas_private(void) { return 1; }
#else
int cpu_blas_single_enter(void)
{
    typedef void (*set_fn)(int);
    typedef int (*get_fn)(void);
    set_fn set = (set_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    get_fn get = (get_fn)dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    if (!set || !get) return 0;
    int prev = get();
    if (prev > 1) set(1);
    return prev > 1 ? prev : 0;
}

void cpu_blas_single_leave(int previous)
{
    typedef void (*set_fn)(int);
    if (previous <= 1) return;
    set_fn set = (set_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (set) set(previous);
}

int cpu_blas_private(void) { return 0; }
#endif
