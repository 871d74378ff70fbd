// Special tokens: literal "<|im_start|>" in text is one token, roles are filled from each
// source, skip_special drops them on decode, and load_tokenizer(ModelFile) picks the right file.
#include <filesystem>

#include <gtest/gtest.h>

#include "mnemo/core/error.h"
#include "mnemo/io/model_file.h"
#include "tokenizer_test_util.h"

namespace mnemo::tok::test {
namespace {

TEST(SpecialTokens, SmolLM2ChatMarkersAreSingleTokens) {
  const Tokenizer& tok = shared("smollm2_gguf");
  const auto ids = tok.encode("<|im_start|>user\nHi<|im_end|>", false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_EQ(tok.token_text(1), "<|im_start|>");
  EXPECT_EQ(tok.decode(ids, false), "<|im_start|>user\nHi<|im_end|>");
  EXPECT_EQ(tok.decode(ids, true), "user\nHi");
  const SpecialTokens& s = tok.special();
  EXPECT_EQ(s.bos, 1);
  EXPECT_EQ(s.eos, 2);
  EXPECT_EQ(s.unk, 0);
  EXPECT_EQ(s.pad, 2);
  // add_bos_token is false in SmolLM2's GGUF: nothing is added.
  EXPECT_EQ(tok.encode("Hi", true), tok.encode("Hi", false));
}

TEST(SpecialTokens, SmolLM2TokenTextIsBytes) {
  const Tokenizer& tok = shared("smollm2_gguf");
  const auto ids = tok.encode(" hello", false);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(tok.token_text(ids[0]), " hello");  // not "Ġhello"
  EXPECT_EQ(tok.token_text(-1), "");
  EXPECT_EQ(tok.token_text(tok.vocab_size()), "");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{-5, ids[0], 1 << 30}), " hello");
}

TEST(SpecialTokens, BertFramesWithClsAndSep) {
  for (const char* name : {"minilm_json", "minilm_vocab_txt"}) {
    const Tokenizer& tok = shared(name);
    const SpecialTokens& s = tok.special();
    EXPECT_EQ(s.cls, 101) << name;
    EXPECT_EQ(s.sep, 102) << name;
    EXPECT_EQ(s.unk, 100) << name;
    EXPECT_EQ(s.pad, 0) << name;
    EXPECT_EQ(s.mask, 103) << name;
    EXPECT_EQ(tok.encode("hello [MASK] world", true),
              (std::vector<int32_t>{101, 7592, 103, 2088, 102}))
        << name;
    EXPECT_EQ(tok.decode(std::vector<int32_t>{101, 7592, 103, 2088, 102}, true), "hello world");
    EXPECT_EQ(tok.token_text(7592), "hello");
  }
}

TEST(SpecialTokens, WordPieceDecodeGluesContinuations) {
  const Tokenizer& tok = shared("minilm_json");
  const auto ids = tok.encode("unaffable tokenization, isn't it?", false);
  EXPECT_EQ(tok.decode(ids), "unaffable tokenization, isn ' t it?");
}

TEST(SpecialTokens, Llama3TemplateAddsBos) {
  const Tokenizer& tok = shared("tiny_llama3_json");
  const auto plain = tok.encode("Hello", false);
  const auto framed = tok.encode("Hello", true);
  ASSERT_EQ(framed.size(), plain.size() + 1);
  EXPECT_EQ(framed.front(), tok.special().bos);
  EXPECT_EQ(tok.token_text(tok.special().bos), "<|begin_of_text|>");
  EXPECT_EQ(tok.decode(framed, true), "Hello");
}

TEST(SpecialTokens, Gpt2EndOfTextFromVocabJson) {
  const Tokenizer& tok = shared("tiny_bpe_vocab_merges");
  const auto ids = tok.encode("a<|endoftext|>b", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], tok.special().eos);
  EXPECT_EQ(tok.decode(ids, true), "ab");
}

// A stand-in for engine/io's ModelFile, so these tests do not depend on its parsers.
class FakeModelFile : public io::ModelFile {
 public:
  FakeModelFile(std::string format, std::string path, nlohmann::json metadata = {})
      : format_(std::move(format)), path_(std::move(path)), metadata_(std::move(metadata)) {}
  std::string format() const override { return format_; }
  const std::string& path() const override { return path_; }
  const nlohmann::json& metadata() const override { return metadata_; }
  std::string architecture() const override { return ""; }
  const std::vector<io::TensorEntry>& tensors() const override { return tensors_; }

 private:
  std::string format_, path_;
  nlohmann::json metadata_;
  std::vector<io::TensorEntry> tensors_;
};

TEST(LoadTokenizer, PicksTheFileTheCheckpointCarries) {
  EXPECT_EQ(load_tokenizer(FakeModelFile("gguf", "x.gguf", smollm2_metadata()))->vocab_size(), 49152);
  EXPECT_EQ(load_tokenizer(FakeModelFile("safetensors", data_path("minilm")))->kind(), "wordpiece");
  EXPECT_EQ(load_tokenizer(FakeModelFile("safetensors", data_path("tiny_llama3")))->vocab_size(), 802);

  namespace fs = std::filesystem;
  const fs::path root = fs::path(MNEMO_BINARY_DIR) / "tokenizer_test_folders";
  fs::remove_all(root);
  fs::create_directories(root / "gpt2" );
  fs::create_directories(root / "bert");
  fs::create_directories(root / "empty");
  fs::copy_file(data_path("tiny_bpe/vocab.json"), root / "gpt2/vocab.json");
  fs::copy_file(data_path("tiny_bpe/merges.txt"), root / "gpt2/merges.txt");
  fs::copy_file(data_path("minilm/vocab.txt"), root / "bert/vocab.txt");
  EXPECT_EQ(load_tokenizer(FakeModelFile("safetensors", (root / "gpt2").string()))->kind(), "bpe");
  const auto bert = load_tokenizer(FakeModelFile("safetensors", (root / "bert").string()));
  EXPECT_EQ(bert->encode("HELLO", false), std::vector<int32_t>{7592});  // lowercase by default
  try {
    load_tokenizer(FakeModelFile("safetensors", (root / "empty").string()));
    FAIL() << "an empty folder must be refused";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), (root / "empty").string());
    EXPECT_NE(std::string(e.what()).find("no tokenizer found"), std::string::npos);
  }
}

}  // namespace
}  // namespace mnemo::tok::test
