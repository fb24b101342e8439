// The contract between rescore.cpp (the driver) and its per-instruction-set row kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernel.hpp"

namespace bitsift {

// One float16 row v against a centred query q, in one pass: sum(v), sum(v * v) and sum(v * q), each
// over four fixed lanes (lane l adds components l, l + 4, ... in order, products by fused multiply-add;
// then (l0 + l1) + (l2 + l3)), so every path gets the same bits (rescore.cpp has the formula).
struct RowSums {
    double sum = 0.0, squares = 0.0, dot = 0.0;
};

// Those lanes in scalar form: the whole scalar path, and the AVX2 path's last dim % 4 components
// and fold, so both follow one definition of the order.
struct LaneSums {
    double sum[4] = {0.0, 0.0, 0.0, 0.0}, squares[4] = {0.0, 0.0, 0.0, 0.0}, dot[4] = {0.0, 0.0, 0.0, 0.0};
    void add(std::size_t j, double x, double q) {  // component j: value x, query q
        sum[j % 4] += x;
        squares[j % 4] = std::fma(x, x, squares[j % 4]);
        dot[j % 4] = std::fma(x, q, dot[j % 4]);
    }
    RowSums fold() const {
        auto f = [](const double* l) { return (l[0] + l[1]) + (l[2] + l[3]); };
        return {f(sum), f(squares), f(dot)};
    }
};

RowSums row_sums_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half);
// row_sums_avx2 of four rows at once, each value the same: the rows' chains of additions overlap.
void row_sums_avx2_x4(const std::uint16_t* const src[4], std::size_t dim, const double* q, const float* half,
                      RowSums out[4]);

// rho of any (query, float16 row) pair, correlation_f16's arithmetic: every query centred once, each
// row computed alone in a fixed order, so a value never depends on which rows come with it.
class Rescorer {
public:
    // The AVX2 + F16C + FMA row kernel where the path and CPU allow it (the same values either way).
    Rescorer(const float* queries, std::size_t nq, std::size_t dim, Path path);
    // rho of query t and one row (dim halves).
    double rho(std::size_t t, const std::uint16_t* row) const;
    // rho of query t and four rows, each the value rho() gives.
    void rho4(std::size_t t, const std::uint16_t* const rows[4], double out[4]) const;

private:
    std::size_t dim_;
    std::vector<double> q_, norm_, qsum_;
    const float* half_;
    bool simd_;
    RowSums (*sums_)(const std::uint16_t*, std::size_t, const double*, const float*);
    double finish(std::size_t t, const RowSums& r) const;
};

// Ask for a float16 row's cache lines ahead of its use (rows are scattered over the file), into
// L2 (locality 2, T1) rather than L1: a dozen rows of 12 lines each in flight held the L1 miss
// buffers and stalled the loads; measured at 100k random rows 210-250 -> 100-160 ns a row.
inline void prefetch_row(const std::uint16_t* row, std::size_t dim) {
    const char* at = reinterpret_cast<const char*>(row);
    for (std::size_t b = 0; b < dim * sizeof(std::uint16_t); b += 64) __builtin_prefetch(at + b, 0, 2);
}

}  // namespace bitsift
