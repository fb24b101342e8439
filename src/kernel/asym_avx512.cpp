// AVX-512 path of the asymmetric scan: per query bit plane, AND then VPOPCNTB (BITALG) over 64
// codes per register, byte counters widened to u16 and weighted by 2^plane after every 31 bytes;
// the block's bytes are read once for all four planes. The key arithmetic is asym_key's, op for
// op in float32 (this unit is compiled with -ffp-contract=off, like the others).
#include <immintrin.h>

#include "asym.hpp"

namespace bitsift {

namespace {

constexpr std::size_t kChunk = 31;  // byte counters: 31 * 8 <= 255

inline __m512i add_u8(__m512i acc, __m512i x) {  // in place, see block_avx512.cpp
    asm("vpaddb %1, %0, %0" : "+v"(acc) : "v"(x));
    return acc;
}

// Level sums of the block's 128 codes for one query, as 4 x 32 u16 lanes in code order.
inline void level_sums(const std::uint8_t* block, const std::uint32_t* planes, std::size_t B, __m512i s[4]) {
    for (int i = 0; i < 4; ++i) s[i] = _mm512_setzero_si512();
    for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
        const std::size_t j1 = B - j0 < kChunk ? B : j0 + kChunk;
        __m512i c[kPlanes][2];
        for (std::size_t p = 0; p < kPlanes; ++p) c[p][0] = c[p][1] = _mm512_setzero_si512();
        for (std::size_t j = j0; j < j1; ++j) {
            const __m512i x0 = _mm512_loadu_si512(block + j * kBlockCodes);
            const __m512i x1 = _mm512_loadu_si512(block + j * kBlockCodes + 64);
            for (std::size_t p = 0; p < kPlanes; ++p) {
                const __m512i m = _mm512_set1_epi32(static_cast<int>(planes[p * B + j]));
                c[p][0] = add_u8(c[p][0], _mm512_popcnt_epi8(_mm512_and_si512(x0, m)));
                c[p][1] = add_u8(c[p][1], _mm512_popcnt_epi8(_mm512_and_si512(x1, m)));
            }
        }
        for (std::size_t p = 0; p < kPlanes; ++p)
            for (std::size_t h = 0; h < 2; ++h) {
                const __m512i lo = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(c[p][h]));
                const __m512i hi = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(c[p][h], 1));
                s[2 * h] = _mm512_add_epi16(s[2 * h], _mm512_slli_epi16(lo, static_cast<unsigned>(p)));
                s[2 * h + 1] = _mm512_add_epi16(s[2 * h + 1], _mm512_slli_epi16(hi, static_cast<unsigned>(p)));
            }
    }
}

}  // namespace

void asym_block_avx512(const AsymJob& job) {
    const std::size_t B = job.bytes_per_code;
    const __m512i dims = _mm512_set1_epi32(job.dims);
    const __m512 eps = _mm512_set1_ps(job.eps);
    for (std::size_t q = 0; q < job.nq; ++q) {
        __m512i s[4];
        level_sums(job.block, job.planes + q * kPlanes * B, B, s);
        const __m512i usum = _mm512_set1_epi32(job.queries[q].level_sum);
        const __m512 scale = _mm512_set1_ps(job.queries[q].scale);
        const __m512 thr = _mm512_set1_ps(job.thr[q]);
        float* keys = job.keys + q * kBlockCodes;
        std::uint64_t bits[2] = {0, 0};
        for (std::size_t g = 0; g < kBlockCodes / 16; ++g) {  // 16 codes per group
            const __m512i a = _mm512_cvtepu16_epi32(g % 2 ? _mm512_extracti64x4_epi64(s[g / 2], 1)
                                                          : _mm512_castsi512_si256(s[g / 2]));
            const __m512i pop = _mm512_loadu_si512(job.pop + 16 * g);
            const __m512i i = _mm512_sub_epi32(_mm512_mullo_epi32(dims, a), _mm512_mullo_epi32(usum, pop));
            const __m512 p = _mm512_mul_ps(_mm512_loadu_ps(job.alpha + 16 * g), _mm512_cvtepi32_ps(i));
            const __m512 e = _mm512_mul_ps(eps, _mm512_loadu_ps(job.sigma + 16 * g));
            const __m512 key = _mm512_add_ps(_mm512_mul_ps(scale, p), e);
            _mm512_storeu_ps(keys + 16 * g, key);
            const std::uint64_t m = _mm512_cmp_ps_mask(key, thr, _CMP_GT_OQ);
            bits[g / 4] |= m << (16 * (g % 4));
        }
        job.cand[2 * q] = bits[0];
        job.cand[2 * q + 1] = bits[1];
    }
}

}  // namespace bitsift
