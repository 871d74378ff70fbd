#include "mnemo/core/blas_core.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <strings.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

namespace mnemo {
namespace {

uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

// OpenBLAS's functions, found in the process rather than linked: the dynamic-arch pair exists
// only in DYNAMIC_ARCH builds, and a binary without OpenBLAS has none of them.
struct OpenBlas {
  const char* (*get_corename)() = nullptr;
  void (*dynamic_init)() = nullptr;  // chooses the kernels: OPENBLAS_CORETYPE, else its CPU table
  void (*dynamic_quit)() = nullptr;  // forgets the choice, so that dynamic_init chooses again

  OpenBlas() {
    get_corename = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    dynamic_init = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
    dynamic_quit = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  }
  bool present() const { return get_corename != nullptr; }
  bool can_switch() const { return get_corename && dynamic_init && dynamic_quit; }
  std::string core() const { return get_corename ? get_corename() : ""; }
};

constexpr const char* kCoreVariable = "OPENBLAS_CORETYPE";

// The library reads the variable inside dynamic_init; it is set for that call only (and what was
// there before put back), so that the processes we start (Python with its own OpenBLAS, say) do
// not inherit our choice. `core` empty: the library's own CPU table decides.
void reselect(const OpenBlas& blas, const std::string& core) {
  const char* before = std::getenv(kCoreVariable);
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  if (core.empty()) unsetenv(kCoreVariable);
  else setenv(kCoreVariable, core.c_str(), 1);
  blas.dynamic_quit();
  blas.dynamic_init();
  if (saved) setenv(kCoreVariable, saved->c_str(), 1);
  else unsetenv(kCoreVariable);
}

bool same_name(const std::string& a, const std::string& b) { return strcasecmp(a.c_str(), b.c_str()) == 0; }

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4), std::memcpy(vendor + 4, &d, 4), std::memcpy(vendor + 8, &c, 4);
  if (std::strcmp(vendor, "GenuineIntel") == 0) f.vendor = CpuFeatures::Vendor::Intel;
  else if (std::strcmp(vendor, "AuthenticAMD") == 0) f.vendor = CpuFeatures::Vendor::Amd;
  else if (std::strcmp(vendor, "HygonGenuine") == 0) f.vendor = CpuFeatures::Vendor::Hygon;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const int base_family = static_cast<int>((a >> 8) & 0xf);
  f.family = base_family + (base_family == 0xf ? static_cast<int>((a >> 20) & 0xff) : 0);
  f.model = static_cast<int>((a >> 4) & 0xf);
  if (base_family == 0x6 || base_family == 0xf) f.model += static_cast<int>((a >> 16) & 0xf) << 4;
  // The OS must save the YMM (and for AVX-512 the ZMM and mask) registers: XCR0 says so.
  const bool osxsave = (c >> 27) & 1;
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  f.avx = os_avx && ((c >> 28) & 1);
  f.fma = f.avx && ((c >> 12) & 1);
  if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = f.avx && ((b >> 5) & 1);
    f.avx512f = os_avx512 && ((b >> 16) & 1);
    f.avx512dq = os_avx512 && ((b >> 17) & 1);
    f.avx512bw = os_avx512 && ((b >> 30) & 1);
    f.avx512vl = os_avx512 && ((b >> 31) & 1);
  }
  return f;
}

const char* openblas_core_for(const CpuFeatures& cpu) {
  using V = CpuFeatures::Vendor;
  // Zen's own kernels and blocking, on Zen 4 too: OpenBLAS tunes them for AMD's caches, and
  // 0.3.21's Zen sgemm reaches ~78% of Zen 4's peak (PLATFORM.md).
  if ((cpu.vendor == V::Amd && cpu.family >= 0x17) || (cpu.vendor == V::Hygon && cpu.family >= 0x18)) {
    if (cpu.avx2 && cpu.fma) return "Zen";
  }
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq) return "SkylakeX";
  if (cpu.avx2 && cpu.fma) return "Haswell";
  if (cpu.avx) return "Sandybridge";
  return "";
}

int openblas_core_rank(const std::string& core) {
  struct Rank {
    const char* name;
    int rank;
  };
  static constexpr Rank kRanks[] = {
      {"SkylakeX", 3},    {"Cooperlake", 3}, {"SapphireRapids", 3}, {"Haswell", 2},      {"Zen", 2},
      {"Sandybridge", 1}, {"Bulldozer", 1},  {"Piledriver", 1},     {"Steamroller", 1},  {"Excavator", 1},
      {"Prescott", 0},    {"Core2", 0},      {"Penryn", 0},         {"Dunnington", 0},   {"Nehalem", 0},
      {"Atom", 0},        {"Nano", 0},       {"Katmai", 0},         {"Coppermine", 0},   {"Northwood", 0},
      {"Banias", 0},      {"Athlon", 0},     {"Opteron", 0},        {"Opteron_SSE3", 0}, {"Barcelona", 0},
      {"Bobcat", 0},      {"Unknown", 0},
  };
  for (const Rank& r : kRanks)
    if (same_name(core, r.name)) return r.rank;
  return -1;
}

std::string BlasCore::describe() const {
  if (core.empty()) return "none (" + chosen_by + ")";
  std::string s = core + " (chosen by " + chosen_by;
  if (chosen_by == "mnemo" && !same_name(library_core, core)) s += "; the library picked " + library_core;
  return s + ")";
}

bool force_openblas_core(const std::string& core) {
  const OpenBlas blas;
  if (!blas.can_switch()) return false;
  reselect(blas, core);
  return true;
}

BlasCore choose_openblas_core(const CpuFeatures& cpu) {
  const OpenBlas blas;
  BlasCore r;
  r.wanted = openblas_core_for(cpu);
  r.core = r.library_core = blas.core();
  if (!blas.present()) {
    r.chosen_by = "no OpenBLAS in this process";
    return r;
  }
  r.chosen_by = "library";
  if (const char* set = std::getenv(kCoreVariable); set && *set) {
    r.chosen_by = kCoreVariable;  // the user asked: the library honoured it at load time
    return r;
  }
  // Only upwards, and only from a core this table knows: a newer library's choice for a CPU it
  // knows better than we do (SapphireRapids kernels, say) stands.
  const int have = openblas_core_rank(r.library_core), want = openblas_core_rank(r.wanted);
  if (r.wanted.empty() || have < 0 || have >= want) return r;
  if (!blas.can_switch()) {
    r.chosen_by = "library (no dynamic-arch entry points to switch to " + r.wanted + ")";
    return r;
  }
  reselect(blas, r.wanted);
  r.core = blas.core();
  if (same_name(r.core, r.wanted)) {
    r.chosen_by = "mnemo";
  } else {
    // A library that does not know the name falls back to some core of its own: take its own
    // choice back rather than keep that.
    reselect(blas, "");
    r.core = blas.core();
    r.chosen_by = "library (it refused " + r.wanted + ")";
  }
  return r;
}

const BlasCore& setup_openblas_core() {
  static std::once_flag once;
  static BlasCore chosen;
  std::call_once(once, [] { chosen = choose_openblas_core(detect_cpu_features()); });
  return chosen;
}

}  // namespace mnemo
