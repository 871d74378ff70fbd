#include "args.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "mnemo/core/error.h"

namespace mnemo::cli {
namespace {

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> out;
  std::stringstream ss(names);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

std::string key_of(const std::vector<std::string>& names) {
  const std::string& longest = names.back();
  return longest.substr(longest.find_first_not_of('-'));
}

}  // namespace

Args& Args::option(const std::string& names, const std::string& value_name, const std::string& help) {
  auto n = split_names(names);
  specs_.push_back({n, key_of(n), value_name, help, true, false});
  return *this;
}

Args& Args::flag(const std::string& names, const std::string& help) {
  auto n = split_names(names);
  specs_.push_back({n, key_of(n), "", help, false, false});
  return *this;
}

Args& Args::positional(const std::string& name, const std::string& help) {
  specs_.push_back({{name}, name, name, help, true, true});
  return *this;
}

const Args::Spec* Args::find(const std::string& token) const {
  for (const auto& s : specs_)
    if (!s.is_positional)
      for (const auto& n : s.names)
        if (n == token) return &s;
  return nullptr;
}

bool Args::parse(const std::vector<std::string>& argv) {
  size_t next_positional = 0;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string token = argv[i];
    if (token == "-h" || token == "--help") {
      help_ = true;
      return true;
    }
    if (token.size() > 1 && token[0] == '-' && !(token.size() > 1 && (std::isdigit(static_cast<unsigned char>(token[1])) || token[1] == '.'))) {
      std::string value;
      bool inline_value = false;
      if (const auto eq = token.find('='); eq != std::string::npos && token.rfind("--", 0) == 0) {
        value = token.substr(eq + 1);
        token = token.substr(0, eq);
        inline_value = true;
      }
      const Spec* s = find(token);
      if (!s) {
        error_ = "unknown option " + token;
        return false;
      }
      if (s->takes_value) {
        if (!inline_value) {
          if (i + 1 >= argv.size()) {
            error_ = token + " expects a value (" + s->value_name + ")";
            return false;
          }
          value = argv[++i];
        }
        if (values_.count(s->key) && !s->repeatable) {
          error_ = token + " given twice";
          return false;
        }
        values_[s->key] = value;
        all_values_[s->key].push_back(value);
      } else {
        if (inline_value) {
          error_ = token + " takes no value";
          return false;
        }
        values_[s->key] = "1";
      }
      continue;
    }
    size_t seen = 0;
    const Spec* target = nullptr;
    for (const auto& s : specs_)
      if (s.is_positional && seen++ == next_positional) target = &s;
    if (!target) {
      error_ = "unexpected argument '" + token + "'";
      return false;
    }
    values_[target->key] = token;
    ++next_positional;
  }
  return true;
}

std::string Args::usage() const {
  std::ostringstream out;
  out << "usage: mnemo " << command_;
  for (const auto& s : specs_)
    if (s.is_positional) out << " " << s.key;
  out << " [options]\n\n" << summary_ << "\n";
  bool any_positional = false;
  for (const auto& s : specs_) any_positional |= s.is_positional;
  if (any_positional) {
    out << "\narguments:\n";
    for (const auto& s : specs_)
      if (s.is_positional) out << "  " << s.key << std::string(s.key.size() < 24 ? 24 - s.key.size() : 1, ' ') << s.help << "\n";
  }
  out << "\noptions:\n";
  for (const auto& s : specs_) {
    if (s.is_positional) continue;
    std::string left;
    for (size_t i = 0; i < s.names.size(); ++i) left += (i ? ", " : "") + s.names[i];
    if (s.takes_value) left += " " + s.value_name;
    out << "  " << left << std::string(left.size() < 24 ? 24 - left.size() : 1, ' ') << s.help << "\n";
  }
  out << "  -h, --help" << std::string(14, ' ') << "show this help\n";
  return out.str();
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

Args& Args::repeatable() {
  if (!specs_.empty()) specs_.back().repeatable = true;
  return *this;
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::str(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) throw UsageError("missing required option --" + name + " (see mnemo " + command_ + " --help)");
  return it->second;
}

int64_t Args::integer(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, const std::string& why) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end || (errno && errno != ERANGE))
    throw UsageError("--" + name + " expects an integer, got '" + text + "'");
  // strtoll saturates on overflow (ERANGE): such a value is out of every range.
  if (errno == ERANGE || v < lo || v > hi)
    throw UsageError("--" + name + ": " + text + " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) +
                     (why.empty() ? "" : "; " + why) + ")");
  return v;
}

double Args::number(const std::string& name, double fallback, double lo, double hi, bool lo_open) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end || (errno && errno != ERANGE))
    throw UsageError("--" + name + " expects a number, got '" + text + "'");
  // strtod reads "nan" and "inf"; neither means anything as an option value.
  if (!std::isfinite(v)) throw UsageError("--" + name + ": " + text + " is not a finite number");
  if (v < lo || v > hi || (lo_open && v == lo)) {
    char range[96];
    std::snprintf(range, sizeof range, "%s%g, %g]", lo_open ? "(" : "[", lo, hi);
    throw UsageError("--" + name + ": " + text + " is out of range " + range);
  }
  return v;
}

}  // namespace mnemo::cli
