// mnemo model-info: what a checkpoint holds, read without running it.
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/dtype.h"
#include "mnemo/core/visibility.h"
#include "mnemo/io/model_file.h"
#include "mnemo/runtime/model.h"
#include "mnemo/tokenizer/tokenizer.h"

namespace mnemo::cli {
namespace {

// Metadata for display: long arrays (vocabularies, merges) become a count.
nlohmann::json summarise(const nlohmann::json& meta) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : meta.items()) {
    if (value.is_array() && value.size() > 16)
      out[key] = "[" + std::to_string(value.size()) + " items]";
    else if (value.is_string() && value.get_ref<const std::string&>().size() > 200)
      out[key] = value.get<std::string>().substr(0, 200) + "…";
    else
      out[key] = value;
  }
  return out;
}

}  // namespace

int cmd_model_info(const Argv& argv) {
  Args args("model-info", "Describes a checkpoint: format, architecture, dimensions, tensor types and tokenizer.");
  args.positional("PATH", "GGUF file or Hugging Face folder").flag("--json", "print JSON").flag("--tensors", "list every tensor");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  const std::string path = args.required("PATH");

  auto file = io::open_model(path);
  // What cannot be read is reported in the output and, after it, as errors with a non-zero exit.
  std::vector<std::string> problems;
  nlohmann::json j;
  j["path"] = path;
  j["format"] = file->format();
  j["architecture"] = file->architecture();

  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // dtype → tensors, bytes
  int64_t params = 0;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : file->tensors()) {
    auto& [count, bytes] = by_type[std::string(dtype_name(t.view.dtype))];
    ++count;
    bytes += t.view.nbytes;
    params += t.view.numel();
    tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.view.dtype)}, {"shape", std::vector<int64_t>(t.view.shape.begin(), t.view.shape.begin() + t.view.ndim)}});
  }
  j["parameters"] = params;
  for (const auto& [type, cb] : by_type) j["tensor_types"][type] = {{"tensors", cb.first}, {"bytes", cb.second}};
  j["tensor_count"] = file->tensors().size();
  if (args.has("tensors")) j["tensors"] = tensors;

  try {
    auto tok = tok::load_tokenizer(*file);
    const auto& s = tok->special();
    j["tokenizer"] = {{"kind", tok->kind()}, {"vocab_size", tok->vocab_size()}, {"bos", s.bos}, {"eos", s.eos},
                      {"unk", s.unk}, {"pad", s.pad}, {"cls", s.cls}, {"sep", s.sep}};
  } catch (const std::exception& e) {
    j["tokenizer"] = {{"error", e.what()}};
    problems.push_back(e.what());
  }

  // Dimensions as the architecture plugin reads them (the same code path a run takes).
  try {
    auto model = rt::Model::open(path, rt::ModelOptions{1, "{}", 0}, rt::PluginRegistry::discover());
    const auto& i = model->info();
    j["plugin"] = model->plugin().id + " " + model->plugin().version;
    j["dimensions"] = {{"kind", i.kind == MNEMO_MODEL_DECODER ? "decoder" : "encoder"},
                       {"layers", i.n_layers}, {"d_model", i.d_model}, {"heads", i.n_heads}, {"kv_heads", i.n_kv_heads},
                       {"head_dim", i.head_dim}, {"d_ff", i.d_ff}, {"vocab_size", i.vocab_size},
                       {"context_length", i.context_length}};
    // Each layer as the plugin declares it, and what the backend lacks for this model.
    for (const auto& L : model->layers())
      j["layers"].push_back({{"mixer", L.mixer}, {"memory", L.memory}, {"heads", L.n_heads}, {"kv_heads", L.n_kv_heads},
                             {"key_dim", L.key_dim}, {"value_dim", L.value_dim}, {"state_rows", L.state_rows},
                             {"state_cols", L.state_cols}, {"mask", mask_pattern_name(L.mask.pattern)},
                             {"window", L.mask.window}});
    j["backend"] = {{"name", model->backend_name()}, {"gaps", model->backend_gaps()}};
  } catch (const std::exception& e) {
    j["dimensions"] = {{"error", e.what()}};
    if (problems.empty() || problems.back() != e.what()) problems.push_back(e.what());
  }
  j["metadata"] = summarise(file->metadata());

  auto finish = [&] {
    for (const auto& p : problems) std::fprintf(stderr, "mnemo model-info: error: %s\n", p.c_str());
    return problems.empty() ? 0 : 1;
  };
  if (args.has("json")) {
    print_json(j);
    return finish();
  }
  std::printf("%s\n  format        %s\n  architecture  %s\n", path.c_str(), j["format"].get<std::string>().c_str(),
              j["architecture"].get<std::string>().c_str());
  if (j["dimensions"].contains("error")) {
    std::printf("  dimensions    unavailable: %s\n", j["dimensions"]["error"].get<std::string>().c_str());
  } else {
    const auto& d = j["dimensions"];
    std::printf("  plugin        %s\n  kind          %s\n  layers        %d\n  d_model       %d\n  heads         %d (kv %d, dim %d)\n"
                "  d_ff          %d\n  vocab         %d\n  context       %d\n",
                j["plugin"].get<std::string>().c_str(), d["kind"].get<std::string>().c_str(), d["layers"].get<int>(),
                d["d_model"].get<int>(), d["heads"].get<int>(), d["kv_heads"].get<int>(), d["head_dim"].get<int>(),
                d["d_ff"].get<int>(), d["vocab_size"].get<int>(), d["context_length"].get<int>());
  }
  if (j.contains("layers")) {
    std::string mixers;  // runs of equal layers: "30 × softmax/kv_cache"
    const auto& layers = j["layers"];
    for (size_t a = 0; a < layers.size();) {
      size_t b = a;
      while (b < layers.size() && layers[b]["mixer"] == layers[a]["mixer"] && layers[b]["memory"] == layers[a]["memory"]) ++b;
      mixers += (mixers.empty() ? "" : ", ") + std::to_string(b - a) + " × " + layers[a]["mixer"].get<std::string>() + "/" +
                layers[a]["memory"].get<std::string>();
      a = b;
    }
    std::printf("  mixers        %s\n  backend       %s\n", mixers.c_str(), j["backend"]["name"].get<std::string>().c_str());
    for (const auto& gap : j["backend"]["gaps"]) std::printf("    lacks: %s\n", gap.get<std::string>().c_str());
  }
  std::printf("  parameters    %lld in %zu tensors\n", static_cast<long long>(params), file->tensors().size());
  for (const auto& [type, cb] : by_type)
    std::printf("    %-6s %5lld tensors %10.1f MiB\n", type.c_str(), static_cast<long long>(cb.first), cb.second / 1048576.0);
  const auto& t = j["tokenizer"];
  if (t.contains("error"))
    std::printf("  tokenizer     unavailable: %s\n", t["error"].get<std::string>().c_str());
  else
    std::printf("  tokenizer     %s, %d tokens (bos %d, eos %d)\n", t["kind"].get<std::string>().c_str(), t["vocab_size"].get<int>(),
                t["bos"].get<int>(), t["eos"].get<int>());
  if (args.has("tensors"))
    for (const auto& x : tensors) std::printf("    %-48s %-6s %s\n", x["name"].get<std::string>().c_str(), x["dtype"].get<std::string>().c_str(), x["shape"].dump().c_str());
  std::fflush(stdout);
  return finish();
}

}  // namespace mnemo::cli
