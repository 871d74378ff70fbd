#include "mnemo/runtime/model.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "mnemo/core/error.h"
#include "model_impl.h"

namespace mnemo::rt {
namespace {

constexpr size_t kInitialScratchBytes = size_t{32} << 20;

void check_info(const mnemo_model_info& i, const std::string& path) {
  auto bad = [&](const std::string& what) { throw FormatError(path, "plugin reports an invalid model: " + what); };
  if (i.n_layers <= 0 || i.d_model <= 0 || i.n_heads <= 0 || i.head_dim <= 0 || i.vocab_size <= 0)
    bad("non-positive dimensions");
  if (i.n_kv_heads <= 0 || i.n_heads % i.n_kv_heads != 0) bad("heads not a multiple of KV heads");
  if (i.context_length <= 0) bad("no context length");
}

}  // namespace

Model::Impl::~Impl() {
  if (model && plugin) plugin->api().destroy(model);
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::open(const std::string& path, const ModelOptions& options,
                                   const PluginRegistry& plugins) {
  const int threads = options.threads > 0 ? options.threads : ThreadPool::hardware_threads();
  auto I = std::make_unique<Impl>(threads);
  I->file = io::open_model(path);
  I->file->page_in();
  const std::string arch = I->file->architecture();
  if (arch.empty())
    throw FormatError(path, "the checkpoint does not name its architecture (general.architecture or model_type)");
  I->tokenizer = tok::load_tokenizer(*I->file);

  try {
    I->plugin = plugins.load_for(arch);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const PluginInfo* info = &I->plugin->info();
  fill_host_api(I->api);
  I->thread_id = static_cast<int32_t>(::syscall(SYS_gettid));
  I->arena.reserve(kInitialScratchBytes);

  const mnemo_status s =
      I->plugin->api().create(&I->api, &I->host, options.plugin_options.c_str(), &I->model);
  if (s != MNEMO_OK || !I->model) {
    I->model = nullptr;
    throw FormatError(path, I->error.empty() ? "the " + info->id + " plugin could not build the model" : I->error);
  }
  I->plugin->api().info(I->model, &I->info);
  check_info(I->info, path);
  I->max_context = I->info.context_length;
  if (options.max_context > 0) I->max_context = std::min<int64_t>(I->max_context, options.max_context);
  I->kv.configure(I->info.n_layers, I->info.n_kv_heads, I->info.head_dim, I->max_context);
  I->logits.resize(static_cast<size_t>(I->info.vocab_size));
  I->failed = false;
  I->error.clear();
  return std::unique_ptr<Model>(new Model(std::move(I)));
}

const mnemo_model_info& Model::info() const { return impl_->info; }
const io::ModelFile& Model::file() const { return *impl_->file; }
const tok::Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const PluginInfo& Model::plugin() const { return impl_->plugin->info(); }
ThreadPool& Model::pool() { return impl_->pool; }
int64_t Model::position() const { return impl_->position; }
int64_t Model::step() const { return impl_->step; }
int64_t Model::max_context() const { return impl_->max_context; }
void Model::keep_hidden_states(bool keep) { impl_->keep_hidden = keep; }
std::span<const float> Model::hidden_states() const { return impl_->hidden; }

void Model::set_probe_sink(ProbeSink* sink) {
  Impl& I = *impl_;
  I.sink = sink;
  I.want_attention = sink && sink->wants_attention();
  I.want_kv = sink && sink->wants_kv();
  I.want_residual = sink && sink->wants_residual();
  I.want_ops = sink && sink->wants_op_timings();
}

void Model::reset() {
  impl_->kv.clear();
  impl_->position = 0;
  impl_->step = 0;
}

std::span<const float> Model::forward(std::span<const int32_t> tokens) {
  Impl& I = *impl_;
  const bool decoder = is_decoder();
  if (!decoder) reset();  // an encoder sees each input as a whole sequence
  if (tokens.empty()) throw UsageError("forward() needs at least one token");
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (I.position + n > I.max_context)
    throw UsageError("context full: " + std::to_string(I.position + n) + " tokens, the limit is " +
                     std::to_string(I.max_context));
  I.kv.reserve(I.position + n);

  // Scratch that overflowed the arena last time is folded into it now, between steps.
  if (I.scratch_overflow_bytes) {
    I.arena.reserve(I.arena.high_water() + I.scratch_overflow_bytes + (size_t{1} << 20));
    I.scratch_overflow.clear();
    I.scratch_overflow_bytes = 0;
  }
  I.arena.reset();
  I.failed = false;
  I.error.clear();
  I.layer = -1;

  const bool want_hidden = I.keep_hidden || !decoder;
  if (want_hidden) I.hidden.resize(static_cast<size_t>(n * I.info.d_model));

  StepProbe sp;
  sp.step = I.step;
  sp.kind = !decoder ? StepKind::Encode : (I.position == 0 ? StepKind::Prefill : StepKind::Decode);
  sp.pos0 = I.position;
  sp.n_tokens = n;
  if (I.sink) {
    sp.start_ns = monotonic_ns();
    I.sink->on_step_begin(sp);
  }

  mnemo_forward_args args{};
  args.tokens = tokens.data();
  args.n_tokens = n;
  args.pos0 = I.position;
  args.logits = decoder ? I.logits.data() : nullptr;
  args.hidden = want_hidden ? I.hidden.data() : nullptr;
  const mnemo_status s = I.plugin->api().forward(I.model, &args);
  if (s != MNEMO_OK || I.failed) {
    const std::string why = I.error.empty() ? "forward failed" : I.error;
    reset();  // the KV cache may hold part of this step
    throw Error(I.file->path() + ": " + why);
  }
  I.position += n;
  if (I.sink) {
    sp.end_ns = monotonic_ns();
    I.sink->on_step_end(sp);
  }
  ++I.step;
  return decoder ? std::span<const float>(I.logits) : std::span<const float>();
}

}  // namespace mnemo::rt
