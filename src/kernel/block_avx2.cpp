// AVX2 path: nibble lookup tables specialised per query byte.
//
// The block's nibbles are split once into an L1 buffer shared by every query;
// each (query, byte) pair then costs one 32-byte table load and one VPSHUFB +
// VPADDB per 16 codes, half the work of XOR-then-popcount per query.
// Compiled with -mavx2 only in this translation unit.
#include <immintrin.h>

#include "block.hpp"
#include "kernel.hpp"

namespace bitsift {

namespace {

#ifndef BITSIFT_PREFETCH
#define BITSIFT_PREFETCH 2048
#endif
constexpr std::size_t kPrefetchBytes = BITSIFT_PREFETCH;

// Candidates of one query from exact u16 distances (natural code order).
void compare_u16(const BlockJob& job, std::size_t q) {
    const __m256i t = _mm256_set1_epi16(static_cast<short>(job.thr[q]));
    const std::uint16_t* d = job.dist + q * kBlockCodes;
    std::uint64_t bits[2] = {0, 0};
    for (std::size_t i = 0; i < kBlockCodes / 32; ++i) {
        const __m256i c0 = _mm256_cmpgt_epi16(t, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + 32 * i)));
        const __m256i c1 = _mm256_cmpgt_epi16(t, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + 32 * i + 16)));
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(c0, c1), 0xD8);
        const std::uint32_t m = static_cast<std::uint32_t>(_mm256_movemask_epi8(packed));
        bits[i >> 1] |= static_cast<std::uint64_t>(m) << (32 * (i & 1));
    }
    job.cand[2 * q] = bits[0];
    job.cand[2 * q + 1] = bits[1];
}

// Codes of at most 63 bytes need no widening: lo + hi lane sums, saturated at 255,
// are compared in u8 lanes, 32 codes per instruction. A saturated sum is >= 255 >=
// the threshold, so it is never a candidate; only candidates' distances are stored.
// Returns false when the threshold is still open (> 255) and the u16 path must run.
bool compare_u8(const BlockJob& job, std::size_t q, const __m256i* a) {
    const std::uint16_t thr = job.thr[q];
    if (thr > 255) return false;
    std::uint64_t bits[2] = {0, 0};
    if (thr > 0) {
        const __m256i t1 = _mm256_set1_epi8(static_cast<char>(thr - 1));
        std::uint16_t* d = job.dist + q * kBlockCodes;
        for (std::size_t i = 0; i < kBlockCodes / 32; ++i) {
            const __m256i lo = _mm256_permute2x128_si256(a[2 * i], a[2 * i + 1], 0x20);
            const __m256i hi = _mm256_permute2x128_si256(a[2 * i], a[2 * i + 1], 0x31);
            const __m256i sum = _mm256_adds_epu8(lo, hi);
            const __m256i le = _mm256_cmpeq_epi8(_mm256_min_epu8(sum, t1), sum);
            const std::uint32_t m = static_cast<std::uint32_t>(_mm256_movemask_epi8(le));
            if (m) {
                __m256i* dp = reinterpret_cast<__m256i*>(d + 32 * i);
                _mm256_storeu_si256(dp, _mm256_cvtepu8_epi16(_mm256_castsi256_si128(sum)));
                _mm256_storeu_si256(dp + 1, _mm256_cvtepu8_epi16(_mm256_extracti128_si256(sum, 1)));
            }
            bits[i >> 1] |= static_cast<std::uint64_t>(m) << (32 * (i & 1));
        }
    }
    job.cand[2 * q] = bits[0];
    job.cand[2 * q + 1] = bits[1];
    return true;
}

