// One property's bounds through a plan's program against the direct path:
// for the first instance of a network of each VNN-COMP benchmark, IBP and
// CROWN (with the spec rows), timed four ways:
//   direct       bounds::computeBounds on a prepared bounds::Network (the
//                dense-chain engine where it applies), as bench/bounds_bench.cpp
//   compiled     ProgramRunner with the object code gammac would write (and the
//                BLAS row ops that come with it)
//   in_place     ProgramRunner without object code (every op interpreted in place)
//   interpreter  ref::evaluate of the same program (the oracle)
// Names: <benchmark>/<network>/<method>/<way>. Compiling the program and
// loading the model are not timed: a plan does them once.
//
// The shared material is found through GAMMA_SHARED_DIR, else the directory
// the build was configured with, else ../shared; without it nothing runs.
#include "bounds/bounds.h"
#include "codegen/cpu_features.h"
#include "codegen/target_desc.h"
#include "frontend/model_loader.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/interp/interpreter.h"
#include "passes/pass.h"
#include "runtime/object_code.h"
#include "runtime/plan_write.h"
#include "runtime/program_runner.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

namespace fs = std::filesystem;
using namespace gm;

namespace {

fs::path sharedDir() {
  if (const char *dir = std::getenv("GAMMA_SHARED_DIR"); dir && *dir)
    return dir;
#ifdef GAMMA_DEFAULT_SHARED_DIR
  if (fs::is_directory(fs::path(GAMMA_DEFAULT_SHARED_DIR) / "vnncomp"))
    return GAMMA_DEFAULT_SHARED_DIR;
#endif
  return "../shared";
}

struct Job {
  Graph net, program;
  std::optional<bounds::Network> network;
  std::optional<ObjectCode> code;
  std::unique_ptr<ProgramRunner> compiled, inPlace;
  bounds::Box box;
  bounds::Spec spec;
  std::vector<double> C, d;
  bounds::Method method;
};

std::shared_ptr<Job> makeJob(const fs::path &onnx, const fs::path &vnnlib, const char *method) {
  auto job = std::make_shared<Job>();
  job->net = loadModel(onnx.string());
  vnnlib::Property p = vnnlib::parseFile(vnnlib.string());
  const vnnlib::Disjunct &first = p.disjuncts[0];
  job->box = {first.lower, first.upper};
  std::int64_t outs = job->net.type(job->net.outputs()[0]).numElements();
  job->spec.numOutputs = static_cast<std::size_t>(outs);
  for (const vnnlib::Row &row : first.rows) {
    std::vector<double> coeffs(static_cast<std::size_t>(outs), 0.0);
    for (auto [j, a] : row.y)
      coeffs[j] = a;
    job->spec.outputCoeffs.insert(job->spec.outputCoeffs.end(), coeffs.begin(), coeffs.end());
    job->spec.constants.push_back(row.constant);
  }
  job->C.assign(static_cast<std::size_t>(outs * outs), 0.0);
  job->d.assign(static_cast<std::size_t>(outs), 0.0);
  std::copy(job->spec.outputCoeffs.begin(), job->spec.outputCoeffs.end(), job->C.begin());
  std::copy(job->spec.constants.begin(), job->spec.constants.end(), job->d.begin());
  job->method = *bounds::parseMethod(method);
  job->network.emplace(job->net);
  job->program = job->net;
  PassOptions options;
  options.boundMethod = method;
  options.specRows = outs;
  runPasses(job->program, boundPipeline(), options, onnx.string());
  std::string target = codegen::missingHostFeatures("x86-64-v3").empty() ? "x86-64-v3" : "host";
  PlanFile plan;
  compilePlanKernels(plan, job->program, codegen::describeTarget(target));
  if (!plan.object.empty() && ObjectCode::supportedHost())
    job->code = ObjectCode::link(plan.object, "kernels");
  job->compiled = std::make_unique<ProgramRunner>(job->program, job->code ? &*job->code : nullptr, "bench");
  job->inPlace = std::make_unique<ProgramRunner>(job->program, nullptr, "bench");
  return job;
}

void registerAll() {
  fs::path root = sharedDir() / "vnncomp";
  if (!fs::is_directory(root)) {
    std::fprintf(stderr, "plan-bench: no shared material at %s (set GAMMA_SHARED_DIR)\n", root.c_str());
    return;
  }
  bounds::registerProgramRules();
  struct Net {
    const char *bench, *onnx, *vnnlib;
  };
  for (Net n : {Net{"acasxu", "ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib"},
                Net{"mnist_fc", "onnx/mnist-net_256x6.onnx", "vnnlib/prop_0_0.03.vnnlib"},
                Net{"eran", "nets/ffnnSIGMOID__Point_6x200.onnx", nullptr},
                Net{"oval21", "nets/cifar_base_kw.onnx", nullptr}}) {
    fs::path dir = root / n.bench, onnx = dir / n.onnx, vnnlib;
    if (n.vnnlib) {
      vnnlib = dir / n.vnnlib;
    } else { // the first instance of this network
      for (const auto &e : fs::directory_iterator(dir))
        if (e.path().filename().string().find("instances") != std::string::npos) {
          std::ifstream in(e.path());
          std::string line;
          while (std::getline(in, line))
            if (line.rfind(n.onnx, 0) == 0) {
              std::string rest = line.substr(line.find(',') + 1);
              vnnlib = dir / rest.substr(0, rest.find(','));
              break;
            }
        }
    }
    if (!fs::exists(onnx) || !fs::exists(vnnlib))
      continue;
    for (const char *method : {"ibp", "crown"}) {
      std::shared_ptr<Job> job;
      try {
        job = makeJob(onnx, vnnlib, method);
      } catch (const std::exception &e) {
        std::fprintf(stderr, "plan-bench: %s %s: %s\n", n.onnx, method, e.what());
        continue;
      }
      std::string name = fmt::format("{}/{}/{}", n.bench, fs::path(n.onnx).stem().string(), method);
      benchmark::RegisterBenchmark((name + "/direct").c_str(), [job](benchmark::State &state) {
        bounds::Options options;
        options.method = job->method;
        options.threads = 1;
        for (auto _ : state)
          benchmark::DoNotOptimize(bounds::computeBounds(*job->network, job->box, &job->spec, options));
      })->Unit(benchmark::kMillisecond);
      auto runner = [job](const ProgramRunner &r) {
        return [job, &r](benchmark::State &state) {
          std::vector<std::span<const double>> in{job->box.lower, job->box.upper, job->C, job->d};
          for (auto _ : state)
            benchmark::DoNotOptimize(r.run(in));
          state.counters["compiled_nodes"] = static_cast<double>(r.compiledNodes());
          state.counters["row_op_nodes"] = static_cast<double>(r.nativeNodes());
        };
      };
      benchmark::RegisterBenchmark((name + "/compiled").c_str(), runner(*job->compiled))->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((name + "/in_place").c_str(), runner(*job->inPlace))->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((name + "/interpreter").c_str(), [job](benchmark::State &state) {
        std::int64_t n = static_cast<std::int64_t>(job->box.lower.size()), outs = job->d.size();
        std::vector<ref::Tensor> in{{{n}, job->box.lower}, {{n}, job->box.upper}, {{outs, outs}, job->C}, {{outs}, job->d}};
        for (auto _ : state)
          benchmark::DoNotOptimize(ref::evaluate(job->program, in));
      })->Unit(benchmark::kMillisecond);
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  registerAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
