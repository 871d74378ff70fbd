// Level-0 tile latency of the recurrent families' implicit attention (implicit_attention.h): one
// 256×256 tile of a T-token head, at the bottom-left corner of the map (the farthest from the
// diagonal: the most decay to sum, the longest delta-rule jump) and on the diagonal at the bottom.
//   bench_implicit_attention [T] [reps]      (defaults 8192, 30)
// Prints the CPU model, then one JSON object per family × dim × tile with p50/p99 in ms: wall time,
// and this thread's CPU time (what the tile costs when the machine's two cores are shared).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mnemo/profiler/session/implicit_attention.h"

using namespace mnemo::profiler;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<float> draw(size_t n, uint32_t seed, float lo, float hi, bool normal = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.f, 1.f);
  std::uniform_real_distribution<float> uni(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = normal ? gauss(rng) : uni(rng);
  return v;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

using TileFn = std::function<void(const TileRange&, float*, int64_t)>;

void measure(const char* family, int64_t dim, int64_t T, int reps, const TileFn& fn) {
  constexpr int64_t kTile = 256;
  const TileRange corners[] = {{T - kTile, T, 0, kTile}, {T - kTile, T, T - kTile, T}};
  const char* names[] = {"bottom_left", "diagonal"};
  std::vector<float> out(kTile * kTile);
  for (int c = 0; c < 2; ++c) {
    std::vector<double> ms, cpu;
    fn(corners[c], out.data(), kTile);  // warm-up: first touch of the factors, BLAS buffers
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      const double c0 = thread_cpu_ms();
      fn(corners[c], out.data(), kTile);
      cpu.push_back(thread_cpu_ms() - c0);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::sort(cpu.begin(), cpu.end());
    auto pct = [](const std::vector<double>& v, double p) { return v[std::min<size_t>(v.size() - 1, static_cast<size_t>(p * v.size()))]; };
    std::printf("{\"bench\": \"implicit_tile\", \"family\": \"%s\", \"dim\": %lld, \"T\": %lld, \"tile\": \"%s\", "
                "\"reps\": %d, \"ms_p50\": %.3f, \"ms_p99\": %.3f, \"cpu_ms_p50\": %.3f, \"cpu_ms_p99\": %.3f}\n",
                family, static_cast<long long>(dim), static_cast<long long>(T), names[c], reps, pct(ms, 0.5), pct(ms, 0.99),
                pct(cpu, 0.5), pct(cpu, 0.99));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t T = argc > 1 ? std::atoll(argv[1]) : 8192;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 30;
  std::printf("{\"cpu\": \"%s\", \"threads\": 1}\n", cpu_model().c_str());

  for (const int64_t dk : {64, 128}) {
    const auto q = draw(T * dk, 1, 0, 0, true), gates = draw(T * dk, 3, -0.1f, 0.f), beta = draw(T, 4, 0.05f, 0.95f);
    auto k = draw(T * dk, 2, 0, 0, true);
    DecayFactors f;
    f.q = q.data(), f.q_stride = dk, f.k = k.data(), f.k_stride = dk, f.dim = dk, f.scale = 1.f / std::sqrt(float(dk));
    measure("linear", dk, T, reps, [&](const TileRange& t, float* o, int64_t ld) { decay_implicit_attention(f, t, o, ld); });
    DecayFactors ret = f;
    ret.decay.per_step = std::log(1.f - 1.f / 32);
    measure("retention", dk, T, reps, [&](const TileRange& t, float* o, int64_t ld) { decay_implicit_attention(ret, t, o, ld); });
    DecayFactors gla = f;
    gla.decay.per_token = gates.data(), gla.decay.stride = dk, gla.decay.per_dim = true;
    measure("gla", dk, T, reps, [&](const TileRange& t, float* o, int64_t ld) { decay_implicit_attention(gla, t, o, ld); });

    for (int64_t i = 0; i < T; ++i) {  // DeltaNet's keys are L2-normalised
      double n2 = 0;
      for (int64_t d = 0; d < dk; ++d) n2 += k[i * dk + d] * k[i * dk + d];
      for (int64_t d = 0; d < dk; ++d) k[i * dk + d] /= static_cast<float>(std::sqrt(n2));
    }
    DeltaFactors df;
    df.q = q.data(), df.q_stride = dk, df.k = k.data(), df.k_stride = dk, df.dim = dk, df.scale = f.scale;
    df.beta = beta.data(), df.beta_stride = 1;
    measure("deltanet", dk, T, reps, [&](const TileRange& t, float* o, int64_t ld) { delta_implicit_attention(df, t, o, ld); });
    DeltaFactors gdf = df;
    gdf.log_alpha = gates.data(), gdf.log_alpha_stride = dk;  // one gate per token: column 0 of `gates`
    measure("gated_deltanet", dk, T, reps, [&](const TileRange& t, float* o, int64_t ld) { delta_implicit_attention(gdf, t, o, ld); });
  }

  {  // Mamba-2: one head, state dim N = 128, 8 heads in one group.
    const int64_t H = 8, N = 128;
    const auto dt = draw(T * H, 5, 0.001f, 0.1f), A = draw(H, 6, -8.f, -1.f), B = draw(T * N, 7, 0, 0, true),
               C = draw(T * N, 8, 0, 0, true);
    const Mamba2Factors m2{dt.data(), A.data(), B.data(), C.data(), H, N, 1};
    measure("mamba2_head", N, T, reps, [&](const TileRange& t, float* o, int64_t ld) { mamba2_implicit_attention(m2, 3, t, o, ld); });
  }
  {  // Mamba-1: D = 1536 channels, N = 16; one channel, and the means over 16 and over 64 channels
     // (the plugin shows a layer's channels as heads of 64).
    const int64_t D = 1536, N = 16;
    const auto delta = draw(T * D, 9, 0.001f, 0.1f), A = draw(D * N, 10, -16.f, -1.f), B = draw(T * N, 11, 0, 0, true),
               C = draw(T * N, 12, 0, 0, true);
    const Mamba1Factors m1{delta.data(), A.data(), B.data(), C.data(), D, N, 1};
    measure("mamba1_channel", N, T, reps, [&](const TileRange& t, float* o, int64_t ld) { mamba1_implicit_attention(m1, 5, t, o, ld); });
    measure("mamba1_mean16", N, T, reps,
            [&](const TileRange& t, float* o, int64_t ld) { mamba1_mean_implicit_attention(m1, 0, 16, t, o, ld); });
    measure("mamba1_mean64", N, T, reps,
            [&](const TileRange& t, float* o, int64_t ld) { mamba1_mean_implicit_attention(m1, 64, 128, t, o, ld); });
  }
  return 0;
}
