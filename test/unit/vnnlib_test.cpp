#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace {

using gm::vnnlib::Property;
using gm::vnnlib::Row;
using Coefs = std::vector<std::pair<std::uint32_t, double>>;

const std::string kPath = "t.vnnlib";
constexpr double kInf = std::numeric_limits<double>::infinity();

Property parse(const std::string &text) { return gm::vnnlib::parse(text, kPath); }

// One declaration per line, so the asserts after it start on line nx + ny + 1.
std::string declare(int nx, int ny) {
  std::string out;
  for (int i = 0; i < nx; ++i)
    out += "(declare-const X_" + std::to_string(i) + " Real)\n";
  for (int j = 0; j < ny; ++j)
    out += "(declare-const Y_" + std::to_string(j) + " Real)\n";
  return out;
}

// The message of the InputError parse throws, or a marker if it does not.
std::string errorOf(const std::string &text) {
  try {
    parse(text);
  } catch (const gm::InputError &e) {
    return e.what();
  }
  return "<no error>";
}

bool startsWith(const std::string &s, const std::string &prefix) { return s.rfind(prefix, 0) == 0; }

#define CHECK_ERROR(text, expected)                                                                \
  do {                                                                                             \
    std::string message_ = errorOf(text);                                                          \
    CHECK_MESSAGE(startsWith(message_, kPath + ":" + (expected)), message_);                       \
  } while (0)

const char *kAcasProp6 = R"(; ACAS Xu property 6
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const X_2 Real)
(declare-const X_3 Real)
(declare-const X_4 Real)

(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
(declare-const Y_3 Real)
(declare-const Y_4 Real)

(assert (or
    (and (<= X_0 0.700434925) (>= X_0 -0.129289109) (<= X_1 0.499999896) (>= X_1 0.11140846) (<= X_2 -0.499204121) (>= X_2 -0.499999896) (<= X_3 0.5) (>= X_3 -0.5) (<= X_4 0.5) (>= X_4 -0.5))
    (and (<= X_0 0.700434925) (>= X_0 -0.129289109) (<= X_1 -0.11140846) (>= X_1 -0.499999896) (<= X_2 -0.499204121) (>= X_2 -0.499999896) (<= X_3 0.5) (>= X_3 -0.5) (<= X_4 0.5) (>= X_4 -0.5))
))

; unsafe if coc is not minimal
(assert (or
    (and (<= Y_1 Y_0))
    (and (<= Y_2 Y_0))
    (and (<= Y_3 Y_0))
    (and (<= Y_4 Y_0))
))
)";

} // namespace

