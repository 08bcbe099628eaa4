#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

lsc_status lsc_begin(lsc_ctx *ctx)
{
    if (!ctx) return LSC_STATUS_INVALID_ARGUMENT;
    /* keep the creation message: it is the reason every call fails */
    if (ctx->init_status != LSC_STATUS_OK) return LSC_STATUS_BAD_CONTEXT;
    ctx->err[0] = '\0';
    return LSC_STATUS_OK;
}

lsc_status lsc_check_matrix(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int64_t min_rows)
{
    LSC_CHECK(ctx, m, LSC_STATUS_INVALID_ARGUMENT, "%s: matrix is NULL", name);
    LSC_CHECK(ctx, (int)m->dtype >= LSC_DTYPE_F32 && (int)m->dtype <= LSC_DTYPE_F64,
              LSC_STATUS_INVALID_ARGUMENT, "%s: dtype %d is unknown", name, (int)m->dtype);
    LSC_CHECK(ctx, (int)m->memory == LSC_MEMORY_HOST || (int)m->memory == LSC_MEMORY_DEVICE,
              LSC_STATUS_INVALID_ARGUMENT, "%s: memory space %d is unknown", name, (int)m->memory);
    LSC_CHECK(ctx, m->rows >= 1, LSC_STATUS_INVALID_ARGUMENT, "%s: rows is %lld, expected >= 1",
              name, (long long)m->rows);
    LSC_CHECK(ctx, m->rows >= min_rows, LSC_STATUS_INVALID_ARGUMENT,
              "%s: %lld rows, this operation needs at least %lld", name, (long long)m->rows,
              (long long)min_rows);
    LSC_CHECK(ctx, m->cols >= 1, LSC_STATUS_INVALID_ARGUMENT, "%s: cols is %lld, expected >= 1",
              name, (long long)m->cols);
    LSC_CHECK(ctx, m->ld >= m->cols, LSC_STATUS_INVALID_ARGUMENT,
              "%s: ld (%lld) is smaller than cols (%lld)", name, (long long)m->ld,
              (long long)m->cols);
    /* the last element's offset, (rows - 1) ld + cols, and its byte size must fit */
    int64_t span = lsc_mul_i64(m->rows - 1, m->ld);
    LSC_CHECK(ctx, span >= 0 && span <= INT64_MAX - m->cols, LSC_STATUS_OVERFLOW,
              "%s: %lld rows with ld %lld overflow 64-bit element offsets", name,
              (long long)m->rows, (long long)m->ld);
    size_t bytes;
    LSC_TRY(lsc_bytes(ctx, span + m->cols, lsc_dtype_size(m->dtype), &bytes, name));
    LSC_CHECK(ctx, m->data, LSC_STATUS_INVALID_ARGUMENT, "%s: data is NULL", name);
    if (m->memory == LSC_MEMORY_DEVICE && !lsc_supports(ctx, LSC_CAP_DEVICE_MEMORY))
        return lsc_set_error(ctx, LSC_STATUS_NOT_SUPPORTED,
                             "%s: data is in device memory but the context runs on the %s "
                             "backend",
                             name, ctx->ops ? ctx->ops->name : "cpu");
    return LSC_STATUS_OK;
}

/* The first non-finite element of row r, or -1; only called on rows known to hold one. */
static lsc_status report_bad(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int64_t r)
{
    const char *row = (const char *)m->data + (size_t)(r * m->ld) * lsc_dtype_size(m->dtype);
    for (int64_t c = 0; c < m->cols; c++) {
        float v = lsc_load_f32(row, (int)m->dtype, c);
        if (isfinite(v)) continue;
        if (m->dtype == LSC_DTYPE_F64 && isfinite(((const double *)row)[c]))
            return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                                 "%s: row %lld col %lld is %g, outside the float32 range", name,
                                 (long long)r, (long long)c, ((const double *)row)[c]);
        return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA, "%s: row %lld col %lld is %s", name,
                             (long long)r, (long long)c, isnan(v) ? "NaN" : "Inf");
    }
    return lsc_set_error(ctx, LSC_STATUS_INTERNAL, "%s: row %lld flagged but finite", name,
                         (long long)r);
}

