// The ONNX importer's driver: parse the model from the mapped file, check the
// opsets, read initializers and inputs, convert the nodes in order (each in a
// try block that names the node), materialise the outputs, verify.
#include "frontend/onnx/onnx_import.h"

#include "frontend/onnx/onnx_internal.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "ir/verifier.h"

#include <climits>
#include <filesystem>
#include <map>
#include <new>
#include <stdexcept>

namespace gm::onnx_import {

namespace detail {

// ---- Importer -------------------------------------------------------------

const TensorType &Importer::typeOf(const Val &v) const {
  if (v.host)
    return v.host->constant->type();
  return graph.type(v.id);
}

Val Importer::hostVal(std::shared_ptr<const Constant> constant, std::string name) {
  auto host = std::make_shared<HostValue>();
  host->constant = std::move(constant);
  host->name = std::move(name);
  return Val{kNoValue, std::move(host)};
}

ValueId Importer::materialise(const Val &v) {
  if (!v.host)
    return v.id;
  if (v.host->id == kNoValue) {
    checkExactInDouble(*v.host->constant);
    v.host->id = graph.addConst(v.host->constant, v.host->name);
  }
  return v.host->id;
}

Val Importer::emit(Op op, const std::vector<Val> &operands, Attrs attrs, const std::string &nodeName) {
  bool allConst = !operands.empty();
  for (const Val &v : operands)
    allConst = allConst && v.isConst();
  if (allConst) {
    std::vector<TensorType> types;
    bool small = true;
    for (const Val &v : operands) {
      types.push_back(typeOf(v));
      small = small && types.back().numElements() <= kMaxFoldElements;
    }
    std::vector<TensorType> results = inferResultTypes(op, types, attrs);
    small = small && results.size() == 1 && results[0].numElements() <= kMaxFoldElements;
    // Products of two constants: fold only when cheap, else leave them to the graph.
    if (small && op == Op::MatMul && !types[0].shape.empty())
      small = types[0].shape.back() == 0 || results[0].numElements() <= kMaxFoldWork / types[0].shape.back();
    if (small && op == Op::Conv && !types[1].shape.empty() && types[1].shape[0] > 0)
      small = results[0].numElements() * (types[1].numElements() / types[1].shape[0]) <= kMaxFoldWork;
    // Moving the elements of a file-backed weight would turn its reference
    // into an inline copy; keep the reference and the explicit op instead.
    if (hasTrait(op, OpTrait::Movement))
      for (const Val &v : operands)
        small = small && !(v.host->constant->source() && typeOf(v).numElements() > kInlineConstantLimit);
    if (small) {
      std::vector<ref::Tensor> tensors;
      tensors.reserve(operands.size());
      for (const Val &v : operands) {
        checkExactInDouble(*v.host->constant);
        tensors.push_back(ref::Tensor::fromConstant(*v.host->constant));
      }
      std::vector<ref::Tensor> out = ref::evaluateOp(op, attrs, tensors, results);
      GAMMA_ASSERT(out.size() == 1, "evaluateOp returned the wrong number of results");
      return hostVal(constantFromDoubles(results[0], out[0].data));
    }
  }
  std::vector<ValueId> ids;
  ids.reserve(operands.size());
  for (const Val &v : operands)
    ids.push_back(materialise(v));
  return Val{graph.add1(op, std::move(ids), std::move(attrs), nodeName), nullptr};
}

// ---- NodeCtx --------------------------------------------------------------

bool NodeCtx::hasInput(int i) const { return i >= 0 && i < node.input_size() && !node.input(i).empty(); }

Val NodeCtx::input(int i) const {
  if (!hasInput(i))
    fail("", "input {} missing", i);
  auto it = im.values.find(node.input(i));
  if (it == im.values.end())
    fail("", "input '{}' is not defined", node.input(i));
  return it->second;
}

std::optional<Val> NodeCtx::optInput(int i) const {
  if (!hasInput(i))
    return std::nullopt;
  return input(i);
}

std::vector<std::int64_t> NodeCtx::constInts(const Val &v, const char *what) const {
  if (!v.isConst())
    fail("", "{} must be a constant (computed at import time), not a value of the network", what);
  const TensorType &t = v.host->constant->type();
  if (t.rank() > 1)
    fail("", "{} must be a 1-D tensor, got {}", what, typeString(t));
  try {
    return constantInts(*v.host->constant);
  } catch (const InputError &e) {
    fail("", "{}: {}", what, e.what());
  }
}

const onnx::AttributeProto *NodeCtx::attr(const char *name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

std::int64_t NodeCtx::attrInt(const char *name, std::int64_t fallback) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return fallback;
  if (a->type() == onnx::AttributeProto::INT || (a->type() == onnx::AttributeProto::UNDEFINED && a->has_i()))
    return a->i();
  fail("", "attribute '{}' should be an integer", name);
}

std::int64_t NodeCtx::attrInt(const char *name) const {
  if (!attr(name))
    fail("", "attribute '{}' missing", name);
  return attrInt(name, 0);
}

double NodeCtx::attrFloat(const char *name, double fallback) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return fallback;
  if (a->type() == onnx::AttributeProto::FLOAT || (a->type() == onnx::AttributeProto::UNDEFINED && a->has_f()))
    return static_cast<double>(a->f());
  if (a->type() == onnx::AttributeProto::INT)
    return static_cast<double>(a->i());
  fail("", "attribute '{}' should be a float", name);
}

std::string NodeCtx::attrString(const char *name, const std::string &fallback) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return fallback;
  if (a->type() == onnx::AttributeProto::STRING || (a->type() == onnx::AttributeProto::UNDEFINED && a->has_s()))
    return a->s();
  fail("", "attribute '{}' should be a string", name);
}

