// A small command-line parser: options are declared with their help text, so every command
// gets a consistent --help and precise errors ("--threads expects an integer, got 'x'").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mnemo::cli {

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  // Declares an option taking a value. `names` is e.g. "-n,--n-predict".
  Args& option(const std::string& names, const std::string& value_name, const std::string& help);
  Args& flag(const std::string& names, const std::string& help);
  Args& positional(const std::string& name, const std::string& help);
  // Lets the option declared last be given several times (all() returns every value). Any other
  // option given twice is an error, not a silent "last one wins".
  Args& repeatable();

  // Parses argv (without the program and command names). Returns false and fills error() on a
  // bad command line; help_requested() when --help or -h was given.
  bool parse(const std::vector<std::string>& argv);
  bool help_requested() const { return help_; }
  const std::string& error() const { return error_; }
  std::string usage() const;

  bool has(const std::string& name) const;  // name without dashes: "threads"
  std::string str(const std::string& name, const std::string& fallback = "") const;
  // Typed getters throw UsageError naming the option when the value does not parse or lies
  // outside [lo, hi] ("--layer: 4294967296 is out of range (0..29)", followed by `why` when
  // given), so that no command casts an unchecked number down to a narrower type. The fallback
  // is returned as it is, unchecked.
  int64_t integer(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, const std::string& why = "") const;
  // Finite numbers only (nan and inf are refused by name); `lo_open` excludes lo itself.
  double number(const std::string& name, double fallback, double lo, double hi, bool lo_open = false) const;
  std::string required(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;  // every value, in order

 private:
  struct Spec {
    std::vector<std::string> names;
    std::string key, value_name, help;
    bool takes_value = false, is_positional = false, repeatable = false;
  };
  const Spec* find(const std::string& token) const;

  std::string command_, summary_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  bool help_ = false;
  std::string error_;
};

}  // namespace mnemo::cli
