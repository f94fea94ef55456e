// The bound methods on graphs small enough to check by hand, and their
// building blocks: directed rounding (fp.h) and relaxations (relax.h).
#include "bounds/bounds.h"
#include "bounds/fp.h"
#include "bounds/relax.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace gm;
using namespace gm::bounds;

namespace {

std::shared_ptr<const Constant> tensor(Shape shape, std::vector<double> values) {
  return Constant::fromDoubles(TensorType{DType::F32, std::move(shape)}, values);
}

// y = relu(x·W1 + b1)·W2 + b2 with x [1,2], hidden 2, out 2.
Graph tinyNet() {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 2}});
  ValueId w1 = g.addConst(tensor({2, 2}, {1, 1, 1, -1}));
  ValueId b1 = g.addConst(tensor({2}, {0, 0}));
  ValueId h = g.add1(Op::Relu, {g.add1(Op::Add, {g.add1(Op::MatMul, {x, w1}), b1})});
  ValueId w2 = g.addConst(tensor({2, 2}, {1, 0, -1, 1}));
  ValueId b2 = g.addConst(tensor({2}, {0.5f, 0}));
  g.setOutputs({g.add1(Op::Add, {g.add1(Op::MatMul, {h, w2}), b2})});
  return g;
}

} // namespace

TEST_SUITE("bounds") {

TEST_CASE("directed operations bracket the exact result") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e3, 1e3);
  for (int i = 0; i < 20000; ++i) {
    double a = u(rng), b = u(rng);
    long double ea = a, eb = b; // x87 long double: 64-bit mantissa, exact for these sums and products
    CHECK(static_cast<long double>(fp::addDown(a, b)) <= ea + eb);
    CHECK(static_cast<long double>(fp::addUp(a, b)) >= ea + eb);
    CHECK(static_cast<long double>(fp::mulDown(a, b)) <= ea * eb);
    CHECK(static_cast<long double>(fp::mulUp(a, b)) >= ea * eb);
    // quotient: q_down * b <= a (b > 0) in exact arithmetic
    double bp = std::fabs(b) + 1;
    CHECK(static_cast<long double>(fp::divDown(a, bp)) * bp <= ea);
    CHECK(static_cast<long double>(fp::divUp(a, bp)) * bp >= ea);
  }
  // exact cases stay exact
  CHECK(fp::addDown(1.0, 2.0) == 3.0);
  CHECK(fp::mulUp(3.0, 0.5) == 1.5);
  CHECK(fp::divDown(1.0, 4.0) == 0.25);
  CHECK(fp::divDown(1.0, 3.0) < fp::divUp(1.0, 3.0));
}

TEST_CASE("IBP and CROWN on a two-layer network, by hand") {
  Graph g = tinyNet();
  Box box{{-1, -1}, {1, 1}};
  // z = (x0 + x1, x0 - x1) in [-2,2]^2; h = relu(z) in [0,2]^2;
  // y0 = h0 - h1 + 0.5 in [-1.5, 2.5]; y1 = h1 in [0, 2].
  Result ibp = computeBounds(g, box, nullptr, {Method::Ibp});
  CHECK(ibp.lower[0] == doctest::Approx(-1.5));
  CHECK(ibp.upper[0] == doctest::Approx(2.5));
  CHECK(ibp.lower[1] == doctest::Approx(0.0));
  CHECK(ibp.upper[1] == doctest::Approx(2.0));
  CHECK(ibp.lower[0] <= -1.5);
  CHECK(ibp.upper[0] >= 2.5);
  // CROWN: relu on [-2,2]: upper 0.5x + 1, lower slope 0 (u > -l is false).
  // y1 = h1 <= 0.5 (x0 - x1) + 1 <= 2; y1 >= 0.
  Result crown = computeBounds(g, box, nullptr, {Method::Crown});
  CHECK(crown.upper[1] == doctest::Approx(2.0));
  CHECK(crown.lower[1] == doctest::Approx(0.0));
  // y0 = h0 - h1 + 0.5 >= 0 - (0.5 (x0 - x1) + 1) + 0.5 >= -1.5
  CHECK(crown.lower[0] == doctest::Approx(-1.5));
  // sound: every corner and the centre inside
  for (double a : {-1.0, 0.0, 1.0})
    for (double b : {-1.0, 0.0, 1.0}) {
      ref::Tensor in{{1, 2}, {a, b}};
      std::vector<ref::Tensor> out = ref::evaluate(g, std::span(&in, 1));
      for (int k = 0; k < 2; ++k) {
        CHECK(out[0].data[k] >= crown.lower[k]);
        CHECK(out[0].data[k] <= crown.upper[k]);
      }
    }
}

