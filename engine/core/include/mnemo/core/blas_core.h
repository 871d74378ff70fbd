// Which OpenBLAS kernels the process runs, chosen for this CPU by us rather than by the library.
//
// OpenBLAS (a DYNAMIC_ARCH build, as Debian's) picks its kernels in its load-time constructor from
// a table of CPU models. A model it does not know gets its generic "Prescott" kernels: Debian 12's
// 0.3.21 on Intel Emerald Rapids (family 6 model 207) runs sgemm ~4.7× slower than with the
// SkylakeX kernels the CPU can run (PLATFORM.md). The usual cure, OPENBLAS_CORETYPE, has to
// be in the environment before the library loads, which is before main: users would have to set
// it. So the kernels are chosen here from the CPU's features, once, before our first BLAS call,
// and put in place through OpenBLAS's exported dynamic-arch entry points (docs/ARCHITECTURE.md,
// "The BLAS core", says why this way and not by loading the library late). Nothing here links
// OpenBLAS: its functions are looked up in the process, so a binary without it is left alone.
#pragma once

#include <string>

namespace mnemo {

// What CPUID says, as much as choosing kernels needs. The vector extensions count only when the
// OS saves their registers too (XCR0), as under a hypervisor that hides them.
struct CpuFeatures {
  enum class Vendor { Other, Intel, Amd, Hygon };
  Vendor vendor = Vendor::Other;
  int family = 0, model = 0;  // display family and model (extended fields added)
  bool avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
};

CpuFeatures detect_cpu_features();

// The OpenBLAS core (an OPENBLAS_CORETYPE name) whose kernels suit `cpu`: Zen for AMD (and Hygon)
// from family 0x17 on, SkylakeX with AVX-512 F, BW, VL and DQ, Haswell with AVX2 and FMA,
// Sandybridge with AVX; "" below that (the library's own choice stands).
const char* openblas_core_for(const CpuFeatures& cpu);

// How capable a core's kernels are: 3 AVX-512 (SkylakeX, Cooperlake, SapphireRapids), 2 AVX2
// (Haswell, Zen), 1 AVX (Sandybridge and AMD's Bulldozer line), 0 SSE-era (Prescott, Nehalem,
// ...), -1 a name this table does not know (a newer library's: left alone). Case-insensitive.
int openblas_core_rank(const std::string& core);

struct BlasCore {
  std::string core;          // openblas_get_corename() now; "" when no OpenBLAS is in the process
  std::string library_core;  // what the library had chosen itself
  std::string wanted;        // openblas_core_for() this CPU
  // "library" (its choice was at least as good), "mnemo" (we switched it to `wanted`),
  // "OPENBLAS_CORETYPE" (the user's variable stands), or why nothing could be done.
  std::string chosen_by;
  std::string describe() const;  // "SkylakeX (chosen by mnemo; the library picked Prescott)"
};

// Puts the kernels for this CPU in place, once per process (thread-safe). Call before the first
// BLAS call: switching kernels under a running BLAS call would be unsafe. A user's
// OPENBLAS_CORETYPE is respected; a library without the dynamic-arch entry points keeps its own.
const BlasCore& setup_openblas_core();

// The steps of setup_openblas_core(), for tests: applies the policy to the library's current
// choice for a given CPU, and forces a core (as the library's own detection would have picked it).
// Neither may run while another thread is inside BLAS.
BlasCore choose_openblas_core(const CpuFeatures& cpu);
bool force_openblas_core(const std::string& core);  // false without the entry points

}  // namespace mnemo