// Few queries: split nibbles in registers instead of through the L1 buffer, so a
// single query streams the codes at memory speed.
void direct_distances(const BlockJob& job) {
    constexpr std::size_t kChunk = 31;  // lo + hi counts <= 8 per byte: 31 * 8 <= 255
    const std::size_t B = job.bytes_per_code;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (std::size_t q = 0; q < job.nq; ++q) {
        const std::uint8_t* lut = job.luts + q * B * 32;
        std::uint16_t* d = job.dist + q * kBlockCodes;
        for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
            const std::size_t jn = (B - j0 < kChunk) ? B - j0 : kChunk;
            __m256i a[4];
            for (auto& v : a) v = _mm256_setzero_si256();
            for (std::size_t j = j0; j < j0 + jn; ++j) {
                const __m128i* t = reinterpret_cast<const __m128i*>(lut + 32 * j);
                const __m256i tlo = _mm256_broadcastsi128_si256(_mm_loadu_si128(t));
                const __m256i thi = _mm256_broadcastsi128_si256(_mm_loadu_si128(t + 1));
                const __m256i* src = reinterpret_cast<const __m256i*>(job.block + j * kBlockCodes);
                // Streaming from memory: ask for rows well ahead (past the block end too,
                // blocks are contiguous; a prefetch never faults).
                _mm_prefetch(reinterpret_cast<const char*>(src) + kPrefetchBytes, _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(src) + kPrefetchBytes + 64, _MM_HINT_T0);
                for (std::size_t h = 0; h < 4; ++h) {
                    const __m256i x = _mm256_loadu_si256(src + h);
                    const __m256i lo = _mm256_shuffle_epi8(tlo, _mm256_and_si256(x, low4));
                    const __m256i hi = _mm256_shuffle_epi8(thi, _mm256_and_si256(_mm256_srli_epi16(x, 4), low4));
                    a[h] = _mm256_add_epi8(a[h], _mm256_add_epi8(lo, hi));
                }
            }
            for (std::size_t h = 0; h < 4; ++h) {
                const __m256i s0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(a[h]));
                const __m256i s1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(a[h], 1));
                __m256i* dp = reinterpret_cast<__m256i*>(d + 32 * h);
                _mm256_storeu_si256(dp, j0 == 0 ? s0 : _mm256_add_epi16(_mm256_loadu_si256(dp), s0));
                _mm256_storeu_si256(dp + 1, j0 == 0 ? s1 : _mm256_add_epi16(_mm256_loadu_si256(dp + 1), s1));
            }
        }
    }
}

// Many queries: split the block's nibbles once into L1, then per (query, byte)
// one 32-byte table [lo | hi] serves 16 codes per VPSHUFB.
void buffered_distances(const BlockJob& job) {
    // Each lane sums either low or high nibble counts (<= 4 per byte): 63 * 4 <= 255.
    constexpr std::size_t kChunk = 63;
    constexpr std::size_t kGroups = kBlockCodes / 16;  // 16 codes per group register
    const std::size_t B = job.bytes_per_code;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    std::uint8_t* nib = job.scratch;  // [j][group][lo 16 | hi 16]

    for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
        const std::size_t jn = (B - j0 < kChunk) ? B - j0 : kChunk;
        for (std::size_t j = 0; j < jn; ++j) {
            const std::uint8_t* src = job.block + (j0 + j) * kBlockCodes;
            for (std::size_t h = 0; h < kBlockCodes / 32; ++h) {
                const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * h));
                const __m256i lo = _mm256_and_si256(x, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
                __m256i* out = reinterpret_cast<__m256i*>(nib + (j * kGroups + 2 * h) * 32);
                _mm256_store_si256(out, _mm256_permute2x128_si256(lo, hi, 0x20));
                _mm256_store_si256(out + 1, _mm256_permute2x128_si256(lo, hi, 0x31));
            }
        }
        for (std::size_t q = 0; q < job.nq; ++q) {
            const std::uint8_t* lut = job.luts + (q * B + j0) * 32;
            __m256i a[kGroups];
            for (std::size_t g = 0; g < kGroups; ++g) a[g] = _mm256_setzero_si256();
            for (std::size_t j = 0; j < jn; ++j) {
                const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut + 32 * j));
                const __m256i* nb = reinterpret_cast<const __m256i*>(nib + j * kGroups * 32);
                for (std::size_t g = 0; g < kGroups; ++g)
                    a[g] = _mm256_add_epi8(a[g], _mm256_shuffle_epi8(t, _mm256_load_si256(nb + g)));
            }
            if (jn == B && compare_u8(job, q, a)) continue;  // single chunk: done in u8
            std::uint16_t* d = job.dist + q * kBlockCodes;
            for (std::size_t g = 0; g < kGroups; ++g) {
                const __m256i s = _mm256_add_epi16(
                    _mm256_cvtepu8_epi16(_mm256_castsi256_si128(a[g])),
                    _mm256_cvtepu8_epi16(_mm256_extracti128_si256(a[g], 1)));
                __m256i* dp = reinterpret_cast<__m256i*>(d + 16 * g);
                _mm256_storeu_si256(dp, j0 == 0 ? s : _mm256_add_epi16(_mm256_loadu_si256(dp), s));
            }
            if (j0 + jn == B) compare_u16(job, q);
        }
    }
}

}  // namespace

std::uint64_t read_sum_avx2(const std::uint8_t* data, std::size_t n) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        const __m256i* p = reinterpret_cast<const __m256i*>(data + i);
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(p));
        s1 = _mm256_xor_si256(s1, _mm256_loadu_si256(p + 1));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(p + 2));
        s3 = _mm256_xor_si256(s3, _mm256_loadu_si256(p + 3));
    }
    alignas(32) std::uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    std::uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; ++i) total += data[i];
    return total;
}

void block_avx2(const BlockJob& job) {
    if (job.nq < 4) {
        direct_distances(job);
        for (std::size_t q = 0; q < job.nq; ++q) compare_u16(job, q);
    } else {
        buffered_distances(job);  // compares as it finishes each query
    }
}

}  // namespace bitsift
