// The contract between rescore.cpp (the driver) and its per-instruction-set row kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernel.hpp"

namespace bitsift {

// One float16 row against a centred query: the row's mean, sum((v - mean) * q) and
// sum((v - mean)^2), each with four fixed lanes (see rescore.cpp). v is scratch of dim doubles.
struct RowStats {
    double mean = 0.0, dot = 0.0, vv = 0.0;
};

RowStats row_stats_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half, double* v);
// row_stats_avx2 of four rows at once, each value the same; v is scratch of 4 * dim doubles.
void row_stats_avx2_x4(const std::uint16_t* const src[4], std::size_t dim, const double* q, const float* half,
                       double* v, RowStats out[4]);

// rho of any (query, float16 row) pair, correlation_f16's arithmetic: every query centred once, each
// row computed alone in a fixed order, so a value never depends on which rows come with it.
class Rescorer {
public:
    // The AVX2 + F16C row kernel where the path and CPU allow it (the same values either way).
    Rescorer(const float* queries, std::size_t nq, std::size_t dim, Path path);
    // rho of query t and one row (dim halves); scratch: dim doubles.
    double rho(std::size_t t, const std::uint16_t* row, double* scratch) const;
    // rho of query t and four rows, each the value rho() gives; scratch: 4 * dim doubles.
    void rho4(std::size_t t, const std::uint16_t* const rows[4], double* scratch, double out[4]) const;

private:
    std::size_t dim_;
    std::vector<double> q_, norm_;
    const float* half_;
    bool simd_;
    RowStats (*stats_)(const std::uint16_t*, std::size_t, const double*, const float*, double*);
    double finish(std::size_t t, const RowStats& r) const;
};

// Ask for a float16 row's cache lines ahead of its use (rows are scattered over the file).
inline void prefetch_row(const std::uint16_t* row, std::size_t dim) {
    const char* at = reinterpret_cast<const char*>(row);
    for (std::size_t b = 0; b < dim * sizeof(std::uint16_t); b += 64) __builtin_prefetch(at + b);
}

}  // namespace bitsift
