#include "mnemo/runtime/model.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>

#include "mnemo/backend/cpu_backend.h"
#include "mnemo/core/error.h"
#include "mnemo/runtime/kinds.h"
#include "model_impl.h"

namespace mnemo::rt {
namespace {

// Model-level head counts are optional summaries (a Mamba model has none): only what every model
// has is required.
void check_info(const mnemo_model_info& i, const std::string& path) {
  auto bad = [&](const std::string& what) { throw FormatError(path, "plugin reports an invalid model: " + what); };
  if (i.n_layers <= 0 || i.d_model <= 0 || i.vocab_size <= 0) bad("non-positive dimensions");
  if (i.n_heads < 0 || i.n_kv_heads < 0 || i.head_dim < 0 || i.d_ff < 0) bad("negative summary dimensions");
  if (i.n_heads > 0 && i.n_kv_heads > 0 && i.n_heads % i.n_kv_heads != 0) bad("heads not a multiple of KV heads");
  if (i.context_length <= 0) bad("no context length");
}

std::vector<LayerDesc> read_layers(const mnemo_plugin_api& api, const mnemo_model* model, int32_t n_layers,
                                   const std::string& path, std::string& error) {
  std::vector<LayerDesc> layers;
  for (int32_t i = 0; i < n_layers; ++i) {
    mnemo_layer_desc d{};
    d.struct_size = sizeof d;
    if (api.layer(model, i, &d) != MNEMO_OK)
      throw FormatError(path, error.empty() ? "the plugin cannot describe layer " + std::to_string(i) : error);
    layers.push_back(read_layer_desc(d, i, path));
  }
  return layers;
}

// "0-3, 7": the layers a gap applies to.
std::string layer_list(const std::vector<int32_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(layers[i]) + (j > i ? "-" + std::to_string(layers[j]) : "");
    i = j + 1;
  }
  return out;
}

// Asks the backend about every op the layers' mixers are made of (a missing one fails the load,
// naming the layers, the mixer, the op and the backend) and about matmul on each weight type of
// the file (listed as gaps: a tensor of an unsupported type may be one no matmul reads).
std::vector<std::string> check_backend(const backend::Backend& be, const std::vector<LayerDesc>& layers,
                                       const io::ModelFile& file) {
  std::map<std::pair<std::string, std::string>, std::vector<int32_t>> missing;  // (mixer, op) → layers
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::optional<MixerKind> mixer = find_mixer(layers[i].mixer);
    for (const auto& op : mixer->ops)
      if (!be.supports_op(op)) missing[{layers[i].mixer, op}].push_back(static_cast<int32_t>(i));
  }
  if (!missing.empty()) {
    std::string why;
    for (const auto& [key, at] : missing)
      why += (why.empty() ? "" : "; ") + std::string("layers ") + layer_list(at) + " (mixer '" + key.first +
             "') need op '" + key.second + "'";
    throw FormatError(file.path(), "backend '" + std::string(be.name()) + "' cannot run this model: " + why);
  }
  std::set<DType> types;
  for (const auto& t : file.tensors())
    if (t.view.ndim == 2) types.insert(t.view.dtype);
  std::vector<std::string> gaps;
  for (DType t : types)
    if (!be.supports_op("matmul", t))
      gaps.push_back("backend '" + std::string(be.name()) + "' has no matmul on " + std::string(dtype_name(t)) + " weights");
  return gaps;
}

