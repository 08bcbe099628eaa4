// Naive float64 reference of docs/METRICS.md sections 2-5: see reference_nn.hpp.
#include "reference_nn.hpp"

#include "../common/lsc_common.h" // splitmix64 / rand_below: the pinned generator of row subsets

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

namespace refnn {

// ---- distances ------------------------------------------------------------------------------

static double sq_euclid(const float *x, const float *y, int64_t d)
{
    double s = 0.0;
    for (int64_t t = 0; t < d; t++) {
        double e = (double)x[t] - (double)y[t];
        s += e * e;
    }
    return s;
}

static double row_norm(const float *x, int64_t d)
{
    double s = 0.0;
    for (int64_t t = 0; t < d; t++) s += (double)x[t] * (double)x[t];
    return std::sqrt(s);
}

static double cosine_of(const double *xn, const double *yn, int64_t d)
{
    double s = 0.0;
    for (int64_t t = 0; t < d; t++) {
        double e = xn[t] - yn[t];
        s += e * e;
    }
    return 0.5 * s;
}

double distance(const float *x, const float *y, int64_t d, lsc_metric metric)
{
    if (metric == LSC_METRIC_COSINE) {
        double nx = row_norm(x, d), ny = row_norm(y, d), s = 0.0;
        for (int64_t t = 0; t < d; t++) {
            double e = (double)x[t] / nx - (double)y[t] / ny;
            s += e * e;
        }
        return 0.5 * s;
    }
    double s = sq_euclid(x, y, d);
    return metric == LSC_METRIC_SQEUCLIDEAN ? s : std::sqrt(s);
}

std::vector<double> normalised(const float *x, int64_t n, int64_t d)
{
    std::vector<double> out((size_t)(n * d), 0.0);
    for (int64_t i = 0; i < n; i++) {
        double nr = row_norm(x + i * d, d);
        if (nr == 0.0) continue;
        for (int64_t t = 0; t < d; t++) out[(size_t)(i * d + t)] = (double)x[i * d + t] / nr;
    }
    return out;
}

std::vector<double> column_mean(const float *x, int64_t n, int64_t d)
{
    std::vector<double> mu((size_t)d, 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < d; t++) mu[(size_t)t] += (double)x[i * d + t];
    for (auto &v : mu) v /= (double)n;
    return mu;
}

double norm_to(const float *x, const double *c, int64_t d)
{
    double s = 0.0;
    for (int64_t t = 0; t < d; t++) {
        double e = (double)x[t] - c[t];
        s += e * e;
    }
    return std::sqrt(s);
}

// Reported distances of every (a_i, b_j), computed naively.
static void all_distances(const float *a, int64_t na, const float *b, int64_t nb, int64_t d,
                          lsc_metric metric, std::vector<double> &out)
{
    out.assign((size_t)(na * nb), 0.0);
    if (metric == LSC_METRIC_COSINE) {
        auto an = normalised(a, na, d), bn = normalised(b, nb, d);
        for (int64_t i = 0; i < na; i++)
            for (int64_t j = 0; j < nb; j++)
                out[(size_t)(i * nb + j)] = cosine_of(an.data() + i * d, bn.data() + j * d, d);
        return;
    }
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) {
            double s = sq_euclid(a + i * d, b + j * d, d);
            out[(size_t)(i * nb + j)] = metric == LSC_METRIC_SQEUCLIDEAN ? s : std::sqrt(s);
        }
}

std::vector<double> distance_block(const float *a, int64_t na, const float *b, int64_t nb,
                                   int64_t d, lsc_metric metric)
{
    std::vector<double> out;
    all_distances(a, na, b, nb, d, metric, out);
    return out;
}

