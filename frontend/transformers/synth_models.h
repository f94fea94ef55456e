// Synthetic transformer files for tests and benchmarks (gamma-synth): the
// exact tensor names, shapes and metadata of Qwen3 (GGUF) and the Whisper
// encoder (Hugging Face safetensors) at real sizes (Qwen3-0.6B,
// whisper-tiny) and tiny ones for CI, with seeded random weights drawn the
// way shared/reference/transformers/README.md describes, so a file at any
// size behaves like the reference ones.
//
// Every tensor's values depend only on the seed and the tensor's name
// (counter-based random numbers), so the f32 and q8_0 files of one seed hold
// the same weights before rounding, a tied and an untied file differ only in
// output.weight, and tensors can be generated a slice at a time: files are
// written streaming and never held in memory whole.
#pragma once

#include "frontend/gguf/ggml_type.h"
#include "frontend/gguf/metadata.h"
#include "frontend/safetensors/safetensors_reader.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gm::synth {

// How a tensor's values are drawn.
struct Init {
  enum class Kind {
    Normal,        // N(0, sigma)
    OnePlusNormal, // 1 + N(0, sigma): norm weights
    Sinusoid,      // Whisper's position table: row = position, column = channel
  };
  Kind kind = Kind::Normal;
  double sigma = 0;
};

struct TensorPlan {
  std::string name;
  // As the file stores them: ggml order for GGUF (dims[0] is a row),
  // row-major for safetensors.
  std::vector<std::int64_t> dims;
  std::int64_t rowLength = 1; // contiguous elements of one row
  Init init;
  std::int64_t numElements() const;
};

std::uint64_t parameterCount(const std::vector<TensorPlan> &tensors);

// Elements [begin, begin + count) of the tensor in storage order, into out[count].
void generate(const TensorPlan &tensor, std::uint64_t seed, std::int64_t begin, std::int64_t count, float *out);
std::vector<float> generate(const TensorPlan &tensor, std::uint64_t seed);

// Sizes per `qwen3.*` GGUF key; the tokenizer is synthetic (see qwen3Metadata).
struct Qwen3Config {
  std::string name;        // as --config takes it: "0.6b", "tiny", ...
  std::string generalName; // general.name
  std::int64_t embedding = 0, blocks = 0, heads = 0, kvHeads = 0, headDim = 0, feedForward = 0;
  std::int64_t vocab = 0, context = 0;
  float ropeTheta = 1e6f, rmsEps = 1e-6f;
  bool tied = false;                   // no output.weight: the head reuses token_embd
  std::int64_t endOfTextToken = 0;     // <|endoftext|>; <|im_start|> and <|im_end|> follow
};

// "0.6b" (Qwen/Qwen3-0.6B's config.json, tied), "tiny", "tinywide" and
// "tiny256" (the reference README's configs A, W and B, untied).
std::vector<std::string> qwen3ConfigNames();
Qwen3Config qwen3Config(std::string_view name); // InputError "--config: ..." when unknown

// In the order convert_hf_to_gguf writes them.
std::vector<TensorPlan> qwen3Tensors(const Qwen3Config &config);
// InputError "--type: ..." for a type gamma cannot write.
gguf::GgmlType qwen3Type(std::string_view name);
// 1-D tensors (norms) stay F32, as llama-quantize leaves them.
gguf::GgmlType storedType(const TensorPlan &tensor, gguf::GgmlType requested);
// InputError "--type q4_k: tensor '...' has rows of 64 elements, ..." when a
// tensor's rows are not whole blocks of the type.
void checkRowsFit(const std::vector<TensorPlan> &tensors, gguf::GgmlType type);
// general.*, qwen3.* and a GPT-2-style tokenizer of config.vocab tokens:
// the 256 byte symbols, the reference's 41 merges, tok_N fillers, the three
// Qwen control tokens at endOfTextToken and [PADn] after them.
gguf::Metadata qwen3Metadata(const Qwen3Config &config, gguf::GgmlType type);

struct WhisperConfig {
  std::string name; // "tiny" (openai/whisper-tiny) or "ci" (the reference's tiny encoder)
  std::int64_t dModel = 0, encoderLayers = 0, encoderHeads = 0, encoderFfn = 0, melBins = 80;
  std::int64_t maxSourcePositions = 0;
  // Only written to config.json: no decoder weights are generated.
  std::int64_t decoderLayers = 0, decoderHeads = 0, decoderFfn = 0, maxTargetPositions = 0, vocab = 0;
  std::int64_t padToken = 0, decoderStartToken = 0;
};

std::vector<std::string> whisperConfigNames();
WhisperConfig whisperConfig(std::string_view name); // InputError "--config: ..."
// HF names (model.encoder.*), row-major shapes; in name order, as stored.
std::vector<TensorPlan> whisperTensors(const WhisperConfig &config);
// InputError "--dtype: ..." unless f32, f16 or bf16.
safetensors::DType whisperDType(std::string_view name);
// config.json: model_type whisper and what hf::whisperEncoderConfig reads.
std::string whisperConfigJson(const WhisperConfig &config, safetensors::DType dtype);

// What a write produced, for the tool's report.
struct Summary {
  std::string path;               // the .gguf file or the Whisper directory
  std::vector<std::string> files; // every file written
  std::uint64_t bytes = 0;        // of all files
  std::size_t tensors = 0;
  std::uint64_t parameters = 0;
  double seconds = 0;
};
std::string summaryJson(const Summary &summary);

// Called after each slice written: the tensor, bytes written so far, bytes in all.
using Progress = std::function<void(const std::string &tensor, std::uint64_t done, std::uint64_t total)>;

Summary writeQwen3(const Qwen3Config &config, gguf::GgmlType type, std::uint64_t seed, const std::string &path,
                   const Progress &progress = {});
// `dir` (created if missing) gets config.json and model.safetensors, or with
// shards > 1 model-0000i-of-0000K.safetensors and model.safetensors.index.json.
Summary writeWhisper(const WhisperConfig &config, safetensors::DType dtype, std::uint64_t seed, int shards,
                     const std::string &dir, const Progress &progress = {});

} // namespace gm::synth
