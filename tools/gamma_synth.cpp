// gamma-synth: writes transformer files with real names, shapes and metadata
// and seeded random weights, so the GGUF and safetensors paths can be tested
// and timed at Qwen3-0.6B and whisper-tiny size without downloading a model.
#include "frontend/gguf/quantize.h"
#include "frontend/transformers/synth_models.h"
#include "ir/error.h"
#include "tools/tool_main.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <functional>

using namespace gm;

namespace {

constexpr std::uint64_t kProgressFrom = 64ull << 20; // smaller files finish before a report would help

std::string humanBytes(std::uint64_t n) {
  if (n >= (1ull << 30))
    return fmt::format("{:.2f} GiB", double(n) / double(1ull << 30));
  if (n >= (1ull << 20))
    return fmt::format("{:.1f} MiB", double(n) / double(1ull << 20));
  return fmt::format("{} bytes", n);
}

// One line per 5% on stderr (lines, not \r, so logs stay readable).
synth::Progress progressPrinter(bool quiet) {
  if (quiet)
    return {};
  return [lastStep = -1](const std::string &tensor, std::uint64_t done, std::uint64_t total) mutable {
    if (total < kProgressFrom)
      return;
    const int step = static_cast<int>(20 * done / total);
    if (step == lastStep)
      return;
    lastStep = step;
    std::fprintf(stderr, "gamma-synth: %3d%% of %s (%s)\n", 5 * step, humanBytes(total).c_str(), tensor.c_str());
  };
}

void report(const synth::Summary &s, bool json) {
  if (json) {
    tools::writeOutput("-", synth::summaryJson(s));
    return;
  }
  tools::writeOutput("-", fmt::format("wrote {} ({}, {} tensors, {} parameters) in {:.2f} s\n", s.path,
                                      humanBytes(s.bytes), s.tensors, s.parameters, s.seconds));
}

void printPlan(const std::vector<synth::TensorPlan> &tensors, const std::function<std::string(const synth::TensorPlan &)> &type) {
  std::string text;
  for (const synth::TensorPlan &t : tensors)
    text += fmt::format("{:<48} [{}] {}\n", t.name, fmt::join(t.dims, ", "), type(t));
  text += fmt::format("{} tensors, {} parameters\n", tensors.size(), synth::parameterCount(tensors));
  tools::writeOutput("-", text);
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"gamma-synth: write transformer files with real names, shapes and metadata and seeded\n"
               "random weights (no trained model needed).\n\n"
               "  qwen3    a GGUF file: Qwen3-0.6B (--config 0.6b) or the tiny CI configurations\n"
               "           tiny, tinywide, tiny256 of shared/reference/transformers; 2-D tensors in\n"
               "           --type, norms F32. K-quants (q4_k, q5_k, q6_k) need rows that are a\n"
               "           multiple of 256: 0.6b and tiny256 only.\n"
               "  whisper  a Hugging Face directory: config.json and model.safetensors (or --shards\n"
               "           K files and model.safetensors.index.json) of the Whisper encoder:\n"
               "           whisper-tiny (--config tiny) or the tiny CI one (--config ci).\n\n"
               "Weights: embeddings N(0,0.05), Linear N(0, clip(0.8/sqrt(fan_in), 0.02, 0.1)),\n"
               "norms 1+N(0,0.1) (as the reference README); the same --seed gives the same bytes.\n"
               "Files are written streaming (a slice of a tensor in memory at a time).\n\n"
               "Examples:\n"
               "  gamma-synth qwen3 --config tiny --type q8_0 -o tiny.gguf\n"
               "  gamma-synth qwen3 --config 0.6b --type q4_k --seed 7 -o qwen3-0.6b-q4_k.gguf\n"
               "  gamma-synth qwen3 --config tiny256 --type q6_k --untied -o t.gguf --json\n"
               "  gamma-synth qwen3 --config 0.6b --dry-run          tensor list, writes nothing\n"
               "  gamma-synth whisper --config tiny -o whisper-tiny/\n"
               "  gamma-synth whisper --config ci --dtype f16 --shards 2 -o ci-sharded/",
               "gamma-synth"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return tools::versionText("gamma-synth"); });

  std::string config, typeName = "f32", dtypeName = "f32", output;
  std::uint64_t seed = 1;
  bool tied = false, untied = false, json = false, quiet = false, dryRun = false;
  int shards = 1;

  auto common = [&](CLI::App *sub, const std::string &configs, const std::string &outputHelp) {
    sub->add_option("--config", config, "configuration: " + configs)->required();
    sub->add_option("--seed", seed, "seed of the weights (default 1)");
    sub->add_option("-o,--output", output, outputHelp);
    sub->add_flag("--json", json, "print a summary as JSON: file, files, bytes, tensors, parameters, seconds");
    sub->add_flag("-q,--quiet", quiet, "no progress lines on stderr (printed for files over 64 MiB)");
    sub->add_flag("--dry-run", dryRun, "print the tensors (name, shape, type) and the parameter count; write nothing");
  };

  CLI::App *qwen3 = app.add_subcommand("qwen3", "write a Qwen3 GGUF file");
  common(qwen3, fmt::format("{}", fmt::join(synth::qwen3ConfigNames(), ", ")), "the .gguf file to write");
  qwen3->add_option("--type", typeName,
                    fmt::format("type of the 2-D tensors: {} (default f32)", gguf::quantizableTypeNames()));
  qwen3->add_flag("--tied", tied, "no output.weight: the head reuses token_embd (the default for 0.6b)");
  qwen3->add_flag("--untied", untied, "write output.weight (the default for the tiny configurations)");

  CLI::App *whisper = app.add_subcommand("whisper", "write a Whisper encoder as Hugging Face safetensors");
  common(whisper, fmt::format("{}", fmt::join(synth::whisperConfigNames(), ", ")),
         "the directory to write (created if missing)");
  whisper->add_option("--dtype", dtypeName, "dtype of every tensor: f32 (default), f16 or bf16");
  whisper->add_option("--shards", shards, "split the weights into this many files with an index (default 1)");

  return tools::runTool(app, argc, argv, [&] {
    if (!dryRun && output.empty())
      fail("--output", "required: the file (qwen3) or directory (whisper) to write");
    synth::Summary summary;
    if (qwen3->parsed()) {
      synth::Qwen3Config c = synth::qwen3Config(config);
      const gguf::GgmlType type = synth::qwen3Type(typeName);
      if (tied && untied)
        fail("--tied", "give --tied or --untied, not both");
      if (tied || untied)
        c.tied = tied;
      if (dryRun) {
        const std::vector<synth::TensorPlan> tensors = synth::qwen3Tensors(c);
        synth::checkRowsFit(tensors, type);
        printPlan(tensors, [&](const synth::TensorPlan &t) {
          return std::string(gguf::ggmlTypeName(synth::storedType(t, type)));
        });
        return tools::kExitOk;
      }
      summary = synth::writeQwen3(c, type, seed, output, progressPrinter(quiet));
    } else {
      const synth::WhisperConfig c = synth::whisperConfig(config);
      const safetensors::DType dtype = synth::whisperDType(dtypeName);
      if (dryRun) {
        printPlan(synth::whisperTensors(c),
                  [&](const synth::TensorPlan &) { return std::string(safetensors::dtypeName(dtype)); });
        return tools::kExitOk;
      }
      summary = synth::writeWhisper(c, dtype, seed, shards, output, progressPrinter(quiet));
    }
    report(summary, json);
    return tools::kExitOk;
  });
}
