// Text ↔ token ids. Byte-level BPE (GPT-2, Llama 3, SmolLM2: from GGUF metadata, tokenizer.json,
// or vocab.json + merges.txt) and WordPiece (BERT: vocab.txt or tokenizer.json).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mnemo::io {
class ModelFile;
}

namespace mnemo::tok {

struct SpecialTokens {
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, cls = -1, sep = -1, mask = -1;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual std::string kind() const = 0;  // "bpe" or "wordpiece"
  virtual int32_t vocab_size() const = 0;
  virtual const SpecialTokens& special() const = 0;

  // add_special: BOS for decoders that want it, [CLS] … [SEP] for BERT. Special tokens written
  // literally in the text ("<|im_start|>") are recognised as such.
  // Text that is not valid UTF-8: byte-level BPE encodes it byte by byte (invalid bytes are
  // never part of a regex match, so they form pieces of their own) and decode gives the bytes
  // back; WordPiece throws mnemo::Error naming the offending byte.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special) const = 0;
  // Inverse of encode for byte-level BPE: decode(encode(s)) == s for every valid UTF-8 s (any
  // bytes, in fact), provided the vocabulary has a token for each byte of s (true of GPT-2 and
  // Llama 3; SmolLM2 lacks 21 rare bytes, which become <unk> as in Hugging Face) and no
  // normaliser changes s (NFC). Ids out of range are skipped.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The text one token stands for (its bytes for BPE; "##ing" → "ing" continuation for
  // WordPiece is decided by decode, not here). Empty for an id out of range.
  virtual std::string token_text(int32_t id) const = 0;
};

// Picks the tokenizer a checkpoint carries: GGUF tokenizer.ggml.* metadata, or in a Hugging Face
// folder tokenizer.json, vocab.json + merges.txt, or vocab.txt. Throws FormatError naming the file.
std::unique_ptr<Tokenizer> load_tokenizer(const io::ModelFile& model);

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const nlohmann::json& metadata,
                                               const std::string& path);
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path);
std::unique_ptr<Tokenizer> load_gpt2_vocab_merges(const std::string& vocab_json,
                                                  const std::string& merges_txt);
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::string& vocab_txt, bool lowercase);

}  // namespace mnemo::tok