// How the plugin cuts its input (ABI 2.2; older plugins' tables end before `segments`).
void read_segments(const mnemo_plugin_api& api, Model::Impl& I, const std::string& path) {
  if (api.struct_size < offsetof(mnemo_plugin_api, segments) + sizeof api.segments || !api.segments) return;
  mnemo_segment_info s{};
  s.struct_size = sizeof s;
  if (api.segments(I.model, &s) != MNEMO_OK)
    throw FormatError(path, I.error.empty() ? "the plugin cannot say how the model is cut into segments" : I.error);
  if (s.segment_length < 0 || s.memory_rows < 0)
    throw FormatError(path, "plugin reports an invalid segmentation: " + std::to_string(s.segment_length) +
                                " tokens and " + std::to_string(s.memory_rows) + " memory rows per segment");
  I.segment_length = s.segment_length;
  I.segment_memory_rows = s.segment_length > 0 ? s.memory_rows : 0;
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
  I->backend = backend::make_cpu_backend(I->pool);
  fill_host_api(I->api);
  I->thread_id = static_cast<int32_t>(::syscall(SYS_gettid));

  const mnemo_plugin_api& api = I->plugin->api();
  const mnemo_status s = api.create(&I->api, &I->host, options.plugin_options.c_str(), &I->model);
  if (s != MNEMO_OK || !I->model) {
    I->model = nullptr;
    throw FormatError(path, I->error.empty() ? "the " + info->id + " plugin could not build the model" : I->error);
  }
  api.info(I->model, &I->info);
  check_info(I->info, path);
  I->layers = read_layers(api, I->model, I->info.n_layers, path, I->error);
  I->backend_gaps = check_backend(*I->backend, I->layers, *I->file);
  I->max_context = I->info.context_length;
  if (options.max_context > 0) I->max_context = std::min<int64_t>(I->max_context, options.max_context);
  read_segments(api, *I, path);
  // A segmented model's KV memories hold one segment's rows; the context is the whole sequence.
  const int64_t kv_slots = I->segment_length > 0 ? int64_t{I->segment_length} + I->segment_memory_rows : I->max_context;
  I->memory.configure(*I->backend, I->layers, kv_slots, path);
  I->logits_buffer = I->backend->allocate(I->info.vocab_size);
  I->failed = false;
  I->error.clear();
  return std::unique_ptr<Model>(new Model(std::move(I)));
}

const mnemo_model_info& Model::info() const { return impl_->info; }
const std::vector<LayerDesc>& Model::layers() const { return impl_->layers; }
const ModelMemory& Model::memory() const { return impl_->memory; }
const char* Model::backend_name() const { return impl_->backend->name(); }
const std::vector<std::string>& Model::backend_gaps() const { return impl_->backend_gaps; }
const io::ModelFile& Model::file() const { return *impl_->file; }
const tok::Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const PluginInfo& Model::plugin() const { return impl_->plugin->info(); }
ThreadPool& Model::pool() { return impl_->pool; }
int64_t Model::position() const { return impl_->position; }
int64_t Model::step() const { return impl_->step; }
int64_t Model::max_context() const { return impl_->max_context; }
int32_t Model::segment_length() const { return impl_->segment_length; }
void Model::keep_hidden_states(bool keep) { impl_->keep_hidden = keep; }
std::span<const float> Model::hidden_states() const { return impl_->hidden; }

void Model::set_probe_sink(ProbeSink* sink) {
  Impl& I = *impl_;
  I.sink = sink;
  I.want_mixer = sink && sink->wants_mixer();
  I.want_state = sink && sink->wants_state();
  I.want_kv = sink && sink->wants_kv();
  I.want_residual = sink && sink->wants_residual();
  I.want_memory = sink && sink->wants_memory();
  I.want_ops = sink && sink->wants_op_timings();
}

void Model::reset() {
  Impl& I = *impl_;
  I.memory.reset();
  if (I.model && I.plugin->api().reset) I.plugin->api().reset(I.model);
  I.position = 0;
  I.step = 0;
}

namespace {

// The state of every recurrent layer after the step, for a sink that wants it.
void publish_states(Model::Impl& I) {
  for (int32_t l = 0; l < I.memory.n_layers(); ++l) {
    const RecurrentState* rs = I.memory.state(l);
    if (!rs) continue;
    auto host = [&](const backend::View& v, std::vector<float>& keep) -> const float* {
      if (!v.buffer) return nullptr;
      if (float* p = I.backend->host_address(*v.buffer)) return p + v.offset;
      keep.resize(static_cast<size_t>(v.elements()));
      I.backend->read(v, keep.data());
      return keep.data();
    };
    std::vector<float> state_copy, conv_copy;
    StateProbe p;
    p.step = I.step;
    p.layer = l;
    p.mixer = mixer_kinds().name(I.layers[static_cast<size_t>(l)].mixer_id);
    p.heads = rs->heads(), p.rows = rs->rows(), p.cols = rs->cols();
    p.state = host(rs->state(), state_copy);
    const backend::View conv = rs->conv();
    p.conv_channels = static_cast<int32_t>(conv.rows), p.conv_taps = static_cast<int32_t>(conv.cols);
    p.conv = host(conv, conv_copy);
    I.sink->on_state(p);
  }
}

}  // namespace

