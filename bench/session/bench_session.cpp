// Session micro-benchmarks, each against a baseline measured in the same run:
//   bench_session writer DIR [MB]      SessionWriter throughput vs raw sequential write() of the same bytes
//   bench_session make FILE MB         a synthetic session of about MB megabytes (for the open benchmark)
//   bench_session open FILE [reps]     open + list runs (what `mnemo info` and the app do first) vs open alone
//   bench_session tiles FILE [n]       level-0 tile fetch latency (cold head and warm) vs reading the factors
//   bench_session overview FILE        every head's overview tile at the last step (what the app's model
//                                      overview reads) vs selecting those tiles' BLOBs alone
//   bench_session loan [reps]          a 2-thread pool's runs alone, beside a thread that computes in bursts
//                                      (as the recorder's writer does), and beside one that borrows a core
//                                      for its bursts (ThreadPool::borrow_core): wall lost per CPU-second
// Prints one JSON object per command on stdout.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/session/session_writer.h"

using namespace mnemo::profiler;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void remove_session(const std::string& path) {
  for (const char* s : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + s);
}

RunInfo bench_run(int layers, int heads, int kv_heads, int d) {
  RunInfo r;
  r.model_path = "synthetic", r.model_format = "gguf", r.architecture = "llama", r.plugin_id = "bench";
  r.plugin_version = "0", r.n_layers = layers, r.n_heads = heads, r.n_kv_heads = kv_heads, r.head_dim = d;
  r.d_model = heads * d, r.wall_start_utc = "bench";
  return r;
}

// Factor rows as SmolLM2 (30 layers, 9 heads, 3 KV heads, d 64) records them: runs of a prefill of
// T positions then `decode` one-position steps, one transaction per step, until target_bytes.
int64_t write_factors(const std::string& path, int64_t target_bytes, int64_t T, int64_t decode, int64_t commit_every = 1) {
  Db db = open_session_for_recording(path);
  SessionWriter w(db);
  std::mt19937 rng(1);
  // One row per layer, step and factor: 9 heads' queries (fp32, as recorded by default) and
  // log-sum-exps, 3 KV heads' keys.
  std::vector<float> q(static_cast<size_t>(9 * T * 64)), k(static_cast<size_t>(3 * T * 64));
  std::normal_distribution<float> g(0.f, 1.f);
  for (auto& x : q) x = g(rng);
  for (auto& x : k) x = g(rng);
  // Records are built once and renumbered, so the figure is the writer's, not the benchmark's copies.
  MixerFactorRecord kr{0, 0, "k", 3, T, 64, 0, {}, 0, k},
      kr1{0, 0, "k", 3, 1, 64, 0, {}, 0, std::vector<float>(k.begin(), k.begin() + 3 * 64)};
  MixerFactorRecord qr{0, 0, "q", 9, T, 64, 0, {}, T, q},
      qr1{0, 0, "q", 9, 1, 64, 0, {}, 1, std::vector<float>(q.begin(), q.begin() + 9 * 64)};
  MixerFactorRecord lr{0, 0, "lse", 9, T, 1, 0, {}, T, std::vector<float>(9 * T, 1.f)},
      lr1{0, 0, "lse", 9, 1, 1, 0, {}, 1, std::vector<float>(9, 1.f)};
  const auto bytes = [](const MixerFactorRecord& r) { return static_cast<int64_t>(value_count(r.data) * 4); };
  int64_t written = 0;
  while (written < target_bytes) {
    w.begin_run(bench_run(30, 9, 3, 64));
    for (int64_t step = 0; step <= decode && written < target_bytes; ++step) {
      const int64_t pos0 = step == 0 ? 0 : T + step - 1;
      if (!w.in_batch()) w.begin_batch();
      w.write(StepRecord{step, step == 0 ? "prefill" : "decode", pos0, step == 0 ? T : 1, step, step + 1});
      for (int layer = 0; layer < 30; ++layer)
        for (MixerFactorRecord* r : {step == 0 ? &kr : &kr1, step == 0 ? &lr : &lr1, step == 0 ? &qr : &qr1}) {
          r->layer = layer, r->step = step, r->pos0 = pos0;
          if (r->factor != "k") r->n_keys = pos0 + r->n;
          w.write(*r);
          written += bytes(*r);
        }
      if (step % commit_every == 0) w.commit_batch();
    }
    w.finish_run(1, "", "[]");
  }
  return written;
}