TEST_SUITE("vnnlib") {

TEST_CASE("box bounds, tighter of repeated bounds, exact decimals") {
  Property p = parse(declare(3, 1) + R"(
; comment (with parens) ) (
(assert (<= X_0 0.700434925))
(assert (>= X_0 -0.129289109))
(assert (<= X_0 0.9))     ; looser, ignored
(assert (>= X_0 -1.5))    ; looser, ignored
(assert (>= X_1 +2.0))
(assert (< X_1 3))        ; strict: the box is closed, the row stays strict
(assert (> X_1 2.5))
(assert (<= Y_0 0.5))
)");
  CHECK(p.path == kPath);
  CHECK(p.num_inputs == 3);
  CHECK(p.num_outputs == 1);
  REQUIRE(p.disjuncts.size() == 1);
  const auto &d = p.disjuncts[0];
  REQUIRE(d.lower.size() == 3);
  REQUIRE(d.upper.size() == 3);
  CHECK(d.upper[0] == 0.700434925);
  CHECK(d.lower[0] == -0.129289109);
  CHECK(d.lower[1] == 2.5);
  CHECK(d.upper[1] == 3.0);
  CHECK(d.lower[2] == -kInf);
  CHECK(d.upper[2] == kInf);
  // The two strict bounds are also kept as exact strict rows, in file order.
  REQUIRE(d.rows.size() == 3);
  CHECK(d.rows[0].x == Coefs{{1, 1.0}});
  CHECK(d.rows[0].constant == -3.0);
  CHECK(d.rows[0].strict);
  CHECK(d.rows[1].x == Coefs{{1, -1.0}});
  CHECK(d.rows[1].strict);
  CHECK(d.rows[2].y == Coefs{{0, 1.0}});
  CHECK(d.rows[2].x.empty());
  CHECK(d.rows[2].constant == -0.5);
  CHECK_FALSE(d.rows[2].strict);
}

TEST_CASE("an inexact bound -d/c is rounded outward and kept as an exact row") {
  Property p = parse(declare(2, 0) + R"(
(assert (<= (* 3 X_0) 1))
(assert (>= (* 3 X_1) -1))
(assert (<= (* 4 X_1) 1))
)");
  const auto &d = p.disjuncts.at(0);
  CHECK(d.upper[0] > 1.0 / 3.0);                        // outward, never below the real 1/3
  CHECK(d.upper[0] == std::nextafter(1.0 / 3.0, 1.0));
  CHECK(d.lower[1] < -1.0 / 3.0);
  CHECK(d.upper[1] == 0.25);                            // exact: no widening, no row
  REQUIRE(d.rows.size() == 2);
  CHECK(d.rows[0].x == Coefs{{0, 3.0}});
  CHECK(d.rows[0].constant == -1.0);
  CHECK_FALSE(d.rows[0].strict);
}

TEST_CASE("a strict atom without variables decides its disjunct") {
  Property p = parse(declare(1, 0) + R"(
(assert (>= X_0 0))
(assert (<= X_0 1))
(assert (or (and (< 0 0) (<= X_0 0.5)) (and (< 0 1) (<= X_0 0.25))))
)");
  REQUIRE(p.disjuncts.size() == 1);
  CHECK(p.disjuncts[0].upper[0] == 0.25);
}

TEST_CASE("number forms") {
  Property p = parse(declare(6, 0) + R"(
(assert (<= X_0 1e-3))
(assert (<= X_1 3))
(assert (<= X_2 -2.5E+2))
(assert (<= X_3 .5))
(assert (<= X_4 0.1000000000000000055511151231257827021181583404541015625))
(assert (<= X_5 4.9e-324))
)");
  const auto &u = p.disjuncts.at(0).upper;
  CHECK(u[0] == 1e-3);
  CHECK(u[1] == 3.0);
  CHECK(u[2] == -250.0);
  CHECK(u[3] == 0.5);
  CHECK(u[4] == 0.1);
  CHECK(u[5] == 4.9e-324);

  // Below the smallest subnormal the nearest double is zero, as with strtod.
  Property tiny = parse(declare(2, 0) + "(assert (<= X_0 1e-400))\n(assert (>= X_1 -0.0" + std::string(400, '0') +
                       "1))\n");
  CHECK(tiny.disjuncts.at(0).upper[0] == 0.0);
  CHECK(tiny.disjuncts.at(0).lower[1] == 0.0);
}

TEST_CASE("acasxu property 6: two input boxes times four output rows") {
  Property p = parse(kAcasProp6);
  CHECK(p.num_inputs == 5);
  CHECK(p.num_outputs == 5);
  REQUIRE(p.disjuncts.size() == 8);
  for (std::size_t k = 0; k < 8; ++k) {
    const auto &d = p.disjuncts[k];
    CAPTURE(k);
    CHECK(d.lower[0] == -0.129289109);
    CHECK(d.upper[0] == 0.700434925);
    CHECK(d.upper[1] == (k < 4 ? 0.499999896 : -0.11140846));
    CHECK(d.lower[1] == (k < 4 ? 0.11140846 : -0.499999896));
    CHECK(d.lower[2] == -0.499999896);
    CHECK(d.upper[2] == -0.499204121);
    CHECK(d.lower[4] == -0.5);
    CHECK(d.upper[4] == 0.5);
    REQUIRE(d.rows.size() == 1);
    // (<= Y_j Y_0)  ->  Y_j - Y_0 <= 0
    std::uint32_t j = std::uint32_t(k % 4 + 1);
    CHECK(d.rows[0].y == Coefs{{0, -1.0}, {j, 1.0}});
    CHECK(d.rows[0].x.empty());
    CHECK(d.rows[0].constant == 0.0);
  }
}

TEST_CASE("mnist-style robustness: nine disjuncts") {
  std::string text = declare(2, 10) + "(assert (<= X_0 0.03))\n(assert (>= X_0 0.0))\n"
                                      "(assert (<= X_1 1.0))\n(assert (>= X_1 0.97))\n(assert (or\n";
  for (int j = 0; j < 10; ++j)
    if (j != 4)
      text += "  (and (>= Y_" + std::to_string(j) + " Y_4))\n";
  text += "))\n";
  Property p = parse(text);
  REQUIRE(p.disjuncts.size() == 9);
  std::uint32_t k = 0;
  for (std::uint32_t j = 0; j < 10; ++j) {
    if (j == 4)
      continue;
    const auto &d = p.disjuncts[k++];
    CHECK(d.lower == std::vector<double>{0.0, 0.97});
    CHECK(d.upper == std::vector<double>{0.03, 1.0});
    REQUIRE(d.rows.size() == 1);
    // Y_j >= Y_4  ->  Y_4 - Y_j <= 0, sorted by index.
    Coefs expected = j < 4 ? Coefs{{j, -1.0}, {4, 1.0}} : Coefs{{4, 1.0}, {j, -1.0}};
    CHECK(d.rows[0].y == expected);
  }
}

TEST_CASE("linear combinations with +, - and *") {
  Property p = parse(declare(3, 2) + R"(
(assert (<= (+ (* 2 X_0) (- X_1) (* X_1 3) 1.5) (- Y_0 Y_1 0.5)))
(assert (<= (+ X_0 X_1) 1))
(assert (<= (+ X_2 X_1 (- X_1)) 1))
(assert (>= (* -4 X_0) 2))
(assert (<= (* 0.5 (+ X_2 1) 2) 4))
(assert (<= (* 2 3 Y_0) (* Y_1 (- 2))))
(assert (<= (- (- Y_0)) 0))
)");
  REQUIRE(p.disjuncts.size() == 1);
  const auto &d = p.disjuncts[0];
  // 2 X_0 + 2 X_1 - Y_0 + Y_1 + 2 <= 0
  REQUIRE(d.rows.size() == 4);
  CHECK(d.rows[0].x == Coefs{{0, 2.0}, {1, 2.0}});
  CHECK(d.rows[0].y == Coefs{{0, -1.0}, {1, 1.0}});
  CHECK(d.rows[0].constant == 2.0);
  // Inputs only, several variables: a row with empty y.
  CHECK(d.rows[1].x == Coefs{{0, 1.0}, {1, 1.0}});
  CHECK(d.rows[1].y.empty());
  CHECK(d.rows[1].constant == -1.0);
  // 6 Y_0 + 2 Y_1 <= 0
  CHECK(d.rows[2].y == Coefs{{0, 6.0}, {1, 2.0}});
  CHECK(d.rows[2].x.empty());
  CHECK(d.rows[2].constant == 0.0);
  CHECK(d.rows[3].y == Coefs{{0, 1.0}});
  // X_1 - X_1 cancels, leaving a bound on X_2; (X_2 + 1) <= 4 tightens it to 3.
  CHECK(d.upper[2] == 1.0);
  CHECK(d.lower[2] == -kInf);
  // -4 X_0 >= 2  ->  X_0 <= -0.5
  CHECK(d.upper[0] == -0.5);
  CHECK(d.lower[0] == -kInf);
  CHECK(d.lower[1] == -kInf);
  CHECK(d.upper[1] == kInf);
}

TEST_CASE("= and chained comparisons become pairs of rows") {
  Property p = parse(declare(2, 2) + R"(
(assert (= X_0 0.25))
(assert (<= -1 X_1 1))
(assert (= Y_0 Y_1))
)");
  REQUIRE(p.disjuncts.size() == 1);
  const auto &d = p.disjuncts[0];
  CHECK(d.lower == std::vector<double>{0.25, -1.0});
  CHECK(d.upper == std::vector<double>{0.25, 1.0});
  REQUIRE(d.rows.size() == 2);
  CHECK(d.rows[0].y == Coefs{{0, 1.0}, {1, -1.0}});
  CHECK(d.rows[1].y == Coefs{{0, -1.0}, {1, 1.0}});
}

TEST_CASE("constant atoms: true ones vanish, false ones drop their disjunct") {
  Property p = parse(declare(1, 1) + R"(
(assert (<= 1 2))
(assert (or (and (<= 2 1) (<= X_0 1)) (and (>= X_0 0) (<= (- X_0 X_0) 0)) (and (<= Y_0 0) (> 0 1))))
)");
  REQUIRE(p.disjuncts.size() == 1);
  CHECK(p.disjuncts[0].lower[0] == 0.0);
  CHECK(p.disjuncts[0].upper[0] == kInf);
  CHECK(p.disjuncts[0].rows.empty());

  Property none = parse(declare(1, 0) + "(assert (<= X_0 1))\n(assert (<= 3 2))\n");
  CHECK(none.disjuncts.empty());
}

TEST_CASE("whitespace, CRLF and comments") {
  Property p = parse("(declare-const X_0 Real);c\r\n(declare-const\tY_0\tReal)\r\n"
                     "(assert(<= X_0 1));no space needed next to a paren\r\n(assert (>= Y_0 X_0));end");
  REQUIRE(p.disjuncts.size() == 1);
  CHECK(p.disjuncts[0].upper[0] == 1.0);
  REQUIRE(p.disjuncts[0].rows.size() == 1);
  CHECK(p.disjuncts[0].rows[0].x == Coefs{{0, 1.0}});
  CHECK(p.disjuncts[0].rows[0].y == Coefs{{0, -1.0}});
}

TEST_CASE("errors: structure") {
  // Truncated: the end of file is reported where it is.
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (<= X_0 1)", "2:19: unexpected end of file");
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (or (<= X_0 1)\n", "3:1: unexpected end of file");
  CHECK_ERROR("(declare-const X_0", "1:19: unexpected end of file");
  CHECK_ERROR("(declare-const X_0 Real))", "1:25: unexpected ')'");
  CHECK_ERROR("(declare-const X_0 Real)\nassert", "2:1: unexpected 'assert'");
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (<= X_0 1) (<= X_0 2))", "2:20: unexpected '('");
  CHECK_ERROR("(declare-fun X_0 () Real)", "1:2: unknown command 'declare-fun'");
  CHECK_ERROR("(check-sat)", "1:2: unknown command 'check-sat'");
  CHECK_ERROR("(", "1:2: unexpected end of file");
  CHECK_ERROR("()", "1:2: unexpected ')'");
  CHECK_ERROR("", "1:1: no assert");
  CHECK_ERROR("; only a comment\n(declare-const X_0 Real)\n", "3:1: no assert");
  CHECK_ERROR("(declare-const Y_0 Real)\n(assert (<= Y_0 1))", "2:9: no input declared");
}

TEST_CASE("errors: declarations") {
  CHECK_ERROR("(declare-const X_0 Real)\n(declare-const X_0 Real)", "2:16: 'X_0' is already declared");
  CHECK_ERROR("(declare-const X_0 Int)", "1:20: 'X_0' has sort 'Int'");
  CHECK_ERROR("(declare-const X_0 (Array Int Real))", "1:20: unexpected '('");
  CHECK_ERROR("(declare-const Z Real)", "1:16: cannot declare 'Z'");
  CHECK_ERROR("(declare-const X_01 Real)", "1:16: cannot declare 'X_01'");
  CHECK_ERROR("(declare-const X_0 Real)\n(declare-const X_2 Real)\n(assert (<= X_0 1))",
              "2:16: X_2 is declared but X_1 is not");
  CHECK_ERROR("(declare-const X_0 Real)\n(declare-const Y_1 Real)\n(assert (<= X_0 1))",
              "2:16: Y_1 is declared but Y_0 is not");
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (<= X_1 1))", "2:13: undeclared variable 'X_1'");
  // Use before declaration counts as undeclared.
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (<= Y_0 1))\n(declare-const Y_0 Real)",
              "2:13: undeclared variable 'Y_0'");
  CHECK_ERROR("(declare-const X_0 Real)\n(assert (<= X_0 inf))", "2:17: undeclared variable 'inf'");
}