lsc_status lsc_check_values(lsc_ctx *ctx, const lsc_matrix *m, const char *name, int cosine)
{
    if (m->memory != LSC_MEMORY_HOST) {
        /* device matrices reach here only on a backend that has device memory */
        LSC_CHECK(ctx, ctx->ops->check_values, LSC_STATUS_NOT_SUPPORTED,
                  "%s: the %s backend cannot check device memory", name, ctx->ops->name);
        return ctx->ops->check_values(ctx, m, name, cosine);
    }
    size_t es = lsc_dtype_size(m->dtype);
    int64_t bad_row = -1, zero_row = -1;
    /* Rows are scanned in parallel; the smallest offending row wins so the message is
     * deterministic. Multiplying by 0 turns Inf into NaN, so one test catches both. */
#pragma omp parallel for schedule(static) num_threads(ctx->threads) if (m->rows * m->cols > 65536)
    for (int64_t r = 0; r < m->rows; r++) {
        const char *row = (const char *)m->data + (size_t)(r * m->ld) * es;
        /* 16 independent sums: one running sum made this scan latency-bound (1.5% of a kNN) */
        float acc[16] = {0.0f};
        int nonzero = 0;
        int64_t c = 0;
        if (m->dtype == LSC_DTYPE_F32) {
            const float *f = (const float *)row;
            for (; c + 16 <= m->cols; c += 16)
                for (int u = 0; u < 16; u++) {
                    acc[u] += f[c + u] * 0.0f;
                    nonzero |= f[c + u] != 0.0f;
                }
        }
        for (; c < m->cols; c++) {
            float v = lsc_load_f32(row, (int)m->dtype, c);
            acc[c & 15] += v * 0.0f;
            nonzero |= v != 0.0f;
        }
        float any = 0.0f;
        for (int u = 0; u < 16; u++) any += acc[u];
        if (any != 0.0f) {
#pragma omp critical(lsc_check_values)
            if (bad_row < 0 || r < bad_row) bad_row = r;
        }
        if (cosine && !nonzero) {
#pragma omp critical(lsc_check_values)
            if (zero_row < 0 || r < zero_row) zero_row = r;
        }
    }
    if (bad_row >= 0) return report_bad(ctx, m, name, bad_row);
    if (zero_row >= 0)
        return lsc_set_error(ctx, LSC_STATUS_INVALID_DATA,
                             "%s: row %lld is all zeros, which has no cosine distance", name,
                             (long long)zero_row);
    return LSC_STATUS_OK;
}

/* "48 or 72" for the message */
static const char *sizes_text(char *buf, size_t cap, const size_t *sizes, int64_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%zu",
                                i == 0       ? ""
                                : i == n - 1 ? " or "
                                             : ", ",
                                sizes[i]);
    return buf;
}

lsc_status lsc_read_opts(lsc_ctx *ctx, void *dst, const void *src, const size_t *sizes, int64_t n,
                         const char *what, const char *init)
{
    size_t got;
    memcpy(&got, src, sizeof got);
    const size_t full = sizes[n - 1];
    char buf[96];
    LSC_CHECK(ctx, lsc_size_known(got, sizes, n), LSC_STATUS_INVALID_ARGUMENT,
              "%s.size is %zu, expected %s (this library's sizes): initialise it with %s", what,
              got, sizes_text(buf, sizeof buf, sizes, n), init);
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = full; i < got; i++)
        LSC_CHECK(ctx, s[i] == 0, LSC_STATUS_INVALID_ARGUMENT,
                  "%s.size is %zu, larger than this library's %zu (lsc %s), and byte %zu, a "
                  "field this library does not know, is set: it needs a newer lsc",
                  what, got, full, lsc_version(), i);
    const size_t m = got < full ? got : full;
    memcpy((unsigned char *)dst + sizeof(size_t), s + sizeof(size_t), m - sizeof(size_t));
    memcpy(dst, &full, sizeof full);
    return LSC_STATUS_OK;
}

lsc_status lsc_check_result_size(lsc_ctx *ctx, const void *out, const size_t *sizes, int64_t n,
                                 const char *what, const char *init)
{
    size_t got;
    memcpy(&got, out, sizeof got);
    char buf[96];
    LSC_CHECK(ctx, lsc_size_known(got, sizes, n), LSC_STATUS_INVALID_ARGUMENT,
              "%s->size is %zu, expected %s (this library's sizes) or a newer header's larger "
              "one up to %zu: initialise it with %s",
              what, got, sizes_text(buf, sizeof buf, sizes, n), LSC_STRUCT_SIZE_MAX, init);
    return LSC_STATUS_OK;
}

lsc_status lsc_check_nn_metric(lsc_ctx *ctx, lsc_metric metric, const char *what)
{
    LSC_CHECK(ctx, metric == LSC_METRIC_EUCLIDEAN || metric == LSC_METRIC_COSINE,
              LSC_STATUS_INVALID_ARGUMENT,
              "%s: metric %d is not supported here (euclidean or cosine)", what, (int)metric);
    return LSC_STATUS_OK;
}

size_t lsc_dtype_size(lsc_dtype dtype) { return lsc_elem_size((int)dtype); }

lsc_matrix lsc_matrix_f32(const float *data, int64_t rows, int64_t cols)
{
    lsc_matrix m;
    m.data = data;
    m.dtype = LSC_DTYPE_F32;
    m.rows = rows;
    m.cols = cols;
    m.ld = cols;
    m.memory = LSC_MEMORY_HOST;
    return m;
}
