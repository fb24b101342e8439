// AVX2 path of the asymmetric scan: no byte popcount here, so each code nibble looks up the level
// sum of its four components in a 16-entry table per query byte (VPSHUFB), 32 codes per register;
// two bytes' sums (<= 240) are added in u8 lanes, then widened to u16. The key arithmetic is
// asym_key's, op for op in float32 (compiled with -ffp-contract=off).
#include <immintrin.h>

#include "asym.hpp"

namespace bitsift {

namespace {

// Level sums of 32 codes (bytes at col of every row j) for one query, as two u16 registers:
// lo holds codes 0-7 and 16-23, hi codes 8-15 and 24-31 (the unpack order), fixed by the caller.
inline void level_sums32(const std::uint8_t* block, std::size_t col, const std::uint8_t* tables, std::size_t B,
                         __m256i& lo, __m256i& hi) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    const __m256i zero = _mm256_setzero_si256();
    lo = hi = zero;
    auto sums = [&](std::size_t j) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + j * kBlockCodes + col));
        const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables + 32 * j));
        const __m256i tlo = _mm256_permute2x128_si256(t, t, 0x00);  // low-nibble table in both lanes
        const __m256i thi = _mm256_permute2x128_si256(t, t, 0x11);  // high-nibble table
        return _mm256_add_epi8(_mm256_shuffle_epi8(tlo, _mm256_and_si256(x, nib)),
                               _mm256_shuffle_epi8(thi, _mm256_and_si256(_mm256_srli_epi16(x, 4), nib)));
    };
    std::size_t j = 0;
    for (; j + 2 <= B; j += 2) {
        const __m256i two = _mm256_add_epi8(sums(j), sums(j + 1));  // <= 2 * 120
        lo = _mm256_add_epi16(lo, _mm256_unpacklo_epi8(two, zero));
        hi = _mm256_add_epi16(hi, _mm256_unpackhi_epi8(two, zero));
    }
    if (j < B) {
        const __m256i one = sums(j);
        lo = _mm256_add_epi16(lo, _mm256_unpacklo_epi8(one, zero));
        hi = _mm256_add_epi16(hi, _mm256_unpackhi_epi8(one, zero));
    }
}

}  // namespace

void asym_block_avx2(const AsymJob& job) {
    const std::size_t B = job.bytes_per_code;
    const __m256i dims = _mm256_set1_epi32(job.dims);
    const __m256 eps = _mm256_set1_ps(job.eps);
    for (std::size_t q = 0; q < job.nq; ++q) {
        const std::uint8_t* tables = job.tables + q * B * 32;
        const __m256i usum = _mm256_set1_epi32(job.queries[q].level_sum);
        const __m256 scale = _mm256_set1_ps(job.queries[q].scale);
        const __m256 thr = _mm256_set1_ps(job.thr[q]);
        float* keys = job.keys + q * kBlockCodes;
        std::uint64_t bits[2] = {0, 0};
        for (std::size_t col = 0; col < kBlockCodes; col += 32) {
            __m256i lo, hi;
            level_sums32(job.block, col, tables, B, lo, hi);
            // code order: [0-7 | 8-15] and [16-23 | 24-31]
            const __m256i n0 = _mm256_permute2x128_si256(lo, hi, 0x20);
            const __m256i n1 = _mm256_permute2x128_si256(lo, hi, 0x31);
            for (std::size_t g = 0; g < 4; ++g) {  // 8 codes per group
                const __m256i half = g < 2 ? n0 : n1;
                const __m256i a = _mm256_cvtepu16_epi32(g % 2 ? _mm256_extracti128_si256(half, 1)
                                                              : _mm256_castsi256_si128(half));
                const std::size_t c = col + 8 * g;
                const __m256i pop = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.pop + c));
                const __m256i i = _mm256_sub_epi32(_mm256_mullo_epi32(dims, a), _mm256_mullo_epi32(usum, pop));
                const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(job.alpha + c), _mm256_cvtepi32_ps(i));
                const __m256 e = _mm256_mul_ps(eps, _mm256_loadu_ps(job.sigma + c));
                const __m256 key = _mm256_add_ps(_mm256_mul_ps(scale, p), e);
                _mm256_storeu_ps(keys + c, key);
                const std::uint64_t m = static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(key, thr, _CMP_GT_OQ)));
                bits[c / 64] |= m << (c % 64);
            }
        }
        job.cand[2 * q] = bits[0];
        job.cand[2 * q + 1] = bits[1];
    }
}

}  // namespace bitsift
