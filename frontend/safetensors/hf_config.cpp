#include "frontend/safetensors/hf_config.h"

#include "frontend/safetensors/json_text.h"
#include "ir/error.h"
#include "ir/mapped_file.h"

#include <limits>

namespace gm::hf {

struct Config::Json {
  nlohmann::json value;
};

namespace {

std::string keyPlace(const std::string &path, std::string_view key) { return fmt::format("{}: key '{}'", path, key); }

} // namespace

Config Config::parse(std::string_view text, const std::string &path) {
  Config config;
  config.path_ = path;
  config.json_ = std::make_shared<const Json>(Json{safetensors::parseJson(text, path)});
  if (!config.json_->value.is_object())
    fail(path, "config is not a JSON object");
  return config;
}

Config Config::readFile(const std::string &path) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  return parse({reinterpret_cast<const char *>(file->bytes().data()), file->size()}, path);
}

bool Config::has(std::string_view key) const {
  auto it = json_->value.find(key);
  return it != json_->value.end() && !it->is_null();
}

namespace {

const nlohmann::json &lookup(const nlohmann::json &object, const std::string &path, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null())
    fail(keyPlace(path, key), "missing");
  return *it;
}

} // namespace

std::int64_t Config::integer(std::string_view key) const {
  const nlohmann::json &v = lookup(json_->value, path_, key);
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    fail(keyPlace(path_, key), "{} overflows int64", v.dump());
  if (!v.is_number_integer())
    fail(keyPlace(path_, key), "expected an integer, got {}", v.dump());
  return v.get<std::int64_t>();
}

double Config::number(std::string_view key) const {
  const nlohmann::json &v = lookup(json_->value, path_, key);
  if (!v.is_number())
    fail(keyPlace(path_, key), "expected a number, got {}", v.dump());
  return v.get<double>();
}

std::string Config::string(std::string_view key) const {
  const nlohmann::json &v = lookup(json_->value, path_, key);
  if (!v.is_string())
    fail(keyPlace(path_, key), "expected a string, got {}", v.dump());
  return v.get<std::string>();
}

bool Config::boolean(std::string_view key) const {
  const nlohmann::json &v = lookup(json_->value, path_, key);
  if (!v.is_boolean())
    fail(keyPlace(path_, key), "expected true or false, got {}", v.dump());
  return v.get<bool>();
}

WhisperEncoderConfig whisperEncoderConfig(const Config &config) {
  WhisperEncoderConfig w;
  w.modelType = config.string("model_type");
  if (w.modelType != "whisper")
    fail(keyPlace(config.path(), "model_type"), "expected 'whisper', got '{}'", w.modelType);
  auto positive = [&](const char *key) {
    std::int64_t v = config.integer(key);
    if (v <= 0)
      fail(keyPlace(config.path(), key), "expected a positive integer, got {}", v);
    return v;
  };
  w.numMelBins = positive("num_mel_bins");
  w.dModel = positive("d_model");
  w.encoderLayers = positive("encoder_layers");
  w.encoderAttentionHeads = positive("encoder_attention_heads");
  w.encoderFfnDim = positive("encoder_ffn_dim");
  w.maxSourcePositions = positive("max_source_positions");
  w.activationFunction = config.string("activation_function");
  if (config.has("layer_norm_eps")) {
    w.layerNormEps = config.number("layer_norm_eps");
    if (!(w.layerNormEps > 0))
      fail(keyPlace(config.path(), "layer_norm_eps"), "expected a positive number, got {}", w.layerNormEps);
  }
  if (w.dModel % w.encoderAttentionHeads != 0)
    fail(config.path(), "d_model {} is not a multiple of encoder_attention_heads {}", w.dModel,
         w.encoderAttentionHeads);
  return w;
}

} // namespace gm::hf
