// gamma-run's specification for transformer models:
//
//   Qwen3 (GGUF)      token ids fixed, the L-inf ball of radius epsilon around
//                     their embeddings (every position or some), outputs the
//                     last position's logits; the property is that the top-1
//                     token at the centre keeps a positive margin over every
//                     other token (or over the K next-highest).
//   Whisper encoder   the ball around a mel spectrogram; no property, only
//   (safetensors)     bounds on the encoder states and where they grow.
//
// Both report the width of every bounded value of the graph (by node name) so
// a user can see which layer loosens the bounds. The verdict follows
// runtime/verify.h: unsat only from bounds, sat only with a point checked by
// the reference interpreter, unknown otherwise.
#pragma once

#include "bounds/bounds.h"
#include "ir/shape.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gm {

enum class TransformerKind {
  None,    // not a transformer file: loadModel's formats
  Qwen3,   // .gguf
  Whisper, // .safetensors, .safetensors.index.json, or a directory of them
};
TransformerKind transformerKind(const std::string &modelPath);

// Token ids separated by commas and/or whitespace ("1,2,3", a prompt file's
// text). InputError "PLACE: ..." for anything that is not a non-negative
// integer, or for no ids at all.
std::vector<std::int64_t> parseTokenIds(std::string_view text, const std::string &place);
// The file's ids; errors name "--prompt-ids: FILE".
std::vector<std::int64_t> readTokenIdsFile(const std::string &path);
// Positions "0,2": non-negative integers, no ids required to exist yet.
std::vector<std::int64_t> parsePositions(std::string_view text);

struct TransformerOptions {
  bounds::Method method = bounds::Method::Ibp; // CROWN cannot bound softmax yet
  bool intersectIbp = false;
  double epsilon = 1e-3;
  double timeoutSeconds = 0; // 0: none; covers the bounds and the search
  // The counterexample search: the gradient-sign corner towards the
  // runner-up (unless !attack), then `samples` random corners of the box,
  // until searchSeconds have passed.
  double searchSeconds = 10;
  std::size_t samples = 1000;
  // Qwen3: this many uniform points of the ball evaluated after the bounds
  // only to check them (TransformerReport::checkedPoints), search or not.
  std::size_t checkPoints = 0;
  bool attack = true;
  std::uint64_t seed = 1;
  // The engine's spec is a dense matrix over the outputs: one row per token
  // of a real vocabulary (151936) would take 185 GB. This many coefficients
  // go to rows for the closest margins; the others are bounded from the
  // logits' intervals, soundly but more loosely (that forgets both logits
  // read the same hidden state).
  std::size_t specCoefficients = std::size_t(1) << 22;
  // Called with one line per stage (graph built, bounds, search), for long runs.
  std::function<void(const std::string &)> progress;
};

struct Qwen3Job {
  std::string model; // .gguf
  std::vector<std::int64_t> tokens;
  std::string tokensFlag = "--tokens"; // how errors about the ids name their origin
  std::vector<std::int64_t> positions; // perturbed positions; empty: every position
  std::size_t topK = 0;                // margins over the K next-highest tokens; 0: every other token
};

struct WhisperJob {
  std::string model;       // directory, .safetensors or .safetensors.index.json
  std::string input;       // mel spectrogram, .npy, [1, n_mels, frames] or [n_mels, frames]
  std::string config;      // config.json; empty: next to the weights
  std::int64_t frames = 0; // 0: the input's last dimension
};

// A bounded value of the graph: its node's name and op, and how wide its
// interval is (bounds::ValueWidth).
struct LayerWidth {
  std::string name, op;
  double maxWidth = 0, meanWidth = 0;
};

// The margin logit[top1] - logit[token] at the centre and its sound bounds
// over the box. status: "refuted" (lower > 0, the token cannot overtake),
// "violated" (the counterexample's), "open", "not-run" (timeout first).
struct Margin {
  std::int64_t token = 0;
  double centre = 0, lower = 0, upper = 0;
  std::string status = "not-run";
};

struct TransformerCounterexample {
  std::size_t margin = 0;     // index into margins
  std::vector<double> input;  // the graph's input (embeddings or mel), flat
  std::vector<double> output; // its float64 outputs
};

struct TransformerReport {
  TransformerKind kind = TransformerKind::None;
  std::string verdict; // unsat, sat, unknown, timeout
  std::string method, model, property;
  double seconds = 0;
  double epsilon = 0;
  // Qwen3
  std::vector<std::int64_t> tokens, positions; // positions: the perturbed ones
  std::int64_t top1 = -1;
  double top1Logit = 0;
  std::vector<Margin> margins; // closest first (smallest margin at the centre)
  // The first specRows margins are bounded as rows through the LM head, the
  // rest from the logits' intervals (TransformerOptions::specCoefficients).
  std::size_t specRows = 0;
  std::optional<TransformerCounterexample> counterexample;
  // Both: bounds on the output (flat, row-major) and their summary.
  Shape outputShape;
  std::vector<double> outputLower, outputUpper; // empty after a timeout
  double outputMaxWidth = 0, outputMeanWidth = 0;
  std::vector<LayerWidth> layers; // graph order
  // Every point the job evaluates (the centre, the search's points) is also
  // checked against the output bounds and the margins' bounds: a self-check of
  // soundness on the real model. outsidePoints > 0 is a bug in gamma.
  std::size_t checkedPoints = 0, outsidePoints = 0;
};

TransformerReport runQwen3(const Qwen3Job &job, const TransformerOptions &options);
TransformerReport runWhisper(const WhisperJob &job, const TransformerOptions &options);

} // namespace gm
