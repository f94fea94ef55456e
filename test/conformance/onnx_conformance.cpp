// ONNX node conformance: runs the ONNX backend node tests (Debian's
// libonnx-testdata) through the gamma importer and the reference interpreter.
//
//   onnx-conformance [node-test-dir [summary.json [expected_failures.txt]]]
//
// For every test_*/ directory whose model uses only ONNX op types the importer
// supports ("applicable"), imports model.onnx with gm::onnx_import::importFile,
// evaluates every test_data_set_*/ with gm::ref::evaluate and compares each
// output with |a-b| <= 1e-4*max(1,|b|) (NaN equals NaN, inf equals the same
// inf). Cases using other ops are "not applicable", listed by op.
//
// gamma's shapes are static, while many node tests feed shapes, axes or
// indices as graph inputs. When a model does not import as it is and has
// integer or bool inputs, the harness binds those inputs to the values of the
// data set (rewriting them as initializers in a temporary copy of the model)
// and imports again; such cases are reported as "bound".
//
// Exit status: 0 when every applicable case passes or fails as listed in the
// expected-failures file (one case name per line, `# reason` comments); 1 when
// a case fails unexpectedly or a listed case now passes; 2 on a usage error.
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

static_assert(std::endian::native == std::endian::little, "raw_data is read as little-endian");

// ONNX op types (default domain) the gamma importer supports.
const std::set<std::string> kSupportedOps = {
    "MatMul",  "Gemm",     "Add",         "Sub",       "Mul",     "Div",             "Relu",
    "Sigmoid", "Tanh",     "Flatten",     "Reshape",   "Conv",    "BatchNormalization", "Constant",
    "Transpose", "Concat", "Slice",       "Gather",    "Unsqueeze", "Squeeze",       "Shape",
    "ConstantOfShape", "Softmax", "MaxPool", "AveragePool", "LayerNormalization", "Erf", "Pow",
    "Sqrt",    "ReduceMean", "ReduceSum", "Exp",       "Log",     "Neg",             "Abs",
    "Identity", "Dropout",
};

constexpr double kRelTol = 1e-4;

struct Failure {
  std::string reason;
};

// A decoded TensorProto.
struct HostTensor {
  std::string name;
  std::int32_t elemType = 0;
  gm::Shape shape;
  std::vector<double> data;
};

bool readProto(const fs::path &path, google::protobuf::Message &message) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  return message.ParseFromIstream(&in);
}

template <typename T> std::vector<double> fromRaw(const std::string &raw, std::int64_t n, const std::string &what) {
  if (raw.size() != static_cast<std::size_t>(n) * sizeof(T))
    throw Failure{what + ": raw_data has " + std::to_string(raw.size()) + " bytes for " + std::to_string(n) +
                  " elements"};
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out[static_cast<std::size_t>(i)] = static_cast<double>(v);
  }
  return out;
}

template <typename Field> std::vector<double> fromField(const Field &field, std::int64_t n, const std::string &what) {
  if (field.size() != n)
    throw Failure{what + ": " + std::to_string(field.size()) + " values for " + std::to_string(n) + " elements"};
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(n));
  for (auto v : field)
    out.push_back(static_cast<double>(v));
  return out;
}

HostTensor decodeTensor(const onnx::TensorProto &t, const std::string &what) {
  HostTensor h;
  h.name = t.name();
  h.elemType = t.data_type();
  for (std::int64_t d : t.dims()) {
    if (d < 0)
      throw Failure{what + ": negative dimension"};
    h.shape.push_back(d);
  }
  std::int64_t n = 1;
  for (std::int64_t d : h.shape)
    n *= d;
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw Failure{what + ": external data not supported by the harness"};
  bool raw = t.has_raw_data();
  const std::string &bytes = t.raw_data();
  using DT = onnx::TensorProto;
  switch (t.data_type()) {
  case DT::FLOAT:
    h.data = raw ? fromRaw<float>(bytes, n, what) : fromField(t.float_data(), n, what);
    break;
  case DT::DOUBLE:
    h.data = raw ? fromRaw<double>(bytes, n, what) : fromField(t.double_data(), n, what);
    break;
  case DT::INT64:
    h.data = raw ? fromRaw<std::int64_t>(bytes, n, what) : fromField(t.int64_data(), n, what);
    break;
  case DT::INT32:
    h.data = raw ? fromRaw<std::int32_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    break;
  case DT::INT16:
    h.data = raw ? fromRaw<std::int16_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    break;
  case DT::INT8:
    h.data = raw ? fromRaw<std::int8_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    break;
  case DT::UINT8:
    h.data = raw ? fromRaw<std::uint8_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    break;
  case DT::UINT16:
    h.data = raw ? fromRaw<std::uint16_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    break;
  case DT::BOOL:
    h.data = raw ? fromRaw<std::uint8_t>(bytes, n, what) : fromField(t.int32_data(), n, what);
    for (double &v : h.data)
      v = v != 0 ? 1.0 : 0.0;
    break;
  case DT::UINT32:
    h.data = raw ? fromRaw<std::uint32_t>(bytes, n, what) : fromField(t.uint64_data(), n, what);
    break;
  case DT::UINT64:
    h.data = raw ? fromRaw<std::uint64_t>(bytes, n, what) : fromField(t.uint64_data(), n, what);
    break;
  default:
    throw Failure{what + ": element type " + std::to_string(t.data_type()) + " not supported by the harness"};
  }
  return h;
}

