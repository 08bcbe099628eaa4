/* lsc_gpu_floor [--repeats R] [--warmup W] [--tile T] [--spectrum-rows S] SPEC...
 *
 * The hardware floors lsc's GPU timings are judged against, measured on the GPU in the same run as
 * lsc (bench/RESULTS.md, "GPU"): the cuBLAS products each operation needs, in IEEE float32 (TF32
 * off, as lsc computes), and one pass over the inputs at the device's measured memory bandwidth.
 * One JSON line per measurement on stdout, like lsc_bench. SPEC:
 *
 *   bandwidth         cudaMemcpyAsync device to device of 2 GiB: bytes read + written per second
 *                     (always measured first: every "floor" line uses it)
 *   knn:Q:N:D         SGEMM Q x N x D (queries against the base)
 *   prdc:N:M:D        the three SGEMMs of PRDC: N x N (real radii), M x M (fake radii), M x N
 *   reference:N:D     N x N (the real radii alone, lsc_reference_create)
 *   monitor:N:M:D     M x M + M x N (lsc_prdc against a kept N-row reference)
 *   pairs:N:D         half of N x N (all-pairs statistics over the N(N-1)/2 pairs)
 *   spectrum:N:D      cuBLAS DSYRK of the N x D rows, converted to float64 tile by tile, into
 *                     the D x D float64 Gram (N x N when N < D); the conversion is timed apart
 *   gemm:A:B:D        a plain A x B x D SGEMM
 *
 * Products larger than T x T outputs (default 16384: 1 GiB of float32) run as T x T tiles, the
 * way a tiled implementation must; each distinct tile shape is timed (warm-up, then R repeats,
 * median) and multiplied by its count, so a 1,000,000-row product costs seconds, not minutes
 * ("extrapolated": true). The spectrum's DSYRK is timed on S-row tiles (default: 256 MiB of
 * float64) the same way. Inputs are uniform in [-1, 1) from a counter hash (never zeros, which
 * run faster than data). Every line says the shape, the device, the cuBLAS version and the
 * command; the "floor" line of each SPEC gives gemm_s, pass_s (input bytes / bandwidth) and
 * floor_s, the larger of the two.
 *
 * Exit 0 on success, 2 on bad arguments, 1 on a CUDA or cuBLAS failure. */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_cmd, g_device;
int g_repeats = 5, g_warmup = 1;
int64_t g_tile = 16384, g_spectrum_rows = 0;
double g_bandwidth = 0.0; // bytes read + written per second, from the bandwidth SPEC

#define CUDA_OK(expr)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (expr);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            std::fprintf(stderr, "lsc_gpu_floor: %s: %s (%s:%d)\n", #expr, cudaGetErrorString(e_), \
                         __FILE__, __LINE__);                                                      \
            std::exit(1);                                                                          \
        }                                                                                          \
    } while (0)
#define CUBLAS_OK(expr)                                                                            \
    do {                                                                                           \
        cublasStatus_t e_ = (expr);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            std::fprintf(stderr, "lsc_gpu_floor: %s: %s (%s:%d)\n", #expr,                         \
                         cublasGetStatusString(e_), __FILE__, __LINE__);                           \
            std::exit(1);                                                                          \
        }                                                                                          \
    } while (0)