bool close_rel(double a, double b, double rel)
{
    return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// ---- kNN ----------------------------------------------------------------------------------------

Knn knn(const float *q, int64_t nq, const float *b, int64_t nb, int64_t d, int64_t k,
        lsc_metric metric, bool exclude_self)
{
    if (exclude_self) {
        b = q;
        nb = nq;
    }
    std::vector<double> all;
    all_distances(q, nq, b, nb, d, metric, all);
    Knn r;
    r.nq = nq;
    r.k = k;
    r.dist.resize((size_t)(nq * k));
    r.idx.resize((size_t)(nq * k));
    std::vector<int64_t> order;
    for (int64_t i = 0; i < nq; i++) {
        const double *row = all.data() + i * nb;
        order.clear();
        for (int64_t j = 0; j < nb; j++)
            if (!(exclude_self && j == i)) order.push_back(j);
        auto before = [row](int64_t x, int64_t y) {
            return row[x] < row[y] || (row[x] == row[y] && x < y);
        };
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t t = 0; t < k; t++) {
            r.dist[(size_t)(i * k + t)] = row[order[(size_t)t]];
            r.idx[(size_t)(i * k + t)] = order[(size_t)t];
        }
    }
    return r;
}

Knn first(const Knn &ref, int64_t k)
{
    Knn r;
    r.nq = ref.nq;
    r.k = k;
    for (int64_t i = 0; i < ref.nq; i++) {
        r.dist.insert(r.dist.end(), ref.dist.begin() + i * ref.k, ref.dist.begin() + i * ref.k + k);
        r.idx.insert(r.idx.end(), ref.idx.begin() + i * ref.k, ref.idx.begin() + i * ref.k + k);
    }
    return r;
}

std::string check_knn(const Knn &ref, const float *q, const float *b, int64_t d, lsc_metric metric,
                      bool exclude_self, const float *dist, const int64_t *idx)
{
    if (exclude_self) b = q;
    const double rel = 1e-6;
    const int64_t k = ref.k;
    std::ostringstream err;
    for (int64_t i = 0; i < ref.nq; i++) {
        std::vector<int64_t> seen;
        for (int64_t t = 0; t < k; t++) {
            const int64_t e = i * k + t;
            const int64_t j = idx[e];
            if (j < 0) {
                err << "query " << i << " rank " << t << ": index " << j << " out of range";
                return err.str();
            }
            if (exclude_self && j == i) {
                err << "query " << i << " rank " << t << ": its own row";
                return err.str();
            }
            if (std::find(seen.begin(), seen.end(), j) != seen.end()) {
                err << "query " << i << " rank " << t << ": index " << j << " repeated";
                return err.str();
            }
            seen.push_back(j);
            double exact = distance(q + i * d, b + j * d, d, metric);
            double rd = ref.dist[(size_t)e];
            err.precision(17);
            if (!close_rel((double)dist[e], exact, rel) &&
                !(metric == LSC_METRIC_COSINE && std::fabs(dist[e] - exact) <= 1e-15)) {
                err << "query " << i << " rank " << t << " index " << j << ": reported " << dist[e]
                    << ", exact distance " << exact;
                return err.str();
            }
            if (!close_rel(exact, rd, rel) &&
                !(metric == LSC_METRIC_COSINE && std::fabs(exact - rd) <= 1e-15)) {
                err << "query " << i << " rank " << t << ": index " << j << " at distance " << exact
                    << ", the reference has index " << ref.idx[(size_t)e] << " at distance " << rd
                    << " (not a tie)";
                return err.str();
            }
            if (t > 0 && dist[e] < dist[e - 1]) {
                err << "query " << i << " rank " << t << ": distances not ascending";
                return err.str();
            }
        }
    }
    return "";
}

// ---- all-pairs statistics ---------------------------------------------------------------------