HostTensor readTensorFile(const fs::path &path) {
  onnx::TensorProto t;
  if (!readProto(path, t))
    throw Failure{path.filename().string() + ": not a TensorProto"};
  return decodeTensor(t, path.filename().string());
}

bool isFloatType(std::int32_t elemType) {
  using DT = onnx::TensorProto;
  return elemType == DT::FLOAT || elemType == DT::DOUBLE || elemType == DT::FLOAT16 || elemType == DT::BFLOAT16;
}

void collectOps(const onnx::GraphProto &g, std::set<std::string> &ops) {
  for (const onnx::NodeProto &node : g.node()) {
    bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
    ops.insert(defaultDomain ? node.op_type() : node.domain() + ":" + node.op_type());
    for (const onnx::AttributeProto &a : node.attribute()) {
      if (a.has_g())
        collectOps(a.g(), ops);
      for (const onnx::GraphProto &sub : a.graphs())
        collectOps(sub, ops);
    }
  }
}

std::string shapeStr(const gm::Shape &s) { return gm::shapeString(s); }

std::vector<fs::path> sortedDirs(const fs::path &dir, const std::string &prefix) {
  std::vector<fs::path> out;
  for (const fs::directory_entry &e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> numberedFiles(const fs::path &dir, const std::string &prefix) {
  std::vector<fs::path> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p))
      break;
    out.push_back(p);
  }
  return out;
}

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// An importer message with the model's path shortened: "model.onnx: ..." for
// the case's own model, "adapted model: ..." for a rewritten copy.
std::string importMessage(const gm::InputError &e, const fs::path &modelPath, const fs::path &tempDir) {
  std::string s = oneLine(e.what());
  auto replacePrefix = [&s](const std::string &prefix, const std::string &with) {
    if (s.rfind(prefix, 0) == 0)
      s = with + s.substr(prefix.size());
  };
  replacePrefix(modelPath.string(), "model.onnx");
  if (s.rfind(tempDir.string(), 0) == 0) {
    std::size_t colon = s.find(':');
    s = "adapted model" + (colon == std::string::npos ? std::string() : s.substr(colon));
  }
  return s;
}

// Compares one output; returns an empty string when it matches.
std::string compare(const gm::ref::Tensor &got, const HostTensor &want, std::size_t index) {
  if (got.shape != want.shape)
    return "output " + std::to_string(index) + ": shape " + shapeStr(got.shape) + ", expected " +
           shapeStr(want.shape);
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < want.data.size(); ++i) {
    double a = got.data[i], b = want.data[i];
    bool ok;
    if (std::isnan(b))
      ok = std::isnan(a);
    else if (std::isinf(b))
      ok = a == b;
    else
      ok = std::fabs(a - b) <= kRelTol * std::max(1.0, std::fabs(b));
    if (!ok && bad++ == 0)
      first = i;
  }
  if (bad == 0)
    return {};
  std::ostringstream msg;
  msg.precision(9);
  msg << "output " << index << ": " << bad << " of " << want.data.size() << " values differ; first at " << first
      << ": got " << got.data[first] << ", expected " << want.data[first];
  return msg.str();
}

struct Summary {
  int applicable = 0, passed = 0, notApplicable = 0;
  std::vector<std::pair<std::string, std::string>> failures; // case, reason
  std::vector<std::string> bound;                             // passed with integer inputs bound
  std::vector<std::string> firstOutputOnly;                   // passed comparing output 0 only
  std::map<std::string, std::vector<std::string>> unsupportedOps;
};