TEST_CASE("errors: formulas and terms") {
  std::string head = declare(1, 1); // asserts start on line 3
  CHECK_ERROR(head + "(assert (not (<= X_0 1)))", "3:10: unknown function symbol 'not'");
  CHECK_ERROR(head + "(assert (<= (/ X_0 2) 1))", "3:14: unknown function symbol '/'");
  CHECK_ERROR(head + "(assert (<= (* X_0 Y_0) 1))", "3:20: non-linear term");
  CHECK_ERROR(head + "(assert (<= (* 2 (+ X_0 1) (- Y_0)) 1))", "3:28: non-linear term");
  CHECK_ERROR(head + "(assert (<= X_0 1.2.3))", "3:17: bad number '1.2.3'");
  CHECK_ERROR(head + "(assert (<= X_0 1e))", "3:17: bad number '1e'");
  CHECK_ERROR(head + "(assert (<= X_0 --1))", "3:17: bad number '--1'");
  CHECK_ERROR(head + "(assert (<= X_0 -))", "3:17: bad number '-'");
  CHECK_ERROR(head + "(assert (<= X_0 1e999))", "3:17: number '1e999' is out of the range");
  CHECK_ERROR(head + "(assert (<= (* 1e300 1e300 X_0) 1))", "3:9: a coefficient or constant overflows");
  CHECK_ERROR(head + "(assert X_0)", "3:9: expected a formula");
  CHECK_ERROR(head + "(assert (and))", "3:10: 'and' needs at least one argument");
  CHECK_ERROR(head + "(assert (or))", "3:10: 'or' needs at least one argument");
  CHECK_ERROR(head + "(assert (<= X_0))", "3:10: '<=' needs at least two arguments");
  CHECK_ERROR(head + "(assert (<= (+) 1))", "3:14: '+' needs at least one argument");
  CHECK_ERROR(head + "(assert (+ X_0 1))", "3:10: '+' builds a term");
  CHECK_ERROR(head + "(assert (<= (and X_0) 1))", "3:14: 'and' builds a formula");
  CHECK_ERROR(head + "(assert (<= X_0 1)", "3:19: unexpected end of file");
  CHECK_ERROR(head + "(assert ((<= X_0 1)))", "3:10: unexpected '('");
}

