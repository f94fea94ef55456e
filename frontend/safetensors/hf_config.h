// Hyperparameters from a Hugging Face config.json, read by typed getters
// whose errors name the file and the key, and the Whisper encoder's set as a
// struct. Another architecture (Qwen3, ...) adds its own struct and reader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gm::hf {

class Config {
public:
  // Throws InputError "path: ..." if the file is unreadable or not a JSON object.
  static Config readFile(const std::string &path);
  static Config parse(std::string_view text, const std::string &path);

  const std::string &path() const { return path_; }
  bool has(std::string_view key) const; // present and not null
  // InputError "path: key 'd_model' ..." when the key is missing or of another type.
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const; // an integer or a float
  std::string string(std::string_view key) const;
  bool boolean(std::string_view key) const;

private:
  struct Json; // nlohmann::json, kept out of this header
  std::string path_;
  std::shared_ptr<const Json> json_;
};

struct WhisperEncoderConfig {
  std::string modelType; // "whisper"
  std::int64_t numMelBins = 0;
  std::int64_t dModel = 0;
  std::int64_t encoderLayers = 0;
  std::int64_t encoderAttentionHeads = 0;
  std::int64_t encoderFfnDim = 0;
  std::int64_t maxSourcePositions = 0;
  std::string activationFunction; // "gelu", ...: the graph builder decides which it supports
  // HF Whisper configs have no eps key: its LayerNorms use torch's default.
  double layerNormEps = 1e-5;
};

// Requires model_type "whisper", positive sizes, and heads dividing d_model.
WhisperEncoderConfig whisperEncoderConfig(const Config &config);

} // namespace gm::hf
