// The float64 reference of docs/METRICS.md section 1 (spectrum of one set), written from the
// definitions on that page and independently of the library's code path: the centred matrix is
// formed explicitly and its singular values come from LAPACK's SVD (dgesdd) of the n x d matrix
// itself, never from a Gram; Vendi forms the explicit N x N cosine kernel. Also the tolerance
// checks of docs/METRICS.md "Tolerances" and independent float16 / bfloat16 conversions.
#pragma once

#include <cstdint>
#include <vector>

namespace ref {

// ---- docs/METRICS.md "Tolerances" -------------------------------------------------------------

constexpr double kRel = 2e-4;     // continuous figures: relative ...
constexpr double kAbs = 1e-9;     // ... or absolute, whichever is larger
constexpr double kIntEdge = 1e-9; // integer figures: exact unless the reference lies this close
                                  // (relative) to the threshold

// |got - want| <= max(rel |want|, abs). NaN never passes.
bool close(double got, double want, double rel = kRel, double abs = kAbs);

// ---- element conversions (independent of the library's) ---------------------------------------

float f16_to_f32(uint16_t h);  // IEEE binary16 bits to float32, exact (subnormals included)
uint16_t f32_to_f16(float f);  // round to nearest even; overflow to Inf
float bf16_to_f32(uint16_t h); // bfloat16 bits to float32, exact
uint16_t f32_to_bf16(float f); // round to nearest even

// ---- spectrum ----------------------------------------------------------------------------------

struct Spectrum {
    int64_t rows = 0, cols = 0;
    int64_t rank_limit = 0;              // m = min(N, D)
    int64_t numerical_rank = 0;          // centred sigma left non-zero by the pinned cut
    std::vector<double> singular_values; // m centred sigma, descending, after the cut
    std::vector<double> uncentred_sv;    // m uncentred s, descending, after the cut
    std::vector<double> column_variance; // D, ddof 1
    std::vector<double> cum_fraction;    // m: (lambda_1 + .. + lambda_k) / sum lambda
    double total_variance = 0;
    double largest_singular_value = 0;
    double effective_rank = 0;
    double rankme = 0;
    double participation_ratio = 0;
    double stable_rank = 0;
    int64_t dims_90 = 0, dims_99 = 0;
    int64_t active_units = 0;
    double active_threshold = 0.01;
    bool vendi_available = false;
    double vendi_cosine = 0;                           // 0 when unavailable
    int64_t vendi_zero_row = -1;                       // first all-zero row, -1 if none
    double vendi_q0 = 0, vendi_q2 = 0, vendi_qinf = 0; // other orders, 0 when unavailable
    double alpha_req = 0, alpha_req_r2 = 0;            // 0 with fewer than 3 non-zero eigenvalues
    int64_t alpha_req_ranks = 0;
    bool all_rows_identical = false;
};

// Every figure of docs/METRICS.md section 1 for the n x d float32 matrix whose row i starts at
// x + i * ld (n >= 2, d >= 1, ld >= d). For float16 / bfloat16 / float64 data pass the float32
// values of that data (the library's figures are those of the float32 values).
Spectrum spectrum(const float *x, int64_t n, int64_t d, int64_t ld, double active_threshold = 0.01);
inline Spectrum spectrum(const std::vector<float> &x, int64_t n, int64_t d,
                         double active_threshold = 0.01)
{
    return spectrum(x.data(), n, d, d, active_threshold);
}

// Singular values (descending, no cut) of the n x d row-major float64 matrix a (copied).
std::vector<double> svd_values(const std::vector<double> &a, int64_t n, int64_t d);
// Eigenvalues (descending, no cut) of the symmetric n x n row-major matrix a (copied).
std::vector<double> sym_eigenvalues(const std::vector<double> &a, int64_t n);

// Integer figures: exact, except where the reference lies within kIntEdge (relative) of the
// threshold, where the neighbouring count is accepted too.
// dims_k for fraction f (0.90 or 0.99) against the reference's cumulative fractions.
bool dims_ok(int64_t got, const Spectrum &want, double fraction);
// active_units against the reference's column variances and threshold.
bool active_ok(int64_t got, const Spectrum &want);

} // namespace ref