std::optional<std::vector<std::int64_t>> NodeCtx::attrInts(const char *name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  if (a->type() == onnx::AttributeProto::INTS || (a->type() == onnx::AttributeProto::UNDEFINED && a->floats_size() == 0))
    return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
  fail("", "attribute '{}' should be a list of integers", name);
}

std::vector<std::int64_t> NodeCtx::attrInts(const char *name, std::vector<std::int64_t> fallback) const {
  std::optional<std::vector<std::int64_t>> v = attrInts(name);
  return v ? std::move(*v) : std::move(fallback);
}

bool NodeCtx::outputUsed(int i) const {
  return i >= 0 && i < node.output_size() && !node.output(i).empty() && im.used.count(node.output(i)) != 0;
}

void NodeCtx::setOutput(int i, Val v) {
  if (i < 0 || i >= node.output_size() || node.output(i).empty())
    return;
  const std::string &name = node.output(i);
  if (im.values.count(name))
    fail("", "output '{}' is defined twice", name);
  if (v.host && v.host->name.empty())
    v.host->name = name;
  im.values.emplace(name, std::move(v));
}

void NodeCtx::rejectOutput(int i, const char *what) const {
  if (outputUsed(i))
    fail("", "output '{}' ({}) is not supported", node.output(i), what);
}

Val NodeCtx::emit(Op op, const std::vector<Val> &operands, Attrs attrs) {
  return im.emit(op, operands, std::move(attrs), node.name());
}

Val NodeCtx::reshape(const Val &v, const Shape &shape) {
  if (type(v).shape == shape)
    return v;
  Attrs attrs;
  attrs.set("shape", shape);
  return emit(Op::Reshape, {v}, std::move(attrs));
}

Val NodeCtx::scalar(double value, DType dtype) {
  return im.hostVal(Constant::fromDoubles(TensorType{dtype, {}}, std::span<const double>(&value, 1)));
}

} // namespace detail