PairStats pair_stats(const float *x, int64_t n_all, int64_t d, lsc_metric metric, int64_t bins,
                     double dup_eps, int64_t dup_report, const std::vector<int64_t> &rows_in)
{
    std::vector<int64_t> rows = rows_in;
    if (rows.empty()) {
        rows.resize((size_t)n_all);
        std::iota(rows.begin(), rows.end(), (int64_t)0);
    }
    const int64_t n = (int64_t)rows.size();
    // dense copy of the rows used
    std::vector<float> xs((size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        std::copy(x + rows[(size_t)i] * d, x + rows[(size_t)i] * d + d, xs.begin() + i * d);

    PairStats r;
    r.n = n;
    r.pairs = n * (n - 1) / 2;
    r.hist.assign((size_t)bins, 0);

    // the bound B
    {
        std::vector<double> v((size_t)(n * d));
        if (metric == LSC_METRIC_COSINE) v = normalised(xs.data(), n, d);
        else
            for (size_t e = 0; e < v.size(); e++) v[e] = xs[e];
        std::vector<double> mu((size_t)d, 0.0);
        for (int64_t i = 0; i < n; i++)
            for (int64_t t = 0; t < d; t++) mu[(size_t)t] += v[(size_t)(i * d + t)];
        for (auto &m : mu) m /= (double)n;
        double R = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int64_t t = 0; t < d; t++) {
                double e = v[(size_t)(i * d + t)] - mu[(size_t)t];
                s += e * e;
            }
            R = std::max(R, std::sqrt(s));
        }
        r.upper = metric == LSC_METRIC_COSINE ? std::min(2.0, 2.0 * R * R) : 2.0 * R;
    }

    std::vector<double> all;
    all_distances(xs.data(), n, xs.data(), n, d, metric, all);
    std::vector<double> nn((size_t)n, INFINITY);
    double sum = 0.0;
    r.min = INFINITY;
    r.max = -INFINITY;
    std::vector<Pair> dups;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double v = all[(size_t)(i * n + j)];
            sum += v;
            r.min = std::min(r.min, v);
            r.max = std::max(r.max, v);
            nn[(size_t)i] = std::min(nn[(size_t)i], v);
            nn[(size_t)j] = std::min(nn[(size_t)j], v);
            // bin: B j / bins <= d < B (j + 1) / bins, the last also holds d = B
            int64_t bin = 0;
            if (r.upper > 0.0) {
                double t = v * (double)bins / r.upper;
                bin = (int64_t)std::floor(t);
                if (bin >= bins) bin = bins - 1;
                if (bin < 0) bin = 0;
                double nearest = std::round(t);
                if (nearest >= 1 && nearest <= (double)(bins - 1) &&
                    std::fabs(t - nearest) <= 1e-9 * (double)bins)
                    r.hist_borderline++;
            }
            r.hist[(size_t)bin]++;
            if (v <= dup_eps) {
                r.near_dups++;
                dups.push_back({rows[(size_t)i], rows[(size_t)j], v});
            }
            if (dup_eps > 0.0 && v != dup_eps && std::fabs(v - dup_eps) <= 1e-6 * dup_eps)
                r.near_dup_borderline++;
        }
    r.mean = sum / (double)r.pairs;
    double m2 = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double e = all[(size_t)(i * n + j)] - r.mean;
            m2 += e * e;
        }
    r.std = std::sqrt(m2 / (double)r.pairs);
    std::sort(dups.begin(), dups.end(), [](const Pair &a, const Pair &b) {
        if (a.d != b.d) return a.d < b.d;
        if (a.i != b.i) return a.i < b.i;
        return a.j < b.j;
    });
    if ((int64_t)dups.size() > dup_report) dups.resize((size_t)dup_report);
    r.dups = dups;
    double nsum = 0.0;
    for (double v : nn) nsum += v;
    r.nn_mean = nsum / (double)n;
    std::sort(nn.begin(), nn.end());
    r.nn_median = nn[(size_t)((n - 1) / 2)];
    r.nn_min = nn.front();
    r.nn_max = nn.back();

    // uniformity from the paper: log mean over pairs of exp(-2 ||u_i - u_j||^2), u the rows
    // divided by their norms in float64 (a zero row stays zero, as torch's F.normalize)
    {
        const auto un = normalised(xs.data(), n, d);
        double usum = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                double d2 = 0.0;
                for (int64_t t = 0; t < d; t++) {
                    const double e = un[(size_t)(i * d + t)] - un[(size_t)(j * d + t)];
                    d2 += e * e;
                }
                usum += std::exp(-2.0 * d2);
            }
        r.uniformity = std::log(usum / (double)r.pairs);
        // the bound: t 2 (D + 2) u r^2 with r = max ||x_i - m|| / ||x_i|| (1 for cosine, whose
        // pass works on normalised rows), doubled
        double rmax = metric == LSC_METRIC_COSINE ? 1.0 : 0.0;
        if (metric != LSC_METRIC_COSINE) {
            const auto mu = column_mean(xs.data(), n, d);
            for (int64_t i = 0; i < n; i++) {
                double q = 0.0, e2 = 0.0;
                for (int64_t t = 0; t < d; t++) {
                    const double v = xs[(size_t)(i * d + t)], e = v - mu[(size_t)t];
                    q += v * v;
                    e2 += e * e;
                }
                if (q > 0.0) rmax = std::max(rmax, std::sqrt(e2 / q));
            }
        }
        r.uniformity_tol = 8.0 * (double)(d + 2) * 0x1p-24 * rmax * rmax + 1e-12;
    }
    return r;
}

