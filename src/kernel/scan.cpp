// Scan driver: threads over block ranges, fused per-query top-k, dispatch.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "block.hpp"
#include "kernel.hpp"
#include "parallel.hpp"

namespace bitsift {

namespace {

using BlockFn = void (*)(const BlockJob&);
// A kept candidate as one sortable word: distance in the top 16 bits, row in the low 48, so
// the order of entries is (distance, row) and a buffer entry is 8 bytes, not 16: with many
// queries in flight, the buffers of all of them must stay in cache.
using Entry = std::uint64_t;
constexpr int kRowBits = 48;
inline Entry entry(std::uint32_t d, std::int64_t row) { return (static_cast<Entry>(d) << kRowBits) | static_cast<Entry>(row); }
inline std::uint32_t entry_dist(Entry e) { return static_cast<std::uint32_t>(e >> kRowBits); }
inline std::int64_t entry_row(Entry e) { return static_cast<std::int64_t>(e & ((Entry{1} << kRowBits) - 1)); }

constexpr std::uint16_t kOpen = 0x7FFF;  // threshold while a heap is not yet full

// Per-query top-k of (distance, row) without a heap. Distances are small integers, so a
// histogram of the buffered distances gives the k-th smallest one, T, exactly; a row is kept
// iff its distance is below T. Rows arrive in increasing order within a thread, so a later
// row never displaces an equal distance: ties keep the smaller row, which makes the result
// independent of the thread count. Each offer is O(1) amortized, where a heap of k pairs
// costs O(log k) cache misses; that dominated scans fetching thousands of candidates.
struct TopK {
    std::vector<Entry> buf;             // kept (distance, row), in row order
    std::vector<std::uint32_t> hist;    // buffered entries per distance
    std::size_t k;
    std::size_t below = 0;              // buffered entries with distance <= t (once full)
    std::size_t compact_at;
    std::uint16_t t = kOpen;            // k-th smallest buffered distance, kOpen until k seen
    TopK(std::size_t k_, std::size_t max_dist)
        : hist(max_dist + 1, 0), k(k_), compact_at(2 * k_ + 64) {}
    void reserve() { buf.reserve(std::min<std::size_t>(compact_at, 1 << 16)); }  // copies do not keep capacity
    std::uint16_t threshold() const { return t; }
    void offer(std::uint32_t d, std::int64_t row) {
        if (d >= t) return;  // the block kernel filtered with an older, larger threshold
        buf.push_back(entry(d, row));
        ++hist[d];
        if (t == kOpen) {
            if (buf.size() < k) return;
            std::size_t seen = 0, x = 0;
            while (seen + hist[x] < k) seen += hist[x++];
            t = static_cast<std::uint16_t>(x);
            below = seen + hist[x];
            return;
        }
        ++below;
        while (below - hist[t] >= k) below -= hist[t--];  // T only falls: amortized O(1)
        if (buf.size() >= compact_at) compact();
    }
    void compact() {
        std::size_t kept = 0;
        for (const Entry& e : buf) {
            if (entry_dist(e) <= t) buf[kept++] = e;
            else --hist[entry_dist(e)];
        }
        buf.resize(kept);
        compact_at = std::max(2 * k + 64, 2 * kept);  // many ties at T must not make this quadratic
    }
};

struct AlignedBuffer {
    std::uint8_t* ptr = nullptr;
    explicit AlignedBuffer(std::size_t bytes) {
        ptr = static_cast<std::uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
        if (!ptr) throw std::bad_alloc();
    }
    ~AlignedBuffer() { std::free(ptr); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

BlockFn block_fn(Path p) {
    switch (p) {
        case Path::Avx512: return block_avx512;
        case Path::Avx2: return block_avx2;
        default: return block_scalar;
    }
}

// Auto thread count: each thread gets at least this many (block x word x query) units, about
// 1,024 blocks of 384-bit codes for one query: measured here, a second thread only pays off
// past ~130k such codes (100k codes: 0.24 ms on one thread, 0.30 ms on two).
constexpr std::size_t kMinWorkPerThread = 1024 * 6;

// Queries are processed in groups so the per-group distance buffer stays in L2.
constexpr std::size_t kQueryGroup = 256;

// What the threads of one scan tell each other: per thread and query, the k-th smallest
// distance it holds (kOpen until it holds k). Any thread's value T proves that the overall k-th
// distance is <= T, so every thread may drop rows farther than T (ties at T stay: a smaller row
// may still win them). Values only fall, so a stale read is merely a looser bound.
struct SharedBounds {
    std::vector<std::atomic<std::uint16_t>> t;
    std::size_t nq, nt;
    SharedBounds(std::size_t nq_, std::size_t nt_) : t(nq_ * nt_), nq(nq_), nt(nt_) {
        for (auto& v : t) v.store(kOpen, std::memory_order_relaxed);
    }
    std::uint16_t others(std::size_t self, std::size_t q) const {
        std::uint16_t best = kOpen;
        for (std::size_t u = 0; u < nt; ++u)
            if (u != self) best = std::min(best, t[u * nq + q].load(std::memory_order_relaxed));
        return best;
    }
    // Stores only a change: an unchanged value rewritten every block would invalidate the line
    // in the other threads' caches each time (a cross-core miss per block for a lone query).
    void publish(std::size_t self, std::size_t q, std::uint16_t v) {
        std::atomic<std::uint16_t>& slot = t[self * nq + q];
        if (slot.load(std::memory_order_relaxed) != v) slot.store(v, std::memory_order_relaxed);
    }
};

struct QueryTables {
    const std::uint8_t* qbytes;
    const std::uint8_t* luts;    // AVX2 only, else null
    const std::uint32_t* qwide;  // AVX-512 only, else null
};

// How often (in blocks) a thread re-reads the other threads' bounds: each read is one load per
// query, a cross-core miss whenever the value changed, and a bound only prunes, so a few blocks
// of staleness cost nothing measurable.
constexpr std::size_t kBoundsRefreshBlocks = 8;

void scan_range(BlockFn fn, const QueryTables& tables, std::size_t nq,
                std::size_t B, const std::uint8_t* packed, const std::uint64_t* valid,
                std::size_t b0, std::size_t b1, std::vector<TopK>& tops, SharedBounds& bounds,
                std::size_t self) {
    AlignedBuffer scratch(kScratchBytes);
    const std::size_t group = std::min(kQueryGroup, nq);
    std::vector<std::uint16_t> dist(group * kBlockCodes);
    std::vector<std::uint64_t> cand(group * 2);
    // Per query: a code is a candidate iff its distance is below thr. Kept across blocks and
    // lowered as this thread's top-k fills; the other threads' bounds are folded in periodically.
    std::vector<std::uint16_t> thr(nq, kOpen);
    for (std::size_t b = b0; b < b1; ++b) {
        const std::uint64_t v0 = valid[2 * b], v1 = valid[2 * b + 1];
        if ((v0 | v1) == 0) continue;
        const bool refresh = bounds.nt > 1 && (b - b0) % kBoundsRefreshBlocks == 0;
        for (std::size_t g0 = 0; g0 < nq; g0 += group) {
            const std::size_t gn = std::min(group, nq - g0);
            std::uint16_t* gthr = thr.data() + g0;
            if (refresh) {
                for (std::size_t i = 0; i < gn; ++i) {
                    const std::uint16_t other = bounds.others(self, g0 + i);
                    if (other != kOpen) gthr[i] = std::min<std::uint16_t>(gthr[i], other + 1);
                }
            }
            BlockJob job{packed + b * B * kBlockCodes, B, tables.qbytes + g0 * B,
                         tables.luts ? tables.luts + g0 * B * 32 : nullptr,
                         tables.qwide ? tables.qwide + g0 * B : nullptr, gn,
                         gthr, dist.data(), cand.data(), scratch.ptr};
            fn(job);
            for (std::size_t i = 0; i < gn; ++i) {
                const std::uint64_t words[2] = {cand[2 * i] & v0, cand[2 * i + 1] & v1};
                if ((words[0] | words[1]) == 0) continue;
                const std::uint16_t* d = dist.data() + i * kBlockCodes;
                TopK& top = tops[g0 + i];
                for (int w = 0; w < 2; ++w) {
                    std::uint64_t bits = words[w];
                    while (bits) {
                        const int c = __builtin_ctzll(bits) + 64 * w;
                        bits &= bits - 1;
                        top.offer(d[c], static_cast<std::int64_t>(b * kBlockCodes + c));
                    }
                }
                gthr[i] = std::min(gthr[i], top.threshold());
                if (bounds.nt > 1) bounds.publish(self, g0 + i, top.threshold());
            }
        }
    }
}

// Nibble tables for the AVX2 path: for query byte j, entry x (< 16) is
// popcount(x ^ low nibble) and entry 16 + x is popcount(x ^ high nibble).
std::vector<std::uint8_t> build_luts(const std::uint8_t* qbytes, std::size_t n) {
    std::vector<std::uint8_t> luts(n * 32);
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned lo = qbytes[i] & 0x0F, hi = qbytes[i] >> 4;
        for (unsigned x = 0; x < 16; ++x) {
            luts[32 * i + x] = static_cast<std::uint8_t>(__builtin_popcount(x ^ lo));
            luts[32 * i + 16 + x] = static_cast<std::uint8_t>(__builtin_popcount(x ^ hi));
        }
    }
    return luts;
}

// Query bytes for the AVX-512 path: byte x as the dword 0x01010101 * x, so the kernel's XOR
// broadcasts it straight from memory.
std::vector<std::uint32_t> build_wide(const std::uint8_t* qbytes, std::size_t n) {
    std::vector<std::uint32_t> wide(n);
    for (std::size_t i = 0; i < n; ++i) wide[i] = 0x01010101u * qbytes[i];
    return wide;
}

}  // namespace

Capabilities detect_capabilities() {
    Capabilities c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.avx512 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq") &&
               __builtin_cpu_supports("avx512bitalg");
#endif
    return c;
}

const char* path_name(Path p) {
    switch (p) {
        case Path::Avx512: return "avx512";
        case Path::Avx2: return "avx2";
        case Path::Scalar: return "scalar";
        default: return "auto";
    }
}

Path resolve_path(Path requested) {
    const Capabilities c = detect_capabilities();
    switch (requested) {
        case Path::Auto: return c.avx512 ? Path::Avx512 : (c.avx2 ? Path::Avx2 : Path::Scalar);
        case Path::Avx512:
            if (!c.avx512) throw std::invalid_argument("this CPU lacks AVX-512 BW/VPOPCNTDQ/BITALG");
            return requested;
        case Path::Avx2:
            if (!c.avx2) throw std::invalid_argument("this CPU lacks AVX2");
            return requested;
        default: return Path::Scalar;
    }
}

void pack_rows(std::uint8_t* dst, std::size_t dst_blocks, const std::uint64_t* codes,
               std::size_t n, std::size_t words, std::size_t start_row) {
    const std::size_t B = words * 8;
    if (start_row + n > dst_blocks * kBlockCodes)
        throw std::out_of_range("pack_rows: destination holds too few blocks");
    const auto* src = reinterpret_cast<const std::uint8_t*>(codes);  // little-endian bytes
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t row = start_row + i;
        std::uint8_t* block = dst + (row / kBlockCodes) * B * kBlockCodes + row % kBlockCodes;
        const std::uint8_t* code = src + i * B;
        for (std::size_t j = 0; j < B; ++j) block[j * kBlockCodes] = code[j];
    }
}

void popcount_rows(const std::uint64_t* codes, std::size_t n, std::size_t words,
                   std::uint32_t* out) {
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t s = 0;
        for (std::size_t w = 0; w < words; ++w) s += __builtin_popcountll(codes[i * words + w]);
        out[i] = s;
    }
}

