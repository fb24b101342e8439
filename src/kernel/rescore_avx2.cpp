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

RowStats row_stats_avx2(const std::uint16_t* src, std::size_t dim, const double* q, const float* half,
                        double* v) {
    const std::size_t body = dim / 4 * 4;
    __m256d acc = _mm256_setzero_pd();
    for (std::size_t j = 0; j < body; j += 4) {
        const __m256d x = load4(src + j);
        _mm256_storeu_pd(v + j, x);
        acc = _mm256_add_pd(acc, x);
    }
    double tail[4] = {0.0, 0.0, 0.0, 0.0};
    for (std::size_t j = body; j < dim; ++j) tail[j % 4] += (v[j] = half[src[j]]);
    // The scalar path adds the tail into the lanes after the body, lane by lane: the same order.
    RowStats r;
    r.mean = fold(acc, tail) / static_cast<double>(dim);
    const __m256d mean = _mm256_set1_pd(r.mean);
    __m256d d = _mm256_setzero_pd(), s = _mm256_setzero_pd();
    for (std::size_t j = 0; j < body; j += 4) {
        const __m256d c = _mm256_sub_pd(_mm256_loadu_pd(v + j), mean);
        d = _mm256_add_pd(d, _mm256_mul_pd(c, _mm256_loadu_pd(q + j)));
        s = _mm256_add_pd(s, _mm256_mul_pd(c, c));
    }
    double dt[4] = {0.0, 0.0, 0.0, 0.0}, st[4] = {0.0, 0.0, 0.0, 0.0};
    for (std::size_t j = body; j < dim; ++j) {
        const double c = v[j] - r.mean;
        dt[j % 4] += c * q[j];
        st[j % 4] += c * c;
    }
    r.dot = fold(d, dt);
    r.vv = fold(s, st);
    return r;
}

void row_stats_avx2_x4(const std::uint16_t* const src[4], std::size_t dim, const double* q, const float* half,
                       double* v, RowStats out[4]) {
    // Four rows' sums side by side: each row's own accumulators, in row_stats_avx2's order, so the
    // same values; the four chains of additions overlap instead of waiting on one another.
    const std::size_t body = dim / 4 * 4;
    __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    for (std::size_t j = 0; j < body; j += 4)
        for (int r = 0; r < 4; ++r) {
            const __m256d x = load4(src[r] + j);
            _mm256_storeu_pd(v + r * dim + j, x);
            acc[r] = _mm256_add_pd(acc[r], x);
        }
    __m256d mean[4], d[4], s[4];
    for (int r = 0; r < 4; ++r) {
        double tail[4] = {0.0, 0.0, 0.0, 0.0};
        for (std::size_t j = body; j < dim; ++j) tail[j % 4] += (v[r * dim + j] = half[src[r][j]]);
        out[r].mean = fold(acc[r], tail) / static_cast<double>(dim);
        mean[r] = _mm256_set1_pd(out[r].mean);
        d[r] = s[r] = _mm256_setzero_pd();
    }
    for (std::size_t j = 0; j < body; j += 4) {
        const __m256d qj = _mm256_loadu_pd(q + j);
        for (int r = 0; r < 4; ++r) {
            const __m256d c = _mm256_sub_pd(_mm256_loadu_pd(v + r * dim + j), mean[r]);
            d[r] = _mm256_add_pd(d[r], _mm256_mul_pd(c, qj));
            s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(c, c));
        }
    }
    for (int r = 0; r < 4; ++r) {
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

}  // namespace bitsift
