// Asymmetric scan driver: query tables, threads over block ranges, fused per-query top-k of float
// keys, dispatch; and the portable block kernel (a table of level sums per query byte).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "asym.hpp"
#include "parallel.hpp"

namespace bitsift {

namespace {

using AsymBlockFn = void (*)(const AsymJob&);

AsymBlockFn asym_fn(Path p) {
    switch (p) {
        case Path::Avx512: return asym_block_avx512;
        case Path::Avx2: return asym_block_avx2;
        default: return asym_block_scalar;
    }
}

// A kept candidate as one sortable word: the key mapped to a u32 whose order is the reverse of
// the keys' (the best key is the smallest word) in the top half, the row in the low half, so
// (key descending, row ascending) is the words' ascending order.
using Entry = std::uint64_t;
inline std::uint32_t rank_of(float key) {
    if (key == 0.0f) key = 0.0f;  // -0 and +0 are one key (the floor compares them as equal)
    std::uint32_t b;
    std::memcpy(&b, &key, 4);
    const std::uint32_t ascending = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ~ascending;
}
inline float key_of(std::uint32_t r) {
    const std::uint32_t ascending = ~r;
    const std::uint32_t b = (ascending & 0x80000000u) ? (ascending & 0x7FFFFFFFu) : ~ascending;
    float key;
    std::memcpy(&key, &b, 4);
    return key;
}

// Per-query top-k of (key, row) by buffering and selecting: offers are O(1) amortized. Once k
// are held, only keys at or above the k-th (``floor``) can still enter; rows may arrive in any
// order (a sampled floor offers some blocks first), so a key equal to the floor is still taken
// and the selection of words settles its tie by row: the result is the same for any order.
struct TopKeys {
    std::vector<Entry> buf;
    std::size_t k;
    std::size_t compact_at;
    float floor = -std::numeric_limits<float>::infinity();
    explicit TopKeys(std::size_t k_) : k(k_), compact_at(2 * k_ + 64) {}
    void offer(float key, std::int64_t row) {
        if (buf.capacity() < compact_at) buf.reserve(compact_at);  // once (copies of a TopKeys hold none)
        buf.push_back((static_cast<Entry>(rank_of(key)) << 32) | static_cast<Entry>(row));
        if (buf.size() >= compact_at) compact();
    }
    void compact() {
        if (buf.size() <= k) return;
        std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end());
        buf.resize(k);
        floor = key_of(static_cast<std::uint32_t>(std::max_element(buf.begin(), buf.end())[0] >> 32));
    }
    // The block kernels take a code iff key > thr: the largest float below the floor.
    float thr() const { return std::nextafter(floor, -std::numeric_limits<float>::infinity()); }
};

// Ascending order of entries by a least-significant-byte-first radix sort: the top k of a large
// fetch (1,280 at 100k rows) sorted this way cost a fifth of std::sort. A byte every entry shares
// (a row's high bytes, a key's exponent) is skipped.
void radix_sort(Entry* first, std::size_t n, std::vector<Entry>& scratch) {
    if (n < 64) {
        std::sort(first, first + n);
        return;
    }
    std::size_t count[8][256] = {};
    for (std::size_t i = 0; i < n; ++i)
        for (int b = 0; b < 8; ++b) ++count[b][(first[i] >> (8 * b)) & 0xFF];
    scratch.resize(n);
    Entry* from = first;
    Entry* to = scratch.data();
    for (int b = 0; b < 8; ++b) {
        if (count[b][(first[0] >> (8 * b)) & 0xFF] == n) continue;  // one value for all: order unchanged
        std::size_t at = 0;
        for (std::size_t v = 0; v < 256; ++v) {
            const std::size_t c = count[b][v];
            count[b][v] = at;
            at += c;
        }
        for (std::size_t i = 0; i < n; ++i) to[count[b][(from[i] >> (8 * b)) & 0xFF]++] = from[i];
        std::swap(from, to);
    }
    if (from != first) std::copy(from, from + n, first);
}

constexpr std::size_t kQueryGroup = 64;  // keys of a group's queries for one block stay in L1
// As the Hamming scan: a second thread pays off only past ~130k codes for one query.
constexpr std::size_t kMinWorkPerThread = 1024 * 6;
// A large top-k admits ~k ln(N/k) rows while its floor rises, each one a branch, a store and a
// share of a selection: that cost 2-3x the scan at k = 1,280 of 100k. So the scan first reads
// every kSampleStride-th block, and the k/stride + 4 sqrt(k/stride) + 8 best there set a floor
// that about 1.4 k rows of the range pass; when fewer than k pass (a sample unlike the whole,
// e.g. rows stored in clusters) that query is scanned again without it. Only for k >= kSampleMinK
// over ranges of at least kSampleMinBlocks.
constexpr std::size_t kSampleStride = 8;
constexpr std::size_t kSampleMinK = 64;
constexpr std::size_t kSampleMinBlocks = 16 * kSampleStride;

struct RangeScan {
    AsymBlockFn fn;
    const AsymJob& base;
    std::size_t nq, B, dims;
    const std::uint8_t* packed;
    const std::uint64_t* valid;
    std::vector<float> keys;
    std::vector<std::uint64_t> cand;
    std::vector<float> thr;

