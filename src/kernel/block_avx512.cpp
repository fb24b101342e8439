// AVX-512 path: XOR then VPOPCNTB (BITALG) over 64 codes per register, thresholds
// compared in mask registers. Compiled with AVX-512 flags only in this translation
// unit and reached only when the CPU reports the features.
//
// Per 512 code bits and query the loop issues three vector ALU instructions (XOR, VPOPCNTB,
// VPADDB), the floor for XOR-and-count: the query byte comes replicated in a dword, so the XOR
// takes it as an embedded broadcast, which is a load, not a shuffle (VPBROADCASTB from memory
// costs a shuffle-port uop per query byte on Intel cores, 1.5x the loop's work). Codes of at
// most 62 bytes are compared in u8 lanes with a saturating add of two byte counters (no widening
// to u16 at all); only candidates' distances are stored.
#include <immintrin.h>

#include "block.hpp"
#include "kernel.hpp"

namespace bitsift {

namespace {

constexpr std::size_t kChunk = 31;  // byte counters: 31 * 8 <= 255
constexpr std::size_t kHalves = kBlockCodes / 64;
static_assert(kHalves == 2, "the kernel holds one block as two registers per byte");

// acc += x in place. Written as one instruction because GCC 12 computes the sum into x's
// register and then copies it back to the accumulator's, a move per add that costs a vector
// uop on every iteration of the hottest loop (seen in its output; the loop ran 1.3x slower).
inline __m512i add_u8(__m512i acc, __m512i x) {
    asm("vpaddb %1, %0, %0" : "+v"(acc) : "v"(x));
    return acc;
}
inline __m512i add_u16(__m512i acc, __m512i x) {
    asm("vpaddw %1, %0, %0" : "+v"(acc) : "v"(x));
    return acc;
}

struct Counts {
    __m512i a0, a1;  // byte counters of codes 0..63 and 64..127
};

// Byte counts of bytes [j0, j1) of the block's 128 codes against one query.
inline Counts count_bytes(const std::uint8_t* block, const std::uint32_t* qwide, std::size_t j0,
                          std::size_t j1) {
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    __m512i b0 = _mm512_setzero_si512(), b1 = _mm512_setzero_si512();
    std::size_t j = j0;
    for (; j + 2 <= j1; j += 2) {  // two independent accumulator pairs: no add waits on the last
        const __m512i q0 = _mm512_set1_epi32(static_cast<int>(qwide[j]));
        const __m512i q1 = _mm512_set1_epi32(static_cast<int>(qwide[j + 1]));
        const std::uint8_t* src = block + j * kBlockCodes;
        a0 = add_u8(a0, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src), q0)));
        a1 = add_u8(a1, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src + 64), q0)));
        b0 = add_u8(b0, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src + 128), q1)));
        b1 = add_u8(b1, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src + 192), q1)));
    }
    if (j < j1) {
        const __m512i q0 = _mm512_set1_epi32(static_cast<int>(qwide[j]));
        const std::uint8_t* src = block + j * kBlockCodes;
        a0 = add_u8(a0, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src), q0)));
        a1 = add_u8(a1, _mm512_popcnt_epi8(_mm512_xor_si512(_mm512_loadu_si512(src + 64), q0)));
    }
    return {_mm512_add_epi8(a0, b0), _mm512_add_epi8(a1, b1)};
}

inline void store_u16(std::uint16_t* d, __m512i bytes) {
    _mm512_storeu_si512(d, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(bytes)));
    _mm512_storeu_si512(d + 32, _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(bytes, 1)));
}

// Codes of at most 62 bytes: the two chunks' counters (each <= 248) summed with saturation
// are exact below 255 and >= 255 otherwise, so a u8 compare against a threshold <= 255 is
// exact. Returns false when the threshold is still above 255 (the u16 path must run).
bool compare_u8(const BlockJob& job, std::size_t q, const std::uint32_t* qwide) {
    const std::uint16_t thr = job.thr[q];
    if (thr > 255) return false;
    const std::size_t B = job.bytes_per_code;
    Counts c = count_bytes(job.block, qwide, 0, B < kChunk ? B : kChunk);
    if (B > kChunk) {
        const Counts r = count_bytes(job.block, qwide, kChunk, B);
        c.a0 = _mm512_adds_epu8(c.a0, r.a0);
        c.a1 = _mm512_adds_epu8(c.a1, r.a1);
    }
    const __m512i t = _mm512_set1_epi8(static_cast<char>(thr));
    const std::uint64_t m0 = _mm512_cmplt_epu8_mask(c.a0, t);
    const std::uint64_t m1 = _mm512_cmplt_epu8_mask(c.a1, t);
    std::uint16_t* d = job.dist + q * kBlockCodes;
    if (m0) store_u16(d, c.a0);
    if (m1) store_u16(d + 64, c.a1);
    job.cand[2 * q] = m0;
    job.cand[2 * q + 1] = m1;
    return true;
}

