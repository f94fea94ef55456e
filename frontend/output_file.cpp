#include "frontend/output_file.h"

#include "ir/error.h"

#include <cerrno>
#include <cstring>

namespace gm {

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_)
    fail(path_, "cannot open for writing ({})", std::strerror(errno));
}

OutputFile::~OutputFile() {
  if (!file_)
    return;
  std::fclose(file_);
  std::remove(path_.c_str());
}

void OutputFile::put(const void *data, std::size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    fail(path_, "write failed ({})", std::strerror(errno));
  written_ += size;
}

void OutputFile::commit() {
  std::FILE *file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0) {
    std::remove(path_.c_str());
    fail(path_, "write failed ({})", std::strerror(errno));
  }
}

} // namespace gm
