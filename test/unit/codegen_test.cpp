// JIT kernels against scalar references written here, at sizes around the
// vector width, and the emitted assembly for every named target.
//
// Containment is checked against the exact result evaluated in binary128
// (113-bit significand): a product or sum of two doubles is exact there, and a
// longer chain or a dot product is within 2^-100 relative of exact, far inside
// the kernels' outward margin (at least half an ulp of a double per step).
#include "bounds/fp.h"
#include "codegen/aot.h"
#include "codegen/jit.h"
#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"
#include "codegen/target_info.h"
#include "ir/error.h"
#include "runtime/object_code.h"

#include <doctest/doctest.h>

#include <elf.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace cg = gm::codegen;
namespace fp = gm::bounds::fp;

namespace {

#if defined(__x86_64__)
using Exact = __float128;
#else
using Exact = long double; // binary128 on aarch64 Linux
#endif

constexpr double kInf = std::numeric_limits<double>::infinity();
const std::int64_t kSizes[] = {1, 3, 4, 7, 8, 9, 16, 17, 33, 1000};

bool sameDouble(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (a == b && a != 0); }

// Targets whose code can run on this machine: the host, and the pinned x86
// ISAs the CPU has, so the AVX2 code is executed on an AVX-512 machine too.
std::vector<std::string> runnableTargets() {
  std::vector<std::string> names = {"host"};
  for (const char *name : {"x86-64-v3", "x86-64-v4"})
    if (cg::missingHostFeatures(name).empty())
      names.emplace_back(name);
  return names;
}

// A double with a full random significand, of either sign, within 2^-12..2^12.
struct Random {
  std::mt19937_64 engine{20240611};
  double value() {
    std::uniform_real_distribution<double> unit(0.5, 1.0);
    std::uniform_int_distribution<int> exponent(-12, 12), sign(0, 1);
    double v = std::ldexp(unit(engine), exponent(engine));
    return sign(engine) ? -v : v;
  }
  // Mostly general values, sometimes an exact zero of either sign.
  double weight() {
    std::uniform_int_distribution<int> pick(0, 15);
    switch (pick(engine)) {
    case 0:
      return 0.0;
    case 1:
      return -0.0;
    default:
      return value();
    }
  }
  // An interval: sometimes a point, sometimes touching 0.
  void interval(double &lo, double &hi) {
    std::uniform_int_distribution<int> pick(0, 7);
    double a = value(), b = value();
    switch (pick(engine)) {
    case 0:
      lo = hi = a;
      return;
    case 1:
      lo = -std::fabs(a), hi = 0;
      return;
    default:
      lo = std::min(a, b), hi = std::max(a, b);
    }
  }
};

// ---- Interval chains --------------------------------------------------------

struct ChainData {
  std::vector<double> lo, hi;
  std::vector<std::vector<double>> operands;
  std::vector<const double *> pointers() const {
    std::vector<const double *> p;
    for (const auto &operand : operands)
      p.push_back(operand.data());
    return p;
  }
};

ChainData chainData(const cg::IntervalChain &chain, std::int64_t n, Random &random) {
  ChainData data;
  data.lo.resize(n), data.hi.resize(n);
  for (std::int64_t i = 0; i < n; ++i)
    random.interval(data.lo[i], data.hi[i]);
  for (const cg::ChainStep &step : chain.steps) {
    if (step.kind == cg::StepKind::AddInterval) {
      std::vector<double> lo(n), hi(n);
      for (std::int64_t i = 0; i < n; ++i)
        random.interval(lo[i], hi[i]);
      data.operands.push_back(lo), data.operands.push_back(hi);
    } else if (cg::operandCount(step.kind) == 1) {
      std::vector<double> v(n);
      for (double &x : v)
        x = random.weight();
      data.operands.push_back(v);
    }
  }
  return data;
}

// The chain as the kernel documents it, one element at a time.
void referenceChain(const cg::IntervalChain &chain, const ChainData &data, std::int64_t i, double &lo, double &hi) {
  lo = data.lo[i], hi = data.hi[i];
  std::size_t next = 0;
  auto down = [](double x) { return fp::lowerOrInf(fp::nextDown(x)); };
  auto up = [](double x) { return fp::upperOrInf(fp::nextUp(x)); };
  for (const cg::ChainStep &step : chain.steps) {
    switch (step.kind) {
    case cg::StepKind::AddInterval: {
      double a = data.operands[next++][i], b = data.operands[next++][i];
      lo = down(lo + a), hi = up(hi + b);
      break;
    }
    case cg::StepKind::AddVector: {
      double a = data.operands[next++][i];
      lo = down(lo + a), hi = up(hi + a);
      break;
    }
    case cg::StepKind::AddScalar:
      lo = down(lo + step.scalar), hi = up(hi + step.scalar);
      break;
    case cg::StepKind::MulVector:
    case cg::StepKind::MulScalar: {
      double c = step.kind == cg::StepKind::MulScalar ? step.scalar : data.operands[next++][i];
      if (c == 0) {
        lo = hi = 0;
      } else {
        double a = c * lo, b = c * hi;
        lo = down(c > 0 ? a : b), hi = up(c > 0 ? b : a);
      }
      break;
    }
    case cg::StepKind::Relu:
      lo = std::max(lo, 0.0), hi = std::max(hi, 0.0);
      break;
    }
  }
}

// The exact image of the element's interval (up to binary128 rounding).
void exactChain(const cg::IntervalChain &chain, const ChainData &data, std::int64_t i, Exact &lo, Exact &hi) {
  lo = data.lo[i], hi = data.hi[i];
  std::size_t next = 0;
  for (const cg::ChainStep &step : chain.steps) {
    switch (step.kind) {
    case cg::StepKind::AddInterval: {
      Exact a = data.operands[next++][i], b = data.operands[next++][i];
      lo += a, hi += b;
      break;
    }
    case cg::StepKind::AddVector: {
      Exact a = data.operands[next++][i];
      lo += a, hi += a;
      break;
    }
    case cg::StepKind::AddScalar:
      lo += step.scalar, hi += step.scalar;
      break;
    case cg::StepKind::MulVector:
    case cg::StepKind::MulScalar: {
      Exact c = step.kind == cg::StepKind::MulScalar ? step.scalar : data.operands[next++][i];
      Exact a = c * lo, b = c * hi;
      lo = c >= 0 ? a : b, hi = c >= 0 ? b : a;
      break;
    }
    case cg::StepKind::Relu:
      lo = lo > 0 ? lo : 0, hi = hi > 0 ? hi : 0;
      break;
    }
  }
}

std::vector<cg::IntervalChain> testChains() {
  using K = cg::StepKind;
  return {
      {"add_interval", {{K::AddInterval}}},
      {"add_vector", {{K::AddVector}}},
      {"add_scalar", {{K::AddScalar, 0.1}}},
      {"mul_vector", {{K::MulVector}}},
      {"mul_scalar_pos", {{K::MulScalar, 2.5}}},
      {"mul_scalar_neg", {{K::MulScalar, -0.3}}},
      {"mul_scalar_zero", {{K::MulScalar, 0.0}}},
      {"relu", {{K::Relu}}},
      {"mixed",
       {{K::MulVector}, {K::AddVector}, {K::Relu}, {K::MulScalar, -1.7}, {K::AddInterval}, {K::AddScalar, 3.0},
        {K::Relu}}},
  };
}

// A failure report that names the first bad element and counts the rest.
struct Failures {
  int count = 0;
  std::string first;
  template <typename... Parts> void add(const Parts &...parts) {
    if (count++ == 0) {
      std::ostringstream out;
      out.precision(17);
      (out << ... << parts);
      first = out.str();
    }
  }
};

void checkChain(cg::ChainFn kernel, const cg::IntervalChain &chain, std::int64_t n, bool inPlace, Random &random,
                Failures &failures) {
  ChainData data = chainData(chain, n, random);
  std::vector<double> lo = data.lo, hi = data.hi, outLo(n, -1.0), outHi(n, -1.0);
  std::vector<const double *> operands = data.pointers();
  if (inPlace)
    kernel(lo.data(), hi.data(), lo.data(), hi.data(), operands.data(), n);
  else
    kernel(lo.data(), hi.data(), outLo.data(), outHi.data(), operands.data(), n);
  const std::vector<double> &gotLo = inPlace ? lo : outLo, &gotHi = inPlace ? hi : outHi;
  for (std::int64_t i = 0; i < n; ++i) {
    double refLo, refHi;
    referenceChain(chain, data, i, refLo, refHi);
    Exact exactLo, exactHi;
    exactChain(chain, data, i, exactLo, exactHi);
    if (!sameDouble(gotLo[i], refLo) || !sameDouble(gotHi[i], refHi))
      failures.add(chain.name, " n=", n, " i=", i, ": kernel [", gotLo[i], ", ", gotHi[i], "] reference [", refLo,
                   ", ", refHi, "]");
    if (!(Exact(gotLo[i]) <= exactLo && exactHi <= Exact(gotHi[i])))
      failures.add(chain.name, " n=", n, " i=", i, ": kernel [", gotLo[i], ", ", gotHi[i],
                   "] does not contain the exact [", double(exactLo), ", ", double(exactHi), "]");
  }
}

// ---- Pos/neg products -------------------------------------------------------

struct ProductData {
  std::int64_t m, k, batch;
  std::vector<double> w, lo, hi;
};

ProductData productData(std::int64_t m, std::int64_t k, std::int64_t batch, Random &random) {
  ProductData d{m, k, batch, std::vector<double>(m * k), std::vector<double>(batch * k), std::vector<double>(batch * k)};
  for (double &w : d.w)
    w = random.weight();
  for (std::int64_t i = 0; i < batch * k; ++i)
    random.interval(d.lo[i], d.hi[i]);
  return d;
}

// The C++ path of bounds/ibp.cpp (constant weights): one product per term,
// sums in order, the same error term.
void referenceProduct(const ProductData &d, std::int64_t b, std::int64_t i, double &lo, double &hi, double &error) {
  double sl = 0, sh = 0, abs = 0;
  for (std::int64_t j = 0; j < d.k; ++j) {
    double w = d.w[i * d.k + j], l = d.lo[b * d.k + j], u = d.hi[b * d.k + j];
    sl += w * (w >= 0 ? l : u);
    sh += w * (w >= 0 ? u : l);
    abs += std::fabs(w) * std::max(std::fabs(l), std::fabs(u));
  }
  error = fp::sumError(static_cast<std::size_t>(d.k), abs);
  lo = fp::lowerOrInf(fp::nextDown(sl - error));
  hi = fp::upperOrInf(fp::nextUp(sh + error));
}

void exactProduct(const ProductData &d, std::int64_t b, std::int64_t i, Exact &lo, Exact &hi) {
  lo = hi = 0;
  for (std::int64_t j = 0; j < d.k; ++j) {
    Exact w = d.w[i * d.k + j], l = d.lo[b * d.k + j], u = d.hi[b * d.k + j];
    lo += w * (w >= 0 ? l : u);
    hi += w * (w >= 0 ? u : l);
  }
}

void checkProduct(cg::PosNegFn kernel, const ProductData &d, Failures &failures) {
  std::vector<double> yLo(d.batch * d.m, -1.0), yHi(d.batch * d.m, -1.0);
  kernel(d.w.data(), d.lo.data(), d.hi.data(), yLo.data(), yHi.data(), d.m, d.k, d.batch);
  for (std::int64_t b = 0; b < d.batch; ++b)
    for (std::int64_t i = 0; i < d.m; ++i) {
      double got[2] = {yLo[b * d.m + i], yHi[b * d.m + i]}, ref[2], error;
      referenceProduct(d, b, i, ref[0], ref[1], error);
      Exact exactLo, exactHi;
      exactProduct(d, b, i, exactLo, exactHi);
      if (!(Exact(got[0]) <= exactLo && exactHi <= Exact(got[1])))
        failures.add("m=", d.m, " k=", d.k, " batch row ", b, " output ", i, ": [", got[0], ", ", got[1],
                     "] does not contain the exact [", double(exactLo), ", ", double(exactHi), "]");
      // Both are within the error term of the exact sums (different order,
      // fma or not); neither may be looser than twice the term.
      for (int side : {0, 1}) {
        double tolerance = 1.01 * error + 4 * std::fabs(ref[side]) * 0x1p-52;
        if (!(std::fabs(got[side] - ref[side]) <= tolerance))
          failures.add("m=", d.m, " k=", d.k, " batch row ", b, " output ", i, (side ? " hi " : " lo "), got[side],
                       " vs the C++ path ", ref[side], " (error term ", error, ")");
      }
      if (!(Exact(got[0]) >= exactLo - 2.01 * Exact(error) && Exact(got[1]) <= exactHi + 2.01 * Exact(error)))
        failures.add("m=", d.m, " k=", d.k, " output ", i, ": looser than twice the error term");
    }
}

// ---- Assembly and IR --------------------------------------------------------

cg::KernelSet chainsOnly() { return {testChains(), {}}; }
cg::KernelSet productsOnly() { return {{}, {{"pos_neg", 0, 0}}}; }
cg::KernelSet allKernels() { return {testChains(), {{"pos_neg", 0, 0}, {"pos_neg_784x256", 256, 784}}}; }

std::string assembly(const cg::KernelSet &kernels, const char *target) {
  return cg::compileKernels(kernels, cg::describeTarget(target), cg::AotFormat::Assembly);
}
bool contains(const std::string &text, const char *what) { return text.find(what) != std::string::npos; }

// A fast-math or contraction flag on any instruction.
bool hasFastMathFlag(const std::string &ir) {
  static const std::regex flag(R"(= (fadd|fsub|fmul|fdiv|frem|fneg|fcmp|select|call|phi)\b[^\n]*\b(fast|reassoc|contract|nnan|ninf|nsz|arcp|afn)\b)");
  return std::regex_search(ir, flag);
}

} // namespace

