// Broken tokenizer files are refused with a FormatError that names the file and the problem;
// none crashes, hangs or allocates absurdly.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mnemo/core/error.h"
#include "tokenizer_test_util.h"

namespace mnemo::tok::test {
namespace {

namespace fs = std::filesystem;

std::string write_case(const std::string& name, const std::string& content) {
  const fs::path dir = fs::path(MNEMO_BINARY_DIR) / "tokenizer_bad_files";
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

template <typename Load>
void expect_format_error(Load&& load, const std::string& path, const std::string& problem) {
  try {
    load();
    ADD_FAILURE() << "accepted; expected: " << problem;
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(problem), std::string::npos)
        << "message: " << e.what() << "\nexpected: " << problem;
  }
}

// A valid byte-level BPE tokenizer.json with `model_extra` spliced into the model and
// `top_extra` into the document; ids 0..3 are "a", "b", "ab", "Ġ".
std::string bpe_json(const std::string& model_extra = R"("merges": ["a b"])",
                     const std::string& top_extra = "") {
  return R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, )" + model_extra +
         R"(}, "pre_tokenizer": {"type": "ByteLevel"})" + top_extra + "}";
}

struct JsonCase {
  const char* name;
  std::string content;
  const char* problem;
};

TEST(BadFiles, TokenizerJson) {
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  std::string nested = R"({"type": "ByteLevel"})";
  for (int i = 0; i < 40; ++i) nested = R"({"type": "Sequence", "pretokenizers": [)" + nested + "]}";
  const std::vector<JsonCase> cases = {
      {"truncated", R"({"model": {"type": "BPE", "vocab": {"a": 0)", "not valid JSON"},
      {"not_object", "[1, 2]", "must be an object"},
      {"deep_arrays", deep, "must be an object"},
      {"no_model", R"({"normalizer": null})", "model must be an object"},
      {"unigram", R"({"model": {"type": "Unigram", "vocab": []}})", "model type 'Unigram' is not supported"},
      {"vocab_array", R"({"model": {"type": "BPE", "vocab": [], "merges": []}})", "model.vocab must be an object"},
      {"id_string", R"({"model": {"type": "WordPiece", "vocab": {"a": "0"}}})", "must be an integer"},
      {"id_negative", R"({"model": {"type": "WordPiece", "vocab": {"a": -1}}})", "out of range"},
      {"id_huge", R"({"model": {"type": "WordPiece", "vocab": {"a": 123456789012}}})", "out of range"},
      {"id_sparse", R"({"model": {"type": "WordPiece", "vocab": {"a": 3000000}}})", "far beyond"},
      {"id_twice", R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 0}}})", "is given to both"},
      {"invalid_utf8", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"\xC3\x28\": 0}}}", "not valid JSON"},
      {"merge_unknown", bpe_json(R"("merges": ["a c"])"), "'c', which is not in the vocabulary"},
      {"merge_result_unknown", bpe_json(R"("merges": ["b a"])"), "'ba', which is not in the vocabulary"},
      {"merge_malformed", bpe_json(R"("merges": ["a b c"])"), "not two tokens separated by one space"},
      {"merge_type", bpe_json(R"("merges": [7])"), "each merge must be"},
      {"no_byte_level", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", "SentencePiece-style"},
      {"byte_fallback", bpe_json(R"("merges": [], "byte_fallback": true)"), "byte_fallback"},
      {"normalizer", bpe_json(R"("merges": [])", R"(, "normalizer": {"type": "Precompiled"})"),
       "normalizer type 'Precompiled' is not supported"},
      {"pre_tokenizer", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "Metaspace"}})",
       "pre_tokenizer type 'Metaspace' is not supported"},
      {"bad_regex", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})",
       "regex does not compile"},
      {"bad_behavior", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}})",
       "not a split behaviour"},
      {"nested", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": )" + nested + "}",
       "nested too deeply"},
      {"template_undefined", bpe_json(R"("merges": [])", R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}})"),
       "special token '<s>' is not defined"},
      {"template_bad_id", bpe_json(R"("merges": [])", R"(, "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 99], "sep": ["[SEP]", 1]})"),
       "id 99 is not in the vocabulary"},
      {"added_conflict", bpe_json(R"("merges": [])", R"(, "added_tokens": [{"id": 0, "content": "<s>", "special": true}])"),
       "which the vocabulary gives to 'a'"},
      {"added_far", bpe_json(R"("merges": [])", R"(, "added_tokens": [{"id": 2000000000, "content": "<s>"}])"),
       "out of range"},
      {"max_chars", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": 0}})",
       "must be positive"},
      {"wrong_field_type", bpe_json(R"("merges": [], "ignore_merges": "yes")"), "must be true or false"},
  };
  for (const JsonCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = write_case(std::string(c.name) + ".json", c.content);
    expect_format_error([&] { load_tokenizer_json(path); }, path, c.problem);
  }
  expect_format_error([] { load_tokenizer_json("/nonexistent/tokenizer.json"); },
                      "/nonexistent/tokenizer.json", "cannot open");
}

