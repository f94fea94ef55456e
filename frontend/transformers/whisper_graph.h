// The Whisper encoder (Hugging Face WhisperEncoder layout) as an explicit
// gamma IR graph: mel spectrogram [1, num_mel_bins, frames] in,
// last_hidden_state [1, T, d_model] out, T = ceil(frames / 2).
//
// Every hyperparameter comes from config.json; the weights only have to agree
// with it. Weights stay in the mapped safetensors file where their dtype is
// f32 (see SafetensorsWeights for F16/BF16).
#pragma once

#include "ir/graph.h"

#include <cstdint>
#include <string>

namespace gm::transformers {

struct WhisperOptions {
  // Mel frames of the input; 0 means 2·max_source_positions, the length
  // Whisper is trained on (3000 for real checkpoints). Fewer frames use the
  // first T rows of embed_positions.
  std::int64_t frames = 0;
  // config.json to read; empty means config.json next to the weights (in the
  // directory given, or in the directory of the file given).
  std::string configPath;
};

// `modelPath`: a directory, a .safetensors file or a *.safetensors.index.json.
// Tensors may carry a "model.encoder.", "encoder." or no prefix. Throws
// InputError naming the file and the tensor or config key on anything that
// does not fit. The graph is verified.
Graph buildWhisperEncoder(const std::string &modelPath, const WhisperOptions &options = {});

} // namespace gm::transformers