// Any width: byte counters widened to u16 after every chunk of 31 bytes.
void compare_u16(const BlockJob& job, std::size_t q, const std::uint32_t* qwide) {
    const std::size_t B = job.bytes_per_code;
    __m512i s[2 * kHalves];
    for (auto& v : s) v = _mm512_setzero_si512();
    for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
        const Counts c = count_bytes(job.block, qwide, j0, B - j0 < kChunk ? B : j0 + kChunk);
        s[0] = add_u16(s[0], _mm512_cvtepu8_epi16(_mm512_castsi512_si256(c.a0)));
        s[1] = add_u16(s[1], _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(c.a0, 1)));
        s[2] = add_u16(s[2], _mm512_cvtepu8_epi16(_mm512_castsi512_si256(c.a1)));
        s[3] = add_u16(s[3], _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(c.a1, 1)));
    }
    const __m512i t = _mm512_set1_epi16(static_cast<short>(job.thr[q]));
    std::uint16_t* d = job.dist + q * kBlockCodes;
    std::uint64_t m[2 * kHalves];
    for (std::size_t i = 0; i < 2 * kHalves; ++i) {
        _mm512_storeu_si512(d + 32 * i, s[i]);
        m[i] = static_cast<std::uint32_t>(_mm512_cmplt_epu16_mask(s[i], t));
    }
    job.cand[2 * q] = m[0] | (m[1] << 32);
    job.cand[2 * q + 1] = m[2] | (m[3] << 32);
}

// ---- Many queries: the block re-laid out word-major once, then VPOPCNTQ per code word. ----
//
// VPOPCNTQ sums a whole 64-bit code word per lane, so a query costs W x (XOR with an embedded
// broadcast, VPOPCNTQ, VPADDQ) per 8 codes with no byte counters to widen, and the 8 codes' W
// words stay in registers while every query of the job streams past them. The copy costs 24
// unpacks per 8 words of 64 codes, paid once per block for all the job's queries.

// Sub-block m (0..7) of half h holds codes 64h + 16L + 2m + e in qword lane 2L + e (L = 0..3,
// e = 0..1): the order the unpack network below leaves them in.
inline std::size_t lane_code(std::size_t sub, unsigned lane) {
    return 64 * (sub / 8) + 16 * (lane / 2) + 2 * (sub % 8) + (lane % 2);
}