// How a case was run: as it is, or adapted to gamma's static shapes and
// single-purpose outputs.
struct Variant {
  bool bindIntegerInputs = false; // integer/bool inputs become initializers
  bool firstOutputOnly = false;   // only graph output 0 is kept and compared
};

class Runner {
public:
  explicit Runner(fs::path tempDir) : tempDir_(std::move(tempDir)) {}

  // Runs one applicable case; throws Failure with the reason.
  Variant runCase(const fs::path &caseDir, const onnx::ModelProto &model) {
    fs::path modelPath = caseDir / "model.onnx";
    std::vector<fs::path> dataSets = sortedDirs(caseDir, "test_data_set_");
    if (dataSets.empty())
      throw Failure{"no test_data_set_* directories"};

    // ONNX graph inputs that are not initializers, in order: input_k.pb is
    // the k-th of them.
    std::set<std::string> initializers;
    for (const onnx::TensorProto &t : model.graph().initializer())
      initializers.insert(t.name());
    std::vector<const onnx::ValueInfoProto *> graphInputs;
    for (const onnx::ValueInfoProto &vi : model.graph().input())
      if (!initializers.count(vi.name()))
        graphInputs.push_back(&vi);
    std::vector<std::size_t> bindable;
    for (std::size_t i = 0; i < graphInputs.size(); ++i) {
      const onnx::TypeProto &type = graphInputs[i]->type();
      if (type.has_tensor_type() && !isFloatType(type.tensor_type().elem_type()))
        bindable.push_back(i);
    }

    // The model as it is first; then, if it does not import, with integer
    // inputs bound and/or only the first output kept.
    std::vector<Variant> variants = {Variant{false, false}};
    bool multiOutput = model.graph().output_size() > 1;
    if (multiOutput)
      variants.push_back(Variant{false, true});
    if (!bindable.empty()) {
      variants.push_back(Variant{true, false});
      if (multiOutput)
        variants.push_back(Variant{true, true});
    }
    std::vector<fs::path> firstInputs = numberedFiles(dataSets[0], "input_");
    std::optional<Variant> chosen;
    std::optional<gm::Graph> firstGraph;
    std::string firstError, lastError;
    for (const Variant &v : variants) {
      try {
        fs::path path = modelPath;
        if (v.bindIntegerInputs || v.firstOutputOnly)
          path = rewrite(model, v, graphInputs, bindable, firstInputs);
        firstGraph.emplace(gm::onnx_import::importFile(path.string()));
        chosen = v;
        break;
      } catch (const gm::InputError &e) {
        (firstError.empty() ? firstError : lastError) = importMessage(e, modelPath, tempDir_);
      }
    }
    if (!chosen)
      throw Failure{"import: " + firstError +
                    (lastError.empty() ? "" : " (" + lastError + ")")};

    for (std::size_t ds = 0; ds < dataSets.size(); ++ds) {
      const fs::path &dataSet = dataSets[ds];
      std::string where = dataSet.filename().string() + ": ";
      std::vector<fs::path> inputFiles = numberedFiles(dataSet, "input_");
      std::vector<fs::path> outputFiles = numberedFiles(dataSet, "output_");
      if (inputFiles.size() != graphInputs.size())
        throw Failure{where + std::to_string(inputFiles.size()) + " input files for " +
                      std::to_string(graphInputs.size()) + " graph inputs"};
      std::vector<HostTensor> inputs;
      for (const fs::path &p : inputFiles)
        inputs.push_back(readTensorFile(p));
      std::vector<HostTensor> expected;
      for (const fs::path &p : outputFiles)
        expected.push_back(readTensorFile(p));
      if (chosen->firstOutputOnly && !expected.empty())
        expected.resize(1);

      // Bound inputs are part of the model: other data sets import again.
      gm::Graph rebound;
      const gm::Graph *graph = &*firstGraph;
      if (chosen->bindIntegerInputs && ds > 0) {
        try {
          rebound = gm::onnx_import::importFile(rewrite(model, *chosen, graphInputs, bindable, inputFiles).string());
        } catch (const gm::InputError &e) {
          throw Failure{where + "import with integer inputs bound: " + importMessage(e, modelPath, tempDir_)};
        }
        graph = &rebound;
      }

      // Feed gamma's inputs by name.
      std::vector<gm::ref::Tensor> feed;
      for (gm::ValueId id : graph->inputs()) {
        const gm::Node &node = graph->definingNode(id);
        const std::string &name = node.attrs.getString("name");
        std::size_t k = 0;
        while (k < graphInputs.size() && graphInputs[k]->name() != name)
          ++k;
        if (k == graphInputs.size())
          throw Failure{where + "gamma input '" + name + "' is not an input of the ONNX graph"};
        const HostTensor &h = inputs[k];
        if (h.shape != graph->type(id).shape)
          throw Failure{where + "input '" + name + "' has shape " + shapeStr(h.shape) +
                        " in the data set, gamma expects " + shapeStr(graph->type(id).shape)};
        feed.push_back(gm::ref::Tensor{h.shape, h.data});
      }

      std::vector<gm::ref::Tensor> outputs;
      try {
        outputs = gm::ref::evaluate(*graph, feed);
      } catch (const gm::InputError &e) {
        throw Failure{where + "evaluate: " + oneLine(e.what())};
      }
      if (outputs.size() != expected.size())
        throw Failure{where + std::to_string(outputs.size()) + " outputs, expected " +
                      std::to_string(expected.size())};
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        std::string diff = compare(outputs[i], expected[i], i);
        if (!diff.empty())
          throw Failure{where + diff};
      }
    }
    return *chosen;
  }