namespace {

using namespace detail;

bool isDefaultDomain(const std::string &domain) { return domain.empty() || domain == "ai.onnx"; }

std::string nodeDescription(const onnx::NodeProto &node, int index) {
  if (node.name().empty())
    return fmt::format("node #{} ({})", index, node.op_type());
  return fmt::format("node '{}' ({})", node.name(), node.op_type());
}

Shape inputShape(const std::string &path, const onnx::ValueInfoProto &vi) {
  const onnx::TypeProto_Tensor &tt = vi.type().tensor_type();
  if (!tt.has_shape())
    fail(path, "input '{}' has no static shape", vi.name());
  Shape shape;
  for (int i = 0; i < tt.shape().dim_size(); ++i) {
    const onnx::TensorShapeProto_Dimension &d = tt.shape().dim(i);
    if (d.has_dim_value() && d.dim_value() > 0) {
      shape.push_back(d.dim_value());
      continue;
    }
    if (d.has_dim_value() && d.dim_value() < 0)
      fail(path, "input '{}': negative dimension {} at position {}", vi.name(), d.dim_value(), i);
    if (i == 0) { // the batch dimension
      shape.push_back(1);
      continue;
    }
    std::string what = d.has_dim_param() ? fmt::format("'{}'", d.dim_param())
                       : d.has_dim_value() ? std::string("0")
                                           : std::string("unknown");
    fail(path, "input '{}': dimension {} is dynamic ({}); only the first (batch) dimension may be", vi.name(), i,
         what);
  }
  return shape;
}

Graph importModel(const std::string &path) {
  Importer im;
  im.path = path;
  std::string absolute = path;
  {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(path, ec);
    if (!ec)
      absolute = p.lexically_normal().string();
  }
  im.file = MappedFile::open(absolute);
  im.graph.name = std::filesystem::path(path).stem().string();
  if (im.graph.name.empty())
    im.graph.name = "main";

  std::span<const std::byte> bytes = im.file->bytes();
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    fail(path, "not a valid ONNX model (larger than 2 GiB; external data is not supported)");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    fail(path, "not a valid ONNX model (protobuf parse error; truncated or not ONNX)");
  if (!model.has_graph())
    fail(path, "not a valid ONNX model (no graph)");

  // Opsets.
  std::int64_t opset = -1;
  std::map<std::string, std::int64_t> domains;
  for (const onnx::OperatorSetIdProto &o : model.opset_import()) {
    if (isDefaultDomain(o.domain()))
      opset = std::max<std::int64_t>(opset, o.version());
    else
      domains[o.domain()] = o.version();
  }
  if (opset < 0)
    fail(path, "model imports no opset of the default domain 'ai.onnx' (IR version {})", model.ir_version());
  if (opset < 8 || opset > 17)
    fail(path, "opset {} of domain 'ai.onnx' not supported (supported: 8 to 17)", opset);

  const onnx::GraphProto &g = model.graph();
  for (const onnx::NodeProto &node : g.node())
    for (const std::string &name : node.input())
      im.used.insert(name);
  for (const onnx::ValueInfoProto &o : g.output())
    im.used.insert(o.name());

  // Initializers: unused ones are skipped (they may be of types gamma lacks).
  std::unordered_set<std::string> initializers;
  for (int i = 0; i < g.initializer_size(); ++i) {
    const onnx::TensorProto &t = g.initializer(i);
    const std::string &name = t.name();
    if (name.empty())
      fail(path, "initializer #{} has no name", i);
    if (!initializers.insert(name).second)
      fail(path, "initializer '{}' is defined twice", name);
    if (!im.used.count(name))
      continue;
    std::shared_ptr<const Constant> constant;
    try {
      constant = readTensor(t, im);
    } catch (const InputError &e) {
      fail(path, "initializer '{}': {}", name, e.what());
    }
    im.values.emplace(name, im.hostVal(std::move(constant), name));
  }
  for (const onnx::SparseTensorProto &t : g.sparse_initializer())
    if (im.used.count(t.values().name()))
      fail(path, "sparse initializer '{}' not supported", t.values().name());

  // Graph inputs that are not initializers.
  for (const onnx::ValueInfoProto &vi : g.input()) {
    const std::string &name = vi.name();
    if (initializers.count(name))
      continue;
    if (name.empty())
      fail(path, "graph input without a name");
    if (im.values.count(name))
      fail(path, "input '{}' is declared twice", name);
    if (!vi.type().has_tensor_type())
      fail(path, "input '{}' is not a tensor", name);
    std::int32_t elem = vi.type().tensor_type().elem_type();
    std::optional<DType> dtype = dtypeFromOnnx(elem);
    if (!dtype || (*dtype != DType::F32 && *dtype != DType::F64 && *dtype != DType::I64))
      fail(path, "input '{}': element type {} not supported (float, double or int64)", name, onnxTypeName(elem));
    TensorType type{*dtype, inputShape(path, vi)};
    try {
      im.values.emplace(name, Val{im.graph.addInput(name, std::move(type), name), nullptr});
    } catch (const InputError &e) {
      fail(path, "input '{}': {}", name, e.what());
    }
  }

  // Nodes, in order (ONNX requires a topological order).
  for (int index = 0; index < g.node_size(); ++index) {
    const onnx::NodeProto &node = g.node(index);
    try {
      if (!isDefaultDomain(node.domain())) {
        auto it = domains.find(node.domain());
        if (it == domains.end())
          fail("", "domain '{}' not supported (and not imported by the model)", node.domain());
        fail("", "domain '{}' (version {}) not supported; only 'ai.onnx' opsets 8 to 17", node.domain(), it->second);
      }
      Converter convert = findConverter(node.op_type());
      if (!convert)
        fail("", "unsupported op");
      for (const std::string &name : node.input())
        if (!name.empty() && !im.values.count(name))
          fail("", "input '{}' is not defined", name);
      NodeCtx ctx(im, node, opset);
      convert(ctx);
      for (int i = 0; i < node.output_size(); ++i)
        if (ctx.outputUsed(i) && !im.values.count(node.output(i)))
          fail("", "output {} ('{}') is not supported", i, node.output(i));
    } catch (const InputError &e) {
      fail(path, "{}: {}", nodeDescription(node, index), e.what());
    }
  }

  // Outputs.
  std::vector<ValueId> outputs;
  for (const onnx::ValueInfoProto &o : g.output()) {
    auto it = im.values.find(o.name());
    if (it == im.values.end())
      fail(path, "graph output '{}' is not defined", o.name());
    try {
      outputs.push_back(im.materialise(it->second));
    } catch (const InputError &e) {
      fail(path, "graph output '{}': {}", o.name(), e.what());
    }
  }
  if (outputs.empty())
    fail(path, "graph has no outputs");
  im.graph.setOutputs(std::move(outputs));
  verify(im.graph, path);
  return std::move(im.graph);
}

} // namespace

Graph importFile(const std::string &path) {
  try {
    return importModel(path);
  } catch (const std::bad_alloc &) {
    fail(path, "out of memory while importing");
  } catch (const std::length_error &e) {
    fail(path, "out of memory while importing ({})", e.what());
  }
}

} // namespace gm::onnx_import
