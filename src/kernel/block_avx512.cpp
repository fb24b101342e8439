// AVX-512 path: XOR then VPOPCNTB (BITALG) over 64 codes per register,
// thresholds compared with mask registers. Compiled with AVX-512 flags only in
// this translation unit and reached only when the CPU reports the features.
#include <immintrin.h>

#include "block.hpp"
#include "kernel.hpp"

namespace bitsift {

void block_avx512(const BlockJob& job) {
    constexpr std::size_t kChunk = 31;  // byte counters: 31 * 8 <= 255
    const std::size_t B = job.bytes_per_code;
    for (std::size_t q = 0; q < job.nq; ++q) {
        const std::uint8_t* qb = job.qbytes + q * B;
        std::uint16_t* d = job.dist + q * kBlockCodes;
        __m512i s[4];
        for (auto& v : s) v = _mm512_setzero_si512();
        for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
            const std::size_t jn = (B - j0 < kChunk) ? B - j0 : kChunk;
            __m512i a0 = _mm512_setzero_si512();
            __m512i a1 = _mm512_setzero_si512();
            for (std::size_t j = j0; j < j0 + jn; ++j) {
                const __m512i qq = _mm512_set1_epi8(static_cast<char>(qb[j]));
                const std::uint8_t* src = job.block + j * kBlockCodes;
                a0 = _mm512_add_epi8(a0, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src), qq)));
                a1 = _mm512_add_epi8(a1, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src + 64), qq)));
            }
            s[0] = _mm512_add_epi16(s[0], _mm512_cvtepu8_epi16(_mm512_castsi512_si256(a0)));
            s[1] = _mm512_add_epi16(s[1], _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(a0, 1)));
            s[2] = _mm512_add_epi16(s[2], _mm512_cvtepu8_epi16(_mm512_castsi512_si256(a1)));
            s[3] = _mm512_add_epi16(s[3], _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(a1, 1)));
        }
        const __m512i t = _mm512_set1_epi16(static_cast<short>(job.thr[q]));
        std::uint64_t m[4];
        for (std::size_t i = 0; i < 4; ++i) {
            _mm512_storeu_si512(d + 32 * i, s[i]);
            m[i] = static_cast<std::uint32_t>(_mm512_cmplt_epu16_mask(s[i], t));
        }
        job.cand[2 * q] = m[0] | (m[1] << 32);
        job.cand[2 * q + 1] = m[2] | (m[3] << 32);
    }
}

}  // namespace bitsift