TEST_CASE("spec rows are bounded directly, tighter than from the outputs") {
  Graph g = tinyNet();
  Box box{{-1, -1}, {1, 1}};
  Spec spec;
  spec.numOutputs = 2;
  spec.outputCoeffs = {1, 1}; // y0 + y1 = h0 + 0.5 in [0.5, 2.5]
  spec.constants = {0};
  for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp}) {
    Result r = computeBounds(g, box, &spec, {m});
    CHECK(r.rowLower[0] == doctest::Approx(0.5).epsilon(1e-9));
    CHECK(r.rowLower[0] <= 0.5);
    CHECK(r.rowUpper[0] >= 2.5);
    CHECK(r.rowUpper[0] <= r.upper[0] + r.upper[1]);
  }
}

TEST_CASE("a point box gives a point up to rounding, never excluding the value") {
  Graph g = tinyNet();
  Box box{{0.3, -0.2}, {0.3, -0.2}};
  ref::Tensor in{{1, 2}, {0.3, -0.2}};
  std::vector<double> y = ref::evaluate(g, std::span(&in, 1))[0].data;
  for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp}) {
    Result r = computeBounds(g, box, nullptr, {m});
    for (int k = 0; k < 2; ++k) {
      CHECK(r.lower[k] <= y[k]);
      CHECK(r.upper[k] >= y[k]);
      CHECK(r.upper[k] - r.lower[k] < 1e-12);
    }
  }
}

TEST_CASE("CROWN refuses ops it cannot bound, naming the node; IBP bounds them") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 3}});
  Attrs a;
  a.set("axis", std::int64_t(1));
  g.setOutputs({g.add1(Op::Softmax, {x}, a, "sm")});
  Box box{{0, 0, 0}, {1, 1, 1}};
  CHECK_THROWS_WITH_AS(computeBounds(g, box, nullptr, {Method::Crown}), doctest::Contains("softmax"), InputError);
  CHECK_THROWS_AS(checkSupported(g, Method::Crown), InputError);
  Result r = computeBounds(g, box, nullptr, {Method::Ibp});
  // softmax_i in [1/(1+2e), e/(e+2)]
  CHECK(r.lower[0] <= 1 / (1 + 2 * std::exp(1.0)));
  CHECK(r.lower[0] == doctest::Approx(1 / (1 + 2 * std::exp(1.0))));
  CHECK(r.upper[0] == doctest::Approx(std::exp(1.0) / (std::exp(1.0) + 2)));
}

// silu and gelu: the interval is the function's exact range on the box up to
// the rounding budget: it contains the long double function on a grid, and it
// is within 1e-12 of the grid's extremes (the range is attained at the ends or
// at the minimiser, which the grid brackets finely).
TEST_CASE("silu and gelu IBP is the function's range on the interval") {
  struct F {
    Op op;
    long double (*f)(long double);
    long double minimiser;
  };
  F fns[] = {
      {Op::Silu, [](long double x) { return x / (1 + std::exp(-x)); }, -1.2784645427610738L},
      {Op::Gelu, [](long double x) { return x * std::erfc(-x / std::sqrt(2.0L)) / 2; }, -0.7517915246935645L},
  };
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> centre(-8, 8), width(0, 6);
  for (const F &fn : fns)
    for (int t = 0; t < 400; ++t) {
      double l = centre(rng), u = l + (t % 10 == 0 ? 0.0 : width(rng));
      if (t % 7 == 0)
        l = -40 - width(rng) * 10; // the far tail, where gelu's erfc is ill-conditioned
      Graph g;
      ValueId x = g.addInput("x", {DType::F32, {1}});
      g.setOutputs({g.add1(fn.op, {x})});
      Result r = computeBounds(g, Box{{l}, {u}}, nullptr, {Method::Ibp});
      long double lo = fn.f(u), hi = lo;
      for (int i = 0; i <= 400; ++i) {
        long double v = l + (static_cast<long double>(u) - l) * i / 400;
        lo = std::min(lo, fn.f(v));
        hi = std::max(hi, fn.f(v));
      }
      if (l <= fn.minimiser && fn.minimiser <= u)
        lo = fn.f(fn.minimiser);
      INFO(opKeyword(fn.op), " on [", l, ", ", u, "]");
      CHECK(r.lower[0] <= lo);
      CHECK(r.upper[0] >= hi);
      CHECK(r.lower[0] >= lo - 1e-12L * (1 + std::fabs(lo)));
      CHECK(r.upper[0] <= hi + 1e-12L * (1 + std::fabs(hi)));
    }
}