TEST_SUITE("codegen") {

TEST_CASE("targets: the named ones, refusal of the unknown and of code this CPU cannot run") {
  for (const std::string &name : cg::knownTargets()) {
    cg::TargetDesc t = cg::describeTarget(name);
    CHECK(t.name == name);
    CHECK(t.lanes() >= 2);
  }
  CHECK(cg::describeTarget("x86-64-v3").vectorBits == 256);
  CHECK(cg::describeTarget("x86-64-v4").vectorBits == 512);
  CHECK(cg::describeTarget("aarch64").triple == "aarch64-linux-gnu");
  CHECK_THROWS_AS(cg::describeTarget("pentium"), gm::InputError);
  CHECK_THROWS_AS(cg::requiredFeatures("pentium"), gm::InputError);
  CHECK(cg::missingHostFeatures("host").empty());
#if defined(__x86_64__)
  CHECK(cg::missingHostFeatures("aarch64") == std::vector<std::string>{"neon"});
  CHECK_THROWS_AS(cg::KernelJit(chainsOnly(), "aarch64"), gm::InputError);
#endif
  CHECK(!cg::hostCpuName().empty());
}

// gamma-run checks plans with the features detected without LLVM
// (codegen/cpu_features.h): the answers must be LLVM's.
TEST_CASE("host features: detected without LLVM, the same as LLVM's") {
  std::vector<std::string> llvm = cg::llvmHostFeatures();
  auto llvmHas = [&](const std::string &f) { return std::binary_search(llvm.begin(), llvm.end(), f); };
  std::vector<std::string> detected = cg::detectedFeatures();
  std::vector<std::string> sameArch;
#if defined(__x86_64__)
  sameArch = {"x86-64-v3", "x86-64-v4"};
#elif defined(__aarch64__)
  sameArch = {"aarch64"};
#endif
  CHECK(detected.size() >= (sameArch.empty() ? 0 : 1));
  for (const std::string &feature : detected) {
    CAPTURE(feature);
    CHECK(cg::hostHasFeature(feature) == llvmHas(feature));
  }
  CHECK(!cg::hostHasFeature("no-such-feature"));
  for (const std::string &target : sameArch) {
    CAPTURE(target);
    std::vector<std::string> missing;
    for (const std::string &feature : cg::requiredFeatures(target)) {
      CHECK(std::find(detected.begin(), detected.end(), feature) != detected.end());
      if (!llvmHas(feature))
        missing.push_back(feature);
    }
    CHECK(cg::missingHostFeatures(target) == missing);
  }
  std::vector<std::string> vector;
  for (const char *feature : {"avx2", "fma", "avx512f", "neon"})
    if (llvmHas(feature))
      vector.emplace_back(feature);
  CHECK(cg::hostVectorFeatures() == vector);
  CHECK(!cg::hostCpuBrand().empty());
}

TEST_CASE("interval chains: equal to the scalar reference, containing the exact image, at every size") {
  std::vector<cg::IntervalChain> chains = testChains();
  for (const std::string &target : runnableTargets()) {
    CAPTURE(target);
    cg::KernelJit jit(cg::KernelSet{chains, {}}, target);
    Random random;
    Failures failures;
    for (const cg::IntervalChain &chain : chains)
      for (std::int64_t n : kSizes)
        for (bool inPlace : {false, true})
          checkChain(jit.chain(chain.name), chain, n, inPlace, random, failures);
    INFO(failures.first);
    CHECK(failures.count == 0);
  }
}

TEST_CASE("interval chains: infinite bounds stay sound and n = 0 writes nothing") {
  using K = cg::StepKind;
  cg::IntervalChain chain{"scale_shift_relu", {{K::MulVector}, {K::AddScalar, 1.0}, {K::Relu}}};
  cg::KernelJit jit(cg::KernelSet{{chain}, {}});
  cg::ChainFn kernel = jit.chain(chain.name);
  std::vector<double> lo = {-kInf, -kInf, -1.0, -kInf, 2.0}, hi = {kInf, 1.0, kInf, kInf, 3.0};
  std::vector<double> c = {2.0, -3.0, 0.0, -0.0, -1.0};
  const double *operands[] = {c.data()};
  kernel(lo.data(), hi.data(), lo.data(), hi.data(), operands, 5);
  CHECK(lo[0] == 0); // max(-inf + 1, 0)
  CHECK(hi[0] == kInf);
  CHECK(lo[1] == 0); // [-3, inf] + 1, relu
  CHECK(hi[1] == kInf);
  // 0 * anything is exactly 0 (no NaN from 0 * inf); the sum is then rounded
  // outward like any other.
  CHECK(lo[2] == std::nextafter(1.0, 0.0));
  CHECK(hi[2] == std::nextafter(1.0, 2.0));
  CHECK(lo[3] == std::nextafter(1.0, 0.0));
  CHECK(lo[4] == 0); // [-3, -2] + 1 = [-2, -1] -> relu [0, 0]
  CHECK(hi[4] == 0);
  double untouched = 42;
  kernel(&untouched, &untouched, &untouched, &untouched, operands, 0);
  CHECK(untouched == 42);
}

TEST_CASE("pos/neg products: contain the exact product and agree with the C++ path, batched, with tails") {
  for (const std::string &target : runnableTargets()) {
    CAPTURE(target);
    cg::KernelJit jit(productsOnly(), target);
    cg::PosNegFn kernel = jit.product("pos_neg");
    Random random;
    Failures failures;
    for (std::int64_t k : kSizes)
      for (std::int64_t m : {1, 3, 4, 5, 9})
        for (std::int64_t batch : {1, 3})
          checkProduct(kernel, productData(m, k, batch, random), failures);
    for (std::int64_t m : kSizes)
      checkProduct(kernel, productData(m, 33, 2, random), failures);
    INFO(failures.first);
    CHECK(failures.count == 0);
  }
}

TEST_CASE("pos/neg products: shapes baked in at compile time give the same results") {
  cg::KernelSet kernels{{}, {{"runtime", 0, 0}, {"fixed_7x33", 7, 33}, {"fixed_256x784", 256, 784}}};
  cg::KernelJit jit(kernels);
  Random random;
  for (auto [m, k, name] : {std::tuple{7, 33, "fixed_7x33"}, std::tuple{256, 784, "fixed_256x784"}}) {
    ProductData d = productData(m, k, 2, random);
    std::vector<double> lo1(2 * m), hi1(2 * m), lo2(2 * m), hi2(2 * m);
    jit.product("runtime")(d.w.data(), d.lo.data(), d.hi.data(), lo1.data(), hi1.data(), m, k, 2);
    // The shape arguments of a fixed kernel are ignored.
    jit.product(name)(d.w.data(), d.lo.data(), d.hi.data(), lo2.data(), hi2.data(), 0, 0, 2);
    CHECK(lo1 == lo2);
    CHECK(hi1 == hi2);
    Failures failures;
    checkProduct(jit.product(name), d, failures);
    INFO(failures.first);
    CHECK(failures.count == 0);
  }
}

TEST_CASE("pos/neg products: an infinite input bound only opens the sides it reaches") {
  cg::KernelJit jit(productsOnly());
  // y = [1, -2; 0, 3] x with x0 in [-inf, 1], x1 in [2, 4].
  std::vector<double> w = {1, -2, 0, 3}, lo = {-kInf, 2}, hi = {1, 4}, yLo(2), yHi(2);
  jit.product("pos_neg")(w.data(), lo.data(), hi.data(), yLo.data(), yHi.data(), 2, 2, 1);
  for (int i = 0; i < 2; ++i) {
    double refLo, refHi, error;
    ProductData d{2, 2, 1, w, lo, hi};
    referenceProduct(d, 0, i, refLo, refHi, error);
    CHECK(sameDouble(yLo[i], refLo));
    CHECK(sameDouble(yHi[i], refHi));
  }
  CHECK(yLo[0] == -kInf);
  CHECK(yHi[0] == kInf); // the magnitude term is infinite, as in the C++ path
  CHECK(yLo[1] == -kInf);
}

TEST_CASE("object code compiled ahead of time loads and gives the JIT's results") {
  cg::KernelSet kernels = allKernels();
  std::string object = cg::compileKernels(kernels, cg::describeTarget("host"), cg::AotFormat::Object);
  REQUIRE(object.size() > 4);
  CHECK(object.compare(0, 4, "\x7f" "ELF") == 0);
  cg::KernelJit loaded = cg::KernelJit::fromObject(object, kernels, "host");
  cg::KernelJit jit(kernels);
  Random random;
  ProductData d = productData(9, 17, 3, random);
  std::vector<double> a(27), b(27), c(27), e(27);
  jit.product("pos_neg")(d.w.data(), d.lo.data(), d.hi.data(), a.data(), b.data(), 9, 17, 3);
  loaded.product("pos_neg")(d.w.data(), d.lo.data(), d.hi.data(), c.data(), e.data(), 9, 17, 3);
  CHECK(a == c);
  CHECK(b == e);
  Failures failures;
  cg::IntervalChain mixed = testChains().back();
  checkChain(loaded.chain("mixed"), mixed, 33, true, random, failures);
  INFO(failures.first);
  CHECK(failures.count == 0);
}

TEST_CASE("assembly: x86-64-v3 uses ymm and never zmm") {
  std::string text = assembly(allKernels(), "x86-64-v3");
  CHECK(contains(text, "%ymm"));
  CHECK(!contains(text, "zmm"));
  CHECK(contains(text, "vfmadd")); // the product's explicit fma
}

TEST_CASE("assembly: x86-64-v4 uses zmm") {
  std::string text = assembly(allKernels(), "x86-64-v4");
  CHECK(contains(text, "%zmm"));
  CHECK(contains(text, "vfmadd"));
}

TEST_CASE("assembly: aarch64 uses NEON fmla and fmaxnm") {
  std::string text = assembly(allKernels(), "aarch64");
  CHECK(contains(text, "fmla\tv"));
  CHECK(contains(text, "fmaxnm\tv"));
  CHECK(contains(text, ".2d"));
}

TEST_CASE("no contraction: chains have no fma on any target, and no instruction has a fast-math flag") {
  for (const char *target : {"x86-64-v3", "x86-64-v4"}) {
    CAPTURE(target);
    CHECK(!contains(assembly(chainsOnly(), target), "vfmadd"));
    CHECK(!contains(assembly(chainsOnly(), target), "vfnmadd"));
  }
  CHECK(!std::regex_search(assembly(chainsOnly(), "aarch64"), std::regex(R"(\bfn?ml[as]\b|\bfn?m(add|sub)\b)")));
  for (const std::string &target : cg::knownTargets()) {
    CAPTURE(target);
    std::string chainIr = cg::compileKernels(chainsOnly(), cg::describeTarget(target), cg::AotFormat::LlvmIr);
    std::string allIr = cg::compileKernels(allKernels(), cg::describeTarget(target), cg::AotFormat::LlvmIr);
    CHECK(!contains(chainIr, "llvm.fma"));
    CHECK(contains(allIr, "llvm.fma"));
    CHECK(!contains(allIr, "fmuladd"));
    CHECK(!hasFastMathFlag(allIr));
  }
}

} // TEST_SUITE

