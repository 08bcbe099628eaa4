/* Version, statuses, errors, allocation and the context: the part of the API every call uses. */
#define _GNU_SOURCE
#include "internal.h"
#include "status.h"
#include "validate.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LSC_STR_(x) #x
#define LSC_STR(x) LSC_STR_(x)

const char *lsc_version(void)
{
    return LSC_STR(LSC_VERSION_MAJOR) "." LSC_STR(LSC_VERSION_MINOR) "." LSC_STR(LSC_VERSION_PATCH);
}

int lsc_version_number(void) { return LSC_VERSION_NUMBER; }

#define LSC_X_ASSERT(name, value, msg)                                                             \
    _Static_assert(LSC_STATUS_##name == value, "status " #name " renumbered");
LSC_STATUS_TABLE(LSC_X_ASSERT)

const char *lsc_status_string(lsc_status status)
{
    switch (status) {
#define LSC_X_MSG(name, value, msg)                                                                \
    case LSC_STATUS_##name: return msg;
        LSC_STATUS_TABLE(LSC_X_MSG)
    }
    return "unknown status";
}

const char *lsc_status_name(lsc_status status)
{
    switch (status) {
#define LSC_X_NAME(name, value, msg)                                                               \
    case LSC_STATUS_##name: return "LSC_STATUS_" #name;
        LSC_STATUS_TABLE(LSC_X_NAME)
    }
    return "LSC_STATUS_UNKNOWN";
}

#ifdef LSC_TESTING
#include "testing.h"
/* Test builds only (host/testing.h): the countdown to the allocation that fails. */
static int64_t lsc_test_countdown, lsc_test_allocs;

void lsc_testing_fail_alloc(int64_t n)
{
    __atomic_store_n(&lsc_test_allocs, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&lsc_test_countdown, n > 0 ? n : 0, __ATOMIC_SEQ_CST);
}

int64_t lsc_testing_alloc_count(void)
{
    return __atomic_load_n(&lsc_test_allocs, __ATOMIC_SEQ_CST);
}

/* The calling thread's watched allocation name and the largest allocation made under it. */
static _Thread_local const char *lsc_test_watch;
static _Thread_local size_t lsc_test_watched;

void lsc_testing_watch_alloc(const char *what)
{
    lsc_test_watch = what;
    lsc_test_watched = 0;
}

size_t lsc_testing_watched_bytes(void) { return lsc_test_watched; }

/* 1 if this allocation is the one to fail: exactly one thread sees the countdown reach 0. */
static int test_alloc_fails(size_t bytes, const char *what)
{
    if (lsc_test_watch && what && !strcmp(what, lsc_test_watch) && bytes > lsc_test_watched)
        lsc_test_watched = bytes;
    __atomic_add_fetch(&lsc_test_allocs, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&lsc_test_countdown, __ATOMIC_SEQ_CST) <= 0) return 0;
    return __atomic_sub_fetch(&lsc_test_countdown, 1, __ATOMIC_SEQ_CST) == 0;
}
#define LSC_TEST_ALLOC_FAILS(bytes, what) test_alloc_fails(bytes, what)
#else
#define LSC_TEST_ALLOC_FAILS(bytes, what) 0
#endif

void *lsc_malloc(lsc_ctx *ctx, size_t bytes, const char *what)
{
    void *p = LSC_TEST_ALLOC_FAILS(bytes, what) ? NULL : malloc(bytes ? bytes : 1);
    if (!p)
        lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                      "out of host memory allocating %zu bytes for %s", bytes, what);
    return p;
}