// rms_norm's rule against sampled points, against the same computation
// spelled in separate ops (which must never be tighter), and against the
// sqrt(N) cap that bounds |x_i| / rms(x) whatever the box.
TEST_CASE("rms_norm IBP contains samples and beats the separate ops") {
  const std::int64_t n = 6;
  std::vector<double> scale = {1.0, -0.5, 2.0, 0.25, 1.5, -1.0};
  Attrs a;
  a.set("axis", std::int64_t(1));
  a.set("epsilon", 1e-6);
  Graph fused;
  {
    ValueId x = fused.addInput("x", {DType::F32, {1, n}});
    fused.setOutputs({fused.add1(Op::RmsNorm, {x, fused.addConst(tensor({n}, scale))}, a)});
  }
  Graph split; // x * (mean(x²) + ε)^(-1/2) * scale
  {
    ValueId x = split.addInput("x", {DType::F32, {1, n}});
    Attrs r;
    r.set("axes", std::vector<std::int64_t>{1});
    r.set("keepdims", std::int64_t(1));
    ValueId ms = split.add1(Op::ReduceMean, {split.add1(Op::Mul, {x, x})}, r);
    ValueId rms = split.add1(Op::Sqrt, {split.add1(Op::Add, {ms, split.addConst(tensor({}, {1e-6}))})});
    split.setOutputs({split.add1(Op::Mul, {split.add1(Op::Div, {x, rms}), split.addConst(tensor({n}, scale))})});
  }
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> centre(-2, 2), width(0, 1.5), unit(0, 1);
  for (int t = 0; t < 200; ++t) {
    Box box{std::vector<double>(n), std::vector<double>(n)};
    for (std::int64_t i = 0; i < n; ++i) {
      box.lower[i] = centre(rng);
      box.upper[i] = box.lower[i] + (t % 5 == 0 ? 0.0 : width(rng));
    }
    Result r = computeBounds(fused, box, nullptr, {Method::Ibp});
    Result s = computeBounds(split, box, nullptr, {Method::Ibp});
    for (std::int64_t i = 0; i < n; ++i) {
      CHECK(r.lower[i] >= -std::sqrt(double(n)) * std::fabs(scale[i]) * (1 + 1e-12));
      CHECK(r.upper[i] <= std::sqrt(double(n)) * std::fabs(scale[i]) * (1 + 1e-12));
      CHECK(r.upper[i] - r.lower[i] <= s.upper[i] - s.lower[i] + 1e-12);
    }
    for (int k = 0; k < 50; ++k) {
      ref::Tensor in{{1, n}, std::vector<double>(n)};
      for (std::int64_t i = 0; i < n; ++i) // corners half the time: the extremes live there
        in.data[i] = k % 2 ? (unit(rng) < 0.5 ? box.lower[i] : box.upper[i])
                           : box.lower[i] + (box.upper[i] - box.lower[i]) * unit(rng);
      std::vector<double> y = ref::evaluate(fused, std::span(&in, 1))[0].data;
      for (std::int64_t i = 0; i < n; ++i) {
        CHECK(r.lower[i] <= y[i]);
        CHECK(r.upper[i] >= y[i]);
      }
    }
  }
}

TEST_CASE("silu and gelu IBP on unbounded intervals gives their limits, never NaN") {
  const double inf = std::numeric_limits<double>::infinity();
  for (Op op : {Op::Silu, Op::Gelu}) {
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {3}});
    g.setOutputs({g.add1(op, {x})});
    Result r = computeBounds(g, Box{{-inf, 1.0, -inf}, {-2.0, inf, inf}}, nullptr, {Method::Ibp});
    INFO(opKeyword(op));
    // decreasing on (-inf, -2]: from the limit 0 down to f(-2)
    double atMinus2 = op == Op::Silu ? -2 / (1 + std::exp(2.0)) : -std::erfc(std::sqrt(2.0)); // -2·Φ(-2)
    CHECK(r.lower[0] <= atMinus2);
    CHECK(r.lower[0] == doctest::Approx(atMinus2).epsilon(1e-12));
    CHECK(r.upper[0] >= 0.0);
    CHECK(r.upper[0] <= 1e-300);
    CHECK(r.lower[1] < 1.0);
    CHECK(r.upper[1] == inf);
    CHECK(r.lower[2] < -0.16);
    CHECK(r.upper[2] == inf);
  }
}

