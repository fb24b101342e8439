// nanobind module bitsift._kernel: check and convert, release the GIL, call the core.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernel/asym.hpp"
#include "kernel/kernel.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Codes = nb::ndarray<const std::uint64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Packed = nb::ndarray<const std::uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using PackedOut = nb::ndarray<std::uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using Bits = nb::ndarray<const std::uint64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

bitsift::Path parse_path(const std::string& name) {
    if (name == "auto") return bitsift::Path::Auto;
    if (name == "scalar") return bitsift::Path::Scalar;
    if (name == "avx2") return bitsift::Path::Avx2;
    if (name == "avx512") return bitsift::Path::Avx512;
    throw std::invalid_argument("unknown kernel path '" + name +
                                "': expected auto, scalar, avx2 or avx512");
}

template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy_1d(std::vector<T>&& v) {
    auto* heap = new std::vector<T>(std::move(v));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return nb::ndarray<nb::numpy, T, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
}

template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<2>> to_numpy(std::vector<T>&& v, std::size_t rows,
                                                  std::size_t cols) {
    auto* heap = new std::vector<T>(std::move(v));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return nb::ndarray<nb::numpy, T, nb::ndim<2>>(heap->data(), {rows, cols}, owner);
}

using Offsets = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// Query t's values of a flat column are [offsets[t], offsets[t + 1]): 0 first, the column's length
// last, never decreasing.
void check_offsets(const Offsets& offsets, std::size_t nq, std::size_t total, const std::string& who,
                   const std::string& column) {
    if (offsets.shape(0) != nq + 1 || offsets.data()[0] != 0 || static_cast<std::size_t>(offsets.data()[nq]) != total)
        throw std::invalid_argument(who + ": offsets must be 0 .. len(" + column + "), one per query plus one");
    for (std::size_t t = 0; t < nq; ++t)
        if (offsets.data()[t] > offsets.data()[t + 1]) throw std::invalid_argument(who + ": offsets must not decrease");
}

}  // namespace