std::span<const float> Model::forward(std::span<const int32_t> tokens) {
  Impl& I = *impl_;
  const bool decoder = is_decoder();
  if (!decoder) reset();  // an encoder sees each input as a whole sequence
  if (tokens.empty()) throw UsageError("forward() needs at least one token");
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (I.position + n > I.max_context)
    throw UsageError("context full: " + std::to_string(I.position + n) + " tokens, the limit is " +
                     std::to_string(I.max_context));
  const bool want_hidden = I.keep_hidden || !decoder;
  if (want_hidden) I.hidden.clear();
  if (I.segment_length <= 0) {
    run_step(tokens);
  } else {
    // One step per segment the tokens reach into: a step never crosses a segment boundary.
    for (int64_t done = 0; done < n;) {
      const int64_t room = I.segment_length - I.position % I.segment_length;
      const int64_t take = std::min(room, n - done);
      run_step(tokens.subspan(static_cast<size_t>(done), static_cast<size_t>(take)));
      done += take;
    }
  }
  return decoder ? std::span<const float>(I.logits) : std::span<const float>();
}

void Model::run_step(std::span<const int32_t> tokens) {
  Impl& I = *impl_;
  const bool decoder = is_decoder();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const bool segmented = I.segment_length > 0;
  const int32_t segment = segmented ? static_cast<int32_t>(I.position / I.segment_length) : -1;
  const bool segment_start = segmented && I.position % I.segment_length == 0;
  if (segment_start) I.memory.begin_segment();
  // A segment's KV memory holds its memory rows beside its tokens.
  I.memory.reserve(segmented ? I.position % I.segment_length + n + I.segment_memory_rows : I.position + n);
  I.backend->begin_step();
  I.failed = false;
  I.error.clear();
  I.layer = -1;

  I.token_positions.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) I.token_positions[static_cast<size_t>(i)] = static_cast<int32_t>(I.position + i);
  I.rows_are_tokens();
  I.segment_ids.assign(static_cast<size_t>(n), segmented ? segment : 0);

  const int64_t d = I.info.d_model;
  const bool want_hidden = I.keep_hidden || !decoder;
  if (want_hidden && (!I.hidden_buffer || I.hidden_buffer->size() < n * d)) I.hidden_buffer = I.backend->allocate(n * d);

  StepProbe sp;
  sp.step = I.step;
  sp.kind = !decoder ? StepKind::Encode : (I.position == 0 ? StepKind::Prefill : StepKind::Decode);
  sp.pos0 = I.position;
  sp.n_tokens = n;
  sp.segment = segment;
  sp.segment_start = segment_start;
  if (I.sink) {
    sp.start_ns = monotonic_ns();
    I.sink->on_step_begin(sp);
  }

  mnemo_forward_args args{};
  args.tokens = tokens.data();
  args.n_tokens = n;
  args.positions = I.token_positions.data();
  args.segment_ids = I.segment_ids.data();
  args.pos0 = I.position;
  const int64_t vocab = I.info.vocab_size;
  if (decoder) args.logits = Impl::to_abi({I.logits_buffer.get(), 0, 1, vocab, vocab});
  if (want_hidden) args.hidden = Impl::to_abi({I.hidden_buffer.get(), 0, n, d, d});
  const mnemo_status s = I.plugin->api().forward(I.model, &args);
  I.rows_are_tokens();
  if (s != MNEMO_OK || I.failed) {
    const std::string why = I.error.empty() ? "forward failed" : I.error;
    reset();  // the memory may hold part of this step
    throw Error(I.file->path() + ": " + why);
  }
  I.position += n;
  if (decoder) {
    I.logits.resize(static_cast<size_t>(vocab));
    I.backend->read({I.logits_buffer.get(), 0, 1, vocab, vocab}, I.logits.data());
  }
  if (want_hidden) {
    const size_t kept = I.hidden.size();
    I.hidden.resize(kept + static_cast<size_t>(n * d));
    I.backend->read({I.hidden_buffer.get(), 0, n, d, d}, I.hidden.data() + kept);
  }
  if (I.want_state) publish_states(I);
  if (I.sink) {
    sp.end_ns = monotonic_ns();
    I.sink->on_step_end(sp);
  }
  ++I.step;
}

}  // namespace mnemo::rt
