#include "runtime/program_runner.h"

#include "codegen/kernel_spec.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "runtime/plan_kernels.h"
#include "runtime/row_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>

namespace gm {

namespace {

constexpr std::int64_t kDouble = sizeof(double);

std::int64_t alignUp(std::int64_t x, std::int64_t a) { return (x + a - 1) / a * a; }

} // namespace

// The CROWN row ops with f64 rows and, for lb.affine and lb.settle, a
// constant 2-D W.
void ProgramRunner::chooseRowOp(Step &step) {
  const Node &node = program_.node(step.node);
  auto rows = [&](ValueId v) { return program_.type(v).shape; };
  auto pooled = [&](ValueId v) { return homes_[v].kind == Home::Pool; };
  // lb.affine and lb.settle read W, then h's interval (operands w, w+1, w+2).
  std::size_t w = node.op == Op::LbAffine ? 2 : 4;
  if ((node.op == Op::LbAffine || node.op == Op::LbSettle) && pooled(node.operands[w]) &&
      rows(node.operands[w]).size() == 2 && rows(node.operands[0]).size() == 2) {
    step.kind = node.op == Op::LbAffine ? Step::Affine : Step::Settle;
    step.n = rows(node.operands[0])[0];
    step.m = rows(node.operands[w])[0];
    step.k = rows(node.operands[w])[1];
    step.w = w;
    scratch_ = std::max({scratch_, step.k,
                         node.op == Op::LbAffine ? rowops::affineScratch(step.n, step.m, step.k)
                                                 : rowops::settleScratch(step.n, step.m, step.k)});
    // |W| once per weight, for the magnitudes of the product's error term.
    std::size_t W = homes_[node.operands[w]].index;
    auto [at, added] = absWeights_.try_emplace(W, pool_.size());
    if (added) {
      std::vector<double> abs = pool_[W];
      for (double &x : abs)
        x = std::fabs(x);
      pool_.push_back(std::move(abs));
    }
    step.absW = at->second;
    // Constant rows (lb.identity's [I; -I] starting a pass): A W is the same
    // in every run, so it is computed here once; runs compute the constants.
    if (node.op == Op::LbAffine && pooled(node.operands[0])) {
      std::vector<double> AW(static_cast<std::size_t>(step.n * step.k));
      rowops::product(pool_[homes_[node.operands[0]].index].data(), pool_[W].data(), step.n, step.m, step.k,
                      AW.data());
      step.product = pool_.size();
      pool_.push_back(std::move(AW));
    }
  } else if ((node.op == Op::LbRelaxPN || node.op == Op::LbConcretizePN) && rows(node.operands[0]).size() == 2) {
    step.kind = node.op == Op::LbRelaxPN ? Step::Relax : Step::Concretize;
    step.n = rows(node.operands[0])[0];
    step.m = rows(node.operands[0])[1];
    scratch_ = std::max(scratch_, step.m);
  }
}

// The magnitudes v of a layer (W and h's interval) are the same in every
// pass through it: one slot per layer after the planned arena, filled by
// the first step that reads it.
void ProgramRunner::placeMagnitudes() {
  std::map<std::tuple<ValueId, ValueId, ValueId>, std::int64_t> slots;
  std::int64_t next = scratchOffset_;
  for (Step &step : steps_) {
    if (step.kind != Step::Affine && step.kind != Step::Settle)
      continue;
    const Node &node = program_.node(step.node);
    auto [at, added] = slots.try_emplace({node.operands[step.w], node.operands[step.w + 1], node.operands[step.w + 2]},
                                         next);
    if (added)
      next = alignUp(next + step.m, 8);
    step.v = at->second;
    step.firstV = added;
  }
  arenaBytes_ += (next - scratchOffset_) * kDouble;
  scratchOffset_ = next;
}

ProgramRunner::ProgramRunner(const Graph &program, const ObjectCode *code, const std::string &where,
                             std::int64_t arenaBytes)
    : program_(program), homes_(program.numValues()) {
  std::size_t nextInput = 0;
  for (NodeId id = 0; id < program.numNodes(); ++id) {
    const Node &node = program.node(id);
    if (node.op == Op::Input) {
      homes_[node.results[0]] = {Home::Input, nextInput++};
      inputSizes_.push_back(program.type(node.results[0]).numElements());
      continue;
    }
    if (node.op == Op::Const) {
      homes_[node.results[0]] = {Home::Pool, pool_.size()};
      pool_.push_back(node.constant->toDoubles());
      continue;
    }
    // A node of constants only (a weight's transpose, lb.identity) is the
    // same in every run: evaluated here, once.
    if (std::all_of(node.operands.begin(), node.operands.end(),
                    [&](ValueId v) { return homes_[v].kind == Home::Pool; })) {
      std::vector<ref::Tensor> operands;
      for (ValueId v : node.operands)
        operands.push_back({program.type(v).shape, pool_[homes_[v].index]});
      std::vector<ref::Tensor> results = evaluate(id, operands, where);
      for (std::size_t i = 0; i < results.size(); ++i) {
        homes_[node.results[i]] = {Home::Pool, pool_.size()};
        pool_.push_back(std::move(results[i].data));
      }
      ++folded_;
      continue;
    }

    Step step;
    step.node = id;
    if (code && node.op == Op::IbpChain) {
      if (std::optional<std::vector<ChainKernelStep>> steps = chainKernelSteps(program, id)) {
        std::string name = chainKernelName(program, id, *steps);
        step.fn = code->symbol(name);
        if (!step.fn)
          fail(where, "the object code has no kernel '{}' for {}: recompile the plan", name, program.describe(id));
        step.kind = Step::Chain;
        step.n = program.type(node.operands[0]).numElements();
        for (const ChainKernelStep &s : *steps)
          if (s.kind != ChainKernelStep::Relu && !s.scalar)
            step.table.push_back(s.operand);
      }
    } else if (code && node.op == Op::IbpMatMulPN && homes_[node.operands[0]].kind == Home::Pool) {
      const Shape &w = program.type(node.operands[0]).shape;
      std::int64_t inputs = program.type(node.operands[1]).numElements();
      if (w.size() == 2 && w[1] > 0 && inputs % w[1] == 0 &&
          program.type(node.results[0]).numElements() == inputs / w[1] * w[0]) {
        std::string name = productKernelName(program, id);
        step.fn = code->symbol(name);
        if (!step.fn)
          fail(where, "the object code has no kernel '{}' for {}: recompile the plan", name, program.describe(id));
        step.kind = Step::Product;
        step.m = w[0];
        step.k = w[1];
        step.n = inputs / w[1];
      }
    }
    if (code && step.kind == Step::Interpret)
      chooseRowOp(step);
    if (step.kind == Step::Interpret && hasTrait(node.op, OpTrait::Bound) && node.op != Op::IbpNode &&
        node.op != Op::LbNode)
      step.kind = Step::InPlace;
    bool interpreted = step.kind == Step::InPlace || step.kind == Step::Interpret;
    ++(interpreted ? interpreted_ : step.kind == Step::Chain || step.kind == Step::Product ? compiled_ : native_);
    copied_ += step.kind == Step::Interpret;
    maxOperands_ = std::max(maxOperands_, node.operands.size());
    maxResults_ = std::max(maxResults_, node.results.size());
    steps_.push_back(std::move(step));
  }
  place(where, arenaBytes);
  placeMagnitudes();
  for (const Step &step : steps_)
    if (step.product != kNoProduct)
      homes_[program.node(step.node).results[0]] = {Home::Pool, step.product};
}

// Arena homes from the plan's `arena` offsets, checked the way plan-memory
// made them: a result may not overlap any value live when its node runs
// (its own operands included). Results without an offset (another dtype, a
// program not planned) get space of their own after the planned part.
void ProgramRunner::place(const std::string &where, std::int64_t declared) {
  std::vector<NodeId> lastUse(program_.numValues(), 0);
  for (NodeId id = 0; id < program_.numNodes(); ++id)
    for (ValueId v : program_.node(id).operands)
      lastUse[v] = id;
  for (ValueId v : program_.outputs())
    lastUse[v] = program_.numNodes();
  std::int64_t planned = 0;
  for (const Step &step : steps_)
    if (const AttrValue *a = program_.node(step.node).attrs.find("arena"))
      if (const auto *offsets = std::get_if<std::vector<std::int64_t>>(a))
        for (std::size_t i = 0; i < offsets->size() && i < program_.node(step.node).results.size(); ++i)
          planned = std::max(planned, (*offsets)[i] + program_.type(program_.node(step.node).results[i]).numElements() *
                                                         kDouble);
  if (declared >= 0)
    planned = declared;
  std::int64_t extra = alignUp(planned, 64);

  struct Live {
    std::int64_t begin, end;
    NodeId lastUse;
  };
  std::vector<Live> live;
  for (const Step &step : steps_) {
    const Node &node = program_.node(step.node);
    std::erase_if(live, [&](const Live &b) { return b.lastUse < step.node; });
    const AttrValue *attr = node.attrs.find("arena");
    const auto *offsets = attr ? std::get_if<std::vector<std::int64_t>>(attr) : nullptr;
    if (offsets && offsets->size() != node.results.size())
      fail(where, "{} has {} arena offsets for {} results", program_.describe(step.node), offsets->size(),
           node.results.size());
    for (std::size_t i = 0; i < node.results.size(); ++i) {
      ValueId v = node.results[i];
      const TensorType &t = program_.type(v);
      std::int64_t bytes = t.numElements() * kDouble, offset;
      if (offsets && t.dtype == DType::F64) {
        offset = (*offsets)[i];
        if (offset < 0 || offset % kDouble != 0 || offset > planned - bytes)
          fail(where, "{}: arena offset {} of result {} is not an aligned place inside the arena", program_.describe(step.node),
               offset, i);
        for (const Live &b : live)
          if (offset < b.end && b.begin < offset + bytes)
            fail(where, "{}: arena offset {} of result {} overlaps a value still in use; recompile the plan",
                 program_.describe(step.node), offset, i);
        live.push_back({offset, offset + bytes, std::max(lastUse[v], step.node)});
      } else {
        offset = extra;
        extra = alignUp(extra + bytes, 64);
      }
      homes_[v] = {Home::Arena, static_cast<std::size_t>(offset / kDouble)};
    }
  }
  scratchOffset_ = extra / kDouble;
  arenaBytes_ = extra + scratch_ * kDouble;
}

const double *ProgramRunner::address(const Home &home, std::span<const std::span<const double>> inputs,
                                     const double *arena) const {
  switch (home.kind) {
  case Home::Input:
    return inputs[home.index].data();
  case Home::Pool:
    return pool_[home.index].data();
  case Home::Arena:
    return arena + home.index;
  }
  return nullptr;
}

// The interpreter's op on concrete operands, its errors naming the node.
std::vector<ref::Tensor> ProgramRunner::evaluate(NodeId id, std::span<const ref::Tensor> operands,
                                                 const std::string &where) const {
  const Node &node = program_.node(id);
  std::vector<TensorType> types;
  for (ValueId v : node.results)
    types.push_back(program_.type(v));
  try {
    return ref::evaluateOp(node.op, node.attrs, operands, types);
  } catch (const InputError &e) {
    fail(where, "{}: {}", program_.describe(id), e.what());
  }
}

void ProgramRunner::interpret(const Step &step, std::span<const std::span<const double>> inputs, double *arena) const {
  const Node &node = program_.node(step.node);
  std::vector<ref::Tensor> operands;
  operands.reserve(node.operands.size());
  for (ValueId v : node.operands) {
    const double *p = address(homes_[v], inputs, arena);
    operands.push_back({program_.type(v).shape, std::vector<double>(p, p + program_.type(v).numElements())});
  }
  std::vector<ref::Tensor> results = evaluate(step.node, operands, "");
  for (std::size_t i = 0; i < results.size(); ++i)
    std::copy(results[i].data.begin(), results[i].data.end(), arena + homes_[node.results[i]].index);
}

std::vector<std::vector<double>> ProgramRunner::run(std::span<const std::span<const double>> inputs) const {
  if (inputs.size() != inputSizes_.size())
    fail("", "the bound program takes {} inputs, got {}", inputSizes_.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (static_cast<std::int64_t>(inputs[i].size()) != inputSizes_[i])
      fail("", "input {} of the bound program has {} values, expected {}", i, inputs[i].size(), inputSizes_[i]);

  // The run's one allocation, and the scratch lists of pointers.
  auto arena = std::make_unique_for_overwrite<double[]>(static_cast<std::size_t>(arenaBytes_ / kDouble) + 1);
  double *a = arena.get();
  std::vector<const double *> table;
  std::vector<ref::View> views;
  std::vector<std::span<double>> results;
  table.reserve(maxOperands_);
  views.reserve(maxOperands_);
  results.reserve(maxResults_);
  for (const Step &step : steps_) {
    const Node &node = program_.node(step.node);
    switch (step.kind) {
    case Step::Chain: {
      table.clear();
      for (ValueId v : step.table)
        table.push_back(address(homes_[v], inputs, a));
      reinterpret_cast<codegen::ChainFn>(step.fn)(
          address(homes_[node.operands[0]], inputs, a), address(homes_[node.operands[1]], inputs, a),
          a + homes_[node.results[0]].index, a + homes_[node.results[1]].index, table.data(), step.n);
      break;
    }
    case Step::Product:
      reinterpret_cast<codegen::PosNegFn>(step.fn)(
          address(homes_[node.operands[0]], inputs, a), address(homes_[node.operands[1]], inputs, a),
          address(homes_[node.operands[2]], inputs, a), a + homes_[node.results[0]].index,
          a + homes_[node.results[1]].index, step.m, step.k, step.n);
      break;
    case Step::Affine:
    case Step::Settle: {
      auto in = [&](std::size_t i) { return address(homes_[node.operands[i]], inputs, a); };
      std::size_t w = step.w;
      const double *b = node.operands.size() == w + 4 ? in(w + 3) : nullptr;
      double *v = a + step.v, *scratch = a + scratchOffset_;
      if (step.firstV)
        rowops::magnitudes(pool_[step.absW].data(), in(w + 1), in(w + 2), step.m, step.k, v, scratch);
      if (step.kind == Step::Settle)
        rowops::settle(in(0), in(1), in(2), in(3), in(4), v, in(5), in(6), b, step.n, step.m, step.k,
                       a + homes_[node.results[0]].index, scratch);
      else
        rowops::affine(in(0), in(1), in(2), v, b, step.n, step.m, step.k,
                       step.product != kNoProduct ? nullptr : a + homes_[node.results[0]].index,
                       a + homes_[node.results[1]].index, scratch);
      break;
    }
    case Step::Relax: {
      auto in = [&](std::size_t i) { return address(homes_[node.operands[i]], inputs, a); };
      rowops::relax(in(0), in(1), in(2), in(3), in(4), in(5), in(6), in(7), step.n, step.m,
                    a + homes_[node.results[0]].index, a + homes_[node.results[1]].index, a + scratchOffset_);
      break;
    }
    case Step::Concretize: {
      auto in = [&](std::size_t i) { return address(homes_[node.operands[i]], inputs, a); };
      rowops::concretize(in(0), in(1), in(2), in(3), step.n, step.m, a + homes_[node.results[0]].index);
      break;
    }
    case Step::InPlace: {
      views.clear();
      results.clear();
      for (ValueId v : node.operands)
        views.push_back({{address(homes_[v], inputs, a), static_cast<std::size_t>(program_.type(v).numElements())},
                         program_.type(v).shape});
      for (ValueId v : node.results)
        results.push_back({a + homes_[v].index, static_cast<std::size_t>(program_.type(v).numElements())});
      ref::boundOpInto(node.op, node.attrs, views, results);
      break;
    }
    case Step::Interpret:
      interpret(step, inputs, a);
      break;
    }
  }
  std::vector<std::vector<double>> outputs;
  for (ValueId v : program_.outputs()) {
    const double *p = address(homes_[v], inputs, a);
    outputs.emplace_back(p, p + program_.type(v).numElements());
  }
  return outputs;
}

} // namespace gm
