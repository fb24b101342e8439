// AVX-512 path of the asymmetric scan: each code nibble looks up the level sum of its four
// components in the query's 16-entry table for that byte (VPSHUFB, 64 codes a register: the AVX2
// path's tables, twice as wide). A block's nibbles are split once for all the queries of a job, so
// a query costs two shuffles and three adds per code byte; two bytes' sums (<= 240) add in u8 lanes,
// then into u16 lanes without unpacking (one accumulator takes the pairs whole, one the odd codes'
// bytes: even = whole - 256 * odd). Four bit planes with VPOPCNTB cost twice the instructions. The
// key arithmetic is asym_key's, op for op in float32 (compiled with -ffp-contract=off).
#include <immintrin.h>

#include "asym.hpp"

namespace bitsift {

namespace {

// Byte j, half h (codes 64h .. 64h + 63) of a block: its low nibbles at [4j + 2h], high at [4j + 2h + 1].
alignas(64) thread_local __m512i nibbles[4 * kMaxWords * 8];

void split_nibbles(const std::uint8_t* block, std::size_t B) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (std::size_t j = 0; j < B; ++j)
        for (std::size_t h = 0; h < 2; ++h) {
            const __m512i x = _mm512_loadu_si512(block + j * kBlockCodes + 64 * h);
            nibbles[4 * j + 2 * h] = _mm512_and_si512(x, low);
            nibbles[4 * j + 2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(x, 4), low);
        }
}

// The nibbles of a job with one query: split in registers, not stored (nothing to share them with).
struct InlineNibbles {
    const std::uint8_t* block;
    __m512i operator()(std::size_t i) const {  // i = 4j + 2h + high
        const __m512i x = _mm512_loadu_si512(block + (i / 4) * kBlockCodes + 64 * ((i / 2) % 2));
        const __m512i low = _mm512_set1_epi8(0x0F);
        return _mm512_and_si512(i % 2 ? _mm512_srli_epi16(x, 4) : x, low);
    }
};
struct StoredNibbles {
    __m512i operator()(std::size_t i) const { return nibbles[i]; }
};

inline __m512i table(const std::uint8_t* t) {  // 16 level sums in every 128-bit lane
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}

// Level sums of the block's 128 codes for one query (its tables: 32 bytes per code byte), as
// 4 x 32 u16 lanes in code order.
template <typename Nibbles>
inline void level_sums(const Nibbles& nib, const std::uint8_t* tables, std::size_t B, __m512i s[4]) {
    __m512i whole[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    __m512i odd[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    auto add = [&](std::size_t h, __m512i sums) {  // sums: u8, <= 240
        whole[h] = _mm512_add_epi16(whole[h], sums);
        odd[h] = _mm512_add_epi16(odd[h], _mm512_srli_epi16(sums, 8));
    };
    std::size_t j = 0;
    for (; j + 2 <= B; j += 2) {
        const __m512i t0 = table(tables + 32 * j), t1 = table(tables + 32 * j + 16);
        const __m512i t2 = table(tables + 32 * j + 32), t3 = table(tables + 32 * j + 48);
        for (std::size_t h = 0; h < 2; ++h) {
            const __m512i a = _mm512_add_epi8(_mm512_shuffle_epi8(t0, nib(4 * j + 2 * h)),
                                              _mm512_shuffle_epi8(t1, nib(4 * j + 2 * h + 1)));
            const __m512i b = _mm512_add_epi8(_mm512_shuffle_epi8(t2, nib(4 * j + 4 + 2 * h)),
                                              _mm512_shuffle_epi8(t3, nib(4 * j + 4 + 2 * h + 1)));
            add(h, _mm512_add_epi8(a, b));
        }
    }
    if (j < B) {
        const __m512i t0 = table(tables + 32 * j), t1 = table(tables + 32 * j + 16);
        for (std::size_t h = 0; h < 2; ++h)
            add(h, _mm512_add_epi8(_mm512_shuffle_epi8(t0, nib(4 * j + 2 * h)),
                                   _mm512_shuffle_epi8(t1, nib(4 * j + 2 * h + 1))));
    }
    // u16 lane i of even / odd: code 2i / 2i + 1 of the half; interleaved back into code order
    alignas(64) static const std::uint16_t order[2][32] = {
        {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
         8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47},
        {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
         24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63}};
    const __m512i first = _mm512_load_si512(order[0]), second = _mm512_load_si512(order[1]);
    for (std::size_t h = 0; h < 2; ++h) {
        const __m512i even = _mm512_sub_epi16(whole[h], _mm512_slli_epi16(odd[h], 8));  // mod 2^16: exact
        s[2 * h] = _mm512_permutex2var_epi16(even, first, odd[h]);
        s[2 * h + 1] = _mm512_permutex2var_epi16(even, second, odd[h]);
    }
}

}  // namespace

void asym_block_avx512(const AsymJob& job) {
    const std::size_t B = job.bytes_per_code;
    const __m512i dims = _mm512_set1_epi32(job.dims);
    const __m512 eps = _mm512_set1_ps(job.eps);
    if (job.nq > 1) split_nibbles(job.block, B);
    for (std::size_t q = 0; q < job.nq; ++q) {
        __m512i s[4];
        if (job.nq > 1)
            level_sums(StoredNibbles{}, job.tables + q * B * 32, B, s);
        else
            level_sums(InlineNibbles{job.block}, job.tables + q * B * 32, B, s);
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