    RangeScan(AsymBlockFn f, const AsymJob& b, std::size_t n, std::size_t bytes, std::size_t d,
              const std::uint8_t* p, const std::uint64_t* v)
        : fn(f), base(b), nq(n), B(bytes), dims(d), packed(p), valid(v),
          keys(std::min(kQueryGroup, n) * kBlockCodes), cand(std::min(kQueryGroup, n) * 2),
          thr(n, -std::numeric_limits<float>::infinity()) {}

    // Offer block b's candidates of queries [q0, q1) to their tops.
    void block(std::size_t b, std::size_t q0, std::size_t q1, std::vector<TopKeys>& tops) {
        const std::uint64_t v0 = valid[2 * b], v1 = valid[2 * b + 1];
        if ((v0 | v1) == 0) return;
        for (std::size_t g0 = q0; g0 < q1; g0 += kQueryGroup) {
            const std::size_t gn = std::min(kQueryGroup, q1 - g0);
            AsymJob job = base;
            job.block = packed + b * B * kBlockCodes;
            job.levels = base.levels + g0 * dims;
            job.tables = base.tables + g0 * B * 32;
            job.queries = base.queries + g0;
            job.nq = gn;
            job.alpha = base.alpha + b * kBlockCodes;
            job.sigma = base.sigma + b * kBlockCodes;
            job.pop = base.pop + b * kBlockCodes;
            job.thr = thr.data() + g0;
            job.keys = keys.data();
            job.cand = cand.data();
            fn(job);
            for (std::size_t i = 0; i < gn; ++i) {
                const std::uint64_t words[2] = {cand[2 * i] & v0, cand[2 * i + 1] & v1};
                if ((words[0] | words[1]) == 0) continue;
                const float* kk = keys.data() + i * kBlockCodes;
                TopKeys& top = tops[g0 + i];
                for (int w = 0; w < 2; ++w) {
                    std::uint64_t bits = words[w];
                    while (bits) {
                        const int c = __builtin_ctzll(bits) + 64 * w;
                        bits &= bits - 1;
                        if (kk[c] >= top.floor)  // the kernel compared with an older, lower floor
                            top.offer(kk[c], static_cast<std::int64_t>(b * kBlockCodes + c));
                    }
                }
                if (top.buf.size() >= top.k && top.thr() > thr[g0 + i]) thr[g0 + i] = top.thr();
            }
        }
    }
};

void scan_range(AsymBlockFn fn, const AsymJob& base, std::size_t nq, std::size_t B, const std::uint8_t* packed,
                const std::uint64_t* valid, std::size_t dims, std::size_t b0, std::size_t b1,
                std::vector<TopKeys>& tops) {
    RangeScan scan(fn, base, nq, B, dims, packed, valid);
    const std::size_t k = tops.empty() ? 0 : tops[0].k;
    const bool sampled = k >= kSampleMinK && b1 - b0 >= kSampleMinBlocks;
    auto in_sample = [&](std::size_t b) { return (b - b0) % kSampleStride == 0; };
    if (sampled) {
        const double share = static_cast<double>(k) / kSampleStride;
        std::vector<TopKeys> sample(nq, TopKeys(static_cast<std::size_t>(share + 4 * std::sqrt(share) + 8)));
        for (std::size_t b = b0; b < b1; b += kSampleStride) scan.block(b, 0, nq, sample);
        for (std::size_t q = 0; q < nq; ++q) {
            TopKeys& s = sample[q];
            s.compact();
            if (s.buf.size() < s.k) continue;  // too few in the sample: no floor
            // the range's rows above the sample's floor: the sample's, then the other blocks'
            const float f = s.floor;
            tops[q].floor = std::nextafter(f, std::numeric_limits<float>::infinity());
            for (const Entry e : s.buf)
                if (key_of(static_cast<std::uint32_t>(e >> 32)) > f) tops[q].buf.push_back(e);
            if (tops[q].buf.size() >= tops[q].compact_at) tops[q].compact();
            scan.thr[q] = f;
        }
    }
    for (std::size_t b = b0; b < b1; ++b)
        if (!sampled || !in_sample(b)) scan.block(b, 0, nq, tops);
    if (!sampled) return;
    // A floor set too high (fewer than k rows above it): that query again, every block, no floor.
    const std::size_t held = std::min(k, live_rows(valid, b0, b1));  // what a complete range top holds
    for (std::size_t q = 0; q < nq; ++q) {
        if (tops[q].buf.size() >= held) continue;
        tops[q] = TopKeys(k);
        scan.thr[q] = -std::numeric_limits<float>::infinity();
        for (std::size_t b = b0; b < b1; ++b) scan.block(b, q, q + 1, tops);
    }
}

// The tables of every path: for query byte j, entry x (< 16) is the level sum of the components
// whose bits are set in the low nibble x, entry 16 + x the same for the high nibble.
std::vector<std::uint8_t> build_tables(const std::uint8_t* levels, std::size_t nq, std::size_t dims, std::size_t B) {
    std::vector<std::uint8_t> t(nq * B * 32, 0);
    for (std::size_t q = 0; q < nq; ++q)
        for (std::size_t j = 0; j < B; ++j)
            for (std::size_t half = 0; half < 2; ++half)
                for (unsigned x = 0; x < 16; ++x) {
                    unsigned s = 0;
                    for (unsigned bit = 0; bit < 4; ++bit) {
                        const std::size_t d = 8 * j + 4 * half + bit;
                        if ((x >> bit) & 1 && d < dims) s += levels[q * dims + d];
                    }
                    t[(q * B + j) * 32 + 16 * half + x] = static_cast<std::uint8_t>(s);
                }
    return t;
}

}  // namespace

