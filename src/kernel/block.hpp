// The contract between the scan driver and the per-instruction-set block kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel.hpp"

namespace bitsift {

// One block of kBlockCodes codes against nq queries.
struct BlockJob {
    const std::uint8_t* block;   // bytes_per_code * kBlockCodes, block-transposed
    std::size_t bytes_per_code;  // W * 8
    const std::uint8_t* qbytes;  // nq * bytes_per_code raw query bytes
    const std::uint8_t* luts;    // nq * bytes_per_code * 32 nibble tables (AVX2 only)
    const std::uint32_t* qwide;  // nq * bytes_per_code query bytes, each replicated 4x (AVX-512 only)
    std::size_t nq;
    const std::uint16_t* thr;    // per query: a code is a candidate iff dist < thr
    std::uint16_t* dist;         // out: nq * kBlockCodes distances, natural order
    std::uint64_t* cand;         // out: nq * 2 candidate bitmaps
    std::uint8_t* scratch;       // per-thread scratch of kScratchBytes, 64-byte aligned
};

// Per-thread scratch: the AVX2 nibble buffer (64 bytes x 8 groups x 32) or the AVX-512 path's
// word-major copy of one block (kBlockCodes x 48 words x 8 bytes) plus one u64 threshold per query.
constexpr std::size_t kScratchBytes = kBlockCodes * kMaxWords * 8 + 256 * 8;

void block_scalar(const BlockJob& job);
void block_avx2(const BlockJob& job);
void block_avx512(const BlockJob& job);

// Streaming read of n bytes with 256-bit loads (the memory-bandwidth probe's inner loop).
std::uint64_t read_sum_avx2(const std::uint8_t* data, std::size_t n);

}  // namespace bitsift
