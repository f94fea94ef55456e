// Front-end speed: VNNLIB parsing at the size of the largest VNN-COMP files,
// the textual IR round trip, and the reference interpreter on the demo network.
#include "frontend/demo/demo_model.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

namespace {

// A CIFAR-sized L-inf property (3072 inputs, 10 outputs, 9 disjuncts), written
// the way VNN-COMP generators write them.
std::string cifarSizedProperty() {
  std::string text;
  for (int i = 0; i < 3072; ++i)
    text += fmt::format("(declare-const X_{} Real)\n", i);
  for (int j = 0; j < 10; ++j)
    text += fmt::format("(declare-const Y_{} Real)\n", j);
  for (int i = 0; i < 3072; ++i)
    text += fmt::format("(assert (<= X_{0} {1:.17g}))\n(assert (>= X_{0} {2:.17g}))\n", i, 0.5 + i * 1e-4,
                        -0.5 + i * 1e-4);
  text += "(assert (or\n";
  for (int j = 1; j < 10; ++j)
    text += fmt::format("  (and (>= Y_{} Y_0))\n", j);
  return text + "))\n";
}

void BM_VnnlibParseCifarSized(benchmark::State &state) {
  std::string text = cifarSizedProperty();
  for (auto _ : state)
    benchmark::DoNotOptimize(gm::vnnlib::parse(text, "bench.vnnlib"));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_VnnlibParseCifarSized)->Unit(benchmark::kMillisecond);

void BM_IrRoundTripDemo(benchmark::State &state) {
  std::string text = gm::printGraph(gm::demo::buildModel());
  for (auto _ : state)
    benchmark::DoNotOptimize(gm::printGraph(gm::parseGraph(text, "bench.gir")));
}
BENCHMARK(BM_IrRoundTripDemo)->Unit(benchmark::kMicrosecond);

void BM_InterpreterDemo(benchmark::State &state) {
  gm::Graph graph = gm::demo::buildModel();
  gm::ref::Tensor x{{1, 5}, std::vector<double>(5, 0.01)};
  for (auto _ : state)
    benchmark::DoNotOptimize(gm::ref::evaluate(graph, std::span(&x, 1)));
}
BENCHMARK(BM_InterpreterDemo)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