int cmd_writer(const std::string& dir, int64_t mb) {
  const std::string session = dir + "/bench_writer.mnemo", raw = dir + "/bench_writer.raw";
  const int64_t target = mb << 20;
  // Baseline: the same number of bytes written with write() in 1 MiB chunks (no fsync: SQLite's
  // synchronous=NORMAL in WAL mode does not sync at commits either).
  std::vector<char> chunk(1 << 20, 'x');
  auto t0 = Clock::now();
  int fd = ::open(raw.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (int64_t done = 0; done < target; done += static_cast<int64_t>(chunk.size()))
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return 1;
  ::close(fd);
  const double raw_s = seconds_since(t0);
  std::filesystem::remove(raw);
  // Bulk: prefills of 512 positions only (the bytes of a recording).
  remove_session(session);
  t0 = Clock::now();
  const int64_t bulk = write_factors(session, target, 512, 0);
  const double bulk_s = seconds_since(t0);
  // With decode: each prefill followed by 64 one-position steps, one commit each.
  remove_session(session);
  t0 = Clock::now();
  const int64_t runs = std::max<int64_t>(1, target / (int64_t{24} << 20));
  const int64_t with_decode = write_factors(session, runs * (int64_t{23} << 20), 512, 64, std::getenv("COMMIT_EVERY") ? std::atoi(std::getenv("COMMIT_EVERY")) : 1);
  const double decode_s = seconds_since(t0);
  // The decode steps' share: total minus what their prefills cost at the bulk rate.
  const double decode_step_ms = (decode_s - bulk_s * static_cast<double>(with_decode) / static_cast<double>(bulk)) /
                                static_cast<double>(runs * 64) * 1e3;
  std::printf("{\"bench\": \"writer\", \"payload_mb\": %.1f, \"bulk_mb_s\": %.1f, \"raw_write_mb_s\": %.1f, "
              "\"bulk_over_raw\": %.3f, \"file_over_payload\": %.3f, \"decode_step_ms\": %.3f}\n",
              static_cast<double>(bulk) / 1e6, static_cast<double>(bulk) / 1e6 / bulk_s,
              static_cast<double>(target) / 1e6 / raw_s, (static_cast<double>(bulk) / bulk_s) / (static_cast<double>(target) / raw_s),
              static_cast<double>(std::filesystem::file_size(session)) / static_cast<double>(with_decode), decode_step_ms);
  remove_session(session);
  return 0;
}

int cmd_make(const std::string& path, int64_t mb) {
  remove_session(path);
  const int64_t written = write_factors(path, mb << 20, 2048, 0);
  std::printf("{\"bench\": \"make\", \"payload_mb\": %.1f, \"file_mb\": %.1f}\n", static_cast<double>(written) / 1e6,
              static_cast<double>(std::filesystem::file_size(path)) / 1e6);
  return 0;
}

std::vector<double> percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.5), at(0.99), v.back()};
}

int cmd_open(const std::string& path, int reps) {
  std::vector<double> open_only, open_info;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    { SessionReader r(path); }
    open_only.push_back(seconds_since(t0) * 1e3);
    t0 = Clock::now();
    {
      SessionReader r(path);
      const auto runs = r.runs();
      if (runs.empty()) return 1;
    }
    open_info.push_back(seconds_since(t0) * 1e3);
  }
  const auto a = percentiles(open_only), b = percentiles(open_info);
  std::printf("{\"bench\": \"open\", \"file_mb\": %.1f, \"open_ms_p50\": %.2f, \"open_and_list_runs_ms_p50\": %.2f, "
              "\"open_and_list_runs_ms_max\": %.2f}\n",
              static_cast<double>(std::filesystem::file_size(path)) / 1e6, a[0], b[0], b[2]);
  return 0;
}

