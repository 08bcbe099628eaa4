// The float64 reference of docs/METRICS.md section 1. See reference.hpp. Written from the page's
// definitions: explicit centring, SVD of the data matrix (not a Gram), explicit N x N cosine
// kernel for Vendi. Slow on purpose; meant for test sizes.
#include "reference.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace ref {

namespace {

constexpr double kSvCut = 1e-5;     // singular value below 1e-5 x the largest of its set -> 0
constexpr double kEigCut = 1e-10;   // eigenvalue below 1e-10 x the largest -> 0 (and < 0 -> 0)
constexpr double kRankMeEps = 1e-7; // Garrido et al. 2023

// Singular values after the pinned cut.
void cut_singular(std::vector<double> &s)
{
    double top = s.empty() ? 0.0 : s[0];
    for (auto &v : s)
        if (!(v >= kSvCut * top) || v <= 0.0) v = 0.0;
}

// Eigenvalues (descending) after the pinned cut: negative ones and those below 1e-10 x top.
void cut_eigen(std::vector<double> &ev)
{
    double top = ev.empty() ? 0.0 : std::max(ev[0], 0.0);
    for (auto &v : ev)
        if (v <= 0.0 || !(v >= kEigCut * top)) v = 0.0;
}

// exp of the Shannon entropy of a probability vector (terms with p <= 0 skipped).
double exp_entropy(const std::vector<double> &p)
{
    double h = 0.0;
    for (double v : p)
        if (v > 0.0) h -= v * std::log(v);
    return std::exp(h);
}

} // namespace

bool close(double got, double want, double rel, double abs)
{
    if (std::isnan(got) || std::isnan(want)) return false;
    if (std::isinf(want) || std::isinf(got)) return got == want;
    return std::fabs(got - want) <= std::max(rel * std::fabs(want), abs);
}

// ---- conversions -------------------------------------------------------------------------------

float f16_to_f32(uint16_t h)
{
    const int sign = (h >> 15) & 1;
    const int e = (h >> 10) & 0x1f;
    const int man = h & 0x3ff;
    double v;
    if (e == 0x1f) v = man ? std::nan("") : INFINITY;
    else if (e == 0) v = std::ldexp((double)man, -24);      // 0 or subnormal: man x 2^-24
    else v = std::ldexp((double)(1024 + man), e - 15 - 10); // (1 + man/1024) x 2^(e-15)
    return (float)(sign ? -v : v);
}

uint16_t f32_to_f16(float f)
{
    uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    double a = std::fabs((double)f);
    if (std::isnan(f)) return (uint16_t)(sign | 0x7e00);
    if (std::isinf(f))
        return (uint16_t)(sign | 0x7c00); // (frexp leaves Inf's exponent unspecified)
    if (a == 0.0) return sign;
    if (a < std::ldexp(1.0, -14)) {
        // subnormal range: units of 2^-24, ties to even (nearbyint in the default mode)
        double q = std::nearbyint(a * std::ldexp(1.0, 24));
        return (uint16_t)(sign | (uint16_t)q); // q == 1024 is the smallest normal: same bits
    }
    int e;
    (void)std::frexp(a, &e); // a = m 2^e, m in [0.5, 1): a in [2^(e-1), 2^e)
    int ex = e - 1;          // a in [2^ex, 2^(ex+1))
    double q = std::nearbyint(std::ldexp(a, 10 - ex)); // in [1024, 2048]
    if (q >= 2048.0) {
        q = 1024.0;
        ex++;
    }
    if (ex + 15 >= 31) return (uint16_t)(sign | 0x7c00); // overflow: Inf
    return (uint16_t)(sign | (uint16_t)((ex + 15) << 10) | (uint16_t)(q - 1024.0));
}

float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if (std::isnan(f)) return (uint16_t)((bits >> 16) | 0x40);
    uint32_t lsb = (bits >> 16) & 1u;
    return (uint16_t)((bits + 0x7fffu + lsb) >> 16);
}

// ---- LAPACK wrappers -------------------------------------------------------------------------

std::vector<double> svd_values(const std::vector<double> &a_in, int64_t n, int64_t d)
{
    std::vector<double> a(a_in);
    int64_t m = std::min(n, d);
    std::vector<double> s((size_t)m);
    // jobz 'N': U and V^T are not referenced, but row-major LAPACKE checks ldu / ldvt against
    // the matrix sizes in some versions
    double dummy[2] = {0.0, 0.0};
    const lapack_int lmax = (lapack_int)std::max(n, d);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int)n, (lapack_int)d, a.data(),
                                     (lapack_int)d, s.data(), dummy, lmax, dummy, lmax);
    if (info != 0) throw std::runtime_error("ref: dgesdd failed, info " + std::to_string(info));
    std::sort(s.begin(), s.end(), std::greater<double>());
    return s;
}