TEST_CASE("bad boxes and specs are input errors") {
  Graph g = tinyNet();
  CHECK_THROWS_AS(computeBounds(g, Box{{0}, {1}}, nullptr, {}), InputError);
  CHECK_THROWS_AS(computeBounds(g, Box{{0, 1}, {1, 0}}, nullptr, {}), InputError);
  Spec spec;
  spec.numOutputs = 3;
  spec.outputCoeffs = {1, 0, 0};
  spec.constants = {0};
  CHECK_THROWS_AS(computeBounds(g, Box{{0, 0}, {1, 1}}, &spec, {}), InputError);
}

TEST_CASE("a deadline in the past is a timeout") {
  Graph g = tinyNet();
  Options o;
  o.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  CHECK_THROWS_AS(computeBounds(g, Box{{0, 0}, {1, 1}}, nullptr, o), Timeout);
}

TEST_CASE("method names round-trip") {
  for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp})
    CHECK(parseMethod(methodName(m)) == m);
  CHECK_FALSE(parseMethod("alpha-crown").has_value());
}

} // TEST_SUITE

TEST_SUITE("relax") {

// Lines must hold on a dense grid of the interval, checked in long double
// against the function: a test of the proof, not a source of the lines.
TEST_CASE("relaxation lines enclose the function on their interval") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> centre(-6, 6), width(1e-6, 8);
  struct F {
    Op op;
    long double (*f)(long double);
  };
  F fns[] = {
      {Op::Relu, [](long double x) { return x > 0 ? x : 0.0L; }},
      {Op::Sigmoid, [](long double x) { return 1 / (1 + std::exp(-x)); }},
      {Op::Tanh, [](long double x) { return std::tanh(x); }},
      {Op::Erf, [](long double x) { return std::erf(x); }},
      {Op::Exp, [](long double x) { return std::exp(x); }},
      {Op::Abs, [](long double x) { return std::fabs(x); }},
      {Op::Pow, [](long double x) { return x * x; }},
  };
  for (const F &fn : fns)
    for (int t = 0; t < 300; ++t) {
      double c = centre(rng), w = width(rng);
      double l = c - w / 2, u = c + w / 2;
      Lines lines = relax(fn.op, {l}, {u});
      for (int i = 0; i <= 200; ++i) {
        long double x = l + (static_cast<long double>(u) - l) * i / 200;
        if (x > u)
          x = u;
        long double y = fn.f(x);
        long double lo = lines.kl[0] * x + lines.bl[0], hi = lines.ku[0] * x + lines.bu[0];
        // long double evaluation has its own error of ~1e-19 relative
        long double slack = 1e-17L * (1 + std::fabs(y) + std::fabs(lines.kl[0] * x) + std::fabs(lines.ku[0] * x));
        INFO(opKeyword(fn.op), " on [", l, ", ", u, "] at ", static_cast<double>(x));
        CHECK(lo <= y + slack);
        CHECK(hi >= y - slack);
      }
    }
}

TEST_CASE("log and sqrt lines on positive intervals") {
  for (Op op : {Op::Log, Op::Sqrt})
    for (double l : {1e-3, 0.5, 2.0})
      for (double w : {1e-4, 1.0, 50.0}) {
        double u = l + w;
        Lines lines = relax(op, {l}, {u});
        for (int i = 0; i <= 100; ++i) {
          long double x = l + (static_cast<long double>(u) - l) * i / 100;
          long double y = op == Op::Log ? std::log(x) : std::sqrt(x);
          CHECK(lines.kl[0] * x + lines.bl[0] <= y + 1e-15L);
          CHECK(lines.ku[0] * x + lines.bu[0] >= y - 1e-15L);
        }
      }
}

TEST_CASE("ReLU lines follow auto_LiRPA's adaptive choice") {
  Lines a = relax(Op::Relu, {-1, -3, 0.5, -2}, {3, 1, 2, -0.5});
  CHECK(a.kl[0] == 1); // u > -l
  CHECK(a.kl[1] == 0); // u < -l
  CHECK(a.kl[2] == 1);
  CHECK(a.ku[2] == 1); // active: identity
  CHECK(a.bu[2] == 0);
  CHECK(a.ku[3] == 0); // inactive: zero
  CHECK(a.bu[3] == 0);
  CHECK(a.ku[0] == doctest::Approx(0.75));
  CHECK(a.bu[0] >= 0.75);
}

