// The adaptive pool's rule (core/asymmetric.py, adaptive_cut, the NumPy oracle) for many queries:
// a running k-best heap per query instead of NumPy's searches and counts, O(n log k) per query.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "asym.hpp"

namespace bitsift {

void adaptive_cuts(const double* key, const double* rho, const std::int64_t* offsets, std::size_t nq,
                   const std::int64_t* k, std::int64_t* cut, double* kth) {
    std::vector<double> best;  // the k best rho of the first i candidates: a min-heap, front the k-th
    const std::greater<double> after;
    for (std::size_t q = 0; q < nq; ++q) {
        const double* kq = key + offsets[q];
        const double* rq = rho + offsets[q];
        const std::size_t n = static_cast<std::size_t>(offsets[q + 1] - offsets[q]);
        const std::size_t want = static_cast<std::size_t>(k[q]);
        cut[q] = -1;
        best.clear();
        for (std::size_t i = 0; i < n; ++i) {
            if (best.size() < want) {
                best.push_back(rq[i]);
                std::push_heap(best.begin(), best.end(), after);
            } else if (want > 0 && rq[i] > best.front()) {
                std::pop_heap(best.begin(), best.end(), after);
                best.back() = rq[i];
                std::push_heap(best.begin(), best.end(), after);
            }
            const bool group_end = i + 1 == n || kq[i + 1] != kq[i];
            // proven: k of the first i + 1 (whole tie groups) have rho above the last one's key
            if (n > want && group_end && best.size() == want && best.front() > kq[i]) {
                cut[q] = static_cast<std::int64_t>(i + 1);
                break;
            }
        }
        kth[q] = want > 0 && best.size() == want ? best.front() : -std::numeric_limits<double>::infinity();
    }
}

}  // namespace bitsift
