// Deterministic test data sets with known answers (a failure replays from its seed): each generator
// takes a seed; tests print it (LSC_TEST_SEED overrides the default seed of the random ones).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

namespace data {

// Seed for random data: LSC_TEST_SEED from the environment, else `fallback`.
inline uint64_t seed(uint64_t fallback)
{
    const char *s = std::getenv("LSC_TEST_SEED");
    return s && *s ? std::strtoull(s, nullptr, 10) : fallback;
}

// n x d row-major, N(mean, spread^2) entries.
inline std::vector<float> gaussian(int64_t n, int64_t d, uint64_t sd, double mean = 0.0,
                                   double spread = 1.0)
{
    std::mt19937_64 g(sd);
    std::normal_distribution<double> nd(mean, spread);
    std::vector<float> x((size_t)(n * d));
    for (auto &v : x) v = (float)nd(g);
    return x;
}

// Rank-k data: n x d = (n x k Gaussian) (k x d Gaussian) + offset; centred rank k exactly when
// the offset is common to every row.
inline std::vector<float> rank_k(int64_t n, int64_t d, int64_t k, uint64_t sd, double offset = 0.0)
{
    auto a = gaussian(n, k, sd);
    auto b = gaussian(k, d, sd + 1);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            double s = offset;
            for (int64_t t = 0; t < k; t++) s += (double)a[i * k + t] * b[t * d + c];
            x[i * d + c] = (float)s;
        }
    return x;
}

// Every row the same vector.
inline std::vector<float> identical_rows(int64_t n, int64_t d, uint64_t sd)
{
    auto row = gaussian(1, d, sd);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) x[i * d + c] = row[c];
    return x;
}

// Gaussian rows, then rows `dups[t].second` overwritten with copies of rows `dups[t].first`.
inline std::vector<float> with_duplicates(int64_t n, int64_t d, uint64_t sd,
                                          const std::vector<std::pair<int64_t, int64_t>> &dups)
{
    auto x = gaussian(n, d, sd);
    for (auto &p : dups)
        for (int64_t c = 0; c < d; c++) x[p.second * d + c] = x[p.first * d + c];
    return x;
}

// x times s, each value rounded once to float32 (magnitudes at the ends of float32's range).
inline std::vector<float> scaled(std::vector<float> x, double s)
{
    for (auto &v : x) v = (float)(v * s);
    return x;
}

// The scales the magnitude tests use: subnormal float32 products near 1e-20 and 1e-30 (the fast
// form's absolute error term), products that could overflow float32 near 1e19 (no fast form).
inline constexpr double kExtremeScales[] = {1e-20, 1e-30, 1e19};

// One tight cluster: centre ~ N(0, 1), points centre + N(0, spread^2).
inline std::vector<float> tight_cluster(int64_t n, int64_t d, uint64_t sd, double spread = 1e-3)
{
    auto c = gaussian(1, d, sd);
    auto e = gaussian(n, d, sd + 7, 0.0, spread);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < d; t++) x[i * d + t] = (float)((double)c[t] + e[i * d + t]);
    return x;
}

} // namespace data

namespace data {

// Points on a fine grid (every coordinate a multiple of 2^-8 within +-`half` / 256 of its
// cluster's centre) around clusters centred at multiples of `gap` along the first axis (cluster
// of row i: i % clusters). Every coordinate, difference and squared distance is exact in float32
// and float64 arithmetic, so distances tie or differ exactly; with a large `gap` the fast form's
// error exceeds the smallest distance gaps (2^-16 in squared distance), so only exact decisions
// get kNN order, PRDC balls and nearest neighbours right.
inline std::vector<float> fine_grid_clusters(int64_t n, int64_t d, uint64_t sd, int64_t clusters,
                                             double gap = 16.0, int half = 32)
{
    std::mt19937_64 g(sd);
    std::vector<float> x((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < d; t++) {
            double v = std::ldexp((double)((int64_t)(g() % (uint64_t)(2 * half + 1)) - half), -8);
            if (t == 0) v += gap * (double)(i % clusters);
            x[(size_t)(i * d + t)] = (float)v;
        }
    return x;
}

// A mixture of `modes` Gaussian modes in d dimensions; rows of mode c only when `only` > 0
// modes are kept (the first `only`).
struct Mixture {
    int64_t d, modes;
    std::vector<double> centre;
    Mixture(int64_t d_, int64_t modes_, uint64_t sd) : d(d_), modes(modes_)
    {
        std::mt19937_64 g(sd);
        std::normal_distribution<double> nd(0.0, 4.0);
        centre.resize((size_t)(d * modes));
        for (auto &c : centre) c = nd(g);
    }
    // labels: each row's mode; boost: mode 0 drawn `boost` times as often as each other mode
    std::vector<float> draw(int64_t n, uint64_t sd, int64_t only = 0,
                            std::vector<int64_t> *labels = nullptr, int64_t boost = 1) const
    {
        std::mt19937_64 g(sd);
        std::normal_distribution<double> nd(0.0, 1.0);
        const int64_t kept = only > 0 ? only : modes;
        std::uniform_int_distribution<int64_t> pick(0, kept - 1 + (boost - 1));
        std::vector<float> x((size_t)(n * d));
        if (labels) labels->assign((size_t)n, 0);
        for (int64_t i = 0; i < n; i++) {
            const int64_t p = pick(g), c = p >= kept ? 0 : p;
            if (labels) (*labels)[(size_t)i] = 100 + c; // labels need not be 0..C-1
            for (int64_t t = 0; t < d; t++)
                x[(size_t)(i * d + t)] = (float)(centre[(size_t)(c * d + t)] + nd(g));
        }
        return x;
    }
};

} // namespace data
