// The protobuf encoder against hand-computed bytes, and the Perfetto file's outer framing. The
// file's content is decoded independently by check_perfetto.py (the `protobuf` package).
#include <gtest/gtest.h>

#include <sstream>

#include "mnemo/profiler/perfetto_writer.h"
#include "proto_encoder.h"
#include "sample_trace.h"

namespace mp = mnemo::profiler;

namespace {
std::string hex(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}
}  // namespace

TEST(ProtoEncoder, KnownAnswers) {
  mp::proto::Message m;
  m.varint(1, 1);
  EXPECT_EQ(hex(m.data()), "0801");
  m.clear();
  m.varint(2, 300);  // the protobuf docs' example: 300 = ac 02
  EXPECT_EQ(hex(m.data()), "10ac02");
  m.clear();
  m.int64(1, -1);  // negative int32/int64: ten bytes of two's complement
  EXPECT_EQ(hex(m.data()), "08ffffffffffffffffff01");
  m.clear();
  m.double_(44, 1.0);  // field 44, wire type 1: tag 0x161 = e1 02
  EXPECT_EQ(hex(m.data()), "e102000000000000f03f");
  m.clear();
  m.fixed64(47, 77);
  EXPECT_EQ(hex(m.data()), "f9024d00000000000000");
  m.clear();
  m.bytes(23, "hi");
  EXPECT_EQ(hex(m.data()), "ba01026869");
  mp::proto::Message inner, outer;
  inner.varint(1, 5);
  outer.message(60, inner);  // tag (60 << 3 | 2) = 482 = e2 03
  EXPECT_EQ(hex(outer.data()), "e203020805");
}

TEST(PerfettoWriter, FileIsASequenceOfTracePackets) {
  const mp::Trace trace = mp::testing::sample_trace();
  std::ostringstream out;
  mp::write_perfetto(trace, out);
  const std::string s = out.str();
  // Walk the outer Trace message: only field 1 (packet), length-delimited, exactly to the end.
  std::size_t pos = 0, packets = 0;
  auto read_varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      ASSERT_LT(pos, s.size());
      const auto b = static_cast<unsigned char>(s[pos++]);
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) return;
    }
  };
  while (pos < s.size()) {
    std::uint64_t tag = 0, len = 0;
    read_varint(tag);
    ASSERT_EQ(tag, 0x0Au);
    read_varint(len);
    ASSERT_LE(pos + len, s.size());
    pos += len;
    ++packets;
  }
  EXPECT_EQ(packets, trace.tracks().size() + 1 /* metadata */ + 2 * trace.slices().size() +
                         trace.counters().size());
}

TEST(PerfettoWriter, FailingStreamThrows) {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  EXPECT_THROW(mp::write_perfetto(mp::testing::sample_trace(), out), mnemo::Error);
}
