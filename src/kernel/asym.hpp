// The asymmetric first stage (issue 19): a query quantized to kPlanes bits per component scored
// against the stored 1-bit codes, as the contract between its scan driver (asym_scan.cpp) and the
// per-instruction-set block kernels. The arithmetic is core/asymmetric.py's, the NumPy oracle.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel.hpp"

namespace bitsift {

// Bits per query component: levels 0..15, so a code's level sum A <= 15 * D fits in u16 for
// D <= kMaxWords * 64 = 3072.
constexpr std::size_t kPlanes = 4;

// One query's constants: key = scale * (a * I) + eps * sigma, I = dims * A - level_sum * pop.
struct AsymQuery {
    float scale;             // 2 * step / D of the quantized unit query (core.asymmetric)
    std::int32_t level_sum;  // U: the sum of the query's levels
};

// One block of kBlockCodes codes against nq queries.
struct AsymJob {
    const std::uint8_t* block;     // bytes_per_code * kBlockCodes, block-transposed
    std::size_t bytes_per_code;
    std::int32_t dims;
    const std::uint8_t* levels;    // nq * dims query levels (0..15), zero past dims (scalar, AVX2 tables)
    const std::uint8_t* tables;    // nq * bytes_per_code * 32: level sums of each nibble
    const AsymQuery* queries;      // nq
    std::size_t nq;
    const float* alpha;            // per code of this block: the corrective scale a
    const float* sigma;            // per code: the estimator's error scale
    const std::int32_t* pop;       // per code: set bits of the code
    float eps;                     // the bound's multiple of sigma
    const float* thr;              // per query: a code is a candidate iff key > thr
    float* keys;                   // out: nq * kBlockCodes keys, natural order
    std::uint64_t* cand;           // out: nq * 2 candidate bitmaps
};

void asym_block_scalar(const AsymJob& job);
void asym_block_avx2(const AsymJob& job);
void asym_block_avx512(const AsymJob& job);

// The key of one code from its level sum: the one formula every path applies, op for op in
// float32 without fused multiply-adds, so every path gives the same bits.
inline float asym_key(const AsymJob& job, const AsymQuery& q, std::int32_t level_sum_of_code, std::size_t c) {
    const std::int32_t i = job.dims * level_sum_of_code - q.level_sum * job.pop[c];
    const float p = job.alpha[c] * static_cast<float>(i);
    const float e = job.eps * job.sigma[c];
    return q.scale * p + e;
}

struct AsymResult {
    std::size_t k = 0;             // columns returned: min(k, live rows)
    std::vector<float> keys;       // Q * k, best (largest) first
    std::vector<std::int64_t> rows;  // Q * k
};

// Exact top-k rows by key (largest first, ties to the smaller row) for nq queries.
// levels: nq * dims (uint8, 0..15); per row arrays alpha, sigma, pop cover nblocks * kBlockCodes rows.
AsymResult asym_topk(const std::uint8_t* levels, const AsymQuery* queries, std::size_t nq, std::size_t dims,
                     std::size_t words, const std::uint8_t* packed, std::size_t nblocks,
                     const std::uint64_t* valid, const float* alpha, const float* sigma,
                     const std::int32_t* pop, float eps, std::size_t k, std::size_t threads, Path path);

// The adaptive pool's cut (core/asymmetric.py, adaptive_cut) for nq queries: query q's candidates
// are key[offsets[q]:offsets[q+1]] (descending) with their re-scored rho. cut[q] is the fewest,
// whole tie groups of keys, whose k[q] best rho all exceed the last one's key (-1: none proves
// it, or at most k[q] candidates); where none proves it, kth[q] is the k[q]-th best rho of them all
// (-inf: fewer), which tells the caller how far to read (core/candidates.py).
void adaptive_cuts(const double* key, const double* rho, const std::int64_t* offsets, std::size_t nq,
                   const std::int64_t* k, std::int64_t* cut, double* kth);

// The adaptive pool (core/candidates.py) for nq queries in one call. Query q's first-stage candidates
// are key[q * width ..] (width of them, descending) with their rows; complete: they are every live row.
// Rows are re-scored one at a time in key order (rho as correlation_f16 gives it), with a running
// k-best heap, up to the first whole tie group whose k best rho all exceed its last key: the rule of
// adaptive_cuts, so the shortest proven prefix, each row re-scored once. cut[q] is that prefix's
// length; width when complete and nothing proves it (or width <= k); -1 when the fetched rows run
// out first (the caller scans wider; a tie group cut by the fetch is never counted). rho[q * width + i]
// holds the re-scored rows; kth[q] the k-th best rho of the cut's rows (-inf: fewer than k, or no cut),
// so the caller knows which rows can be among the query's k best without a selection of its own.
// threads: 0 = as many as the work is worth.
void adaptive_pool(const double* key, const std::int64_t* rows, std::size_t nq, std::size_t width, bool complete,
                   std::size_t k, const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                   const float* queries, std::size_t threads, Path path, std::int64_t* cut, double* rho,
                   double* kth);

}  // namespace bitsift
