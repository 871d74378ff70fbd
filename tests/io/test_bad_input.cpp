// Hostile and broken inputs: each case starts from a valid in-memory image, changes one thing,
// and must be refused with a FormatError that names the file and the problem. A randomized
// mutation loop then checks that nothing but FormatError (or success) ever comes out.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "fixture_images.h"
#include "mnemo/core/error.h"
#include "mnemo/io/gguf.h"
#include "mnemo/io/safetensors.h"

namespace {
using namespace mnemo;
using namespace mnemo::io;

constexpr char kGgufPath[] = "bad.gguf";
constexpr char kStPath[] = "bad.safetensors";

struct Case {
  const char* name;
  std::function<Bytes()> make;
  const char* phrase;  // must appear in the error message
};

void expect_refused(const char* path, const Case& c, const std::function<void(const Bytes&)>& parse) {
  const Bytes b = c.make();
  try {
    parse(b);
    ADD_FAILURE() << c.name << ": accepted";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(std::string(path) + ": ", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.phrase), std::string::npos) << c.name << ": '" << msg << "' lacks '" << c.phrase << "'";
  }
}

void parse_gguf_bytes(const Bytes& b) { parse_gguf(b.data(), b.size(), kGgufPath); }
void parse_st_bytes(const Bytes& b) { parse_safetensors_image(b.data(), b.size(), kStPath); }

Bytes gguf_with(const std::function<void(GgufSpec&)>& edit) {
  GgufSpec s;
  edit(s);
  return s.build();
}

// A raw key-value pair appended to the valid spec.
Bytes gguf_with_kv(const std::function<void(ByteWriter&)>& write_kv) {
  GgufSpec s;
  ByteWriter w;
  write_kv(w);
  s.extra_kv = w.out;
  s.extra_kv_count = 1;
  return s.build();
}

void set_u64(Bytes& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

TEST(IoBadInput, ValidImagesParse) {
  const Bytes g = GgufSpec{}.build();
  const GgufImage img = parse_gguf(g.data(), g.size(), kGgufPath);
  ASSERT_EQ(img.tensors.size(), 2u);
  EXPECT_EQ(shape_string(img.tensors[0].view), "[2, 32]");
  const Bytes s = safetensors_image(valid_safetensors_header(), 32);
  EXPECT_EQ(parse_safetensors(s.data(), s.size(), kStPath).size(), 2u);
}

TEST(IoBadInput, GgufTable) {
  const uint64_t huge = uint64_t{1} << 62;
  const std::vector<Case> cases = {
      {"wrong magic", [] { return gguf_with([](GgufSpec& s) { s.magic = "GGUX"; }); }, "not a GGUF file"},
      {"version 1", [] { return gguf_with([](GgufSpec& s) { s.version = 1; }); }, "unsupported GGUF version 1"},
      {"version 4", [] { return gguf_with([](GgufSpec& s) { s.version = 4; }); }, "unsupported GGUF version 4"},
      {"big endian", [] { return gguf_with([](GgufSpec& s) { s.version = 0x03000000; }); }, "big-endian"},
      {"absurd tensor count", [] { return gguf_with([](GgufSpec& s) { s.tensor_count_override = int64_t{1} << 40; }); },
       "tensor count 1099511627776 exceeds the limit"},
      {"tensor count past file", [] { return gguf_with([](GgufSpec& s) { s.tensor_count_override = 100000; }); },
       "cannot fit"},
      {"absurd kv count", [] { return gguf_with([](GgufSpec& s) { s.kv_count_override = int64_t{1} << 40; }); },
       "metadata count 1099511627776 exceeds the limit"},
      {"huge key length", [=] { return gguf_with_kv([=](ByteWriter& w) { w.u64(huge); }); }, "exceeds the limit"},
      {"string past end", [] { return gguf_with_kv([](ByteWriter& w) { w.str("k"); w.u32(8); w.u64(1u << 20); }); },
       "truncated"},
      {"bad utf-8 key", [] { return gguf_with_kv([](ByteWriter& w) { w.str("bad\xff\xfekey"); w.u32(4); w.u32(1); }); },
       "key of metadata entry #2 'bad\\xff\\xfekey' is not valid UTF-8"},
      {"bad utf-8 value", [] { return gguf_with_kv([](ByteWriter& w) { w.str("my.key"); w.u32(8); w.str("\xc0\x80"); }); },
       "metadata key 'my.key': string value is not valid UTF-8"},
      {"unknown value type", [] { return gguf_with_kv([](ByteWriter& w) { w.str("t"); w.u32(13); w.u32(0); }); },
       "unknown value type 13"},
      {"bool 2", [] { return gguf_with_kv([](ByteWriter& w) { w.str("b"); w.u32(7); w.u8(2); }); }, "is not 0 or 1"},
      {"duplicate key", [] { return gguf_with([](GgufSpec& s) { s.strings.push_back({"general.architecture", "x"}); }); },
       "duplicate metadata key 'general.architecture'"},
      {"array over limit", [=] { return gguf_with_kv([=](ByteWriter& w) { w.str("a"); w.u32(9); w.u32(0); w.u64(huge); }); },
       "exceeds the limit"},
      {"array past file", [] { return gguf_with_kv([](ByteWriter& w) { w.str("a"); w.u32(9); w.u32(10); w.u64(1u << 20); }); },
       "cannot fit in the"},
      {"nested too deep", [] {
         return gguf_with_kv([](ByteWriter& w) {
           w.str("deep");
           w.u32(9);
           for (int i = 0; i < 20; ++i) { w.u32(9); w.u64(1); }
           w.u32(0); w.u64(1); w.u8(1);
         });
       }, "nested more than"},
      {"alignment 48", [] { return gguf_with([](GgufSpec& s) { s.alignment = 48; }); }, "general.alignment 48 is not a power of two"},
      {"alignment 0", [] { return gguf_with([](GgufSpec& s) { s.alignment = 0; }); }, "general.alignment 0 is not a power of two"},
      {"alignment string", [] {
         return gguf_with([](GgufSpec& s) { s.write_alignment_key = false; s.strings.push_back({"general.alignment", "32"}); });
       }, "general.alignment must be an unsigned integer"},
      {"unknown tensor type", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].type = 99; }); }, "tensor 'norm': unknown tensor type 99"},
      {"removed type 4", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].type = 4; }); }, "unknown tensor type 4"},
      {"ndim 0", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].ne = {}; }); }, "tensor 'norm': ndim 0 is outside 1..4"},
      {"ndim 5", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].ne = {1, 1, 1, 1, 4}; }); }, "ndim 5 is outside"},
      {"zero dim", [] { return gguf_with([](GgufSpec& s) { s.tensors[0].ne = {32, 0}; }); }, "dimension 1 is 0"},
      {"dim over int64", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].ne = {~uint64_t{0}}; }); }, "must be between 1"},
      {"overflowing dims", [] {
         return gguf_with([](GgufSpec& s) { s.tensors[1].ne = {uint64_t{1} << 40, uint64_t{1} << 40}; });
       }, "overflows"},
      {"partial block", [] { return gguf_with([](GgufSpec& s) { s.tensors[0].ne = {33, 2}; }); },
       "not a multiple of the q8_0 block size 32"},
      {"misaligned offset", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].offset = 100; }); },
       "data offset 100 is not a multiple of the alignment 32"},
      {"data past end", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].offset = 128; }); }, "past the end of the file"},
      {"offset overflow", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].offset = ~uint64_t{31}; }); }, "past the end"},
      {"duplicate tensor", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].name = "tok.weight"; }); },
       "duplicate tensor name 'tok.weight'"},
      {"bad utf-8 tensor name", [] { return gguf_with([](GgufSpec& s) { s.tensors[1].name = "n\x80"; }); }, "is not valid UTF-8"},
      {"empty file", [] { return Bytes{}; }, "truncated"},
  };
  for (const auto& c : cases) expect_refused(kGgufPath, c, parse_gguf_bytes);
}