private:
  // A copy of the model adapted as `v` says, in the temporary directory.
  fs::path rewrite(const onnx::ModelProto &model, const Variant &v,
                   const std::vector<const onnx::ValueInfoProto *> &graphInputs,
                   const std::vector<std::size_t> &bindable, const std::vector<fs::path> &inputFiles) {
    onnx::ModelProto copy = model;
    onnx::GraphProto *g = copy.mutable_graph();
    if (v.bindIntegerInputs) {
      std::set<std::string> boundNames;
      for (std::size_t k : bindable) {
        if (k >= inputFiles.size())
          throw Failure{"no input_" + std::to_string(k) + ".pb to bind"};
        onnx::TensorProto t;
        if (!readProto(inputFiles[k], t))
          throw Failure{inputFiles[k].filename().string() + ": not a TensorProto"};
        t.set_name(graphInputs[k]->name());
        *g->add_initializer() = t;
        boundNames.insert(graphInputs[k]->name());
      }
      // Initializers need not be graph inputs (IR version >= 4); drop them
      // from the input list so the importer does not see network inputs.
      google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
      for (const onnx::ValueInfoProto &vi : g->input())
        if (!boundNames.count(vi.name()))
          *kept.Add() = vi;
      g->mutable_input()->Swap(&kept);
      if (copy.ir_version() < 4)
        copy.set_ir_version(4);
    }
    if (v.firstOutputOnly)
      while (g->output_size() > 1)
        g->mutable_output()->RemoveLast();
    fs::path out = tempDir_ / ("model" + std::to_string(counter_++) + ".onnx");
    std::ofstream os(out, std::ios::binary);
    if (!copy.SerializeToOstream(&os))
      throw Failure{"cannot write " + out.string()};
    return out;
  }

  fs::path tempDir_;
  int counter_ = 0;
};