__global__ void fill_uniform(float *x, int64_t n, uint64_t seed)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        x[i] = (float)((double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
}

__global__ void to_f64(const float *x, double *y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = (double)x[i];
}

struct Gpu {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    cudaEvent_t a = nullptr, b = nullptr;
};

void *dalloc(size_t bytes)
{
    void *p = nullptr;
    CUDA_OK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

void fill(Gpu &g, float *x, int64_t n, uint64_t seed)
{
    fill_uniform<<<1024, 256, 0, g.stream>>>(x, n, seed);
    CUDA_OK(cudaGetLastError());
}

struct Stats {
    double median = 0, min = 0, spread = 0;
};

/* warm-up, then g_repeats timed runs of fn() between two events on the stream */
template <class F>
Stats time_it(Gpu &g, F fn)
{
    std::vector<double> t;
    for (int r = -g_warmup; r < g_repeats; r++) {
        CUDA_OK(cudaEventRecord(g.a, g.stream));
        fn();
        CUDA_OK(cudaEventRecord(g.b, g.stream));
        CUDA_OK(cudaEventSynchronize(g.b));
        float ms = 0;
        CUDA_OK(cudaEventElapsedTime(&ms, g.a, g.b));
        if (r >= 0) t.push_back(1e-3 * ms);
    }
    std::sort(t.begin(), t.end());
    size_t n = t.size();
    Stats s;
    s.median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    s.min = t.front();
    s.spread = t.back() - t.front();
    return s;
}

void print_common(const char *op, const char *for_op)
{
    std::printf("{\"op\": \"%s\", \"for\": \"%s\", ", op, for_op);
}

void print_tail(void)
{
    int ver = 0;
    cublasGetProperty(MAJOR_VERSION, &ver);
    int minor = 0, patch = 0;
    cublasGetProperty(MINOR_VERSION, &minor);
    cublasGetProperty(PATCH_LEVEL, &patch);
    std::printf("\"repeats\": %d, \"warmup\": %d, \"device\": \"%s\", \"cublas\": \"%d.%d.%d\", "
                "\"command\": \"%s\"}\n",
                g_repeats, g_warmup, g_device.c_str(), ver, minor, patch, g_cmd.c_str());
    std::fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------- */
/* SGEMM floors                                                                                    */

/* C (a x b, row-major) = A (a x d) B (b x d)^T, the product of a distance tile. Column-major
 * cuBLAS sees C^T = B A^T: op T on B's d x b view, op N on A's d x a view. */
void sgemm_tile(Gpu &g, const float *A, int64_t a, const float *B, int64_t b, int64_t d, float *C)
{
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_OK(cublasGemmEx(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)b, (int)a, (int)d, &one, B,
                           CUDA_R_32F, (int)d, A, CUDA_R_32F, (int)d, &zero, C, CUDA_R_32F, (int)b,
                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

struct GemmFloor {
    double seconds = 0; // the whole a x b x d product, from per-tile medians
    double min_seconds = 0;
    int64_t tiles = 0;
    bool extrapolated = false;
};

/* The a x b x d product in tiles of at most T x T outputs: each distinct tile shape (at most
 * four: full, right edge, bottom edge, corner) timed on its own and counted. The operands are
 * T x d (capped at the real sizes) buffers reused for every tile: the product's speed does not
 * depend on where its rows come from. */
GemmFloor gemm_floor(Gpu &g, int64_t a, int64_t b, int64_t d)
{
    const int64_t T = g_tile;
    const int64_t ta = std::min(a, T), tb = std::min(b, T);
    float *A = (float *)dalloc(sizeof(float) * (size_t)(ta * d));
    float *B = (float *)dalloc(sizeof(float) * (size_t)(tb * d));
    float *C = (float *)dalloc(sizeof(float) * (size_t)(ta * tb));
    fill(g, A, ta * d, 1);
    fill(g, B, tb * d, 2);
    const int64_t fa = a / T, ra = a % T, fb = b / T, rb = b % T;
    struct Shape {
        int64_t p, q, count;
    } shapes[4] = {
        {T, T, fa * fb}, {T, rb, rb ? fa : 0}, {ra, T, ra ? fb : 0}, {ra, rb, (ra && rb) ? 1 : 0}};
    GemmFloor f;
    for (const Shape &s : shapes) {
        if (s.count == 0 || s.p == 0 || s.q == 0) continue;
        Stats st = time_it(g, [&] { sgemm_tile(g, A, s.p, B, s.q, d, C); });
        f.seconds += st.median * (double)s.count;
        f.min_seconds += st.min * (double)s.count;
        f.tiles += s.count;
    }
    f.extrapolated = f.tiles > 1;
    CUDA_OK(cudaFree(A));
    CUDA_OK(cudaFree(B));
    CUDA_OK(cudaFree(C));
    return f;
}

void print_gemm(const char *for_op, const char *name, int64_t a, int64_t b, int64_t d, double scale,
                const GemmFloor &f)
{
    double s = f.seconds * scale;
    print_common("floor_sgemm", for_op);
    std::printf(
        "\"product\": \"%s\", \"shape\": {\"a\": %lld, \"b\": %lld, \"d\": %lld}, "
        "\"scale\": %g, \"median\": %.6f, \"min\": %.6f, \"tflops\": %.2f, \"tiles\": %lld, "
        "\"tile\": %lld, \"extrapolated\": %s, ",
        name, (long long)a, (long long)b, (long long)d, scale, s, f.min_seconds * scale,
        s > 0 ? 2.0 * (double)a * (double)b * (double)d * scale / s * 1e-12 : 0.0,
        (long long)f.tiles, (long long)g_tile, f.extrapolated ? "true" : "false");
    print_tail();
}

void print_floor(const char *for_op, const char *shape_json, double gemm_s, double input_bytes)
{
    // one read of every input at the measured copy rate (which counts bytes read + written)
    double pass_s = input_bytes / g_bandwidth;
    print_common("floor", for_op);
    std::printf("\"shape\": %s, \"gemm_s\": %.6f, \"input_bytes\": %.0f, \"pass_s\": %.6f, "
                "\"floor_s\": %.6f, \"bound\": \"%s\", ",
                shape_json, gemm_s, input_bytes, pass_s, std::max(gemm_s, pass_s),
                pass_s > gemm_s ? "memory" : "gemm");
    print_tail();
}

/* ---------------------------------------------------------------------------------------------- */
/* the bandwidth of one pass                                                                       */

void bandwidth(Gpu &g)
{
    const size_t bytes = (size_t)2 << 30;
    void *src = dalloc(bytes), *dst = dalloc(bytes);
    fill(g, (float *)src, (int64_t)(bytes / sizeof(float)), 3);
    Stats st = time_it(
        g, [&] { CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g.stream)); });
    g_bandwidth = 2.0 * (double)bytes / st.median;
    print_common("bandwidth", "pass");
    std::printf("\"bytes\": %zu, \"median\": %.6f, \"min\": %.6f, \"spread\": %.6f, "
                "\"bytes_per_s\": %.4e, \"counting\": \"read + written\", ",
                bytes, st.median, st.min, st.spread, g_bandwidth);
    print_tail();
    CUDA_OK(cudaFree(src));
    CUDA_OK(cudaFree(dst));
}

/* ---------------------------------------------------------------------------------------------- */
/* the spectrum: DSYRK of converted tiles                                                          */

void spectrum_floor(Gpu &g, int64_t n, int64_t d)
{
    // N >= D: the D x D Gram accumulated over row tiles; N < D: the N x N Gram of the rows
    const bool gram_dd = n >= d;
    int64_t rows = g_spectrum_rows > 0 ? g_spectrum_rows
                                       : std::max<int64_t>(1, ((int64_t)256 << 20) / (8 * d));
    if (!gram_dd || rows > n) rows = n;
    const int64_t full = n / rows, rest = n % rows;
    float *x32 = (float *)dalloc(sizeof(float) * (size_t)(rows * d));
    double *x64 = (double *)dalloc(sizeof(double) * (size_t)(rows * d));
    const int64_t g_n = gram_dd ? d : n;
    double *gram = (double *)dalloc(sizeof(double) * (size_t)(g_n * g_n));
    fill(g, x32, rows * d, 4);
    CUDA_OK(cudaMemsetAsync(gram, 0, sizeof(double) * (size_t)(g_n * g_n), g.stream));
    const double one = 1.0;
    // the row-major rows x d tile is column-major d x rows: op N gives X^T X (d x d), op T X X^T
    auto syrk = [&](int64_t r) {
        CUBLAS_OK(cublasDsyrk(g.blas, CUBLAS_FILL_MODE_LOWER, gram_dd ? CUBLAS_OP_N : CUBLAS_OP_T,
                              (int)g_n, (int)(gram_dd ? r : d), &one, x64, (int)d, &one, gram,
                              (int)g_n));
    };
    auto convert = [&](int64_t r) {
        to_f64<<<1024, 256, 0, g.stream>>>(x32, x64, r * d);
        CUDA_OK(cudaGetLastError());
    };
    convert(rows);
    double syrk_s = 0, syrk_min = 0, conv_s = 0;
    int64_t tiles = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t r = pass == 0 ? rows : rest, count = pass == 0 ? full : (rest ? 1 : 0);
        if (!count || !r) continue;
        Stats s = time_it(g, [&] { syrk(r); });
        Stats c = time_it(g, [&] { convert(r); });
        syrk_s += s.median * (double)count;
        syrk_min += s.min * (double)count;
        conv_s += c.median * (double)count;
        tiles += count;
    }
    double flops =
        gram_dd ? (double)n * (double)d * (double)(d + 1) : (double)d * (double)n * (double)(n + 1);
    print_common("floor_dsyrk", "spectrum");
    std::printf("\"shape\": {\"n\": %lld, \"d\": %lld}, \"gram\": %lld, \"tile_rows\": %lld, "
                "\"tiles\": %lld, \"median\": %.6f, \"min\": %.6f, \"tflops\": %.2f, "
                "\"convert_s\": %.6f, \"extrapolated\": %s, ",
                (long long)n, (long long)d, (long long)g_n, (long long)rows, (long long)tiles,
                syrk_s, syrk_min, syrk_s > 0 ? flops / syrk_s * 1e-12 : 0.0, conv_s,
                tiles > 1 ? "true" : "false");
    print_tail();
    char shape[128];
    std::snprintf(shape, sizeof shape, "{\"n\": %lld, \"d\": %lld}", (long long)n, (long long)d);
    print_floor("spectrum", shape, syrk_s, 4.0 * (double)n * (double)d);
    CUDA_OK(cudaFree(x32));
    CUDA_OK(cudaFree(x64));
    CUDA_OK(cudaFree(gram));
}

/* ---------------------------------------------------------------------------------------------- */

int usage()
{
    std::fprintf(stderr,
                 "usage: lsc_gpu_floor [--repeats R] [--warmup W] [--tile T] [--spectrum-rows S] "
                 "SPEC...\n  SPEC: bandwidth | knn:Q:N:D | prdc:N:M:D | reference:N:D | "
                 "monitor:N:M:D | pairs:N:D | spectrum:N:D | gemm:A:B:D\n");
    return 2;
}

bool parse(const std::string &spec, std::string &op, std::vector<int64_t> &v)
{
    size_t p = spec.find(':');
    op = spec.substr(0, p);
    v.clear();
    while (p != std::string::npos) {
        size_t q = spec.find(':', p + 1);
        std::string f = spec.substr(p + 1, q == std::string::npos ? std::string::npos : q - p - 1);
        char *end = nullptr;
        long long x = std::strtoll(f.c_str(), &end, 10);
        if (f.empty() || *end || x < 1) return false;
        v.push_back(x);
        p = q;
    }
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (i) g_cmd += ' ';
        for (const char *c = argv[i]; *c; c++) {
            if (*c == '"' || *c == '\\') g_cmd += '\\';
            g_cmd += *c;
        }
    }
    std::vector<std::string> specs;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto num = [&](int64_t lo) -> int64_t {
            if (i + 1 >= argc) std::exit(usage());
            long long v = std::atoll(argv[++i]);
            if (v < lo) std::exit(usage());
            return v;
        };
        if (a == "--repeats") g_repeats = (int)num(1);
        else if (a == "--warmup") g_warmup = (int)num(0);
        else if (a == "--tile") g_tile = num(1);
        else if (a == "--spectrum-rows") g_spectrum_rows = num(1);
        else if (a.rfind("--", 0) == 0) return usage();
        else specs.push_back(a);
    }
    if (specs.empty()) return usage();
    // check every spec before any device work
    for (const std::string &s : specs) {
        std::string op;
        std::vector<int64_t> v;
        size_t want = 0;
        if (!parse(s, op, v)) return usage();
        if (op == "bandwidth") want = 0;
        else if (op == "knn" || op == "prdc" || op == "monitor" || op == "gemm") want = 3;
        else if (op == "reference" || op == "pairs" || op == "spectrum") want = 2;
        else return usage();
        if (v.size() != want) return usage();
    }

    Gpu g;
    int dev = 0;
    CUDA_OK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, dev));
    char name[512];
    std::snprintf(name, sizeof name, "cuda:%d %s (sm_%d%d, %.1f GiB, %d SMs)", dev, prop.name,
                  prop.major, prop.minor, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
                  prop.multiProcessorCount);
    g_device = name;
    CUDA_OK(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
    CUDA_OK(cudaEventCreate(&g.a));
    CUDA_OK(cudaEventCreate(&g.b));
    CUBLAS_OK(cublasCreate(&g.blas));
    CUBLAS_OK(cublasSetStream(g.blas, g.stream));
    // IEEE float32 products, as lsc computes them: no TF32 (CUBLAS_COMPUTE_32F with the default
    // math mode never uses it)
    CUBLAS_OK(cublasSetMathMode(g.blas, CUBLAS_DEFAULT_MATH));

    // the pass floors need the bandwidth: measured first, once, whether asked for or not
    bandwidth(g);
    for (const std::string &s : specs) {
        std::string op;
        std::vector<int64_t> v;
        parse(s, op, v);
        char shape[160];
        if (op == "bandwidth") {
            continue;
        } else if (op == "knn" || op == "gemm") {
            GemmFloor f = gemm_floor(g, v[0], v[1], v[2]);
            print_gemm(op.c_str(), "QxN", v[0], v[1], v[2], 1.0, f);
            std::snprintf(shape, sizeof shape, "{\"q\": %lld, \"n\": %lld, \"d\": %lld}",
                          (long long)v[0], (long long)v[1], (long long)v[2]);
            print_floor(op.c_str(), shape, f.seconds, 4.0 * (double)(v[0] + v[1]) * (double)v[2]);
        } else if (op == "prdc" || op == "monitor") {
            const int64_t n = v[0], m = v[1], d = v[2];
            double total = 0;
            if (op == "prdc") {
                GemmFloor rr = gemm_floor(g, n, n, d);
                print_gemm(op.c_str(), "NxN", n, n, d, 1.0, rr);
                total += rr.seconds;
            }
            GemmFloor ff = gemm_floor(g, m, m, d);
            print_gemm(op.c_str(), "MxM", m, m, d, 1.0, ff);
            GemmFloor fr = gemm_floor(g, m, n, d);
            print_gemm(op.c_str(), "MxN", m, n, d, 1.0, fr);
            total += ff.seconds + fr.seconds;
            std::snprintf(shape, sizeof shape, "{\"n\": %lld, \"m\": %lld, \"d\": %lld}",
                          (long long)n, (long long)m, (long long)d);
            print_floor(op.c_str(), shape, total, 4.0 * (double)(n + m) * (double)d);
        } else if (op == "reference" || op == "pairs") {
            const int64_t n = v[0], d = v[1];
            const double scale = op == "pairs" ? 0.5 : 1.0;
            GemmFloor f = gemm_floor(g, n, n, d);
            print_gemm(op.c_str(), op == "pairs" ? "NxN/2" : "NxN", n, n, d, scale, f);
            std::snprintf(shape, sizeof shape, "{\"n\": %lld, \"d\": %lld}", (long long)n,
                          (long long)d);
            print_floor(op.c_str(), shape, f.seconds * scale, 4.0 * (double)n * (double)d);
        } else if (op == "spectrum") {
            spectrum_floor(g, v[0], v[1]);
        }
    }
    cublasDestroy(g.blas);
    cudaEventDestroy(g.a);
    cudaEventDestroy(g.b);
    cudaStreamDestroy(g.stream);
    return 0;
}