TEST(IoBadInput, GgufEveryTruncationOfTheHeaderIsRefused) {
  const Bytes full = GgufSpec{}.build();
  const GgufImage img = parse_gguf(full.data(), full.size(), kGgufPath);
  for (size_t n = 0; n < img.data_offset + 100; ++n) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_THROW(parse_gguf(prefix.data(), prefix.size(), kGgufPath), FormatError) << "prefix " << n;
  }
}

TEST(IoBadInput, GgufLimitsAreHonoured) {
  GgufSpec s;
  s.strings.push_back({"long", std::string(100, 'x')});
  const Bytes b = s.build();
  GgufLimits tight;
  tight.max_string_bytes = 64;
  EXPECT_THROW(parse_gguf(b.data(), b.size(), kGgufPath, tight), FormatError);
  tight = {};
  tight.max_metadata_bytes = 64;
  EXPECT_THROW(parse_gguf(b.data(), b.size(), kGgufPath, tight), FormatError);
  EXPECT_NO_THROW(parse_gguf(b.data(), b.size(), kGgufPath));
}

Bytes st(const std::string& header, size_t data = 32) { return safetensors_image(header, data); }

TEST(IoBadInput, SafetensorsTable) {
  const std::vector<Case> cases = {
      {"shorter than length", [] { return Bytes(5); }, "truncated"},
      {"header past end", [] { Bytes b = st(valid_safetensors_header()); set_u64(b, 0, 100000); return b; },
       "header length 100000 is past the end"},
      {"header over 100 MB", [] { Bytes b = st(valid_safetensors_header()); set_u64(b, 0, uint64_t{1} << 40); return b; },
       "exceeds the limit of 100000000"},
      {"bad json", [] { return st(R"({"a":{"dtype":"F32",)"); }, "not valid JSON"},
      {"bad utf-8 in json", [] { return st("{\"a\xff\":1}"); }, "not valid JSON"},
      {"array header", [] { return st("[1,2]"); }, "not a JSON object"},
      {"entry not object", [] { return st(R"({"a":3})"); }, "tensor 'a': header entry is not a JSON object"},
      {"unknown dtype", [] { return st(R"({"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})"); }, "unknown dtype \"F7\""},
      {"missing dtype", [] { return st(R"({"a":{"shape":[1],"data_offsets":[0,4]}})"); }, "\"dtype\""},
      {"shape not array", [] { return st(R"({"a":{"dtype":"F32","shape":3,"data_offsets":[0,4]}})"); }, "\"shape\""},
      {"five dims", [] { return st(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})"); }, "at most 4"},
      {"negative dim", [] { return st(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"); }, "not a non-negative integer"},
      {"float dim", [] { return st(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"); }, "not a non-negative integer"},
      {"offsets past data", [] { return st(R"({"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})"); },
       "not inside the data section of 32 bytes"},
      {"offsets reversed", [] { return st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"); }, "not inside"},
      {"offsets not two", [] { return st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})"); }, "two non-negative integers"},
      {"size mismatch", [] { return st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})"); },
       "span 16 bytes but shape [3] of F32 needs 12"},
      {"size overflow", [] {
         return st(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})");
       }, "overflows"},
      {"overlap", [] {
         return st(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})");
       }, "data of tensors 'a' and 'b' overlap at offset 8"},
      {"duplicate name", [] {
         return st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})");
       }, "duplicate key 'a'"},
      {"deep nesting", [] { return st("{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}"); }, "nested more than"},
  };
  for (const auto& c : cases) expect_refused(kStPath, c, parse_st_bytes);
}

TEST(IoBadInput, SafetensorsEveryTruncationIsRefused) {
  const Bytes full = st(valid_safetensors_header());
  for (size_t n = 0; n < full.size(); ++n) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_THROW(parse_safetensors_image(prefix.data(), prefix.size(), kStPath), FormatError) << "prefix " << n;
  }
}

TEST(IoBadInput, SafetensorsUnsupportedDtypesAreSetAsideNotFatal) {
  const Bytes b = st(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"w":{"dtype":"F16","shape":[3],"data_offsets":[2,8]}})");
  const SafetensorsImage img = parse_safetensors_image(b.data(), b.size(), kStPath);
  ASSERT_EQ(img.tensors.size(), 1u);
  EXPECT_EQ(img.tensors[0].name, "w");
  ASSERT_EQ(img.skipped.size(), 1u);
  EXPECT_EQ(img.skipped[0].dtype, "BOOL");
}

TEST(IoBadInput, SafetensorsScalarAndEmptyTensors) {
  const Bytes b = st(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}})");
  const auto t = parse_safetensors(b.data(), b.size(), kStPath);
  ASSERT_EQ(t.size(), 2u);
}