void *lsc_calloc(lsc_ctx *ctx, size_t count, size_t size, const char *what)
{
    void *p = LSC_TEST_ALLOC_FAILS(count * size, what) ? NULL
                                                       : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        lsc_set_error(ctx, LSC_STATUS_OUT_OF_MEMORY,
                      "out of host memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

lsc_status lsc_bytes(lsc_ctx *ctx, int64_t count, size_t size, size_t *out, const char *what)
{
    if (count < 0 || (size != 0 && (uint64_t)count > SIZE_MAX / size))
        return lsc_set_error(ctx, LSC_STATUS_OVERFLOW, "%s: %lld x %zu bytes overflows size_t",
                             what, (long long)count, size);
    *out = (size_t)count * size;
    return LSC_STATUS_OK;
}

/* Opens an optional module of lsc (a device backend, the MPI transport): the file named by the
 * environment variable `env_var` when it is set (tests, relocated installs), else `file` from the
 * directory of the library that holds this code, then from the loader's search path. NULL with
 * the reason in `why` when none loads. */
void *lsc_module_open(const char *file, const char *env_var, const char *label, char *why,
                      size_t why_len)
{
    const char *env = getenv(env_var);
    void *h = NULL;
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    } else {
        Dl_info info;
        if (dladdr((void *)&lsc_module_open, &info) && info.dli_fname) {
            char path[4096];
            const char *slash = strrchr(info.dli_fname, '/');
            if (slash && (size_t)(slash - info.dli_fname) + strlen(file) + 2 < sizeof path) {
                snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname),
                         info.dli_fname, file);
                h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            }
        }
        if (!h) h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h) {
        const char *e = dlerror();
        snprintf(why, why_len, "cannot load the %s module %s: %s", label, env && *env ? env : file,
                 e ? e : "unknown error");
    }
    return h;
}

/* A device backend in a module of its own: what the loader needs to find, check and open it.
 * A new backend adds its folder and one line to kDeviceBackends. */
typedef struct device_backend {
    lsc_backend backend; /* what a caller asks for */
    const char *label;   /* its name in messages */
    const char *file;    /* the module's file name */
    const char *env_var; /* names another module file */
    const char *entry;   /* the module's entry point: lsc_cuda_entry_fn's signature */
    int abi;             /* the table version both sides were built for */
    /* 0 with the reason in why when the machine cannot run the backend at all, checked before
     * the module (and what it links) is mapped; NULL: nothing to check */
    int (*usable)(char *why, size_t why_len);
} device_backend;

#ifdef LSC_HAVE_CUDA
#ifndef LSC_CUDA_SIM
/* The driver's own library: without it the module would map cuBLAS and cuSOLVER (a tenth of a
 * second, hundreds of MB) only for the CUDA runtime to report a driver "version insufficient"
 * that is in fact absent. A module named by LSC_CUDA_MODULE speaks for itself. */
static int cuda_driver_present(char *why, size_t why_len)
{
    const char *env = getenv("LSC_CUDA_MODULE");
    if (env && *env) return 1;
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        const char *e = dlerror();
        snprintf(why, why_len,
                 "no NVIDIA driver: its library libcuda.so.1 cannot be loaded (%s); install the "
                 "NVIDIA driver, or use the CPU backend",
                 e ? e : "not found");
        return 0;
    }
    dlclose(driver);
    return 1;
}
#define LSC_CUDA_USABLE cuda_driver_present
#else
#define LSC_CUDA_USABLE NULL /* the emulated device needs no driver */
#endif
#endif

static const device_backend kDeviceBackends[] = {
#ifdef LSC_HAVE_CUDA
    {LSC_BACKEND_CUDA, "CUDA", "liblsc_cuda.so." LSC_STR(LSC_VERSION_MAJOR), "LSC_CUDA_MODULE",
     LSC_CUDA_ENTRY, LSC_CUDA_ABI, LSC_CUDA_USABLE},
#endif
    {LSC_BACKEND_CPU, NULL, NULL, NULL, NULL, 0, NULL} /* end (never a module) */
};

/* Opens backend b's module and takes its function table; NULL with the reason in why. */
static const lsc_backend_ops *load_backend(lsc_ctx *ctx, const device_backend *b, char *why,
                                           size_t why_len)
{
    if (b->usable && !b->usable(why, why_len)) return NULL;
    void *h = lsc_module_open(b->file, b->env_var, b->label, why, why_len);
    if (!h) return NULL;
    lsc_cuda_entry_fn entry = (lsc_cuda_entry_fn)dlsym(h, b->entry);
    if (!entry) {
        snprintf(why, why_len, "the %s module has no entry point %s", b->label, b->entry);
        dlclose(h);
        return NULL;
    }
    const lsc_backend_ops *ops = entry(b->abi, why, why_len);
    if (!ops) {
        dlclose(h);
        return NULL;
    }
    ctx->module = h;
    return ops;
}