TEST_SUITE("codegen") {

// The runtime's loader (runtime/object_code.h) links what gammac stores
// without LLVM; the kernels it links must be the ones LLVM's JIT links.
TEST_CASE("object code linked by the runtime's loader gives the JIT's results, for every runnable target") {
  if (!gm::ObjectCode::supportedHost()) {
    MESSAGE("skipped: the loader links x86-64 objects only");
    return;
  }
  cg::KernelSet kernels = allKernels();
  for (const std::string &target : runnableTargets()) {
    CAPTURE(target);
    std::string object = cg::compileKernels(kernels, cg::describeTarget(target), cg::AotFormat::Object);
    gm::ObjectCode code = gm::ObjectCode::link(object, "kernels.o");
    CHECK(code.symbol("no_such_kernel") == nullptr);
    cg::KernelJit jit(kernels, target);
    Random random;
    Failures failures;
    for (const cg::IntervalChain &chain : kernels.chains) {
      REQUIRE(code.symbol(chain.name) != nullptr);
      auto fn = reinterpret_cast<cg::ChainFn>(code.symbol(chain.name));
      for (std::int64_t n : kSizes)
        for (bool inPlace : {false, true})
          checkChain(fn, chain, n, inPlace, random, failures);
    }
    INFO(failures.first);
    CHECK(failures.count == 0);
    for (const cg::PosNegProduct &p : kernels.products) {
      REQUIRE(code.symbol(p.name) != nullptr);
      auto fn = reinterpret_cast<cg::PosNegFn>(code.symbol(p.name));
      for (auto [m, k, batch] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 1, 1}, {3, 5, 1}, {9, 17, 3},
                                 {8, 16, 2}, {33, 7, 1}}) {
        if (p.m != 0 && (m != p.m || k != p.k)) {
          m = p.m;
          k = p.k;
        }
        ProductData d = productData(m, k, batch, random);
        std::vector<double> a(m * batch), b(m * batch), c(m * batch), e(m * batch);
        jit.product(p.name)(d.w.data(), d.lo.data(), d.hi.data(), a.data(), b.data(), m, k, batch);
        fn(d.w.data(), d.lo.data(), d.hi.data(), c.data(), e.data(), m, k, batch);
        CHECK(a == c);
        CHECK(b == e);
      }
    }
  }
}

