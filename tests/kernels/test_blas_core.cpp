// OpenBLAS's kernels are chosen for the CPU by us (mnemo/core/blas_core.h), not left to the
// library's table of CPU models, which sends CPUs it does not know (Emerald Rapids under Debian
// 12's 0.3.21) to its generic Prescott kernels at a quarter of the speed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstdio>
#include <vector>

#include "kernel_test_util.h"
#include "mnemo/core/blas_core.h"
#include "mnemo/kernels/matmul.h"

namespace mnemo {
namespace {

using V = CpuFeatures::Vendor;

CpuFeatures cpu(V vendor, int family, int model, bool avx2, bool avx512) {
  CpuFeatures f;
  f.vendor = vendor, f.family = family, f.model = model;
  f.avx = true, f.avx2 = avx2, f.fma = avx2;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = avx512;
  return f;
}

TEST(BlasCore, EachCpuGetsTheCoreOfItsFeatures) {
  // Intel Emerald Rapids (family 6 model 207): the library's table does not know it.
  EXPECT_STREQ(openblas_core_for(cpu(V::Intel, 6, 207, true, true)), "SkylakeX");
  // AMD from Zen on (family 0x17, 0x19 for Zen 3 and 4, with or without AVX-512): Zen.
  EXPECT_STREQ(openblas_core_for(cpu(V::Amd, 0x19, 0x11, true, true)), "Zen");
  EXPECT_STREQ(openblas_core_for(cpu(V::Amd, 0x19, 0x01, true, false)), "Zen");
  EXPECT_STREQ(openblas_core_for(cpu(V::Amd, 0x17, 0x31, true, false)), "Zen");
  EXPECT_STREQ(openblas_core_for(cpu(V::Hygon, 0x18, 0x01, true, false)), "Zen");
  // AVX2 and FMA without AVX-512, whoever makes it: Haswell.
  EXPECT_STREQ(openblas_core_for(cpu(V::Intel, 6, 0x9e, true, false)), "Haswell");
  EXPECT_STREQ(openblas_core_for(cpu(V::Other, 7, 0x3b, true, false)), "Haswell");
  // AVX-512 missing one of F/BW/VL/DQ (Knights Landing has no BW/VL/DQ): not SkylakeX.
  CpuFeatures knl = cpu(V::Intel, 6, 0x57, true, true);
  knl.avx512bw = knl.avx512vl = knl.avx512dq = false;
  EXPECT_STREQ(openblas_core_for(knl), "Haswell");
  // AVX alone; nothing usable (the OS does not save YMM: detect_cpu_features clears avx).
  EXPECT_STREQ(openblas_core_for(cpu(V::Intel, 6, 0x2a, false, false)), "Sandybridge");
  EXPECT_STREQ(openblas_core_for(CpuFeatures{}), "");
}

TEST(BlasCore, CoresRankByTheInstructionsOfTheirKernels) {
  EXPECT_EQ(openblas_core_rank("Prescott"), 0);
  EXPECT_EQ(openblas_core_rank("Nehalem"), 0);
  EXPECT_EQ(openblas_core_rank("Sandybridge"), 1);
  EXPECT_EQ(openblas_core_rank("haswell"), 2);
  EXPECT_EQ(openblas_core_rank("Zen"), 2);
  EXPECT_EQ(openblas_core_rank("SKYLAKEX"), 3);
  EXPECT_EQ(openblas_core_rank("Cooperlake"), 3);
  EXPECT_EQ(openblas_core_rank("a core of 2030"), -1);  // unknown: the library's choice stands
}

TEST(BlasCore, ThisMachineDetectsWhatTheCompilerSees) {
  const CpuFeatures f = detect_cpu_features();
  __builtin_cpu_init();
  EXPECT_EQ(f.avx2, __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(f.avx512f, __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(f.avx512bw, __builtin_cpu_supports("avx512bw") != 0);
  EXPECT_GT(f.family, 0);
}

// Max |sgemm − a product in double| on a prefill-like shape, through the engine's sgemm.
double sgemm_error() {
  const int64_t M = 64, N = 96, K = 80;
  const auto a = kernels::testing::random_floats(static_cast<size_t>(M * K), 11);
  const auto b = kernels::testing::random_floats(static_cast<size_t>(N * K), 12);
  std::vector<float> c(static_cast<size_t>(M * N));
  kernels::sgemm(true, M, N, K, 1.f, a.data(), K, b.data(), K, 0.f, c.data(), N);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double want = 0;
      for (int64_t k = 0; k < K; ++k) want += static_cast<double>(a[i * K + k]) * b[j * K + k];
      worst = std::max(worst, std::abs(want - c[i * N + j]));
    }
  return worst;
}

TEST(BlasCore, TheEngineRunsKernelsMadeForThisCpu) {
  ASSERT_LT(sgemm_error(), 1e-3);  // the first BLAS call puts the core in place
  const BlasCore& b = setup_openblas_core();
  const CpuFeatures f = detect_cpu_features();
  std::printf("BLAS core %s; this CPU wants %s\n", b.describe().c_str(), b.wanted.c_str());
  ASSERT_FALSE(b.core.empty()) << "the kernels link OpenBLAS: it must be in this process";
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE is set: the user's choice stands";
  if (f.avx2) {
    EXPECT_GE(openblas_core_rank(b.core), 2) << b.describe() << ": generic kernels on a CPU with AVX2";
    EXPECT_GE(openblas_core_rank(b.core), openblas_core_rank(b.wanted)) << b.describe();
  }
}

// What happens on Emerald Rapids, made to happen here: the library's own choice is its generic
// core; choosing for this CPU must replace it, and sgemm must stay right.
TEST(BlasCore, ALibraryOnItsGenericKernelsIsSwitchedToThisCpusCore) {
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE is set: the user's choice stands";
  ASSERT_LT(sgemm_error(), 1e-3);
  const CpuFeatures f = detect_cpu_features();
  if (openblas_core_rank(openblas_core_for(f)) <= 0) GTEST_SKIP() << "no better core than the generic one here";
  ASSERT_TRUE(force_openblas_core("Prescott")) << "Debian's OpenBLAS is a DYNAMIC_ARCH build";
  const BlasCore r = choose_openblas_core(f);
  EXPECT_EQ(r.library_core, "Prescott");
  EXPECT_EQ(r.core, openblas_core_for(f)) << r.describe();
  EXPECT_EQ(r.chosen_by, "mnemo");
  EXPECT_LT(sgemm_error(), 1e-3);
  // Chosen again, nothing changes.
  EXPECT_EQ(choose_openblas_core(f).chosen_by, "library");
}

TEST(BlasCore, TheUsersVariableStands) {
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE is set already";
  const CpuFeatures f = detect_cpu_features();
  ASSERT_TRUE(force_openblas_core("Prescott"));
  setenv("OPENBLAS_CORETYPE", "Prescott", 1);  // as if set before the library loaded
  const BlasCore r = choose_openblas_core(f);
  EXPECT_EQ(r.core, "Prescott");
  EXPECT_EQ(r.chosen_by, "OPENBLAS_CORETYPE");
  EXPECT_STREQ(std::getenv("OPENBLAS_CORETYPE"), "Prescott");
  setenv("OPENBLAS_CORETYPE", "", 1);  // set but empty: no choice
  EXPECT_NE(choose_openblas_core(f).chosen_by, "OPENBLAS_CORETYPE");
  unsetenv("OPENBLAS_CORETYPE");
  ASSERT_TRUE(force_openblas_core("Prescott"));
  const std::string wanted = openblas_core_for(f);
  EXPECT_EQ(choose_openblas_core(f).core, openblas_core_rank(wanted) > 0 ? wanted : "Prescott");
  EXPECT_EQ(std::getenv("OPENBLAS_CORETYPE"), nullptr) << "our choice must not leak into the environment";
}

}  // namespace
}  // namespace mnemo
