// A read-only memory mapping of a whole file. Weights of large models are read
// through mappings so a model never has to fit in RAM as a copy.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace gm {

class MappedFile {
public:
  // Throws InputError "path: cannot open (reason)" on failure.
  static std::shared_ptr<const MappedFile> open(const std::string &path);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const std::string &path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }

private:
  MappedFile() = default;
  std::string path_;
  const std::byte *data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace gm