/* A backend may be chosen by AUTO only if it implements every operation. */
static int ops_complete(const lsc_backend_ops *o)
{
    return o->spectrum && o->acc_create && o->acc_add && o->acc_merge && o->acc_eigs &&
           o->acc_destroy && o->distances && o->pair_stats && o->knn && o->reference_radii &&
           o->prdc && o->check_values && o->spectrum_async && o->prdc_async;
}

/* The asked backend, or for AUTO the first device backend that loads and is complete, else the
 * CPU. */
static lsc_status pick_backend(lsc_ctx *ctx)
{
    const lsc_backend want = ctx->params.backend;
    if (want != LSC_BACKEND_CPU) {
        for (const device_backend *b = kDeviceBackends; b->file; b++) {
            if (want != LSC_BACKEND_AUTO && want != b->backend) continue;
            char why[400] = "";
            const lsc_backend_ops *ops = load_backend(ctx, b, why, sizeof why);
            if (ops && (want == b->backend || ops_complete(ops))) {
                ctx->ops = ops;
                ctx->backend = b->backend;
                return LSC_STATUS_OK;
            }
            if (want == b->backend)
                return lsc_set_error(ctx, LSC_STATUS_BACKEND_UNAVAILABLE,
                                     "%s backend unavailable: %s", b->label, why);
            if (ctx->module) {
                dlclose(ctx->module);
                ctx->module = NULL;
            }
        }
        if (want == LSC_BACKEND_CUDA)
            return lsc_set_error(ctx, LSC_STATUS_BACKEND_UNAVAILABLE,
                                 "CUDA backend unavailable: this lsc was built without CUDA "
                                 "(configure with -DLSC_CUDA=ON and a CUDA toolkit)");
    }
    ctx->ops = lsc_cpu_backend_ops();
    ctx->backend = LSC_BACKEND_CPU;
    return LSC_STATUS_OK;
}

lsc_status lsc_ctx_create(const lsc_ctx_params *params, lsc_ctx **out)
{
    if (!out) return LSC_STATUS_INVALID_ARGUMENT;
    *out = NULL;
    /* plain calloc: with no context there is nowhere to put a message (*out stays NULL) */
    lsc_ctx *ctx =
        LSC_TEST_ALLOC_FAILS(sizeof *ctx, "a context") ? NULL : (lsc_ctx *)calloc(1, sizeof *ctx);
    if (!ctx) return LSC_STATUS_OUT_OF_MEMORY;
    *out = ctx;
    lsc_ctx_params defaults = LSC_CTX_PARAMS_INIT;
    ctx->params = defaults;
    ctx->backend = LSC_BACKEND_AUTO;
    snprintf(ctx->device_name, sizeof ctx->device_name, "none (context failed)");

    lsc_status s = LSC_STATUS_OK;
    /* every published size of the struct is read, defaults past the caller's size */
    if (params)
        s = LSC_READ_OPTS(ctx, &ctx->params, params, CTX_PARAMS, "params", "LSC_CTX_PARAMS_INIT");
    if (s == LSC_STATUS_OK) {
        const lsc_ctx_params *p = &ctx->params;
        if ((int)p->backend < LSC_BACKEND_AUTO || (int)p->backend > LSC_BACKEND_CUDA)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "params.backend %d is unknown",
                              (int)p->backend);
        else if ((int)p->precision != LSC_PRECISION_FP32)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT, "params.precision %d is unknown",
                              (int)p->precision);
        else if (p->threads < 0)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "params.threads is %d, expected >= 0", p->threads);
        else if (p->device < 0)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "params.device is %d, expected >= 0", p->device);
        else if (!p->device_alloc != !p->device_free)
            s = lsc_set_error(ctx, LSC_STATUS_INVALID_ARGUMENT,
                              "params.device_alloc and params.device_free must be set together");
    }
    if (s == LSC_STATUS_OK) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        ctx->threads = ctx->params.threads > 0 ? ctx->params.threads : (cores > 0 ? (int)cores : 1);
        ctx->workspace_limit =
            ctx->params.workspace_limit ? ctx->params.workspace_limit : LSC_DEFAULT_WORKSPACE;
        s = pick_backend(ctx);
    }
    if (s == LSC_STATUS_OK && ctx->ops->init) s = ctx->ops->init(ctx);
    if (s != LSC_STATUS_OK) {
        ctx->init_status = s;
        ctx->ops = NULL;
        ctx->backend = LSC_BACKEND_AUTO;
        return s;
    }
    ctx->err[0] = '\0';
    return LSC_STATUS_OK;
}

