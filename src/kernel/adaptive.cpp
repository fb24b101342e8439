// The adaptive pool's rule (core/asymmetric.py, adaptive_cut, the NumPy oracle) for many queries:
// a running k-best heap per query instead of NumPy's searches and counts, O(n log k) per query.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "asym.hpp"
#include "parallel.hpp"
#include "rescore.hpp"

namespace bitsift {

namespace {

// The k best rho seen so far: a min-heap whose front is the k-th best (the rule's test).
struct KBest {
    std::vector<double> heap;
    std::size_t k = 0;
    void reset(std::size_t want) {
        heap.clear();
        k = want;
    }
    void add(double r) {
        const std::greater<double> after;
        if (heap.size() < k) {
            heap.push_back(r);
            std::push_heap(heap.begin(), heap.end(), after);
        } else if (k > 0 && r > heap.front()) {
            std::pop_heap(heap.begin(), heap.end(), after);
            heap.back() = r;
            std::push_heap(heap.begin(), heap.end(), after);
        }
    }
    // k of them, all above ``key``: a prefix ending here (at a tie group's end) is proven
    bool above(double key) const { return k > 0 && heap.size() == k && heap.front() > key; }
    // the k-th best seen, -inf while fewer than k (none cuts the ones seen)
    double kth() const { return k > 0 && heap.size() == k ? heap.front() : -std::numeric_limits<double>::infinity(); }
};

}  // namespace

void adaptive_cuts(const double* key, const double* rho, const std::int64_t* offsets, std::size_t nq,
                   const std::int64_t* k, std::int64_t* cut, double* kth) {
    KBest best;
    for (std::size_t q = 0; q < nq; ++q) {
        const double* kq = key + offsets[q];
        const double* rq = rho + offsets[q];
        const std::size_t n = static_cast<std::size_t>(offsets[q + 1] - offsets[q]);
        const std::size_t want = static_cast<std::size_t>(k[q]);
        cut[q] = -1;
        best.reset(want);
        for (std::size_t i = 0; i < n; ++i) {
            best.add(rq[i]);
            const bool group_end = i + 1 == n || kq[i + 1] != kq[i];
            // proven: k of the first i + 1 (whole tie groups) have rho above the last one's key
            if (n > want && group_end && best.above(kq[i])) {
                cut[q] = static_cast<std::int64_t>(i + 1);
                break;
            }
        }
        kth[q] = best.kth();
    }
}

void adaptive_pool(const double* key, const std::int64_t* rows, std::size_t nq, std::size_t width, bool complete,
                   std::size_t k, const std::uint16_t* vectors, std::size_t nrows, std::size_t dim,
                   const float* queries, std::size_t threads, Path path, std::int64_t* cut, double* rho,
                   double* kth) {
    for (std::size_t i = 0; i < nq * width; ++i)
        if (rows[i] < 0 || static_cast<std::size_t>(rows[i]) >= nrows)
            throw std::out_of_range("adaptive_pool: row out of range");
    if (k == 0) throw std::invalid_argument("adaptive_pool: k must be positive");
    const Rescorer rescorer(queries, nq, dim, path);
    auto one = [&](std::size_t q, KBest& best) {
        const double* kq = key + q * width;
        const std::int64_t* rq = rows + q * width;
        double* out = rho + q * width;
        kth[q] = -std::numeric_limits<double>::infinity();
        if (width <= k && !complete) {  // k rows cannot both be taken and leave one to bound: fetch more
            cut[q] = -1;
            return;
        }
        // rows of a tie group that may go on past the fetch are not known yet
        std::size_t known = width;
        if (!complete)
            while (known > 0 && kq[known - 1] == kq[width - 1]) --known;
        constexpr std::size_t kAhead = 12;  // rows asked for this far ahead (DRAM latency)
        auto row = [&](std::size_t i) { return vectors + static_cast<std::size_t>(rq[i]) * dim; };
        for (std::size_t i = 0; i < std::min(known, kAhead); ++i) prefetch_row(row(i), dim);
        best.reset(k);
        cut[q] = complete ? static_cast<std::int64_t>(width) : -1;
        std::size_t scored = 0;  // rows re-scored: four at a time, ahead of the rule's reading
        for (std::size_t i = 0; i < known; ++i) {
            if (i == scored) {
                if (i + 4 <= known) {
                    const std::uint16_t* four[4] = {row(i), row(i + 1), row(i + 2), row(i + 3)};
                    for (std::size_t a = i + kAhead; a < std::min(known, i + kAhead + 4); ++a) prefetch_row(row(a), dim);
                    rescorer.rho4(q, four, out + i);
                    scored += 4;
                } else {
                    out[i] = rescorer.rho(q, row(i));
                    scored += 1;
                }
            }
            best.add(out[i]);
            const bool group_end = i + 1 == width || kq[i + 1] != kq[i];
            if (width > k && group_end && best.above(kq[i])) {
                cut[q] = static_cast<std::int64_t>(i + 1);
                kth[q] = best.kth();
                return;
            }
        }
        if (complete) kth[q] = best.kth();  // every row taken
    };
    // Queries are independent: threads split them without changing a value. About 1M components of
    // re-scoring make a thread worth its start (as correlation_f16_many).
    const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
    std::size_t nt = threads ? threads : std::min<std::size_t>(hw, nq * dim * 512 / (1u << 20) + 1);
    nt = std::max<std::size_t>(1, std::min(nt, nq));
    run_threads(nt, [&](std::size_t t) {
        KBest best;
        best.heap.reserve(k);
        for (std::size_t q = nq * t / nt; q < nq * (t + 1) / nt; ++q) one(q, best);
    });
}

}  // namespace bitsift