std::map<std::string, std::string> readExpectedFailures(const fs::path &path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::string reason;
    std::size_t hash = line.find('#');
    if (hash != std::string::npos) {
      reason = line.substr(hash + 1);
      line = line.substr(0, hash);
    }
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t\r"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    line = trim(line);
    if (!line.empty())
      out[line] = trim(reason);
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  if (argc > 4 || (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
    std::cerr << "usage: onnx-conformance [node-test-dir [summary.json [expected_failures.txt]]]\n";
    return 2;
  }
  fs::path root = argc > 1 ? argv[1] : "/usr/share/libonnx-testdata/data/node";
  std::string jsonPath = argc > 2 ? argv[2] : "";
  fs::path expectedPath =
      argc > 3 ? fs::path(argv[3]) : fs::path(__FILE__).parent_path() / "expected_failures.txt";
  if (!fs::is_directory(root)) {
    std::cerr << "onnx-conformance: " << root.string() << " is not a directory\n";
    return 2;
  }
  std::map<std::string, std::string> expectedFailures;
  if (fs::exists(expectedPath))
    expectedFailures = readExpectedFailures(expectedPath);
  else if (argc > 3) {
    std::cerr << "onnx-conformance: " << expectedPath.string() << " does not exist\n";
    return 2;
  } else
    std::cout << "note: no expected-failures file at " << expectedPath.string() << "\n";

  fs::path tempDir = fs::temp_directory_path() / ("gamma-conformance-" + std::to_string(::getpid()));
  fs::create_directories(tempDir);
  Runner runner(tempDir);
  Summary summary;
  std::vector<std::string> unexpectedFailures, expectedSeen, unexpectedPasses;

  for (const fs::path &caseDir : sortedDirs(root, "test_")) {
    std::string name = caseDir.filename().string();
    onnx::ModelProto model;
    if (!readProto(caseDir / "model.onnx", model)) {
      // Not even a model: count it as not applicable rather than guess.
      ++summary.notApplicable;
      summary.unsupportedOps["(unreadable model)"].push_back(name);
      continue;
    }
    std::set<std::string> ops;
    collectOps(model.graph(), ops);
    std::vector<std::string> missing;
    for (const std::string &op : ops)
      if (!kSupportedOps.count(op))
        missing.push_back(op);
    if (ops.empty())
      missing.push_back("(no nodes)");
    if (!missing.empty()) {
      ++summary.notApplicable;
      for (const std::string &op : missing)
        summary.unsupportedOps[op].push_back(name);
      continue;
    }

    ++summary.applicable;
    Variant variant;
    std::string reason;
    try {
      variant = runner.runCase(caseDir, model);
    } catch (const Failure &f) {
      reason = f.reason;
    } catch (const gm::InputError &e) {
      reason = oneLine(e.what());
    } catch (const std::exception &e) {
      reason = std::string("exception: ") + e.what();
    }
    bool expectedToFail = expectedFailures.count(name) != 0;
    if (reason.empty()) {
      ++summary.passed;
      if (variant.bindIntegerInputs)
        summary.bound.push_back(name);
      if (variant.firstOutputOnly)
        summary.firstOutputOnly.push_back(name);
      if (expectedToFail)
        unexpectedPasses.push_back(name);
      continue;
    }
    summary.failures.emplace_back(name, reason);
    if (expectedToFail) {
      expectedSeen.push_back(name);
      std::cout << "XFAIL " << name << ": " << reason << "\n";
    } else {
      unexpectedFailures.push_back(name);
      std::cout << "FAIL  " << name << ": " << reason << "\n";
    }
  }
  std::error_code ec;
  fs::remove_all(tempDir, ec);

  for (const std::string &name : unexpectedPasses)
    std::cout << "XPASS " << name << ": listed in " << expectedPath.filename().string()
              << " but passes; remove it from the list\n";

  std::cout << "not applicable, by op:";
  for (const auto &[op, cases] : summary.unsupportedOps)
    std::cout << " " << op << "(" << cases.size() << ")";
  std::cout << "\n";
  if (!summary.bound.empty())
    std::cout << "passed with integer inputs bound to the data set: " << summary.bound.size() << "\n";
  if (!summary.firstOutputOnly.empty())
    std::cout << "passed comparing only the first output (others unsupported):";
  for (const std::string &name : summary.firstOutputOnly)
    std::cout << " " << name;
  if (!summary.firstOutputOnly.empty())
    std::cout << "\n";
  std::cout << "conformance: PASS " << summary.passed << " / " << summary.applicable << " applicable ("
            << summary.failures.size() << " failures, " << summary.notApplicable
            << " skipped: not applicable)";
  if (!summary.failures.empty())
    std::cout << "; " << expectedSeen.size() << " expected, " << unexpectedFailures.size() << " unexpected";
  std::cout << "\n";

  if (!jsonPath.empty()) {
    nlohmann::json j;
    j["root"] = root.string();
    j["applicable"] = summary.applicable;
    j["passed"] = summary.passed;
    j["not_applicable"] = summary.notApplicable;
    j["failures"] = nlohmann::json::array();
    for (const auto &[name, reason] : summary.failures)
      j["failures"].push_back({{"case", name}, {"reason", reason}, {"expected", expectedFailures.count(name) != 0}});
    j["unexpected_failures"] = unexpectedFailures;
    j["unexpected_passes"] = unexpectedPasses;
    j["passed_with_bound_inputs"] = summary.bound;
    j["passed_comparing_first_output_only"] = summary.firstOutputOnly;
    j["not_applicable_by_op"] = summary.unsupportedOps;
    std::ofstream out(jsonPath);
    out << j.dump(2) << "\n";
    if (!out) {
      std::cerr << "onnx-conformance: cannot write " << jsonPath << "\n";
      return 2;
    }
  }
  google::protobuf::ShutdownProtobufLibrary();
  return unexpectedFailures.empty() && unexpectedPasses.empty() ? 0 : 1;
}
