// Error policy (see STYLE.md §11): parsers and loaders throw FormatError when a file cannot be
// used, naming the file and what is wrong; an operation that fails ends there and the CLI or app
// reports the message. Nothing in the engine aborts on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace mnemo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file (model, tokenizer, config) that is malformed, truncated, hostile or unsupported.
class FormatError : public Error {
 public:
  FormatError(std::string path, const std::string& problem)
      : Error(path + ": " + problem), path_(std::move(path)) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A request the engine cannot serve (unknown architecture, option out of range, ...).
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace mnemo
