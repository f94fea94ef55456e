#include "runtime/plan_file.h"

#include "ir/constant.h"
#include "ir/error.h"
#include "ir/mapped_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace gm {

namespace {

// In the order the writer (runtime/plan_write.cpp) puts them.
const std::vector<std::string> kSections = {"ir", "object"};

// Reads the file front to back; any shortfall is "truncated".
class Reader {
public:
  Reader(std::string_view bytes, const std::string &path) : bytes_(bytes), path_(path) {}
  std::uint64_t u(int width, std::string_view what) {
    need(static_cast<std::uint64_t>(width), what);
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i)
      v |= std::uint64_t(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += static_cast<std::size_t>(width);
    return v;
  }
  std::string_view block(std::string_view what) {
    std::uint64_t n = u(8, what);
    need(n, what);
    std::string_view b = bytes_.substr(pos_, n);
    pos_ += n;
    return b;
  }
  bool atEnd() const { return pos_ == bytes_.size(); }

private:
  void need(std::uint64_t n, std::string_view what) {
    if (n > bytes_.size() - pos_)
      fail(path_, "plan truncated: {} needs {} bytes, {} left (rewrite it with gammac --emit plan)", what, n,
           bytes_.size() - pos_);
  }
  std::string_view bytes_;
  const std::string &path_;
  std::size_t pos_ = 0;
};

nlohmann::json headerJson(const PlanHeader &h) {
  return {{"gamma_version", h.gammaVersion},
          {"method", h.method},
          {"spec_rows", h.specRows},
          {"target", h.target},
          {"required_features", h.requiredFeatures},
          {"model", {{"path", h.modelPath}, {"xxh3", h.modelHash}}},
          {"arena_bytes", h.arenaBytes},
          {"inputs", h.inputs},
          {"outputs", h.outputs},
          {"kernels", h.kernels},
          {"chain_kernels", h.chainKernels},
          {"product_kernels", h.productKernels},
          {"sections", kSections}};
}

PlanHeader headerFrom(const nlohmann::json &j) {
  PlanHeader h;
  h.gammaVersion = j.at("gamma_version").get<std::string>();
  h.method = j.at("method").get<std::string>();
  h.specRows = j.at("spec_rows").get<std::int64_t>();
  h.target = j.at("target").get<std::string>();
  h.requiredFeatures = j.at("required_features").get<std::vector<std::string>>();
  h.modelPath = j.at("model").at("path").get<std::string>();
  h.modelHash = j.at("model").at("xxh3").get<std::string>();
  h.arenaBytes = j.at("arena_bytes").get<std::int64_t>();
  h.inputs = j.at("inputs").get<std::int64_t>();
  h.outputs = j.at("outputs").get<std::int64_t>();
  h.kernels = j.at("kernels").get<std::string>();
  h.chainKernels = j.value("chain_kernels", std::int64_t(0));
  h.productKernels = j.value("product_kernels", std::int64_t(0));
  return h;
}

} // namespace

bool isPlan(std::string_view bytes) { return bytes.substr(0, kPlanMagic.size()) == kPlanMagic; }

bool isPlanFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  return in.read(magic, sizeof magic) && isPlan(std::string_view(magic, sizeof magic));
}

std::string planHeaderText(const PlanHeader &header) { return headerJson(header).dump(1) + "\n"; }

PlanFile parsePlan(std::string_view bytes, const std::string &path) {
  if (!isPlan(bytes))
    fail(path, "not a gamma plan (bad magic; plans are written by gammac --emit plan)");
  Reader r(bytes.substr(kPlanMagic.size()), path);
  std::uint64_t version = r.u(4, "the format version");
  if (version != kPlanFormatVersion)
    fail(path, "plan format {}, this gamma reads {}: recompile with gammac --emit plan", version,
         kPlanFormatVersion);
  std::string_view headerText = r.block("the header");
  PlanFile plan;
  std::vector<std::string> sections;
  try {
    nlohmann::json j = nlohmann::json::parse(headerText);
    plan.header = headerFrom(j);
    sections = j.at("sections").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception &e) {
    fail(path, "bad plan header: {}", e.what());
  }
  for (const std::string &want : kSections)
    if (std::find(sections.begin(), sections.end(), want) == sections.end())
      fail(path, "plan has no '{}' section", want);
  for (const std::string &name : sections) {
    std::string_view body = r.block(fmt::format("section '{}'", name));
    if (name == "ir")
      plan.boundIr = body;
    else if (name == "object")
      plan.object = body;
  }
  if (!r.atEnd())
    fail(path, "bytes after the plan's last section (a damaged or concatenated file)");
  return plan;
}

PlanFile readPlan(const std::string &path) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  std::span<const std::byte> b = file->bytes();
  return parsePlan(std::string_view(reinterpret_cast<const char *>(b.data()), b.size()), path);
}

std::string fileHash(const std::string &path) {
  return fmt::format("{:016x}", contentHash(MappedFile::open(path)->bytes()));
}

} // namespace gm