// Random byte edits of valid images: anything may happen except a crash or another exception.
void mutate(Bytes& b, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !b.empty(); ++e) {
    const size_t at = rng() % b.size();
    switch (rng() % 5) {
      case 0: b[at] = static_cast<std::byte>(rng()); break;
      case 1: b[at] ^= static_cast<std::byte>(1u << (rng() % 8)); break;
      case 2: b.resize(at); break;
      case 3: {  // an interesting 64-bit value over a count, length or offset
        static constexpr uint64_t kValues[] = {0, 1, 4, 0xff, uint64_t{1} << 31, uint64_t{1} << 32,
                                               uint64_t{1} << 62, ~uint64_t{0}, ~uint64_t{0} >> 1};
        if (at + 8 <= b.size()) set_u64(b, at, kValues[rng() % std::size(kValues)]);
        break;
      }
      default: b.insert(b.begin() + static_cast<long>(at), static_cast<std::byte>(rng())); break;
    }
  }
}

template <class Parse>
void fuzz_loop(const Bytes& seed, int iterations, uint64_t rng_seed, Parse parse) {
  std::mt19937_64 rng(rng_seed);
  int accepted = 0;
  for (int i = 0; i < iterations; ++i) {
    Bytes b = seed;
    mutate(b, rng);
    try {
      parse(b);
      ++accepted;
    } catch (const FormatError&) {
    }
  }
  ::testing::Test::RecordProperty("accepted", accepted);
}

TEST(IoBadInput, RandomMutationsOfGgufNeverCrash) {
  fuzz_loop(GgufSpec{}.build(), 3000, 1, parse_gguf_bytes);
  fuzz_loop(read_file_bytes(io_data_dir() + "/tiny_v3.gguf"), 3000, 2, parse_gguf_bytes);
}

TEST(IoBadInput, RandomMutationsOfSafetensorsNeverCrash) {
  fuzz_loop(st(valid_safetensors_header()), 3000, 3, parse_st_bytes);
  fuzz_loop(read_file_bytes(io_data_dir() + "/hf_sharded/model-00002-of-00002.safetensors"), 3000, 4, parse_st_bytes);
}

}  // namespace
