// AVX2 + F16C re-scoring of one float16 row: the same arithmetic as rescore.cpp's scalar
// path, in the same order (four double lanes, lane l summing components l, l+4, ...; then
// (l0 + l1) + (l2 + l3)), so every result is identical to the bit. Built with -mavx2 -mf16c and
// -ffp-contract=off: no fused multiply-add may change a rounding.
#include <immintrin.h>

#include "rescore.hpp"

namespace bitsift {

namespace {

inline __m256d load4(const std::uint16_t* src) {  // four halves -> four doubles, exactly
    const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src));
    return _mm256_cvtps_pd(_mm_cvtph_ps(h));
}

inline double fold(__m256d acc, double tail[4]) {
    alignas(32) double lane[4];
    _mm256_store_pd(lane, acc);
    for (int l = 0; l < 4; ++l) lane[l] += tail[l];
    return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

}  // namespace

namespace {

// R rows' sums side by side, each row with its own accumulators in the order above, so every value is
// the one-row value; with R = 4 the rows' chains of additions overlap instead of waiting on one another.
template <int R>
void row_stats(const std::uint16_t* const src[R], std::size_t dim, const double* q, const float* half, double* v,
               RowStats out[R]) {
    const std::size_t body = dim / 4 * 4;
    __m256d acc[R], mean[R], d[R], s[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_pd();
    for (std::size_t j = 0; j < body; j += 4)
        for (int r = 0; r < R; ++r) {
            const __m256d x = load4(src[r] + j);
            _mm256_storeu_pd(v + r * dim + j, x);
            acc[r] = _mm256_add_pd(acc[r], x);
        }
    for (int r = 0; r < R; ++r) {
        // The scalar path adds the tail into the lanes after the body, lane by lane: the same order.
        double tail[4] = {0.0, 0.0, 0.0, 0.0};
        for (std::size_t j = body; j < dim; ++j) tail[j % 4] += (v[r * dim + j] = half[src[r][j]]);
        out[r].mean = fold(acc[r], tail) / static_cast<double>(dim);
        mean[r] = _mm256_set1_pd(out[r].mean);
        d[r] = s[r] = _mm256_setzero_pd();
    }
    for (std::size_t j = 0; j < body; j += 4) {
        const __m256d qj = _mm256_loadu_pd(q + j);
        for (int r = 0; r < R; ++r) {
            const __m256d c = _mm256_sub_pd(_mm256_loadu_pd(v + r * dim + j), mean[r]);
            d[r] = _mm256_add_pd(d[r], _mm256_mul_pd(c, qj));
            s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(c, c));
        }
    }
    for (int r = 0; r < R; ++r) {
        double dt[4] = {0.0, 0.0, 0.0, 0.0}, st[4] = {0.0, 0.0, 0.0, 0.0};
        for (std::size_t j = body; j < dim; ++j) {
            const double c = v[r * dim + j] - out[r].mean;
            dt[j % 4] += c * q[j];
            st[j % 4] += c * c;
        }
        out[r].dot = fold(d[r], dt);
        out[r].vv = fold(s[r], st);
    }
}

}  // namespace

RowStats row_stats_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half,
                        double* v) {
    RowStats r;
    row_stats<1>(&src, dim, q, half, v, &r);
    return r;
}

void row_stats_avx2_x4(const std::uint16_t* const src[4], std::size_t dim, const double* q, const float* half,
                       double* v, RowStats out[4]) {
    row_stats<4>(src, dim, q, half, v, out);
}

}  // namespace bitsift
