#include "cpu_level.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "mnemo/kernels/matmul.h"

namespace mnemo::kernels {
namespace {

CpuLevel detect_hardware() {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512) return CpuLevel::Avx512;
  return CpuLevel::Avx2;  // the build's baseline (x86-64-v3): the library does not run below it
}

// MNEMO_CPU can only lower the level: asking for more than the hardware has is ignored.
CpuLevel detect() {
  CpuLevel level = detect_hardware();
  if (const char* env = std::getenv("MNEMO_CPU")) {
    if (std::strcmp(env, "scalar") == 0) level = CpuLevel::Scalar;
    else if (std::strcmp(env, "avx2") == 0 && level > CpuLevel::Avx2) level = CpuLevel::Avx2;
  }
  return level;
}

std::atomic<int> g_level{-1};

}  // namespace

CpuLevel active_cpu_level() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    level = static_cast<int>(detect());
    g_level.store(level, std::memory_order_relaxed);
  }
  return static_cast<CpuLevel>(level);
}

void reload_cpu_level() { g_level.store(static_cast<int>(detect()), std::memory_order_relaxed); }

const char* cpu_level() {
  switch (active_cpu_level()) {
    case CpuLevel::Avx512: return "avx512";
    case CpuLevel::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace mnemo::kernels