// Finds the first RELA entry of an object, for the test below to damage.
std::size_t firstRelocation(const std::string &object) {
  Elf64_Ehdr h;
  std::memcpy(&h, object.data(), sizeof h);
  for (std::size_t i = 0; i < h.e_shnum; ++i) {
    Elf64_Shdr s;
    std::memcpy(&s, object.data() + h.e_shoff + i * sizeof s, sizeof s);
    if (s.sh_type == SHT_RELA && s.sh_size > 0)
      return s.sh_offset;
  }
  return 0;
}

TEST_CASE("object code the loader cannot link is one error, never a crash") {
  auto errorOf = [](std::string_view bytes) {
    try {
      gm::ObjectCode::link(bytes, "p.gplan:object");
    } catch (const gm::InputError &e) {
      return std::string(e.what());
    }
    return std::string("(linked)");
  };
  CHECK(errorOf("not an object") .find("p.gplan:object: ") == 0);
  CHECK(errorOf(std::string("\x7f" "ELF", 4)).find("truncated") != std::string::npos);
  std::string arm = cg::compileKernels(allKernels(), cg::describeTarget("aarch64"), cg::AotFormat::Object);
  std::string e = errorOf(arm);
  CHECK((e.find("ELF machine 183") != std::string::npos || e.find("x86-64 hosts only") != std::string::npos));
  if (!gm::ObjectCode::supportedHost())
    return;
  std::string object = cg::compileKernels(allKernels(), cg::describeTarget("x86-64-v3"), cg::AotFormat::Object);
  REQUIRE(errorOf(object) == "(linked)");
  // Every prefix is refused cleanly (the section table sits at the end, so
  // most prefixes lose it; the sweep covers each part of the file).
  std::size_t step = std::max<std::size_t>(1, object.size() / 400);
  int refused = 0;
  for (std::size_t cut = 0; cut < object.size(); cut += step) {
    std::string got = errorOf(object.substr(0, cut));
    refused += got != "(linked)";
    CHECK(got.find("p.gplan:object: ") == 0);
  }
  CHECK(refused > 0);
  // A relocation kernels never produce (R_X86_64_32S) is named, not applied.
  std::size_t rela = firstRelocation(object);
  REQUIRE(rela > 0);
  std::string damaged = object;
  Elf64_Rela r;
  std::memcpy(&r, damaged.data() + rela, sizeof r);
  r.r_info = ELF64_R_INFO(ELF64_R_SYM(r.r_info), R_X86_64_32S);
  std::memcpy(damaged.data() + rela, &r, sizeof r);
  CHECK(errorOf(damaged) == "p.gplan:object: object code has relocation type 11, which kernels do not produce");
  // A symbol index past the table.
  r.r_info = ELF64_R_INFO(100000, R_X86_64_PC32);
  std::memcpy(damaged.data() + rela, &r, sizeof r);
  CHECK(errorOf(damaged).find("refers to symbol 100000") != std::string::npos);
}

} // TEST_SUITE