int64_t permute(uint64_t seed, int64_t N, int64_t j)
{
    auto fin = [](uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    };
    // the smallest even b >= 2 with 2^b >= N
    int b = 2;
    while (b < 64 && std::ldexp(1.0, b) < (double)N) b += 2;
    const int h = b / 2;
    const uint64_t mask = h == 32 ? 0xffffffffull : ((1ull << h) - 1);
    uint64_t key[6], state = seed;
    for (auto &k : key) {
        state += 0x9e3779b97f4a7c15ull;
        k = fin(state);
    }
    uint64_t x = (uint64_t)j;
    do {
        uint64_t l = x >> h, r = x & mask;
        for (int round = 0; round < 6; round++) {
            uint64_t f = fin(r + key[round]) & mask;
            uint64_t nl = r;
            r = l ^ f;
            l = nl;
        }
        x = (l << h) | r;
    } while (x >= (uint64_t)N); // cycle walking
    return (int64_t)x;
}

std::vector<int64_t> subset_rows(int64_t N, int64_t n, uint64_t seed, int64_t offset)
{
    std::vector<int64_t> out;
    for (int64_t t = 0; t < n; t++) out.push_back(permute(seed, N, offset + t));
    std::sort(out.begin(), out.end());
    return out;
}

// ---- PRDC -------------------------------------------------------------------------------------

std::vector<double> radii(const float *x, int64_t n, int64_t d, int64_t k, lsc_metric metric)
{
    std::vector<double> all;
    all_distances(x, n, x, n, d, metric, all);
    std::vector<double> r((size_t)n), others;
    for (int64_t i = 0; i < n; i++) {
        others.clear();
        for (int64_t j = 0; j < n; j++)
            if (j != i) others.push_back(all[(size_t)(i * n + j)]);
        std::nth_element(others.begin(), others.begin() + (k - 1), others.end());
        r[(size_t)i] = others[(size_t)(k - 1)];
    }
    return r;
}