TEST_CASE("McCormick planes bound the product on the box") {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-5, 5);
  for (int t = 0; t < 200; ++t) {
    double lx = u(rng), ux = lx + std::fabs(u(rng)), ly = u(rng), uy = ly + std::fabs(u(rng));
    Planes lo = mulLowerPlane(lx, ux, ly, uy), hi = mulUpperPlane(lx, ux, ly, uy);
    for (double x : {lx, ux, (lx + ux) / 2})
      for (double y : {ly, uy, (ly + uy) / 2}) {
        long double p = static_cast<long double>(x) * y;
        CHECK(lo.ax * static_cast<long double>(x) + lo.ay * static_cast<long double>(y) + lo.c <= p + 1e-12L);
        CHECK(hi.ax * static_cast<long double>(x) + hi.ay * static_cast<long double>(y) + hi.c >= p - 1e-12L);
      }
  }
}

} // TEST_SUITE

TEST_SUITE("bounds") {

// A network wide enough that intermediate passes split into row blocks.
TEST_CASE("dense chain: threaded passes give the serial bounds exactly, and the DAG engine's") {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n01;
  auto weights = [&](std::int64_t in, std::int64_t out) {
    std::vector<double> w(static_cast<std::size_t>(in * out));
    for (double &x : w)
      x = static_cast<float>(n01(rng) / std::sqrt(double(in)));
    return tensor({in, out}, w);
  };
  auto bias = [&](std::int64_t out) {
    std::vector<double> b(static_cast<std::size_t>(out));
    for (double &x : b)
      x = static_cast<float>(0.3 * n01(rng));
    return tensor({out}, b);
  };
  Graph g;
  ValueId v = g.addInput("x", {DType::F32, {1, 300}});
  for (std::int64_t width : {160, 160, 120}) {
    std::int64_t in = g.type(v).shape[1];
    ValueId w = g.addConst(weights(in, width)), b = g.addConst(bias(width));
    ValueId z = g.add1(Op::Add, {g.add1(Op::MatMul, {v, w}), b});
    v = g.add1(Op::Relu, {z});
  }
  ValueId wOut = g.addConst(weights(120, 10));
  g.setOutputs({g.add1(Op::MatMul, {v, wOut})});
  Network net(g);
  REQUIRE(net.denseChain() != nullptr);
  Box box{std::vector<double>(300), std::vector<double>(300)};
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t i = 0; i < 300; ++i) {
    box.lower[i] = u(rng);
    box.upper[i] = box.lower[i] + 0.02;
  }
  Options o;
  o.threads = 1;
  Result serial = computeBounds(net, box, nullptr, o);
  o.threads = 0;
  Result threaded = computeBounds(net, box, nullptr, o);
  CHECK(serial.lower == threaded.lower);
  CHECK(serial.upper == threaded.upper);
  o.denseChain = false;
  Result dag = computeBounds(net, box, nullptr, o);
  for (std::size_t k = 0; k < 10; ++k) {
    CHECK(serial.lower[k] == doctest::Approx(dag.lower[k]).epsilon(1e-9));
    CHECK(serial.upper[k] == doctest::Approx(dag.upper[k]).epsilon(1e-9));
    CHECK(serial.lower[k] < serial.upper[k]);
  }
}

} // TEST_SUITE

TEST_SUITE("bounds") {

TEST_CASE("keepWidths reports every bounded value's interval width, on both engines") {
  Graph g = tinyNet();
  Box box{{-1, -1}, {1, 1}};
  for (bool chain : {true, false}) {
    Options o;
    o.method = Method::Ibp;
    o.keepWidths = true;
    o.denseChain = chain;
    Result r = computeBounds(g, box, nullptr, o);
    REQUIRE_FALSE(r.widths.empty());
    // The last reported value is the output: y0 in [-1.5, 2.5], y1 in [0, 2].
    const ValueWidth &out = r.widths.back();
    CHECK(out.maxWidth == doctest::Approx(4.0));
    CHECK(out.meanWidth == doctest::Approx(3.0));
    for (const ValueWidth &w : r.widths)
      CHECK(w.maxWidth >= w.meanWidth);
  }
  Options o;
  o.method = Method::Ibp;
  CHECK(computeBounds(g, box, nullptr, o).widths.empty());
}

} // TEST_SUITE