// Writes word w of the block's 128 codes into `words`: words[(sub * W + w) * 8 + lane].
void transpose_word(const std::uint8_t* block, std::size_t W, std::size_t w, std::uint64_t* words) {
    for (std::size_t h = 0; h < kHalves; ++h) {
        __m512i r[8];
        for (std::size_t i = 0; i < 8; ++i) r[i] = _mm512_loadu_si512(block + (8 * w + i) * kBlockCodes + 64 * h);
        __m512i t[8], u[8];
        for (std::size_t i = 0; i < 4; ++i) {  // byte pairs (r2i, r2i+1)
            t[2 * i] = _mm512_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
        }
        for (std::size_t i = 0; i < 2; ++i) {  // dwords (r4i .. r4i+3)
            u[4 * i] = _mm512_unpacklo_epi16(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi16(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi16(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi16(t[4 * i + 1], t[4 * i + 3]);
        }
        for (std::size_t m = 0; m < 4; ++m) {  // qwords (r0 .. r7): sub-blocks 2m and 2m + 1
            const std::size_t s0 = 8 * h + 2 * m;
            _mm512_store_si512(words + (s0 * W + w) * 8, _mm512_unpacklo_epi32(u[m], u[m + 4]));
            _mm512_store_si512(words + ((s0 + 1) * W + w) * 8, _mm512_unpackhi_epi32(u[m], u[m + 4]));
        }
    }
}

// A candidate's distance and bit, from the lanes of one sub-block that passed the threshold.
inline void record(const BlockJob& job, std::size_t q, std::size_t sub, __mmask8 m, __m512i acc) {
    alignas(64) std::uint64_t lanes[8];
    _mm512_store_si512(lanes, acc);
    std::uint16_t* d = job.dist + q * kBlockCodes;
    while (m) {
        const unsigned lane = static_cast<unsigned>(__builtin_ctz(m));
        m = static_cast<__mmask8>(m & (m - 1));
        const std::size_t c = lane_code(sub, lane);
        d[c] = static_cast<std::uint16_t>(lanes[lane]);
        job.cand[2 * q + c / 64] |= std::uint64_t{1} << (c % 64);
    }
}

template <std::size_t W>
void words_fixed(const BlockJob& job, const std::uint64_t* words, const std::uint64_t* thr) {
    const auto* qw = reinterpret_cast<const std::uint64_t*>(job.qbytes);
    for (std::size_t sub = 0; sub < kBlockCodes / 8; ++sub) {
        __m512i x[W];
        for (std::size_t w = 0; w < W; ++w) x[w] = _mm512_load_si512(words + (sub * W + w) * 8);
        for (std::size_t q = 0; q < job.nq; ++q) {
            const std::uint64_t* qq = qw + q * W;
            __m512i acc = _mm512_popcnt_epi64(_mm512_xor_si512(x[0], _mm512_set1_epi64(static_cast<long long>(qq[0]))));
            for (std::size_t w = 1; w < W; ++w)
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x[w], _mm512_set1_epi64(static_cast<long long>(qq[w])))));
            const __mmask8 m = _mm512_cmplt_epu64_mask(acc, _mm512_set1_epi64(static_cast<long long>(thr[q])));
            if (__builtin_expect(m != 0, 0)) record(job, q, sub, m, acc);
        }
    }
}

void words_any(const BlockJob& job, const std::uint64_t* words, const std::uint64_t* thr) {
    const std::size_t W = job.bytes_per_code / 8;
    const auto* qw = reinterpret_cast<const std::uint64_t*>(job.qbytes);
    for (std::size_t sub = 0; sub < kBlockCodes / 8; ++sub) {
        const std::uint64_t* x = words + sub * W * 8;
        for (std::size_t q = 0; q < job.nq; ++q) {
            const std::uint64_t* qq = qw + q * W;
            __m512i acc = _mm512_setzero_si512();
            for (std::size_t w = 0; w < W; ++w)
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                    _mm512_load_si512(x + 8 * w), _mm512_set1_epi64(static_cast<long long>(qq[w])))));
            const __mmask8 m = _mm512_cmplt_epu64_mask(acc, _mm512_set1_epi64(static_cast<long long>(thr[q])));
            if (__builtin_expect(m != 0, 0)) record(job, q, sub, m, acc);
        }
    }
}

void block_words(const BlockJob& job) {
    const std::size_t W = job.bytes_per_code / 8;
    auto* words = reinterpret_cast<std::uint64_t*>(job.scratch);
    auto* thr = words + kBlockCodes * W;
    for (std::size_t w = 0; w < W; ++w) transpose_word(job.block, W, w, words);
    for (std::size_t q = 0; q < job.nq; ++q) {
        thr[q] = job.thr[q];
        job.cand[2 * q] = job.cand[2 * q + 1] = 0;
    }
    switch (W) {
        case 2: return words_fixed<2>(job, words, thr);
        case 4: return words_fixed<4>(job, words, thr);
        case 6: return words_fixed<6>(job, words, thr);
        case 8: return words_fixed<8>(job, words, thr);
        case 12: return words_fixed<12>(job, words, thr);
        case 16: return words_fixed<16>(job, words, thr);
        default: return words_any(job, words, thr);
    }
}

}  // namespace

#ifndef BITSIFT_WORDS_MIN_QUERIES
#define BITSIFT_WORDS_MIN_QUERIES 8
#endif

void block_avx512(const BlockJob& job) {
    if (job.nq >= BITSIFT_WORDS_MIN_QUERIES) return block_words(job);
    const std::size_t B = job.bytes_per_code;
    const bool narrow = B <= 2 * kChunk;
    for (std::size_t q = 0; q < job.nq; ++q) {
        const std::uint32_t* qwide = job.qwide + q * B;
        if (narrow && compare_u8(job, q, qwide)) continue;
        compare_u16(job, q, qwide);
    }
}

}  // namespace bitsift
