#include "mnemo/record/record_run.h"

#include <sys/utsname.h>
#include <time.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "mnemo/core/blas_core.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/matmul.h"
#include "mnemo/runtime/kinds.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "mnemo/runtime/generate.h"
#include "mnemo/tasks/scoring.h"

namespace mnemo::record {
namespace {

std::string utc_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

profiler::RunInfo run_info(rt::Model& model, const RecordRequest& req) {
  const mnemo_model_info& mi = model.info();
  profiler::RunInfo r;
  r.label = req.label;
  r.model_path = model.file().path();
  r.model_format = model.file().format();
  r.architecture = mi.architecture;
  r.plugin_id = model.plugin().id;
  r.plugin_version = model.plugin().version;
  r.model_kind = model.is_decoder() ? "decoder" : "encoder";
  r.n_layers = mi.n_layers, r.d_model = mi.d_model, r.n_heads = mi.n_heads, r.n_kv_heads = mi.n_kv_heads;
  r.head_dim = mi.head_dim, r.vocab_size = mi.vocab_size, r.context_length = mi.context_length;
  r.prompt = req.prompt;
  nlohmann::json options = {{"n_new", req.n_new},
                            {"temperature", req.sampling.temperature},
                            {"top_k", req.sampling.top_k},
                            {"top_p", req.sampling.top_p},
                            {"seed", req.sampling.seed},
                            {"ignore_eos", req.ignore_eos},
                            {"threads", model.pool().size()},
                            {"pyramid_first_level", req.pyramid_first_level},
                            {"factor_dtype", profiler::dtype_name(req.factor_dtype)}};
  if (req.task) options["task"] = {{"name", req.task->task}, {"length", req.task->length}};
  r.options_json = options.dump();
  r.machine_json = machine_json(model);
  r.captures = req.captures.to_string();
  r.max_bytes = req.max_bytes;
  r.wall_start_utc = utc_now();
  r.start_ns = rt::monotonic_ns();
  // The layers as the plugin described them; the first capture of a softmax layer rewrites its row
  // with the mask, window and scale the engine used.
  const auto& layers = model.layers();
  for (int32_t l = 0; l < static_cast<int32_t>(layers.size()); ++l) {
    const rt::LayerDesc& d = layers[static_cast<size_t>(l)];
    // A segmented model's tokens attend within their segment: the session's mask says so.
    const bool segments = model.segment_length() > 0 && d.mask.pattern == MaskPattern::Causal;
    r.layers.push_back({l, d.mixer, d.memory, d.n_heads, d.n_kv_heads, d.key_dim, d.value_dim, d.state_rows, d.state_cols,
                        mask_pattern_name(segments ? MaskPattern::Segments : d.mask.pattern),
                        segments ? model.segment_length() : d.mask.window, d.scale});
  }
  r.op_kinds = rt::op_kind_names();
  return r;
}

}  // namespace

std::string machine_json(rt::Model& model) {
  utsname u{};
  uname(&u);
  nlohmann::json j = {{"cpu", cpu_model()},
                      {"cores", std::thread::hardware_concurrency()},
                      {"threads", model.pool().size()},
                      {"kernel_level", kernels::cpu_level()},
                      {"blas_core", setup_openblas_core().core},
                      {"blas_core_chosen_by", setup_openblas_core().chosen_by},
                      {"os", std::string(u.sysname) + " " + u.release},
                      {"sqlite", profiler::sqlite_library_version()},
                      {"mnemoscope", "0.1.0"},
                      {"plugin_abi", std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + "." + std::to_string(MNEMO_PLUGIN_ABI_MINOR)}};
  return j.dump();
}

RecordResult record_run(rt::Model& model, const RecordRequest& req,
                        const std::function<void(const RecordProgress&)>& on_progress) {
  if (req.task && req.task->example.text != req.prompt)
    throw UsageError("the prompt is not the text of the task prompt " + req.task->path);
  // A task prompt is fed as the task models were trained: its words, no special tokens.
  const std::vector<int32_t> ids =
      req.task ? tasks::example_tokens(model, req.task->example) : model.tokenizer().encode(req.prompt, true);
  if (ids.empty()) throw UsageError("the prompt encodes to no tokens");
  const bool decoder = model.is_decoder();
  const int64_t n_new = decoder ? req.n_new : 0;
  if (n_new < 0) throw UsageError("the number of tokens to generate must be >= 0");
  if (static_cast<int64_t>(ids.size()) + n_new > model.max_context())
    throw UsageError("the prompt (" + std::to_string(ids.size()) + " tokens) and " + std::to_string(n_new) +
                     " new tokens exceed the context of " + std::to_string(model.max_context()));

  profiler::RecorderOptions ro;
  ro.max_bytes = req.max_bytes;
  ro.attention_factors = req.captures.attention;
  ro.head_metrics = req.captures.metrics;
  ro.pyramids = req.captures.pyramids;
  ro.pyramid_first_level = req.pyramid_first_level;
  ro.factor_dtype = req.factor_dtype;
  // With a core to spare the writer runs there; otherwise it borrows one of the engine's.
  ThreadPool& pool = model.pool();
  if (req.lend_core_to_writer && pool.size() > 1 && pool.size() >= ThreadPool::hardware_threads()) ro.borrow_core_from = &pool;
  const profiler::RunInfo info = run_info(model, req);
  profiler::Recorder recorder(req.session_path, info, ro);
  ProbeRecorder sink(recorder, req.captures, &pool);
  sink.set_layers(info.layers);
  sink.set_segment_length(model.segment_length());
  sink.set_encoder(!decoder);

  RecordResult result;
  result.run_id = recorder.run_id();
  const tok::Tokenizer& tok = model.tokenizer();
  for (size_t i = 0; i < ids.size(); ++i)
    recorder.submit(profiler::TokenRecord{static_cast<int64_t>(i), ids[i], tok.token_text(ids[i]), 0});

  const int64_t t_start = rt::monotonic_ns();
  int64_t last_end = t_start, step = 0;
  double decode_rate = 0;
  auto report = [&](int64_t n_tokens, int64_t step_ns) {
    recorder.end_step(step);
    if (!on_progress) return;
    const profiler::RecorderStats st = recorder.stats();
    RecordProgress p;
    p.step = step;
    p.planned_steps = std::max<int64_t>(1, n_new);  // the prefill produces the first new token
    p.tokens = model.position();
    p.tokens_per_s = step_ns > 0 ? static_cast<double>(n_tokens) * 1e9 / static_cast<double>(step_ns) : 0;
    if (step > 0) decode_rate = decode_rate == 0 ? p.tokens_per_s : 0.8 * decode_rate + 0.2 * p.tokens_per_s;
    p.mb_written = static_cast<double>(st.bytes_written) / 1e6;
    const int64_t left = p.planned_steps - 1 - step;
    p.eta_s = decode_rate > 0 ? static_cast<double>(left) / decode_rate : 0;
    on_progress(p);
  };

  std::string error;
  model.set_probe_sink(&sink);
  try {
    model.reset();
    std::span<const float> logits = model.forward(ids);
    int64_t now = rt::monotonic_ns();
    result.prefill_ns = now - t_start;
    report(static_cast<int64_t>(ids.size()), now - last_end);
    last_end = now;
    rt::Sampler sampler(req.sampling);
    const int32_t eos = tok.special().eos;
    std::vector<int32_t> generated;
    for (int64_t i = 0; i < n_new; ++i) {
      const int32_t next = sampler.sample(logits);
      generated.push_back(next);
      recorder.submit(profiler::TokenRecord{model.position(), next, tok.token_text(next), step});
      if ((!req.ignore_eos && next == eos) || i + 1 == n_new) break;
      if (recorder.failed()) break;
      if (req.cancel && req.cancel->load()) {
        result.cancelled = true;
        break;
      }
      logits = model.forward(std::span<const int32_t>(&next, 1));
      ++step;
      now = rt::monotonic_ns();
      report(1, now - last_end);
      last_end = now;
    }
    result.generated = static_cast<int64_t>(generated.size());
    result.generated_text = tok.decode(generated);
  } catch (const std::exception& e) {
    error = e.what();
  }
  model.set_probe_sink(nullptr);
  sink.flush();
  if (req.task && error.empty() && !result.cancelled) {
    try {
      for (const tasks::AnswerScore& a : tasks::score_example(model, req.task->example).answers) {
        result.answers.push_back(
            {a.position, a.expected, a.predicted, a.probability, a.confidence, tok.token_text(a.predicted)});
        recorder.submit(result.answers.back());
      }
    } catch (const std::exception& e) {
      error = std::string("scoring the task prompt's answers: ") + e.what();
    }
  }
  if (result.cancelled && error.empty()) error = "cancelled by the user";
  result.steps = step + 1;
  result.tokens = static_cast<int64_t>(ids.size()) + result.generated;
  const int64_t t_model_done = rt::monotonic_ns();
  recorder.finish(error);  // throws SessionError when writing had failed
  result.closing_ns = rt::monotonic_ns() - t_model_done;
  result.wall_ns = rt::monotonic_ns() - t_start;  // the recording's whole cost: the queue drained, the file closed
  result.stats = recorder.stats();
  if (!error.empty() && !result.cancelled) throw Error(error);
  return result;
}

}  // namespace mnemo::record
