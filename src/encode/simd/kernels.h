// The encoders' hot loops, compiled once per SIMD level (src/common/simd/lanes.h explains why the
// output is the same at every level) and picked at run time: kernels() returns the table of the
// level in use (ramq::simd_level(), include/ramq/ggml_types.h).
//
// Results are plain aggregates (no constructors: nothing inline is shared between the levels); the per-type files (src/encode/gguf/*.cpp, src/encode/mlx_affine.cpp)
// lay them out as bytes. Every kernel treats each block (group) on its own: the result for a block
// never depends on its neighbours, on how the caller splits the rows, or on the thread.
#pragma once

#include <cstdint>

#include "ramq/dtype.h"

namespace ramq::gguf {

inline constexpr int kQK = 256;  // QK_K: elements per K-quant super-block

// Affine K-quant (Q2_K, Q4_K, Q5_K): x = (d*ls_j)*q - dmin*lm_j, q in [0, qmax], ls/lm in [0, lmax].
struct AffKSpec {
  int sub, qmax, lmax;  // sub-block size (16 or 32)
};
struct AffKBlock {
  std::uint16_t d, dmin;  // fp16
  std::uint8_t ls[16], lm[16];
  std::uint8_t q[kQK];
};

// Symmetric K-quant (Q3_K, Q6_K): x = (d*l_j)*q, q in [qmin, qmax], l in [lmin, lmax].
struct SymKSpec {
  int sub, qmin, qmax, lmin, lmax;  // sub-block size (16)
};
struct SymKBlock {
  std::uint16_t d;
  std::int8_t l[16];
  std::int8_t q[kQK];
};

// Symmetric 32-element blocks (Q4_0, Q5_0, Q8_0): x = q*d. ggml's reference scale, one of the
// candidates, is (ref_signed ? the signed value of largest magnitude : the largest magnitude) / ref_den.
struct Sym32Spec {
  int qmin, qmax;
  float ref_den;
  bool ref_signed;
};
struct Sym32Block {
  std::uint16_t d;
  std::int8_t q[32];
};

// Affine 32-element blocks (Q4_1, Q5_1): x = q*d + m, q in [0, qmax].
struct Aff32Block {
  std::uint16_t d, m;
  std::uint8_t q[32];
};

// IQ4_NL: x = d * kvalues_iq4nl[q].
struct Iq4Block {
  std::uint16_t d;
  std::uint8_t q[32];
};

}  // namespace ramq::gguf

namespace ramq::simd {

struct Kernels {
  int level;  // static_cast<int>(SimdLevel)
  // nblocks consecutive blocks (super-blocks) starting at x -> out[0 .. nblocks).
  void (*aff_k)(const float* x, std::int64_t nblocks, const gguf::AffKSpec& spec, gguf::AffKBlock* out);
  void (*sym_k)(const float* x, std::int64_t nblocks, const gguf::SymKSpec& spec, gguf::SymKBlock* out);
  void (*sym32)(const float* x, std::int64_t nblocks, const gguf::Sym32Spec& spec, gguf::Sym32Block* out);
  void (*aff32)(const float* x, std::int64_t nblocks, int qmax, gguf::Aff32Block* out);
  void (*iq4_nl)(const float* x, std::int64_t nblocks, gguf::Iq4Block* out);
  // MLX affine groups: ngroups consecutive groups of `group` floats starting at w -> scale, bias
  // (values of scale_dtype) and the nearest code of every element (codes[g * group + i]).
  // search: the error-minimising grid, else min/max. Returns -1, or the index of the first group
  // that cannot be quantized (NaN/Inf, or a range the dtype cannot hold; nothing is guaranteed
  // about the outputs then: the caller reports the error with mlx_detail::minmax_grid).
  std::int64_t (*mlx_groups)(const float* w, std::int64_t ngroups, int group, int qmax, DType scale_dtype,
                             bool search, float* scales, float* biases, std::uint8_t* codes);
};

// The table of the SIMD level in use.
const Kernels& kernels();
// Tests only: use table k (nullptr: back to the public choice, ramq::simd_level()).
void override_kernels_for_testing(const Kernels* k);

namespace portable {
extern const Kernels kKernels;
}
namespace avx2 {
extern const Kernels kKernels;
}
namespace avx512 {
extern const Kernels kKernels;
}

}  // namespace ramq::simd