NB_MODULE(_kernel, m) {
    m.doc() = "bitsift native scan kernel (see bitsift.core.kernel for the typed wrapper)";
    m.attr("BLOCK_CODES") = bitsift::kBlockCodes;
    m.attr("MAX_WORDS") = bitsift::kMaxWords;

    m.def("capabilities", []() {
        const auto c = bitsift::detect_capabilities();
        nb::dict d;
        d["scalar"] = true;
        d["avx2"] = c.avx2;
        d["avx512"] = c.avx512;
        d["auto"] = bitsift::path_name(bitsift::resolve_path(bitsift::Path::Auto));
        return d;
    }, "Instruction-set paths this CPU can run, and the one 'auto' picks.");

    m.def("pack_rows", [](PackedOut dst, Codes codes, std::size_t start_row) {
        if (dst.shape(1) != codes.shape(1) * 8 || dst.shape(2) != bitsift::kBlockCodes)
            throw std::invalid_argument("pack_rows: destination shape does not match the codes");
        nb::gil_scoped_release release;
        bitsift::pack_rows(dst.data(), dst.shape(0), codes.data(), codes.shape(0),
                           codes.shape(1), start_row);
    }, "dst"_a, "codes"_a, "start_row"_a,
       "Write row-major codes into the block-transposed scan layout at start_row.");

    m.def("popcount_rows", [](Codes codes) {
        std::vector<std::uint32_t> out(codes.shape(0));
        {
            nb::gil_scoped_release release;
            bitsift::popcount_rows(codes.data(), codes.shape(0), codes.shape(1), out.data());
        }
        return to_numpy_1d(std::move(out));
    }, "codes"_a, "Number of set bits of each row.");

    m.def("floats_from_lists", [](nb::handle rows, std::size_t dims) -> nb::object {
        // One pass over JSON-decoded rows: only exact floats and ints (not bool, str or None)
        // convert; anything else, or a row of the wrong length, gives None and the caller's
        // slow path names the item at fault. Values beyond float32 become +-inf (then rejected).
        PyObject* list = rows.ptr();
        if (!PyList_Check(list)) return nb::none();
        const Py_ssize_t n = PyList_Size(list);
        std::vector<float> out(static_cast<std::size_t>(n) * dims);
        for (Py_ssize_t i = 0; i < n; ++i) {
            PyObject* row = PyList_GetItem(list, i);
            if (!PyList_Check(row) || PyList_Size(row) != static_cast<Py_ssize_t>(dims)) return nb::none();
            float* dst = out.data() + static_cast<std::size_t>(i) * dims;
            for (std::size_t j = 0; j < dims; ++j) {
                PyObject* v = PyList_GetItem(row, static_cast<Py_ssize_t>(j));
                double d;
                if (Py_TYPE(v) == &PyFloat_Type) {
                    d = PyFloat_AsDouble(v);
                } else if (Py_TYPE(v) == &PyLong_Type) {
                    d = PyLong_AsDouble(v);
                    if (d == -1.0 && PyErr_Occurred()) {
                        PyErr_Clear();
                        return nb::none();
                    }
                } else {
                    return nb::none();
                }
                dst[j] = d > 3.4028234663852886e38 ? INFINITY
                       : d < -3.4028234663852886e38 ? -INFINITY : static_cast<float>(d);
            }
        }
        return nb::cast(to_numpy(std::move(out), static_cast<std::size_t>(n), dims));
    }, "rows"_a, "dims"_a,
       "float32[N, dims] from a list of N lists of plain numbers, or None if any is not one.");

    m.def("read_probe", [](nb::ndarray<const std::uint8_t, nb::c_contig, nb::device::cpu> data,
                           std::size_t threads) {
        nb::gil_scoped_release release;
        return bitsift::read_probe(data.data(), data.nbytes(), threads);
    }, "data"_a, "threads"_a = 0,
       "Stream-read a buffer (memory-bandwidth probe for benchmarks); returns a checksum.");

    m.def("correlation_f16", [](nb::ndarray<const std::uint16_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> vectors,
                                nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> rows,
                                nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> query,
                                const std::string& path) {
        const bitsift::Path p = parse_path(path);
        if (query.shape(0) != vectors.shape(1))
            throw std::invalid_argument("correlation_f16: query length does not match the vectors");
        std::vector<double> out(rows.shape(0));
        {
            nb::gil_scoped_release release;
            bitsift::correlation_f16(vectors.data(), vectors.shape(0), vectors.shape(1), rows.data(),
                                     rows.shape(0), query.data(), out.data(), p);
        }
        return to_numpy_1d(std::move(out));
    }, "vectors"_a, "rows"_a, "query"_a, "path"_a = "auto",
       "Correlation of the query with each listed float16 row (given as uint16 bits); "
       "each row computed alone, so results never depend on which rows come with it.");

    m.def("correlation_f16_many", [](nb::ndarray<const std::uint16_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> vectors,
                                     nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> rows,
                                     Offsets offsets,
                                     nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> queries,
                                     const std::string& path) {
        const bitsift::Path p = parse_path(path);
        const std::size_t nq = queries.shape(0);
        if (queries.shape(1) != vectors.shape(1))
            throw std::invalid_argument("correlation_f16_many: query length does not match the vectors");
        check_offsets(offsets, nq, rows.shape(0), "correlation_f16_many", "rows");
        std::vector<double> out(rows.shape(0));
        {
            nb::gil_scoped_release release;
            bitsift::correlation_f16_many(vectors.data(), vectors.shape(0), vectors.shape(1), rows.data(),
                                          offsets.data(), nq, queries.data(), out.data(), p);
        }
        return to_numpy_1d(std::move(out));
    }, "vectors"_a, "rows"_a, "offsets"_a, "queries"_a, "path"_a = "auto",
       "correlation_f16 for many queries in one call: query t re-scores rows[offsets[t]:offsets[t+1]].");

    m.def("scan_topk", [](Codes queries, Packed packed, Bits valid, std::size_t k,
                          std::size_t threads, const std::string& path) {
        const std::size_t words = queries.shape(1);
        if (packed.shape(1) != words * 8 || packed.shape(2) != bitsift::kBlockCodes)
            throw std::invalid_argument("scan_topk: packed codes do not match the query width");
        if (valid.shape(0) != packed.shape(0) * 2)
            throw std::invalid_argument("scan_topk: validity bitmap must hold 2 words per block");
        const bitsift::Path p = parse_path(path);
        bitsift::ScanResult r;
        {
            nb::gil_scoped_release release;
            r = bitsift::scan_topk(queries.data(), queries.shape(0), words, packed.data(),
                                   packed.shape(0), valid.data(), k, threads, p);
        }
        const std::size_t nq = queries.shape(0);
        return nb::make_tuple(to_numpy(std::move(r.dist), nq, r.k),
                              to_numpy(std::move(r.rows), nq, r.k));
    }, "queries"_a, "packed"_a, "valid"_a, "k"_a, "threads"_a = 0, "path"_a = "auto",
       "Exact Hamming top-k with a fused selection; ties keep the smaller row. "
       "Returns (dist uint32[Q, k'], row int64[Q, k']) with k' = min(k, live rows).");

    m.def("adaptive_cuts", [](nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu> key,
                              nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu> rho,
                              Offsets offsets,
                              nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> k) {
        const std::size_t nq = k.shape(0);
        if (key.shape(0) != rho.shape(0))
            throw std::invalid_argument("adaptive_cuts: one rho per key");
        check_offsets(offsets, nq, key.shape(0), "adaptive_cuts", "key");
        for (std::size_t t = 0; t < nq; ++t)
            if (k.data()[t] < 1) throw std::invalid_argument("adaptive_cuts: every k must be positive");
        std::vector<std::int64_t> cut(nq);
        std::vector<double> kth(nq);
        {
            nb::gil_scoped_release release;
            bitsift::adaptive_cuts(key.data(), rho.data(), offsets.data(), nq, k.data(), cut.data(), kth.data());
        }
        return nb::make_tuple(to_numpy_1d(std::move(cut)), to_numpy_1d(std::move(kth)));
    }, "key"_a, "rho"_a, "offsets"_a, "k"_a,
       "The adaptive pool's cut for many queries (core.asymmetric.adaptive_cut): "
       "(cut int64[Q], -1 where none proves it; kth float64[Q], the k-th best rho where unproven).");

    m.def("adaptive_pool", [](nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu> key,
                              nb::ndarray<const std::int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> rows,
                              bool complete, std::size_t k,
                              nb::ndarray<const std::uint16_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> vectors,
                              nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> queries,
                              std::size_t threads, const std::string& path) {
        const std::size_t nq = key.shape(0), width = key.shape(1);
        if (rows.shape(0) != nq || rows.shape(1) != width)
            throw std::invalid_argument("adaptive_pool: one row per key");
        if (queries.shape(0) != nq || queries.shape(1) != vectors.shape(1))
            throw std::invalid_argument("adaptive_pool: one query per row of keys, as long as the vectors' rows");
        const bitsift::Path p = parse_path(path);
        std::vector<std::int64_t> cut(nq);
        std::vector<double> rho(nq * width, 0.0), kth(nq);
        {
            nb::gil_scoped_release release;
            bitsift::adaptive_pool(key.data(), rows.data(), nq, width, complete, k, vectors.data(), vectors.shape(0),
                                   vectors.shape(1), queries.data(), threads, p, cut.data(), rho.data(), kth.data());
        }
        return nb::make_tuple(to_numpy_1d(std::move(cut)), to_numpy(std::move(rho), nq, width),
                              to_numpy_1d(std::move(kth)));
    }, "key"_a, "rows"_a, "complete"_a, "k"_a, "vectors"_a, "queries"_a, "threads"_a = 0, "path"_a = "auto",
       "The adaptive pool for many queries (core.candidates): rows re-scored in key order up to the "
       "shortest prefix the bound proves. Returns (cut int64[Q], -1 where the fetched rows ran out; "
       "rho float64[Q, width], the re-scored ones filled; kth float64[Q], the k-th best rho of the cut's rows, "
       "-inf where fewer or no cut).");

    m.def("asym_topk", [](nb::ndarray<const std::uint8_t, nb::ndim<2>, nb::c_contig, nb::device::cpu> levels,
                          nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> scale,
                          nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> level_sum,
                          Packed packed, Bits valid,
                          nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> alpha,
                          nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> sigma,
                          nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> pop,
                          float eps, std::size_t k, std::size_t threads, const std::string& path) {
        const std::size_t nq = levels.shape(0), dims = levels.shape(1), words = packed.shape(1) / 8;
        const std::size_t padded = packed.shape(0) * bitsift::kBlockCodes;
        if (packed.shape(1) % 8 != 0 || packed.shape(2) != bitsift::kBlockCodes)
            throw std::invalid_argument("asym_topk: packed codes are not in the block layout");
        if (valid.shape(0) != packed.shape(0) * 2)
            throw std::invalid_argument("asym_topk: validity bitmap must hold 2 words per block");
        if (scale.shape(0) != nq || level_sum.shape(0) != nq)
            throw std::invalid_argument("asym_topk: one scale and one level sum per query");
        if (alpha.shape(0) != padded || sigma.shape(0) != padded || pop.shape(0) != padded)
            throw std::invalid_argument("asym_topk: alpha, sigma and pop must cover every row of the blocks");
        const bitsift::Path p = parse_path(path);
        std::vector<bitsift::AsymQuery> qs(nq);
        for (std::size_t i = 0; i < nq; ++i) qs[i] = {scale.data()[i], level_sum.data()[i]};
        bitsift::AsymResult r;
        {
            nb::gil_scoped_release release;
            r = bitsift::asym_topk(levels.data(), qs.data(), nq, dims, words, packed.data(), packed.shape(0),
                                   valid.data(), alpha.data(), sigma.data(), pop.data(), eps, k, threads, p);
        }
        return nb::make_tuple(to_numpy(std::move(r.keys), nq, r.k), to_numpy(std::move(r.rows), nq, r.k));
    }, "levels"_a, "scale"_a, "level_sum"_a, "packed"_a, "valid"_a, "alpha"_a, "sigma"_a, "pop"_a, "eps"_a,
       "k"_a, "threads"_a = 0, "path"_a = "auto",
       "Exact top-k by the asymmetric estimator's key (largest first, ties to the smaller row). "
       "Returns (key float32[Q, k'], row int64[Q, k']) with k' = min(k, live rows).");
}