TEST(BadFiles, ValidBpeJsonIsAccepted) {  // the cases above differ from this in one place each
  const std::string path = write_case("valid.json", bpe_json());
  const auto tok = load_tokenizer_json(path);
  EXPECT_EQ(tok->encode("ab", false), std::vector<int32_t>{2});
}

TEST(BadFiles, Gpt2VocabAndMerges) {
  const std::string vocab = write_case("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  const std::string good = write_case("merges_good.txt", "#version: 0.2\na b\n");
  EXPECT_EQ(load_gpt2_vocab_merges(vocab, good)->encode("ab", false), std::vector<int32_t>{2});
  const std::string unknown = write_case("merges_unknown.txt", "#version: 0.2\na z\n");
  expect_format_error([&] { load_gpt2_vocab_merges(vocab, unknown); }, unknown, "'z', which is not");
  const std::string three = write_case("merges_three.txt", "a b c\n");
  expect_format_error([&] { load_gpt2_vocab_merges(vocab, three); }, three, "line 1");
  const std::string not_object = write_case("vocab_array.json", "[\"a\"]");
  expect_format_error([&] { load_gpt2_vocab_merges(not_object, good); }, not_object, "must be an object");
  const std::string dup = write_case("vocab_dup.json", R"({"a": 0, "b": 0})");
  expect_format_error([&] { load_gpt2_vocab_merges(dup, good); }, dup, "is given to both");
}

TEST(BadFiles, WordPieceVocabTxt) {
  const std::string dup = write_case("vocab_dup.txt", "[UNK]\nhello\nhello\n");
  expect_format_error([&] { load_wordpiece_vocab(dup, true); }, dup, "'hello' appears twice");
  const std::string bad = write_case("vocab_utf8.txt", "[UNK]\nca\xFF\n");
  expect_format_error([&] { load_wordpiece_vocab(bad, true); }, bad, "not valid UTF-8");
  const std::string empty = write_case("vocab_empty.txt", "");
  expect_format_error([&] { load_wordpiece_vocab(empty, true); }, empty, "empty");
}

nlohmann::json tiny_gguf() {
  return {{"tokenizer.ggml.model", "gpt2"},
          {"tokenizer.ggml.tokens", {"a", "b", "ab", "<|end|>"}},
          {"tokenizer.ggml.token_type", {1, 1, 1, 3}},
          {"tokenizer.ggml.merges", {"a b"}},
          {"tokenizer.ggml.eos_token_id", 3}};
}

TEST(BadFiles, GgufMetadata) {
  const std::string path = "model.gguf";
  EXPECT_EQ(load_gguf_tokenizer(tiny_gguf(), path)->encode("ab<|end|>", false),
            (std::vector<int32_t>{2, 3}));
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* problem;
  };
  const std::vector<Case> cases = {
      {"no model", [](auto& m) { m.erase("tokenizer.ggml.model"); }, "carries no tokenizer"},
      {"llama", [](auto& m) { m["tokenizer.ggml.model"] = "llama"; },
       "tokenizer.ggml.model 'llama' is not supported (SentencePiece)"},
      {"t5", [](auto& m) { m["tokenizer.ggml.model"] = "t5"; }, "'t5' is not supported"},
      {"tokens type", [](auto& m) { m["tokenizer.ggml.tokens"] = "abc"; }, "tokenizer.ggml.tokens must be an array"},
      {"token not string", [](auto& m) { m["tokenizer.ggml.tokens"][1] = 5; }, "must hold strings"},
      {"duplicate", [](auto& m) { m["tokenizer.ggml.tokens"][1] = "a"; }, "'a' appears twice"},
      {"bad utf8", [](auto& m) { m["tokenizer.ggml.tokens"][1] = std::string("\xC3\x28"); }, "not valid UTF-8"},
      {"types length", [](auto& m) { m["tokenizer.ggml.token_type"] = {1, 1}; }, "as long as the tokens"},
      {"no merges", [](auto& m) { m.erase("tokenizer.ggml.merges"); }, "tokenizer.ggml.merges is missing"},
      {"merge unknown", [](auto& m) { m["tokenizer.ggml.merges"][0] = "a q"; }, "'q', which is not"},
      {"eos range", [](auto& m) { m["tokenizer.ggml.eos_token_id"] = 4; }, "eos_token_id = 4 is outside"},
      {"eos huge", [](auto& m) { m["tokenizer.ggml.eos_token_id"] = uint64_t{1} << 63; }, "out of range"},
      {"pre", [](auto& m) { m["tokenizer.ggml.pre"] = "mystery"; }, "tokenizer.ggml.pre 'mystery' is not"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json metadata = tiny_gguf();
    c.edit(metadata);
    expect_format_error([&] { load_gguf_tokenizer(metadata, path); }, path, c.problem);
  }
}

}  // namespace
}  // namespace mnemo::tok::test