TEST_CASE("errors: deep nesting is refused, not recursed into") {
  std::string head = declare(1, 0) + "(assert ";
  std::string formulas = head;
  for (int i = 0; i < 100000; ++i)
    formulas += "(and ";
  // The assert is depth 1, so the 1000th (and is depth 1001: column 9 + 5 * 999.
  // For terms, (<= is depth 2 and the 999th (+ is depth 1001: column 13 + 3 * 998.
  CHECK_ERROR(formulas, "2:5004: nesting deeper than 1000 levels");

  std::string terms = head + "(<= ";
  for (int i = 0; i < 100000; ++i)
    terms += "(+ ";
  CHECK_ERROR(terms, "2:3007: nesting deeper than 1000 levels");

  CHECK_ERROR(std::string(100000, '('), "1:2: unexpected '('");
  CHECK_ERROR(std::string(100000, ')'), "1:1: unexpected ')'");

  // Just inside the limit is fine.
  std::string deep = head;
  for (int i = 0; i < 998; ++i)
    deep += "(and ";
  deep += "(<= X_0 1)" + std::string(998, ')') + ")";
  CHECK(parse(deep).disjuncts.at(0).upper[0] == 1.0);
}

TEST_CASE("errors: disjunctive normal form blow-up") {
  // 4^10 > 1,000,000: the tenth assert is the one that breaks the limit.
  std::string text = declare(1, 0);
  for (int i = 0; i < 10; ++i)
    text += "(assert (or (<= X_0 1) (<= X_0 2) (<= X_0 3) (<= X_0 4)))\n";
  CHECK_ERROR(text, "11:9: the property has more than 1000000 disjuncts");

  // 4^9 is allowed.
  std::string fits = declare(1, 0);
  for (int i = 0; i < 9; ++i)
    fits += "(assert (or (<= X_0 1) (<= X_0 2) (<= X_0 3) (<= X_0 4)))\n";
  CHECK(parse(fits).disjuncts.size() == 262144);
}