Prdc prdc(const float *real, int64_t N, const float *fake, int64_t M, int64_t d, int64_t k,
          lsc_metric metric, bool inclusive, double border_rel)
{
    Prdc p;
    p.N = N;
    p.M = M;
    p.k = k;
    p.real_radii = radii(real, N, d, k, metric);
    p.fake_radii = radii(fake, M, d, k, metric);
    for (double v : p.real_radii) p.zero_real += v == 0.0;
    for (double v : p.fake_radii) p.zero_fake += v == 0.0;
    std::vector<double> all; // M x N: fake j against real i
    all_distances(fake, M, real, N, d, metric, all);

    // outcome of "dist (<|<=) r": 1 in, 0 out; borderline when dist lies within 1e-6 relative
    // of r (r = 0 is exact: a distance is 0 or it is not)
    auto judge = [inclusive, border_rel](double dist, double r, bool &border) {
        border = border_rel >= 0.0 && r > 0.0 && std::fabs(dist - r) <= border_rel * r;
        return inclusive ? dist <= r : dist < r;
    };
    // per real row: [value, lo, hi] of "some fake j has d < s_j" and "some d < r_i"
    std::vector<int> rec_v((size_t)N, 0), rec_lo((size_t)N, 0), rec_hi((size_t)N, 0);
    std::vector<int> cov_v((size_t)N, 0), cov_lo((size_t)N, 0), cov_hi((size_t)N, 0);
    for (int64_t j = 0; j < M; j++) {
        int64_t dv = 0, dlo = 0, dhi = 0;
        for (int64_t i = 0; i < N; i++) {
            const double dist = all[(size_t)(j * N + i)];
            bool b1, b2;
            bool in_real = judge(dist, p.real_radii[(size_t)i], b1);
            bool in_fake = judge(dist, p.fake_radii[(size_t)j], b2);
            p.borderline += b1 + b2;
            dv += in_real;
            dlo += in_real && !b1;
            dhi += in_real || b1;
            if (in_real) cov_v[(size_t)i] = 1;
            if (in_real && !b1) cov_lo[(size_t)i] = 1;
            if (in_real || b1) cov_hi[(size_t)i] = 1;
            if (in_fake) rec_v[(size_t)i] = 1;
            if (in_fake && !b2) rec_lo[(size_t)i] = 1;
            if (in_fake || b2) rec_hi[(size_t)i] = 1;
        }
        p.fake_lo.push_back(dlo);
        p.fake_hi.push_back(dhi);
        p.density.value += dv;
        p.density.lo += dlo;
        p.density.hi += dhi;
        p.precision.value += dv > 0;
        p.precision.lo += dlo > 0;
        p.precision.hi += dhi > 0;
    }
    for (int64_t i = 0; i < N; i++) {
        p.recall.value += rec_v[(size_t)i];
        p.recall.lo += rec_lo[(size_t)i];
        p.recall.hi += rec_hi[(size_t)i];
        p.coverage.value += cov_v[(size_t)i];
        p.coverage.lo += cov_lo[(size_t)i];
        p.coverage.hi += cov_hi[(size_t)i];
    }
    p.cov_lo = cov_lo;
    p.cov_hi = cov_hi;
    p.rec_lo = rec_lo;
    p.rec_hi = rec_hi;
    return p;
}

static std::string check_count(const char *name, double figure, double denom, const Count &c)
{
    double x = figure * denom;
    double ri = std::round(x);
    std::ostringstream err;
    err.precision(17);
    if (!(std::fabs(x - ri) <= 1e-6)) {
        err << name << " = " << figure << " is not a count over " << denom << "; ";
        return err.str();
    }
    int64_t got = (int64_t)ri;
    if (got < c.lo || got > c.hi) {
        err << name << ": " << got << " / " << denom << ", the reference has " << c.value
            << " (allowed " << c.lo << " to " << c.hi << " for borderline rows); ";
        return err.str();
    }
    return "";
}

std::string check_prdc(const Prdc &ref, const lsc_prdc_result &got)
{
    std::string e;
    e += check_count("precision", got.precision, (double)ref.M, ref.precision);
    e += check_count("recall", got.recall, (double)ref.N, ref.recall);
    e += check_count("density", got.density, (double)ref.k * (double)ref.M, ref.density);
    e += check_count("coverage", got.coverage, (double)ref.N, ref.coverage);
    std::ostringstream err;
    if (got.zero_radii_real != ref.zero_real)
        err << "zero_radii_real " << got.zero_radii_real << ", reference " << ref.zero_real << "; ";
    if (got.zero_radii_fake != ref.zero_fake)
        err << "zero_radii_fake " << got.zero_radii_fake << ", reference " << ref.zero_fake << "; ";
    if (got.k != ref.k || got.real_rows != ref.N || got.fake_rows != ref.M)
        err << "k / rows reported wrong; ";
    return e + err.str();
}

} // namespace refnn
