// bitsift native core: exhaustive Hamming top-k over packed binary codes.
// Plain C++17, no Python headers; bindings.cpp is the only Python-facing file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bitsift {

// Codes are scanned in a block-transposed layout: a block holds kBlockCodes
// codes, and byte j of all of them is contiguous (block[j * kBlockCodes + c]).
// One SIMD load then covers the same byte of 32 (AVX2) or 64 (AVX-512) codes,
// so a query byte is compared with many codes at once and per-code sums stay
// in separate lanes. The on-disk row layout is converted by pack_rows().
constexpr std::size_t kBlockCodes = 128;
constexpr std::size_t kMaxWords = 48;  // 3072 bits: distances fit in int16

enum class Path { Auto = 0, Scalar = 1, Avx2 = 2, Avx512 = 3 };

struct Capabilities {
    bool avx2 = false;
    bool avx512 = false;  // AVX-512 BW + VPOPCNTDQ + BITALG
};

// Rows set in blocks [b0, b1) of a validity bitmap (2 words per block): the live rows a scan sees.
inline std::size_t live_rows(const std::uint64_t* valid, std::size_t b0, std::size_t b1) {
    std::size_t n = 0;
    for (std::size_t i = 2 * b0; i < 2 * b1; ++i) n += static_cast<std::size_t>(__builtin_popcountll(valid[i]));
    return n;
}

Capabilities detect_capabilities();
Path resolve_path(Path requested);  // throws std::invalid_argument if unavailable
const char* path_name(Path p);

// Writes n row-major codes (W words each) into the block layout, starting at
// row start_row. dst must hold ceil((start_row + n) / kBlockCodes) blocks.
void pack_rows(std::uint8_t* dst, std::size_t dst_blocks, const std::uint64_t* codes,
               std::size_t n, std::size_t words, std::size_t start_row);

void popcount_rows(const std::uint64_t* codes, std::size_t n, std::size_t words,
                   std::uint32_t* out);

struct ScanResult {
    std::size_t k = 0;              // columns actually returned: min(k, live rows)
    std::vector<std::uint32_t> dist;  // Q * k
    std::vector<std::int64_t> rows;   // Q * k
};

// Exact top-k by Hamming distance, ties broken by the smaller row.
// valid: one bit per row of the packed layout (2 words per block); rows whose
// bit is clear are never returned. threads == 0 uses every hardware thread the scan is
// big enough for (small scans run on one); a positive count is used as given (up to one per block).
ScanResult scan_topk(const std::uint64_t* queries, std::size_t nq, std::size_t words,
                     const std::uint8_t* packed, std::size_t nblocks,
                     const std::uint64_t* valid, std::size_t k, std::size_t threads,
                     Path path);

// rho (Pearson correlation, clipped to [-1, 1]; 0 for a constant row) between the
// query (float32[dim]) and each listed row of a float16 matrix (as raw uint16 bits,
// nrows x dim). Rows are computed independently: a row's value never depends on n.
void correlation_f16(const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                     const std::int64_t* rows, std::size_t n, const float* query, double* out,
                     Path path = Path::Auto);

// correlation_f16 for nq queries (float32[nq, dim]) at once: query t re-scores
// rows[offsets[t] .. offsets[t+1]); one call, threads over all rows, the same value per row.
void correlation_f16_many(const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                          const std::int64_t* rows, const std::int64_t* offsets, std::size_t nq,
                          const float* queries, double* out, Path path = Path::Auto);

// Memory-bandwidth probe for benchmarks: reads n bytes with the given threads
// (a plain streaming sum, no compute to speak of) and returns a checksum.
std::uint64_t read_probe(const std::uint8_t* data, std::size_t n, std::size_t threads);

}  // namespace bitsift