TEST_CASE("every truncation of a valid file parses or throws InputError") {
  // Any other exception escapes and fails the test case.
  std::string text = kAcasProp6;
  std::size_t parsed = 0;
  for (std::size_t n = 0; n <= text.size(); ++n) {
    try {
      parse(text.substr(0, n));
      ++parsed;
    } catch (const gm::InputError &) {
    }
  }
  // Complete prefixes end after the first assert, between commands.
  CHECK(parsed > 2);
  CHECK(errorOf(text.substr(0, text.size() - 2)) != "<no error>");
}

TEST_CASE("parseFile reports a missing file") {
  try {
    gm::vnnlib::parseFile("/nonexistent/dir/p.vnnlib");
    FAIL("expected an InputError");
  } catch (const gm::InputError &e) {
    CHECK(startsWith(e.what(), "/nonexistent/dir/p.vnnlib: cannot open"));
  }
  CHECK_THROWS_AS(gm::vnnlib::parseFile("/nonexistent/dir/p.vnnlib"), gm::InputError);
}

TEST_CASE("every shared VNN-COMP property parses to bounded boxes") {
  const char *env = std::getenv("GAMMA_SHARED_DIR");
  std::filesystem::path root = env ? std::filesystem::path(env) / "vnncomp" : std::filesystem::path();
  std::error_code ec;
  if (!env || !std::filesystem::is_directory(root, ec)) {
    MESSAGE("shared VNN-COMP material is absent (set GAMMA_SHARED_DIR); skipping");
    return;
  }
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::recursive_directory_iterator(root))
    if (entry.is_regular_file() && entry.path().extension() == ".vnnlib")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());

  std::filesystem::path largest;
  std::uintmax_t largestSize = 0;
  double largestMs = 0.0;
  for (const auto &file : files) {
    CAPTURE(file.string());
    auto start = std::chrono::steady_clock::now();
    Property p;
    REQUIRE_NOTHROW(p = gm::vnnlib::parseFile(file.string()));
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    CHECK(p.num_inputs > 0);
    CHECK(p.disjuncts.size() >= 1);
    bool bounded = true;
    for (const auto &d : p.disjuncts) {
      REQUIRE(d.lower.size() == p.num_inputs);
      REQUIRE(d.upper.size() == p.num_inputs);
      for (std::size_t i = 0; i < p.num_inputs; ++i)
        bounded = bounded && std::isfinite(d.lower[i]) && std::isfinite(d.upper[i]) && d.lower[i] <= d.upper[i];
    }
    CHECK(bounded);
    std::uintmax_t size = std::filesystem::file_size(file);
    if (size > largestSize) {
      largestSize = size;
      largest = file;
      largestMs = ms;
    }
  }
  MESSAGE(files.size() << " shared .vnnlib files parsed; largest " << largest.string() << " (" << largestSize
                       << " bytes) in " << largestMs << " ms");
}

} // TEST_SUITE
