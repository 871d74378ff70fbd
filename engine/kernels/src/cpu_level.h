// Which instruction-set variant of the kernels runs: detected once, lowered by MNEMO_CPU.
#pragma once

namespace mnemo::kernels {

enum class CpuLevel : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

CpuLevel active_cpu_level();

}  // namespace mnemo::kernels
