// Internals of the ONNX importer, shared by its source files:
//   onnx_import.cpp  the driver: model, opsets, inputs, initializers, nodes, outputs
//   onnx_tensor.cpp  TensorProto -> Constant (file references for large weights)
//   onnx_ops.cpp     one converter per ONNX op type
//
// Every ONNX tensor name maps to a Val: either an IR value or a host constant.
// Ops whose operands are all host constants are evaluated at import with the
// reference interpreter, so shape arithmetic and weight preprocessing never
// reach the graph; a host constant becomes a Const node only when a
// non-constant node (or a graph output) uses it.
#pragma once

#include "ir/graph.h"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace gm::onnx_import::detail {

// Largest host tensor the importer evaluates at import time (in doubles).
constexpr std::int64_t kMaxFoldElements = std::int64_t(1) << 25;
// Largest number of multiply-adds of a matmul or conv of constants folded at import.
constexpr std::int64_t kMaxFoldWork = std::int64_t(1) << 30;
// Float initializers with more elements than this refer to the model file.
constexpr std::int64_t kFileRefMinElements = 16;

struct HostValue {
  std::shared_ptr<const Constant> constant;
  std::string name;        // ONNX tensor name, for the Const node
  ValueId id = kNoValue;   // once materialised in the graph
};

struct Val {
  ValueId id = kNoValue;           // an IR value, or
  std::shared_ptr<HostValue> host; // a constant known at import time
  bool isConst() const { return host != nullptr; }
};

class Importer;

// Reads a TensorProto into a constant. Large float tensors refer to the bytes
// of the mapped model file when they can be found there. Throws InputError
// without a location prefix (callers add "initializer 'x'" or the node).
std::shared_ptr<const Constant> readTensor(const onnx::TensorProto &tensor, Importer &importer);

// DType of an ONNX TensorProto.DataType code, or nullopt when gamma has none.
std::optional<DType> dtypeFromOnnx(std::int32_t elemType);
std::string onnxTypeName(std::int32_t elemType);

// Throws unless every element of an i64 constant is exactly representable as
// a double (|v| <= 2^53): the interpreter and the bound code work in doubles.
void checkExactInDouble(const Constant &constant);

// Constant::fromDoubles, but an InputError instead of undefined behaviour when
// a value does not fit an integer dtype (inf, nan, out of range).
std::shared_ptr<const Constant> constantFromDoubles(const TensorType &type, std::span<const double> values);

// Integer values of a constant of integer dtype, exactly.
std::vector<std::int64_t> constantInts(const Constant &constant);

class Importer {
public:
  Graph graph;
  std::string path;                       // as given, for messages
  std::shared_ptr<const MappedFile> file; // the model file, kept alive by file-backed constants
  std::unordered_map<std::string, Val> values;
  std::unordered_set<std::string> used;   // names some node or the graph output reads
  std::size_t searchCursor = 0;           // where the last initializer was found in the file

  const TensorType &typeOf(const Val &v) const;
  Val hostVal(std::shared_ptr<const Constant> constant, std::string name = {});
  ValueId materialise(const Val &v);
  // Adds `op` to the graph, or evaluates it when every operand is a host
  // constant (and the result is small enough).
  Val emit(Op op, const std::vector<Val> &operands, Attrs attrs, const std::string &nodeName);

  // Byte offset in the mapped file of `bytes`, the data of a length-delimited
  // protobuf field with this field number, if it can be found there.
  std::optional<std::uint64_t> findInFile(std::span<const std::byte> bytes, int fieldNumber);
};

// The conversion of one ONNX node.
class NodeCtx {
public:
  NodeCtx(Importer &importer, const onnx::NodeProto &node, std::int64_t opset)
      : im(importer), node(node), opset(opset) {}

  Importer &im;
  const onnx::NodeProto &node;
  std::int64_t opset;

  // Inputs: an empty name means "omitted" (ONNX optional inputs).
  bool hasInput(int i) const;
  Val input(int i) const;               // required
  std::optional<Val> optInput(int i) const;
  int numInputs() const { return node.input_size(); }
  const TensorType &type(const Val &v) const { return im.typeOf(v); }
  // Integer values of a constant input (shape, axes, starts, ...), exactly.
  std::vector<std::int64_t> constInts(const Val &v, const char *what) const;

  // Attributes; a wrong attribute type is an InputError naming the attribute.
  const onnx::AttributeProto *attr(const char *name) const;
  std::int64_t attrInt(const char *name, std::int64_t fallback) const;
  std::int64_t attrInt(const char *name) const; // required
  double attrFloat(const char *name, double fallback) const;
  std::string attrString(const char *name, const std::string &fallback) const;
  std::optional<std::vector<std::int64_t>> attrInts(const char *name) const;
  std::vector<std::int64_t> attrInts(const char *name, std::vector<std::int64_t> fallback) const;

  // Outputs.
  bool outputUsed(int i) const;
  void setOutput(int i, Val v);
  // Fails naming the output when output i is used by the model.
  void rejectOutput(int i, const char *what) const;

  // Builders (folding through Importer::emit).
  Val emit(Op op, const std::vector<Val> &operands, Attrs attrs = {});
  Val reshape(const Val &v, const Shape &shape);
  Val scalar(double value, DType dtype);
};

using Converter = void (*)(NodeCtx &);
// The converter of an ONNX op type of the default domain, or nullptr.
Converter findConverter(const std::string &opType);

} // namespace gm::onnx_import::detail