std::uint64_t read_probe(const std::uint8_t* data, std::size_t n, std::size_t threads) {
    const bool wide = detect_capabilities().avx2;
    std::size_t nt = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::uint64_t> sums(nt, 0);
    auto work = [&](std::size_t t) {
        const std::size_t b0 = n * t / nt / 128 * 128, b1 = (t + 1 == nt) ? n : n * (t + 1) / nt / 128 * 128;
        if (wide) {
            sums[t] = read_sum_avx2(data + b0, b1 - b0);
            return;
        }
        std::uint64_t s = 0;
        for (std::size_t i = b0; i + 8 <= b1; i += 8) {
            std::uint64_t x;
            std::memcpy(&x, data + i, 8);
            s += x;
        }
        sums[t] = s;
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < nt; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    std::uint64_t total = 0;
    for (auto s : sums) total += s;
    return total;
}

ScanResult scan_topk(const std::uint64_t* queries, std::size_t nq, std::size_t words,
                     const std::uint8_t* packed, std::size_t nblocks,
                     const std::uint64_t* valid, std::size_t k, std::size_t threads,
                     Path path) {
    if (words == 0 || words > kMaxWords)
        throw std::invalid_argument("codes must have between 1 and 48 words");
    if (nblocks * kBlockCodes >= (std::size_t{1} << kRowBits))
        throw std::invalid_argument("scan_topk: at most 2^48 rows");
    const Path resolved = resolve_path(path);
    const BlockFn fn = block_fn(resolved);
    const std::size_t B = words * 8;
    ScanResult res;
    res.k = std::min(k, live_rows(valid, 0, nblocks));
    res.dist.assign(nq * res.k, 0);
    res.rows.assign(nq * res.k, 0);
    if (res.k == 0 || nq == 0) return res;

    const auto* qbytes = reinterpret_cast<const std::uint8_t*>(queries);
    // Each path's own query tables, built once per scan and only for the path that reads them.
    const std::vector<std::uint8_t> luts =
        resolved == Path::Avx2 ? build_luts(qbytes, nq * B) : std::vector<std::uint8_t>();
    const std::vector<std::uint32_t> wide =
        resolved == Path::Avx512 ? build_wide(qbytes, nq * B) : std::vector<std::uint32_t>();
    const QueryTables tables{qbytes, luts.empty() ? nullptr : luts.data(), wide.empty() ? nullptr : wide.data()};

    std::size_t nt = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    if (threads == 0) {  // auto: a thread costs tens of microseconds to start, so small scans use fewer
        const std::size_t work = nblocks * words * nq;
        nt = std::min(nt, std::max<std::size_t>(1, work / kMinWorkPerThread));
    }
    nt = std::max<std::size_t>(1, std::min(nt, nblocks));
    std::vector<std::vector<TopK>> tops(nt, std::vector<TopK>(nq, TopK(res.k, 64 * words)));
    for (auto& per_thread : tops)
        for (auto& top : per_thread) top.reserve();
    SharedBounds bounds(nq, nt);
    run_threads(nt, [&](std::size_t t) {
        scan_range(fn, tables, nq, B, packed, valid, nblocks * t / nt, nblocks * (t + 1) / nt, tops[t], bounds, t);
    });

    std::vector<Entry> merged;
    for (std::size_t q = 0; q < nq; ++q) {
        merged.clear();
        for (std::size_t t = 0; t < nt; ++t) {
            tops[t][q].compact();  // only entries within a thread's own k-th distance can make the cut
            merged.insert(merged.end(), tops[t][q].buf.begin(), tops[t][q].buf.end());
        }
        // Selection, then a sort of the k winners: O(n + k log k), where a partial sort's heap
        // cost O(n log k) and dominated scans with large k and many queries.
        if (merged.size() > res.k) std::nth_element(merged.begin(), merged.begin() + (res.k - 1), merged.end());
        std::sort(merged.begin(), merged.begin() + res.k);
        for (std::size_t i = 0; i < res.k; ++i) {
            res.dist[q * res.k + i] = entry_dist(merged[i]);
            res.rows[q * res.k + i] = entry_row(merged[i]);
        }
    }
    return res;
}

}  // namespace bitsift
