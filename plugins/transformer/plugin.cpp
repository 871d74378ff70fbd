// The plugin's entry point: the architecture named by the file picks its loader.
#include <string>

#include "transformer_model.hpp"

namespace {

const char* const kArchitectures[] = {"gpt2", "llama", "mistral", "bert", nullptr};

std::unique_ptr<mnemo::sdk::Model> create_model(const mnemo::sdk::Host& host, std::string_view /*options*/) {
  using namespace transformer;
  const std::string arch = host.is_gguf() ? host.meta_string("general.architecture").value_or("")
                                          : host.meta_string("model_type").value_or("");
  if (arch == "gpt2") return make_transformer(host, load_gpt2(host));
  if (arch == "llama") return make_transformer(host, load_llama(host));
  if (arch == "mistral") return make_transformer(host, load_mistral(host));
  if (arch == "bert") return make_transformer(host, load_bert(host));
  throw PluginError(MNEMO_ERR_UNSUPPORTED, "the transformer plugin does not serve architecture '" + arch + "'");
}

}  // namespace

MNEMO_DEFINE_PLUGIN("transformer", "2.1.0", kArchitectures, create_model)
