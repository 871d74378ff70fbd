// A session as CSV files, one per public view. The views keep their shape across schema versions
// (docs/SESSION_FORMAT.md), so the files do too; columns come from the view itself, not from a
// list kept here.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "export_common.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/export/session_export.h"

namespace mnemo::profiler {
namespace {

struct CsvView {
  const char* name;
  const char* order_by;  // rows in a stable, meaningful order (views have none of their own)
  bool since_v2 = false;  // a version 1 session has no such view: no file for it
};

constexpr CsvView kViews[] = {
    {"run", "run_id"},
    {"step", "run_id, step"},
    {"token", "run_id, position"},
    {"attention_head", "run_id, step, layer, head"},
    {"head_metric", "run_id, step, layer, head"},
    {"kv_occupancy", "run_id, step, layer"},
    {"op", "run_id, op_id"},
    {"kernel", "run_id, kernel_id"},
    {"counter", "run_id, name, t_ns"},
    // Schema v2: each layer's mixer and memory, the recorded factors (metadata; the values are
    // BLOBs the readers decode), the recurrent state's norm and rank, the kept state matrices.
    {"layer", "run_id, layer"},
    {"mixer_factor", "run_id, step, layer, factor"},
    {"state_stat", "run_id, step, layer, head", true},
    {"state_matrix", "run_id, step, layer, head", true},
};

bool has_view(const Db& db, const char* view) {
  Stmt s = db.prepare(std::string("PRAGMA table_info(\"") + view + "\")");
  return s.step();
}

std::vector<std::string> view_columns(const Db& db, const char* view) {
  std::vector<std::string> cols;
  Stmt s = db.prepare(std::string("PRAGMA table_info(\"") + view + "\")");
  while (s.step()) cols.push_back(s.text(1));
  if (cols.empty()) throw Error(db.path() + ": the session has no view '" + view + "'");
  return cols;
}

// Each column twice: its storage class (typeof) and its value, so a cell is written by what it
// holds (a token's BLOB, an integer, a REAL) rather than by the declared type.
std::string select_sql(const CsvView& v, const std::vector<std::string>& cols, bool one_run) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < cols.size(); ++i)
    sql += (i ? ", " : "") + std::string("typeof(\"") + cols[i] + "\"), \"" + cols[i] + "\"";
  sql += std::string(" FROM \"") + v.name + "\"";
  if (one_run) sql += " WHERE run_id = ?1";
  return sql + " ORDER BY " + v.order_by;
}

// Bytes of one maximal valid UTF-8 prefix of a sequence starting at s[i], or the length of the
// maximal invalid subpart to replace by one U+FFFD (negative), as Unicode recommends and
// Python's errors="replace" does.
int utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = b(i);
  if (lead < 0x80) return 1;
  int len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) len = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) len = 3, lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
  else if (lead >= 0xF0 && lead <= 0xF4) len = 4, lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
  else return -1;
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return -k;
    const unsigned char c = b(i + k);
    const bool ok = k == 1 ? c >= lo && c <= hi : c >= 0x80 && c <= 0xBF;
    if (!ok) return -k;
  }
  return len;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence(s, i);
    if (n > 0) {
      out.append(s.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

// RFC 4180: a field holding a comma, a quote, CR or LF is quoted, with its quotes doubled.
std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string cell_text(const Stmt& s, int col) {
  const std::string type = s.text(col);
  char buf[64];
  if (type == "null") return "";
  if (type == "integer") {
    std::snprintf(buf, sizeof buf, "%" PRId64, s.integer(col + 1));
    return buf;
  }
  if (type == "real") {
    std::snprintf(buf, sizeof buf, "%.17g", s.real(col + 1));
    return buf;
  }
  if (type == "blob") {
    const auto b = s.blob(col + 1);
    return valid_utf8(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }
  return valid_utf8(s.text(col + 1));
}

void write_row(std::ofstream& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_field(fields[i]);
  out << "\r\n";
}

int64_t write_view(const Db& db, const CsvView& v, std::optional<int64_t> run, const std::filesystem::path& path) {
  const std::vector<std::string> cols = view_columns(db, v.name);
  Stmt s = db.prepare(select_sql(v, cols, run.has_value()));
  if (run) s.bind(1, *run);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  write_row(out, cols);
  int64_t rows = 0;
  std::vector<std::string> fields(cols.size());
  while (s.step()) {
    for (size_t c = 0; c < cols.size(); ++c) fields[c] = cell_text(s, static_cast<int>(2 * c));
    write_row(out, fields);
    ++rows;
  }
  out.close();
  if (!out) throw Error(path.string() + ": write failed");
  return rows;
}

void make_out_dir(const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec))
    throw UsageError(out_dir + ": exists and is not a directory (CSV export writes one file per view into a directory)");
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir + ": cannot create directory: " + ec.message());
}

}  // namespace

CsvExportCounts export_csv(const SessionReader& reader, std::optional<int64_t> run, const std::string& out_dir) {
  if (run) selected_run_ids(reader, run);  // an unknown run is an error, not nine empty files
  make_out_dir(out_dir);
  CsvExportCounts counts;
  for (const CsvView& v : kViews) {
    if (v.since_v2 && !has_view(reader.db(), v.name)) continue;
    counts.rows += write_view(reader.db(), v, run, std::filesystem::path(out_dir) / (std::string(v.name) + ".csv"));
    ++counts.files;
  }
  return counts;
}

}  // namespace mnemo::profiler