void asym_block_scalar(const AsymJob& job) {
    const std::size_t B = job.bytes_per_code;
    for (std::size_t q = 0; q < job.nq; ++q) {
        const std::uint8_t* t = job.tables + q * B * 32;
        float* keys = job.keys + q * kBlockCodes;
        std::uint64_t bits[2] = {0, 0};
        for (std::size_t c = 0; c < kBlockCodes; ++c) {
            std::int32_t a = 0;
            for (std::size_t j = 0; j < B; ++j) {
                const unsigned x = job.block[j * kBlockCodes + c];
                a += t[32 * j + (x & 15u)] + t[32 * j + 16 + (x >> 4)];
            }
            keys[c] = asym_key(job, job.queries[q], a, c);
            bits[c >> 6] |= static_cast<std::uint64_t>(keys[c] > job.thr[q]) << (c & 63);
        }
        job.cand[2 * q] = bits[0];
        job.cand[2 * q + 1] = bits[1];
    }
}

AsymResult asym_topk(const std::uint8_t* levels, const AsymQuery* queries, std::size_t nq, std::size_t dims,
                     std::size_t words, const std::uint8_t* packed, std::size_t nblocks,
                     const std::uint64_t* valid, const float* alpha, const float* sigma,
                     const std::int32_t* pop, float eps, std::size_t k, std::size_t threads, Path path) {
    if (words == 0 || words > kMaxWords) throw std::invalid_argument("codes must have between 1 and 48 words");
    if (dims == 0 || dims > words * 64) throw std::invalid_argument("asym_topk: dims must fit the code width");
    if (nblocks * kBlockCodes >= (std::size_t{1} << 32)) throw std::invalid_argument("asym_topk: at most 2^32 rows");
    for (std::size_t i = 0; i < nq * dims; ++i)
        if (levels[i] >= (1u << kPlanes)) throw std::invalid_argument("asym_topk: query levels must be 0 to 15");
    const Path resolved = resolve_path(path);
    const std::size_t B = words * 8;
    AsymResult res;
    res.k = std::min(k, live_rows(valid, 0, nblocks));
    res.keys.assign(nq * res.k, 0.0f);
    res.rows.assign(nq * res.k, 0);
    if (res.k == 0 || nq == 0) return res;

    const std::vector<std::uint8_t> tables = build_tables(levels, nq, dims, B);
    AsymJob base{};
    base.bytes_per_code = B;
    base.dims = static_cast<std::int32_t>(dims);
    base.levels = levels;
    base.tables = tables.data();
    base.queries = queries;
    base.alpha = alpha;
    base.sigma = sigma;
    base.pop = pop;
    base.eps = eps;
    const AsymBlockFn fn = asym_fn(resolved);

    std::size_t nt = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    if (threads == 0) nt = std::min(nt, std::max<std::size_t>(1, nblocks * words * nq * kPlanes / kMinWorkPerThread));
    nt = std::max<std::size_t>(1, std::min(nt, nblocks));
    std::vector<std::vector<TopKeys>> tops(nt, std::vector<TopKeys>(nq, TopKeys(res.k)));
    run_threads(nt, [&](std::size_t t) {
        scan_range(fn, base, nq, B, packed, valid, dims, nblocks * t / nt, nblocks * (t + 1) / nt, tops[t]);
    });

    std::vector<Entry> merged, scratch;
    for (std::size_t q = 0; q < nq; ++q) {
        merged.clear();
        for (std::size_t t = 0; t < nt; ++t) merged.insert(merged.end(), tops[t][q].buf.begin(), tops[t][q].buf.end());
        if (merged.size() > res.k) std::nth_element(merged.begin(), merged.begin() + (res.k - 1), merged.end());
        radix_sort(merged.data(), res.k, scratch);
        for (std::size_t i = 0; i < res.k; ++i) {
            res.keys[q * res.k + i] = key_of(static_cast<std::uint32_t>(merged[i] >> 32));
            res.rows[q * res.k + i] = static_cast<std::int64_t>(merged[i] & 0xFFFFFFFFu);
        }
    }
    return res;
}

}  // namespace bitsift