std::vector<double> sym_eigenvalues(const std::vector<double> &a_in, int64_t n)
{
    std::vector<double> a(a_in);
    std::vector<double> w((size_t)n);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)n, a.data(),
                                     (lapack_int)n, w.data());
    if (info != 0) throw std::runtime_error("ref: dsyevd failed, info " + std::to_string(info));
    std::sort(w.begin(), w.end(), std::greater<double>());
    return w;
}

// ---- spectrum ---------------------------------------------------------------------------------

Spectrum spectrum(const float *x, int64_t n, int64_t d, int64_t ld, double active_threshold)
{
    if (n < 2 || d < 1 || ld < d) throw std::invalid_argument("ref::spectrum: bad shape");
    Spectrum r;
    r.rows = n;
    r.cols = d;
    const int64_t m = std::min(n, d);
    r.rank_limit = m;
    r.active_threshold = active_threshold;

    // float32 values -> float64
    std::vector<double> X((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) X[(size_t)(i * d + c)] = (double)x[i * ld + c];

    // two-pass column mean: the plain mean, then the mean of the residuals as a correction
    std::vector<double> mu((size_t)d, 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) mu[(size_t)c] += X[(size_t)(i * d + c)];
    for (auto &v : mu) v /= (double)n;
    std::vector<double> corr((size_t)d, 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) corr[(size_t)c] += X[(size_t)(i * d + c)] - mu[(size_t)c];
    for (int64_t c = 0; c < d; c++) mu[(size_t)c] += corr[(size_t)c] / (double)n;

    std::vector<double> Xc((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++)
            Xc[(size_t)(i * d + c)] = X[(size_t)(i * d + c)] - mu[(size_t)c];

    // column variances, ddof 1 (corrected two-pass formula)
    r.column_variance.assign((size_t)d, 0.0);
    for (int64_t c = 0; c < d; c++) {
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double v = Xc[(size_t)(i * d + c)];
            s += v;
            s2 += v * v;
        }
        double var = (s2 - s * s / (double)n) / (double)(n - 1);
        r.column_variance[(size_t)c] = var > 0.0 ? var : 0.0;
    }
    r.active_units = 0;
    for (double v : r.column_variance)
        if (v > active_threshold) r.active_units++;

    // centred singular values
    r.singular_values = svd_values(Xc, n, d);
    cut_singular(r.singular_values);
    r.largest_singular_value = r.singular_values.empty() ? 0.0 : r.singular_values[0];
    r.numerical_rank = 0;
    double sum_sigma = 0.0, sum_lam = 0.0, sum_lam2 = 0.0;
    std::vector<double> lam((size_t)m);
    for (int64_t i = 0; i < m; i++) {
        double s = r.singular_values[(size_t)i];
        if (s > 0.0) r.numerical_rank++;
        lam[(size_t)i] = s * s / (double)(n - 1);
        sum_sigma += s;
        sum_lam += lam[(size_t)i];
        sum_lam2 += lam[(size_t)i] * lam[(size_t)i];
    }
    r.total_variance = sum_lam;
    r.cum_fraction.assign((size_t)m, 0.0);
    r.all_rows_identical = r.numerical_rank == 0;
    if (r.all_rows_identical) {
        // pinned degenerate values
        r.effective_rank = 0.0;
        r.participation_ratio = 0.0;
        r.stable_rank = 0.0;
        r.dims_90 = 0;
        r.dims_99 = 0;
    } else {
        std::vector<double> p((size_t)m);
        for (int64_t i = 0; i < m; i++) p[(size_t)i] = r.singular_values[(size_t)i] / sum_sigma;
        r.effective_rank = exp_entropy(p);
        r.participation_ratio = sum_lam * sum_lam / sum_lam2;
        r.stable_rank = sum_lam / lam[0];
        double cum = 0.0;
        r.dims_90 = r.dims_99 = 0;
        for (int64_t i = 0; i < m; i++) {
            cum += lam[(size_t)i];
            r.cum_fraction[(size_t)i] = cum / sum_lam;
        }
        for (int64_t i = 0; i < m; i++) {
            if (r.dims_90 == 0 && r.cum_fraction[(size_t)i] >= 0.90) r.dims_90 = i + 1;
            if (r.dims_99 == 0 && r.cum_fraction[(size_t)i] >= 0.99) r.dims_99 = i + 1;
        }
    }

    // RankMe: singular values of the *uncentred* X, all m of them, q_i = s_i / sum s + eps
    r.uncentred_sv = svd_values(X, n, d);
    cut_singular(r.uncentred_sv);
    double sum_s = 0.0;
    for (double s : r.uncentred_sv) sum_s += s;
    if (!(sum_s > 0.0)) {
        r.rankme = 0.0; // X all zeros: pinned
    } else {
        double h = 0.0;
        for (double s : r.uncentred_sv) {
            double q = s / sum_s + kRankMeEps;
            h -= q * std::log(q);
        }
        r.rankme = std::exp(h);
    }

    // Vendi with the cosine kernel: the explicit N x N kernel K_ij = cos(x_i, x_j), eigenvalues
    // of K / N. A zero row makes it unavailable.
    std::vector<double> nrm((size_t)n);
    r.vendi_zero_row = -1;
    for (int64_t i = 0; i < n; i++) {
        double q = 0.0;
        bool zero = true;
        for (int64_t c = 0; c < d; c++) {
            double v = X[(size_t)(i * d + c)];
            q += v * v;
            if (v != 0.0) zero = false;
        }
        nrm[(size_t)i] = std::sqrt(q);
        if (zero && r.vendi_zero_row < 0) r.vendi_zero_row = i;
    }
    if (r.vendi_zero_row >= 0) {
        r.vendi_available = false;
        r.vendi_cosine = 0.0;
    } else {
        std::vector<double> K((size_t)(n * n));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) {
                const double *a = &X[(size_t)(i * d)], *b = &X[(size_t)(j * d)];
                double dot = 0.0;
                for (int64_t c = 0; c < d; c++) dot += a[c] * b[c];
                double k = dot / (nrm[(size_t)i] * nrm[(size_t)j]) / (double)n;
                K[(size_t)(i * n + j)] = k;
                K[(size_t)(j * n + i)] = k;
            }
        std::vector<double> nu = sym_eigenvalues(K, n);
        cut_eigen(nu);
        r.vendi_available = true;
        r.vendi_cosine = exp_entropy(nu);
        // Pasarkar & Dieng 2024, eq. 2: VS_q = (sum p_i^q)^(1 / (1 - q)) over the non-zero p_i;
        // q = 0 their count, q = inf its limit 1 / max p_i
        double s2 = 0.0, top = 0.0;
        int64_t count = 0;
        for (double v : nu)
            if (v > 0.0) {
                count++;
                s2 += v * v;
                top = std::max(top, v);
            }
        r.vendi_q0 = (double)count;
        r.vendi_q2 = 1.0 / s2;
        r.vendi_qinf = 1.0 / top;
    }
    // alpha-ReQ (Agrawal et al. 2022): lambda_i ~ i^-alpha, least squares of log lambda on
    // log i over the non-zero covariance eigenvalues; slope = cov(x, y) / var(x)
    if (r.numerical_rank >= 3) {
        const int64_t k = r.numerical_rank;
        double mx = 0.0, my = 0.0;
        for (int64_t i = 0; i < k; i++) {
            mx += std::log((double)(i + 1)) / (double)k;
            my += std::log(lam[(size_t)i]) / (double)k;
        }
        double cxy = 0.0, cxx = 0.0, cyy = 0.0;
        for (int64_t i = 0; i < k; i++) {
            const double dx = std::log((double)(i + 1)) - mx, dy = std::log(lam[(size_t)i]) - my;
            cxy += dx * dy;
            cxx += dx * dx;
            cyy += dy * dy;
        }
        r.alpha_req = -cxy / cxx;
        r.alpha_req_r2 = cyy > 0.0 ? cxy * cxy / (cxx * cyy) : 1.0;
        r.alpha_req_ranks = k;
    }
    return r;
}

// ---- integer figures -------------------------------------------------------------------------

bool dims_ok(int64_t got, const Spectrum &want, double f)
{
    int64_t w = f >= 0.985 ? want.dims_99 : want.dims_90;
    if (want.all_rows_identical) return got == 0;
    if (got == w) return true;
    const int64_t m = (int64_t)want.cum_fraction.size();
    if (got < 1 || got > m) return false;
    auto edge = [&](int64_t k) { // cumulative fraction of the first k within 1e-9 of f
        return std::fabs(want.cum_fraction[(size_t)(k - 1)] - f) <= kIntEdge * f;
    };
    // got is acceptable when every count before it may fall short of f and it may reach f
    for (int64_t k = 1; k < got; k++)
        if (want.cum_fraction[(size_t)(k - 1)] >= f && !edge(k)) return false;
    return want.cum_fraction[(size_t)(got - 1)] >= f || edge(got);
}

bool active_ok(int64_t got, const Spectrum &want)
{
    const double t = want.active_threshold;
    int64_t sure = 0, edge = 0;
    for (double v : want.column_variance) {
        if (std::fabs(v - t) <= kIntEdge * t) edge++;
        else if (v > t) sure++;
    }
    return got >= sure && got <= sure + edge;
}

} // namespace ref
