// Running a bound program: every value gets a home before the first run
// (a run-time input, a constant folded once, or its offset in the arena that
// passes/plan_memory.cpp laid out), and every node a way to run (a kernel
// from the plan's object code, or the reference interpreter's op). A run is
// then one arena allocation and the nodes in order.
//
// Compiled today: ibp.chain and ibp.matmul_pn (the fused ops codegen emits).
// lb.affine, lb.relax_pn, lb.concretize_pn and lb.settle run runtime/row_ops.h (a BLAS
// product and bounds/'s vectorised row sums, the interpreter's error terms).
// The other bound-program ops run the interpreter's arithmetic in place
// (ref::boundOpInto: operands read where they live, results written into
// the arena). Only ibp.node and lb.node (a network op's own rules from
// bounds/: conv, attention, ...) still run evaluateOp on copies of their
// operands; those copies are the allocations left on the hot path.
#pragma once

#include "ir/graph.h"
#include "ir/interp/interpreter.h"
#include "runtime/object_code.h"

#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace gm {

class ProgramRunner {
public:
  // `program` and `code` must outlive the runner; `code` may be null: then
  // every node runs the interpreter's arithmetic (the oracle; hosts that
  // cannot link the code), the row ops included. The arena offsets are checked: a node whose result
  // overlaps a value still live, or lies outside the `arenaBytes` the plan
  // declares (negative: as large as the offsets say), is an InputError
  // naming it (`where` first), since running it would compute wrong bounds.
  ProgramRunner(const Graph &program, const ObjectCode *code, const std::string &where, std::int64_t arenaBytes = -1);

  // Inputs in the order of program.inputs(), each with its type's element
  // count; outputs in the order of program.outputs(). Safe to call from
  // several threads at once: each run has its own arena.
  std::vector<std::vector<double>> run(std::span<const std::span<const double>> inputs) const;

  std::size_t compiledNodes() const { return compiled_; } // by object code
  std::size_t nativeNodes() const { return native_; }     // by runtime/row_ops.h
  // Nodes run by the interpreter's arithmetic: in place, or on copies
  // (ibp.node, lb.node; copiedNodes of them).
  std::size_t interpretedNodes() const { return interpreted_; }
  std::size_t copiedNodes() const { return copied_; }
  std::size_t foldedNodes() const { return folded_; }
  std::int64_t arenaBytes() const { return arenaBytes_; }

private:
  struct Home {
    enum Kind : std::uint8_t { Input, Pool, Arena } kind = Arena;
    std::size_t index = 0; // input number, pool index, or arena offset in doubles
  };
  static constexpr std::size_t kNoProduct = static_cast<std::size_t>(-1);
  struct Step {
    NodeId node;
    // Chain, Product: object code; Affine, Relax, Concretize, Settle: runtime/row_ops.h
    // (BLAS and vectorised row sums); InPlace: ref::boundOpInto; Interpret:
    // evaluateOp on copies.
    enum Kind : std::uint8_t { Chain, Product, Affine, Relax, Concretize, Settle, InPlace, Interpret } kind = Interpret;
    void *fn = nullptr;
    std::vector<ValueId> table;        // Chain: the operand arrays, in the kernel's order
    // Chain: n; Product: W's m x k and n = batch; row ops: R = n rows, of m
    // columns (k: lb.affine's output columns)
    std::int64_t n = 0, m = 0, k = 0;
    std::size_t product = kNoProduct; // Affine with constant rows: A W, folded into the pool
    // Affine, Settle: W's operand index, |W|'s pool index, and the arena slot
    // of the layer's magnitudes (computed by the first step reading them).
    std::size_t w = 0, absW = 0;
    std::int64_t v = 0;
    bool firstV = false;
  };

  const double *address(const Home &home, std::span<const std::span<const double>> inputs,
                        const double *arena) const;
  void place(const std::string &where, std::int64_t declared);
  void chooseRowOp(Step &step);
  void placeMagnitudes();
  void interpret(const Step &step, std::span<const std::span<const double>> inputs, double *arena) const;
  std::vector<ref::Tensor> evaluate(NodeId id, std::span<const ref::Tensor> operands, const std::string &where) const;
  std::size_t maxOperands_ = 0, maxResults_ = 0;
  std::int64_t scratch_ = 0, scratchOffset_ = 0; // doubles, for the row ops

  const Graph &program_;
  std::vector<Home> homes_;                // by ValueId
  std::vector<std::int64_t> inputSizes_;  // elements, in input order
  std::vector<std::vector<double>> pool_; // folded constants, f64
  std::map<std::size_t, std::size_t> absWeights_; // pool index of W -> of |W|
  std::vector<Step> steps_;
  std::int64_t arenaBytes_ = 0;
  std::size_t compiled_ = 0, native_ = 0, interpreted_ = 0, copied_ = 0, folded_ = 0;
};

} // namespace gm