int cmd_tiles(const std::string& path, int n) {
  SessionReader reader(path);
  const RunSummary run = reader.runs().front();
  const auto steps = reader.steps(run.id);
  const int64_t last = steps.back().step;
  std::mt19937 rng(7);
  std::vector<double> cold, warm, factor_read;
  // Baseline: reading one head's q and lse slices and its KV head's k slice straight from SQLite.
  Stmt qb = reader.db().prepare(
      "SELECT substr(data, ?3 * n * width * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END) + 1, "
      "n * width * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END)) FROM _mixer_factor "
      "WHERE run_id = ?1 AND layer = ?2 AND factor IN ('q', 'lse')");
  Stmt kb = reader.db().prepare(
      "SELECT substr(data, ?3 * n * width * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END) + 1, "
      "n * width * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END)) FROM _mixer_factor "
      "WHERE run_id = ?1 AND layer = ?2 AND factor = 'k'");
  for (int i = 0; i < n; ++i) {
    const int32_t layer = static_cast<int32_t>(rng() % run.info.n_layers), head = static_cast<int32_t>(rng() % run.info.n_heads);
    const MapShape shape = reader.map_shape(run.id, last, layer, head);
    const int64_t tiles = (shape.rows + 255) / 256;
    int64_t ty = static_cast<int64_t>(rng() % tiles), tx = static_cast<int64_t>(rng() % tiles);
    if (tx > ty) std::swap(tx, ty);  // below the diagonal: tiles with content
    // A fresh reader per cold fetch: nothing of this head is cached.
    SessionReader fresh(path);
    auto t0 = Clock::now();
    fresh.tile(run.id, last, layer, head, 0, ty, tx);
    cold.push_back(seconds_since(t0) * 1e3);
    t0 = Clock::now();
    fresh.tile(run.id, last, layer, head, 0, ty, std::max<int64_t>(0, tx - 1));
    warm.push_back(seconds_since(t0) * 1e3);
    t0 = Clock::now();
    int64_t bytes = 0;
    qb.reset();
    qb.bind(1, run.id).bind(2, layer).bind(3, head);
    while (qb.step()) bytes += static_cast<int64_t>(qb.blob(0).size());
    kb.reset();
    kb.bind(1, run.id).bind(2, layer).bind(3, head / static_cast<int32_t>(run.info.n_heads / run.info.n_kv_heads));
    while (kb.step()) bytes += static_cast<int64_t>(kb.blob(0).size());
    factor_read.push_back(seconds_since(t0) * 1e3);
  }
  const auto c = percentiles(cold), w = percentiles(warm), f = percentiles(factor_read);
  std::printf("{\"bench\": \"tiles\", \"positions\": %lld, \"n\": %d, \"cold_ms_p50\": %.3f, \"cold_ms_p99\": %.3f, "
              "\"warm_ms_p50\": %.3f, \"warm_ms_p99\": %.3f, \"factor_read_ms_p50\": %.3f, \"cold_over_factor_read\": %.2f}\n",
              static_cast<long long>(steps.back().pos0 + steps.back().n_tokens), n, c[0], c[1], w[0], w[1], f[0], c[0] / f[0]);
  return 0;
}

int cmd_overview(const std::string& path) {
  SessionReader reader(path);
  const RunSummary run = reader.runs().front();
  const int64_t last = reader.steps(run.id).back().step;
  auto t0 = Clock::now();
  int64_t recomputed = 0, heads = 0;
  int level = 0;
  for (int32_t layer = 0; layer < run.info.n_layers; ++layer)
    for (int32_t head = 0; head < run.info.n_heads; ++head, ++heads) {
      const MapShape shape = reader.map_shape(run.id, last, layer, head);
      // The first level whose map fits one tile (viz::fit_level_of).
      for (level = 0; ((shape.rows - 1) >> level) >= kTileSize || ((shape.cols - 1) >> level) >= kTileSize;) ++level;
      recomputed += reader.tile(run.id, last, layer, head, level, 0, 0).recomputed_rows;
    }
  const double overview_ms = seconds_since(t0) * 1e3;
  // Baseline: the same tiles' BLOBs straight from SQLite, no decoding.
  t0 = Clock::now();
  int64_t bytes = 0;
  Stmt b = reader.db().prepare("SELECT max, mean FROM _pyramid_tile WHERE run_id = ? AND level = ? AND ty = 0 AND tx = 0");
  b.bind(1, run.id).bind(2, level);
  while (b.step()) bytes += static_cast<int64_t>(b.blob(0).size() + b.blob(1).size());
  const double blobs_ms = seconds_since(t0) * 1e3;
  std::printf("{\"bench\": \"overview\", \"heads\": %lld, \"level\": %d, \"recomputed_rows\": %lld, \"overview_ms\": %.1f, "
              "\"tile_blobs_ms\": %.1f, \"tile_blob_mb\": %.1f, \"overview_over_blobs\": %.2f}\n",
              static_cast<long long>(heads), level, static_cast<long long>(recomputed), overview_ms, blobs_ms, bytes / 1e6,
              overview_ms / blobs_ms);
  return 0;
}