void lsc_ctx_destroy(lsc_ctx *ctx)
{
    if (!ctx) return;
    lsc_assess_cache_free(ctx); /* before fini: its reference may hold backend buffers */
    lsc_transport_clear(ctx);
    if (ctx->ops && ctx->ops->fini) ctx->ops->fini(ctx);
    if (ctx->module) dlclose(ctx->module);
    free(ctx);
}

const char *lsc_last_error(const lsc_ctx *ctx)
{
    return ctx ? ctx->err
               : "no context (NULL): lsc_ctx_create failed to allocate one or was not called";
}

lsc_backend lsc_ctx_backend(const lsc_ctx *ctx) { return ctx ? ctx->backend : LSC_BACKEND_AUTO; }

const char *lsc_ctx_device_name(const lsc_ctx *ctx)
{
    return ctx ? ctx->device_name : "none (NULL context)";
}

lsc_status lsc_ctx_set_stream(lsc_ctx *ctx, void *stream)
{
    if (!ctx) return LSC_STATUS_INVALID_ARGUMENT;
    if (ctx->init_status != LSC_STATUS_OK) return LSC_STATUS_BAD_CONTEXT;
    ctx->err[0] = '\0';
    if (ctx->ops->set_stream) LSC_TRY(ctx->ops->set_stream(ctx, stream));
    ctx->params.stream = stream;
    return LSC_STATUS_OK;
}

lsc_status lsc_ctx_set_progress(lsc_ctx *ctx, lsc_progress_fn fn, void *user_data)
{
    if (!ctx) return LSC_STATUS_INVALID_ARGUMENT;
    if (ctx->init_status != LSC_STATUS_OK) return LSC_STATUS_BAD_CONTEXT;
    ctx->err[0] = '\0';
    ctx->progress = fn;
    ctx->progress_user = user_data;
    return LSC_STATUS_OK;
}

int lsc_supports(const lsc_ctx *ctx, lsc_capability what)
{
    const lsc_backend_ops *o = ctx->ops;
    if (!o || !o->supports || !o->supports(ctx, (int)what)) return 0;
    /* a capability is served only with the entry that serves it */
    switch (what) {
    case LSC_CAP_DEVICE_MEMORY: return o->check_values != NULL;
    case LSC_CAP_SPECTRUM_ASYNC: return o->spectrum_async != NULL;
    case LSC_CAP_PRDC_ASYNC: return o->prdc_async != NULL;
    case LSC_CAP_DEVICE_REFERENCE: return o->reference_place != NULL;
    }
    return 0;
}

lsc_status lsc_ctx_supports(lsc_ctx *ctx, lsc_capability what, int *answer)
{
    if (!ctx) return LSC_STATUS_INVALID_ARGUMENT;
    if (ctx->init_status != LSC_STATUS_OK) return LSC_STATUS_BAD_CONTEXT;
    ctx->err[0] = '\0';
    LSC_CHECK(ctx, answer, LSC_STATUS_INVALID_ARGUMENT, "answer is NULL");
    LSC_CHECK(ctx, (int)what >= LSC_CAP_DEVICE_MEMORY && (int)what <= LSC_CAP_DEVICE_REFERENCE,
              LSC_STATUS_INVALID_ARGUMENT, "capability %d is unknown", (int)what);
    *answer = lsc_supports(ctx, what);
    return LSC_STATUS_OK;
}
