// Float re-scoring of binary candidates: Pearson correlation between the query and
// stored float16 rows (bitsift.rescore has the formula and why). Each row is computed
// on its own with a fixed summation order, so a row's score never depends on which or
// how many other rows are re-scored with it (a shard re-scores fewer rows than one
// machine, and the answers must match to the bit).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernel.hpp"
#include "rescore.hpp"

namespace bitsift {

namespace {

// IEEE 754 binary16 -> binary32, exact for every input (subnormals, infinities, NaN).
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        const float f = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -f : f;
    }
    const std::uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (mant << 13))
                                         : (sign | ((exp + 112u) << 23) | (mant << 13));
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// All 65,536 conversions, built once (256 KB): a table lookup beats the branches above.
const float* half_table() {
    static const std::vector<float> table = [] {
        std::vector<float> t(1u << 16);
        for (std::uint32_t h = 0; h < (1u << 16); ++h) t[h] = half_to_float(static_cast<std::uint16_t>(h));
        return t;
    }();
    return table.data();
}

constexpr std::size_t kLanes = 4;  // fixed partial sums: vectorizable, and the same order for every row

template <typename F>
double lane_sum(std::size_t dim, F term) {
    double acc[kLanes] = {0.0, 0.0, 0.0, 0.0};
    std::size_t j = 0;
    for (; j + kLanes <= dim; j += kLanes)
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += term(j + l);
    for (; j < dim; ++j) acc[j % kLanes] += term(j);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// The scalar twin of rescore_avx2.cpp's row kernel: the same lanes, the same fused products.
RowSums row_sums_scalar(const std::uint16_t* src, std::size_t dim, const double* q, const float* half) {
    LaneSums lanes;
    for (std::size_t j = 0; j < dim; ++j) lanes.add(j, half[src[j]], q[j]);
    return lanes.fold();
}

}  // namespace

Rescorer::Rescorer(const float* queries, std::size_t nq, std::size_t dim, Path path)
    : dim_(dim), q_(nq * dim), norm_(nq), qsum_(nq), half_(half_table()),
      simd_(resolve_path(path) != Path::Scalar && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma")),
      sums_(simd_ ? row_sums_avx2 : row_sums_scalar) {
    for (std::size_t t = 0; t < nq; ++t) {
        const float* query = queries + t * dim;
        double* qt = q_.data() + t * dim;
        const double q_mean = lane_sum(dim, [&](std::size_t j) { return static_cast<double>(query[j]); }) / dim;
        for (std::size_t j = 0; j < dim; ++j) qt[j] = static_cast<double>(query[j]) - q_mean;
        norm_[t] = std::sqrt(lane_sum(dim, [&](std::size_t j) { return qt[j] * qt[j]; }));
        qsum_[t] = lane_sum(dim, [&](std::size_t j) { return qt[j]; });  // ~0, but not exactly
    }
}

double Rescorer::rho(std::size_t t, const std::uint16_t* row) const {
    return finish(t, sums_(row, dim_, q_.data() + t * dim_, half_));
}

void Rescorer::rho4(std::size_t t, const std::uint16_t* const rows[4], double out[4]) const {
    if (!simd_) {
        for (int r = 0; r < 4; ++r) out[r] = rho(t, rows[r]);
        return;
    }
    RowSums sums[4];
    row_sums_avx2_x4(rows, dim_, q_.data() + t * dim_, half_, sums);
    for (int r = 0; r < 4; ++r) out[r] = finish(t, sums[r]);
}

// With m = sum(v) / D and q centred: sum((v - m) q) = sum(v q) - m sum(q) and sum((v - m)^2) =
// sum(v^2) - m sum(v), so one pass over the row gives rho = that / (|v - m| |q|). A constant row gives
// exactly 0 (its sums are exact in double), which becomes rho 0 as in the reference formula.
double Rescorer::finish(std::size_t t, const RowSums& r) const {
    const double mean = r.sum / static_cast<double>(dim_);
    const double vv = std::max(0.0, r.squares - mean * r.sum);
    const double dot = r.dot - mean * qsum_[t];
    const double denom = std::sqrt(vv) * norm_[t];
    const double rho = denom > 0 ? dot / denom : 0.0;
    return rho < -1.0 ? -1.0 : (rho > 1.0 ? 1.0 : rho);
}

void correlation_f16_many(const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                          const std::int64_t* rows, const std::int64_t* offsets, std::size_t nq,
                          const float* queries, double* out, Path path) {
    const std::size_t n = nq ? static_cast<std::size_t>(offsets[nq]) : 0;
    for (std::size_t i = 0; i < n; ++i)
        if (rows[i] < 0 || static_cast<std::size_t>(rows[i]) >= nrows)
            throw std::out_of_range("correlation_f16: row out of range");
    if (dim == 0) {
        std::fill(out, out + n, 0.0);
        return;
    }
    // AVX2 + F16C + FMA does the same arithmetic in the same order (rescore_avx2.cpp): identical values.
    const Rescorer rescorer(queries, nq, dim, path);
    std::vector<std::uint32_t> owner(n);  // owner[i]: the query of row i
    for (std::size_t t = 0; t < nq; ++t)
        for (auto i = offsets[t]; i < offsets[t + 1]; ++i) owner[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(t);
    auto work = [&](std::size_t i0, std::size_t i1) {
        constexpr std::size_t kAhead = 4;  // rows are scattered over the file: ask for the next ones early
        auto row = [&](std::size_t i) { return vectors + static_cast<std::size_t>(rows[i]) * dim; };
        for (std::size_t i = i0; i < std::min(i1, i0 + kAhead); ++i) prefetch_row(row(i), dim);
        for (std::size_t i = i0; i < i1; ++i) {
            if (i + kAhead < i1) prefetch_row(row(i + kAhead), dim);
            out[i] = rescorer.rho(owner[i], row(i));
        }
    };
    // Rows are independent, so threads split them without changing any value; below ~1M
    // components a thread costs more to start than it saves.
    const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t nt = std::max<std::size_t>(1, std::min(hw, n * dim / (1u << 20) + 1));
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < nt; ++t) pool.emplace_back(work, n * t / nt, n * (t + 1) / nt);
    work(0, n / nt);
    for (auto& th : pool) th.join();
}

void correlation_f16(const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                     const std::int64_t* rows, std::size_t n, const float* query, double* out, Path path) {
    const std::int64_t offsets[2] = {0, static_cast<std::int64_t>(n)};
    correlation_f16_many(vectors, nrows, dim, rows, offsets, 1, query, out, path);
}

}  // namespace bitsift
