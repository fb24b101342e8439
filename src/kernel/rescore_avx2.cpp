// AVX2 + F16C + FMA re-scoring of float16 rows: the same arithmetic as rescore.cpp's scalar path, in
// the same order (four double lanes, lane l adding components l, l + 4, ... in order, the products
// fused; then (l0 + l1) + (l2 + l3)), so every result is identical to the bit. Built with
// -ffp-contract=off: only the fused multiply-adds written here, no others the compiler might pick.
#include <immintrin.h>

#include "rescore.hpp"

namespace bitsift {

namespace {

struct Lanes {  // one row's three sums, four lanes each
    __m256d sum, squares, dot;
    void add(__m256d x, __m256d q) {
        sum = _mm256_add_pd(sum, x);
        squares = _mm256_fmadd_pd(x, x, squares);
        dot = _mm256_fmadd_pd(x, q, dot);
    }
};

// R rows' sums side by side, each row with its own lanes in the order above, so every value is the
// one-row value; with R = 4 the rows' chains of additions overlap instead of waiting on one another.
template <int R>
void row_sums(const std::uint16_t* const src[R], std::size_t dim, const double* q, const float* half,
              RowSums out[R]) {
    Lanes acc[R];
    for (int r = 0; r < R; ++r) acc[r].sum = acc[r].squares = acc[r].dot = _mm256_setzero_pd();
    std::size_t j = 0;
    for (; j + 8 <= dim; j += 8) {  // eight halves a load: components j .. j + 3, then j + 4 .. j + 7
        const __m256d q0 = _mm256_loadu_pd(q + j), q1 = _mm256_loadu_pd(q + j + 4);
        for (int r = 0; r < R; ++r) {
            const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[r] + j)));
            acc[r].add(_mm256_cvtps_pd(_mm256_castps256_ps128(f)), q0);
            acc[r].add(_mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)), q1);
        }
    }
    if (j + 4 <= dim) {
        const __m256d q0 = _mm256_loadu_pd(q + j);
        for (int r = 0; r < R; ++r) {
            const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src[r] + j));
            acc[r].add(_mm256_cvtps_pd(_mm_cvtph_ps(h)), q0);
        }
        j += 4;
    }
    for (int r = 0; r < R; ++r) {
        LaneSums lanes;
        _mm256_storeu_pd(lanes.sum, acc[r].sum);
        _mm256_storeu_pd(lanes.squares, acc[r].squares);
        _mm256_storeu_pd(lanes.dot, acc[r].dot);
        for (std::size_t t = j; t < dim; ++t) lanes.add(t, half[src[r][t]], q[t]);  // the last dim % 4
        out[r] = lanes.fold();
    }
}

}  // namespace

RowSums row_sums_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half) {
    RowSums r;
    row_sums<1>(&src, dim, q, half, &r);
    return r;
}

void row_sums_avx2_x4(const std::uint16_t* const src[4], std::size_t dim, const double* q, const float* half,
                      RowSums out[4]) {
    row_sums<4>(src, dim, q, half, out);
}

}  // namespace bitsift
