// The contract between rescore.cpp (the driver) and its per-instruction-set row kernels.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitsift {

// One float16 row against a centred query: the row's mean, sum((v - mean) * q) and
// sum((v - mean)^2), each with four fixed lanes (see rescore.cpp). v is scratch of dim doubles.
struct RowStats {
    double mean = 0.0, dot = 0.0, vv = 0.0;
};

RowStats row_stats_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half, double* v);

}  // namespace bitsift
