// Portable path: SWAR byte popcounts, eight codes per 64-bit word.
#include <cstring>

#include "block.hpp"
#include "kernel.hpp"

namespace bitsift {

namespace {

inline std::uint64_t byte_popcounts(std::uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    return (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
}

}  // namespace

void block_scalar(const BlockJob& job) {
    constexpr std::size_t kWordsPerRow = kBlockCodes / 8;
    constexpr std::size_t kChunk = 31;  // 31 * 8 <= 255: byte counters never overflow
    const std::size_t B = job.bytes_per_code;
    for (std::size_t q = 0; q < job.nq; ++q) {
        std::uint16_t* d = job.dist + q * kBlockCodes;
        std::memset(d, 0, kBlockCodes * sizeof(std::uint16_t));
        const std::uint8_t* qb = job.qbytes + q * B;
        for (std::size_t j0 = 0; j0 < B; j0 += kChunk) {
            const std::size_t jn = (B - j0 < kChunk) ? B - j0 : kChunk;
            std::uint64_t acc[kWordsPerRow] = {};
            for (std::size_t j = j0; j < j0 + jn; ++j) {
                const std::uint64_t qq = 0x0101010101010101ULL * qb[j];
                const std::uint8_t* row = job.block + j * kBlockCodes;
                for (std::size_t w = 0; w < kWordsPerRow; ++w) {
                    std::uint64_t x;
                    std::memcpy(&x, row + 8 * w, 8);
                    acc[w] += byte_popcounts(x ^ qq);
                }
            }
            for (std::size_t w = 0; w < kWordsPerRow; ++w)
                for (std::size_t b = 0; b < 8; ++b)
                    d[8 * w + b] += static_cast<std::uint16_t>((acc[w] >> (8 * b)) & 0xFF);
        }
        std::uint64_t bits[2] = {0, 0};
        const std::uint16_t t = job.thr[q];
        for (std::size_t c = 0; c < kBlockCodes; ++c)
            bits[c >> 6] |= static_cast<std::uint64_t>(d[c] < t) << (c & 63);
        job.cand[2 * q] = bits[0];
        job.cand[2 * q + 1] = bits[1];
    }
}

}  // namespace bitsift
