// A naive float64 reference for docs/METRICS.md sections 2-5 (distances, all-pairs statistics,
// exact kNN, PRDC), written from the definitions and independently of the library's code: every
// distance is summed directly from the float32 rows in float64, with no fast form, no centring
// and no tiling. Inputs are dense row-major float32 (n x d); tests convert other dtypes to their
// float32 values before calling it.
#pragma once

#include "lsc.h"

#include <cstdint>
#include <string>
#include <vector>

namespace refnn {

// ---- distances (docs/METRICS.md section 2) -------------------------------------------------------

// Exact reported distance between two float32 rows, in float64:
//   EUCLIDEAN ||x - y||, SQEUCLIDEAN ||x - y||^2, COSINE ||x/|x| - y/|y|||^2 / 2.
double distance(const float *x, const float *y, int64_t d, lsc_metric metric);

// Rows normalised to unit length in float64 (cosine); a zero row stays zero.
std::vector<double> normalised(const float *x, int64_t n, int64_t d);

// Column mean in float64.
std::vector<double> column_mean(const float *x, int64_t n, int64_t d);

// ||x - c|| in float64.
double norm_to(const float *x, const double *c, int64_t d);

// Dense a.rows x b.rows block of reported distances.
std::vector<double> distance_block(const float *a, int64_t na, const float *b, int64_t nb,
                                   int64_t d, lsc_metric metric);

// ---- exact kNN (docs/METRICS.md section 4) -----------------------------------------------------

struct Knn {
    int64_t nq = 0, k = 0;
    std::vector<double> dist; // nq x k, ascending
    std::vector<int64_t> idx; // ties by the smaller base index
};

// Brute force: every distance, then the k smallest by (d, index). exclude_self: q and b are the
// same set (b ignored) and row i is never its own neighbour.
Knn knn(const float *q, int64_t nq, const float *b, int64_t nb, int64_t d, int64_t k,
        lsc_metric metric, bool exclude_self);

// The first k of each row of a reference computed at a larger k: equal to knn() at k, since the
// order (distance, index) is total. Lets a test that tries several k pay for one brute force.
Knn first(const Knn &ref, int64_t k);

// Checks a library kNN result (dist, idx: nq x k) against the reference at docs/METRICS.md's
// tolerances: every index distinct, in range, not self with exclude_self; every reported distance
// within 1e-6 relative of the exact distance of its pair; at every rank the exact distance of the
// library's index within 1e-6 relative of the reference's distance at that rank, so index lists
// differ only where distances tie within 1e-6 relative; distances ascending. Returns "" when it
// passes, else a description of the first failure.
std::string check_knn(const Knn &ref, const float *q, const float *b, int64_t d, lsc_metric metric,
                      bool exclude_self, const float *dist, const int64_t *idx);

// Relative closeness: |a - b| <= rel * max(|a|, |b|) (so 0 matches only 0).
bool close_rel(double a, double b, double rel);

// ---- all-pairs statistics (docs/METRICS.md section 3) --------------------------------------------

struct Pair {
    int64_t i, j;
    double d;
};

struct PairStats {
    int64_t n = 0, pairs = 0;
    double mean = 0, std = 0, min = 0, max = 0;
    double nn_mean = 0, nn_median = 0, nn_min = 0, nn_max = 0;
    double upper = 0;                // B
    std::vector<int64_t> hist;       // bins counts
    int64_t hist_borderline = 0;     // pairs within 1e-9 B of an interior bin edge
    int64_t near_dups = 0;           // pairs with d <= dup_eps
    int64_t near_dup_borderline = 0; // pairs with d within 1e-6 relative of dup_eps (d != eps)
    std::vector<Pair> dups;          // the first dup_report, ordered by (d, i, j)
    double uniformity = 0;           // Wang & Isola 2020, t = 2, on the normalised rows
    double uniformity_tol = 0;       // its pinned bound (docs/METRICS.md section 9)
};

// All-pairs statistics of the rows of x listed in `rows` (every row when empty); pair indices are
// reported as rows[] entries (original indices). Euclidean: B = 2 max ||x_i - mu||; cosine: the
// documented choice B = min(2, 2 R^2), R = max ||xn_i - mean(xn)|| over the normalised rows.
PairStats pair_stats(const float *x, int64_t n, int64_t d, lsc_metric metric, int64_t bins,
                     double dup_eps, int64_t dup_report, const std::vector<int64_t> &rows = {});

// The seeded permutation of docs/METRICS.md section 7, written from its definition alone: the
// row at position j of the permutation of 0..N-1 for `seed`.
int64_t permute(uint64_t seed, int64_t N, int64_t j);
// The seeded subset of n of N rows at positions offset..offset+n-1, ascending.
std::vector<int64_t> subset_rows(int64_t N, int64_t n, uint64_t seed, int64_t offset = 0);

// ---- PRDC (docs/METRICS.md section 5) ---------------------------------------------------------

// Every count comes with the range it may take when the comparisons of float64 distances lying
// within 1e-6 relative of their radius go either way (lo == hi when no comparison is borderline).
struct Count {
    int64_t value = 0, lo = 0, hi = 0;
};

struct Prdc {
    int64_t N = 0, M = 0, k = 0;
    std::vector<double> real_radii, fake_radii; // k-th nearest other row
    int64_t zero_real = 0, zero_fake = 0;
    Count precision, recall, density, coverage; // numerators: /M, /N, /(k M), /N
    int64_t borderline = 0;                     // borderline comparisons
    // per row, each outcome's [lo, hi] (0 or 1 for the flags): real rows covered / recalled,
    // and the real balls holding each fake row
    std::vector<int> cov_lo, cov_hi, rec_lo, rec_hi;
    std::vector<int64_t> fake_lo, fake_hi;
    double p() const { return (double)precision.value / (double)M; }
    double r() const { return (double)recall.value / (double)N; }
    double dn() const { return (double)density.value / ((double)k * (double)M); }
    double c() const { return (double)coverage.value / (double)N; }
};

// k-th nearest other row distance of every row (self excluded by index).
std::vector<double> radii(const float *x, int64_t n, int64_t d, int64_t k, lsc_metric metric);

// border_rel: comparisons whose float64 distance lies within border_rel x radius of it are
// borderline (docs/METRICS.md: 1e-6); a negative value marks none, for data whose arithmetic is
// exact (small integers), where a distance equal to a radius must be decided as defined.
Prdc prdc(const float *real, int64_t N, const float *fake, int64_t M, int64_t d, int64_t k,
          lsc_metric metric, bool inclusive, double border_rel = 1e-6);

// Checks a library result: each figure times its denominator is an integer inside the
// reference's [lo, hi] (exactly the reference's count when nothing is borderline), and the zero
// radii counts are exact. Returns "" when it passes.
std::string check_prdc(const Prdc &ref, const lsc_prdc_result &got);

} // namespace refnn
