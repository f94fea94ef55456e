// A file being written that appears only when complete: an OutputFile that is
// destroyed before commit() (an exception, a failed write) removes what it had
// written, so a half-written model never stays behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gm {

class OutputFile {
public:
  explicit OutputFile(std::string path); // InputError "path: cannot open for writing (reason)"
  ~OutputFile();
  OutputFile(const OutputFile &) = delete;
  OutputFile &operator=(const OutputFile &) = delete;

  void put(const void *data, std::size_t size); // InputError "path: write failed (reason)"
  std::uint64_t written() const { return written_; }
  const std::string &path() const { return path_; }
  void commit(); // closes the file, keeping it

private:
  std::string path_;
  std::FILE *file_ = nullptr;
  std::uint64_t written_ = 0;
};

} // namespace gm
