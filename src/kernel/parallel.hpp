// Run work(t) for t in [0, nt) on nt threads (the caller's is thread 0) and rethrow the first
// exception any of them raised, after all have joined: the scans' one way of going parallel.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bitsift {

template <typename Work>
void run_threads(std::size_t nt, Work&& work) {
    std::exception_ptr first_error;
    std::mutex error_lock;
    auto guarded = [&](std::size_t t) {
        try {
            work(t);
        } catch (...) {
            std::lock_guard<std::mutex> g(error_lock);
            if (!first_error) first_error = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < nt; ++t) pool.emplace_back(guarded, t);
    guarded(0);
    for (auto& th : pool) th.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace bitsift
