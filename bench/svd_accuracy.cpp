// How close the two randomized SVDs of the spectral metric come to LAPACK's full SVD, and what
// they cost, on the benchmark's synthetic Llama-shaped weights (bench/synthetic_weights.h:
// a Gaussian bulk with outliers and a rank-4 spike: the hard case, a flat spectrum at k = 256).
//
//   ramq_svd_accuracy [--threads N] [ROWSxCOLS ...]     (default: the 8B model's four shapes)
//
// For each shape: the concentration c (top 25 over top 256 squared singular values) from the
// full SVD, then for block Krylov (the default, 9 blocks of 64) and subspace iteration (rank
// 256 + 16, 2 power iterations): its c and relative error, the worst relative error of the top
// 100 singular values, the product columns (each one pass over W), and the wall time.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ramq/metrics.h"
#include "synthetic_weights.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double worst_top100(const std::vector<float>& got, const std::vector<float>& full) {
  double e = 0.0;
  for (std::size_t i = 0; i < 100 && i < got.size(); ++i)
    e = std::max(e, std::abs(static_cast<double>(got[i]) - full[i]) / full[i]);
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 2;
  std::vector<std::pair<long, long>> shapes;
  for (int i = 1; i < argc; ++i) {
    long r = 0, c = 0;
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (std::sscanf(argv[i], "%ldx%ld", &r, &c) == 2 && r > 512 && c > 512) {
      shapes.emplace_back(r, c);
    } else {
      std::fprintf(stderr, "usage: ramq_svd_accuracy [--threads N] [ROWSxCOLS ...] (both over 512)\n");
      return 2;
    }
  }
  if (shapes.empty()) shapes = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}};
  openblas_set_num_threads(1);  // as in ramq: single-threaded BLAS inside fixed pieces
  const ramq::MetricOptions opt;
  const int depth = ramq::resolved_krylov_depth(opt);
  std::printf("%-12s %-26s %9s %9s %12s %8s %8s\n", "shape", "method", "c", "c error", "top-100 err", "columns",
              "wall s");
  for (std::size_t t = 0; t < shapes.size(); ++t) {
    const auto [m, n] = shapes[t];
    const std::vector<float> w = ramq::bench::synthetic_matrix(m, n, 42, t + 1);
    const ramq::MatrixView v{w.data(), m, n};
    auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> full = ramq::singular_values_full(v);
    const double full_s = seconds_since(t0);
    const double c_ref = ramq::spectral_concentration(std::vector<float>(full.begin(), full.begin() + 256));
    const std::string shape = std::to_string(m) + "x" + std::to_string(n);
    std::printf("%-12s %-26s %9.5f %9s %12s %8s %8.2f\n", shape.c_str(), "full SVD (sgesdd)", c_ref, "-", "-", "-",
                full_s);
    const auto row = [&](const char* name, const std::vector<float>& s, int columns, double secs) {
      const double c = ramq::spectral_concentration(s);
      std::printf("%-12s %-26s %9.5f %8.2f%% %11.2f%% %8d %8.2f\n", shape.c_str(), name, c,
                  100.0 * std::abs(c - c_ref) / c_ref, 100.0 * worst_top100(s, full), columns, secs);
    };
    t0 = std::chrono::steady_clock::now();
    const std::vector<float> kv = ramq::singular_values_block_krylov(v, opt.rsvd_rank, opt.krylov_block, depth, 7, threads);
    row("block Krylov 9 x 64", kv, (2 * depth - 1) * opt.krylov_block, seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    const std::vector<float> sub = ramq::singular_values_randomized(v, opt.rsvd_rank, opt.rsvd_oversample,
                                                                    opt.rsvd_power_iters, 7, threads);
    row("subspace 272 cols, q = 2", sub, (2 * opt.rsvd_power_iters + 2) * (opt.rsvd_rank + opt.rsvd_oversample),
        seconds_since(t0));
  }
  return 0;
}