// Busy work for `us` microseconds (a compute-bound part, not a sleep: the point is the CPU).
void compute_for(double us) {
  const auto t0 = Clock::now();
  volatile double x = 1;
  while (seconds_since(t0) * 1e6 < us)
    for (int i = 0; i < 64; ++i) x = x * 1.0000001 + 1e-9;
}

// 4000 runs of two 200 µs parts on a 2-thread pool (a decode step's sections are shorter, a
// prefill's longer), next to a side thread that computes 1.5 ms every 10 ms: free-running (the OS
// decides where and when) or on a core it borrows from the pool. Where the pool fills the
// machine's cores, the first costs the runs about a second of wall per CPU-second of the side
// thread; the second should cost about half.
int cmd_loan(int reps) {
  enum Mode { kAlone, kFree, kBorrowing };
  auto once = [](Mode mode) {
    mnemo::ThreadPool pool(2);
    std::atomic<bool> done{false};
    double side_cpu_s = 0;
    std::thread side;
    if (mode != kAlone)
      side = std::thread([&] {
        while (!done.load()) {
          std::this_thread::sleep_for(std::chrono::microseconds(8500));
          const bool lent = mode == kBorrowing && pool.borrow_core();
          compute_for(1500);
          side_cpu_s += 1.5e-3;
          if (lent) pool.return_core();
        }
      });
    const auto t0 = Clock::now();
    for (int r = 0; r < 4000; ++r) pool.run([](int, int) { compute_for(200); });
    const double wall = seconds_since(t0);
    done = true;
    if (side.joinable()) side.join();
    return std::pair{wall, side_cpu_s};
  };
  std::vector<double> lost_free, lost_borrowing, alone_s;
  for (int rep = 0; rep < reps; ++rep) {
    const double alone = once(kAlone).first;
    const auto [free_wall, free_cpu] = once(kFree);
    const auto [borrow_wall, borrow_cpu] = once(kBorrowing);
    alone_s.push_back(alone);
    lost_free.push_back((free_wall - alone) / free_cpu);
    lost_borrowing.push_back((borrow_wall - alone) / borrow_cpu);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("{\"machine_cpus\": %d, \"alone_s\": %.3f, \"wall_lost_per_side_cpu_s\": {\"free_running\": %.2f, "
              "\"borrowing\": %.2f}}\n",
              mnemo::ThreadPool::hardware_threads(), median(alone_s), median(lost_free), median(lost_borrowing));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "writer" && argc >= 3) return cmd_writer(argv[2], argc > 3 ? std::stoll(argv[3]) : 512);
    if (cmd == "make" && argc >= 4) return cmd_make(argv[2], std::stoll(argv[3]));
    if (cmd == "open" && argc >= 3) return cmd_open(argv[2], argc > 3 ? std::stoi(argv[3]) : 20);
    if (cmd == "tiles" && argc >= 3) return cmd_tiles(argv[2], argc > 3 ? std::stoi(argv[3]) : 300);
    if (cmd == "overview" && argc >= 3) return cmd_overview(argv[2]);
    if (cmd == "loan") return cmd_loan(argc > 2 ? std::max(1, std::stoi(argv[2])) : 5);
    std::fprintf(stderr,
                 "usage: bench_session writer DIR [MB] | make FILE MB | open FILE [reps] | tiles FILE [n] | overview FILE | "
                 "loan [reps]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_session: %s\n", e.what());
    return 1;
  }
}
