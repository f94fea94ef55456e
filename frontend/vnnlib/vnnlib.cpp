// VNNLIB parser: one pass from text to formula tree, then disjunctive normal
// form, then boxes and rows.
//
// Dialect decisions (the VNN-COMP files use only a small part of SMT-LIB):
//   - Commands are declare-const and assert; anything else is an error rather
//     than silently ignored, so a property is never weaker than what was written.
//   - Only X_<i> and Y_<j> of sort Real can be declared; each family must be
//     exactly 0..n-1. At least one X_ is required; Y_ may be absent.
//   - `<` and `>` are bounded as `<=` and `>=`: the counterexample region is
//     then the closure of the written one, which can only add boundary points.
//     A verifier that proves the closed region empty has proved the open one
//     empty too, so this is the sound direction. The rows keep `strict`, so a
//     counterexample is checked against the open region that was written.
//   - `=` (and chained comparisons such as `(<= a b c)`) become the
//     conjunction of the pairwise non-strict rows, so `(= X_0 0.5)` pins the box.
//   - An atom without variables is decided on the spot: a true one vanishes
//     from its conjunction, a false one removes every disjunct that contains
//     it. A property whose disjuncts all vanish has zero disjuncts (nothing can
//     be a counterexample); that is a result, not an error.
//   - `(and)` / `(or)` with no arguments are errors: in practice they come from
//     a broken generator, and `(or)` would silently make the property vacuous.
//   - Boxes with lower > upper are kept; deciding what an empty box means is
//     the caller's business.
//   - Variables must be declared before use, as in SMT-LIB.
//   - Numbers round to nearest like strtod; a decimal too small for a double
//     becomes 0, one too large is an error (an infinite bound is never meant).
//   - More than 1,000,000 disjuncts, or a normal form too large to hold in a
//     few hundred MB, is an error rather than an allocation failure.
#include "frontend/vnnlib/vnnlib.h"

#include "ir/error.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

namespace gm::vnnlib {
namespace {

// Recursion in the parser and in the normal-form expansion is bounded by this,
// so hostile input cannot overflow the stack.
constexpr int kMaxDepth = 1000;
constexpr std::size_t kMaxDisjuncts = 1'000'000;
// Total atom references over all conjunctions (weighted by row length), and
// disjuncts * num_inputs for the boxes: caps the memory a small file can
// demand through the cartesian product at a few hundred MB.
constexpr std::size_t kMaxWeight = std::size_t(1) << 26;
constexpr std::size_t kMaxBoxCells = std::size_t(1) << 25;
// Keeps the declared-index bitmaps small whatever the file says.
constexpr std::uint32_t kMaxIndex = std::uint32_t(1) << 24;
// Sorting keys put every X before every Y, so one sort splits them.
constexpr std::uint32_t kOutputBit = std::uint32_t(1) << 31;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------- tokens ---

enum class Tok : std::uint8_t { Open, Close, Symbol, End };

struct Token {
  Tok kind = Tok::End;
  std::size_t offset = 0;
  std::string_view text; // the symbol, for Tok::Symbol
};

bool isSpace(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

bool isDelimiter(char c) { return isSpace(c) || c == '(' || c == ')' || c == ';'; }

class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    skipBlanks();
    if (pos_ >= text_.size())
      return {Tok::End, text_.size(), {}};
    std::size_t start = pos_;
    char c = text_[pos_];
    if (c == '(' || c == ')') {
      ++pos_;
      return {c == '(' ? Tok::Open : Tok::Close, start, {}};
    }
    while (pos_ < text_.size() && !isDelimiter(text_[pos_]))
      ++pos_;
    return {Tok::Symbol, start, text_.substr(start, pos_ - start)};
  }

private:
  void skipBlanks() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (isSpace(c)) {
        ++pos_;
      } else if (c == ';') {
        std::size_t eol = text_.find('\n', pos_);
        pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
      } else {
        break;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// Symbols go into messages; a megabyte-long junk token should not.
std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax)
    return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

// ------------------------------------------------------------- variables ---

struct VarName {
  bool output = false;
  std::uint32_t index = 0;
};

// X_<n> / Y_<n> with n in canonical decimal: X_01 would otherwise alias X_1.
std::optional<VarName> parseVarName(std::string_view s) {
  if (s.size() < 3 || (s[0] != 'X' && s[0] != 'Y') || s[1] != '_')
    return std::nullopt;
  std::string_view digits = s.substr(2);
  if (digits.size() > 1 && digits[0] == '0')
    return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + std::uint64_t(c - '0');
    if (value >= kMaxIndex)
      return std::nullopt;
  }
  return VarName{s[0] == 'Y', std::uint32_t(value)};
}

// --------------------------------------------------------------- numbers ---

// SMT-LIB-ish decimal: sign? (digits ('.' digits*)? | '.' digits) exponent?.
// Checked by hand because from_chars also takes "inf", "nan" and friends.
bool looksLikeDecimal(std::string_view s) {
  std::size_t i = 0, n = s.size();
  auto digitsFrom = [&](std::size_t &k) {
    std::size_t start = k;
    while (k < n && s[k] >= '0' && s[k] <= '9')
      ++k;
    return k - start;
  };
  if (i < n && (s[i] == '+' || s[i] == '-'))
    ++i;
  std::size_t intDigits = digitsFrom(i);
  std::size_t fracDigits = 0;
  if (i < n && s[i] == '.') {
    ++i;
    fracDigits = digitsFrom(i);
  }
  if (intDigits + fracDigits == 0)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (digitsFrom(i) == 0)
      return false;
  }
  return i == n;
}

// Power of ten of the first non-zero digit of a decimal accepted by
// looksLikeDecimal: tells underflow from overflow when from_chars gives up.
long leadingExponent(std::string_view s) {
  constexpr long kClamp = 1'000'000; // far beyond double, small enough not to overflow
  std::size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  long digitsBeforePoint = 0, position = 0, firstNonZero = -1;
  bool afterPoint = false;
  for (; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
    if (s[i] == '.') {
      afterPoint = true;
      continue;
    }
    if (firstNonZero < 0 && s[i] != '0')
      firstNonZero = position;
    if (!afterPoint && digitsBeforePoint < kClamp)
      ++digitsBeforePoint;
    if (position < kClamp)
      ++position;
  }
  long exponent = 0;
  if (i < s.size()) {
    bool negative = s[++i] == '-';
    if (s[i] == '-' || s[i] == '+')
      ++i;
    for (; i < s.size(); ++i)
      exponent = std::min(kClamp, exponent * 10 + (s[i] - '0'));
    if (negative)
      exponent = -exponent;
  }
  return exponent + digitsBeforePoint - 1 - firstNonZero;
}

bool startsLikeNumber(std::string_view s) {
  char c = s[0];
  return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

// ---------------------------------------------------------------- linear ---

// A linear term under construction. Keys are X index or kOutputBit|Y index;
// terms may repeat until normalise() merges them.
struct Linear {
  double constant = 0.0;
  std::vector<std::pair<std::uint32_t, double>> terms;

  void add(const Linear &other, double sign) {
    constant += sign * other.constant;
    for (auto [key, coef] : other.terms)
      terms.emplace_back(key, sign * coef);
  }

  void scale(double factor) {
    constant *= factor;
    for (auto &term : terms)
      term.second *= factor;
  }

  void normalise() {
    std::sort(terms.begin(), terms.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    std::size_t out = 0;
    for (std::size_t i = 0; i < terms.size();) {
      std::uint32_t key = terms[i].first;
      double sum = 0.0;
      for (; i < terms.size() && terms[i].first == key; ++i)
        sum += terms[i].second;
      if (sum != 0.0)
        terms[out++] = {key, sum};
    }
    terms.resize(out);
  }

  bool finite() const {
    if (!std::isfinite(constant))
      return false;
    return std::all_of(terms.begin(), terms.end(),
                       [](const auto &t) { return std::isfinite(t.second); });
  }
};

// ----------------------------------------------------------------- atoms ---

enum class AtomKind : std::uint8_t { Row, Lower, Upper, True, False };

struct Atom {
  AtomKind kind = AtomKind::Row;
  std::uint32_t input = 0; // Lower / Upper
  double bound = 0.0;      // Lower / Upper
  bool alsoRow = false;    // Lower / Upper that must also be checked exactly as `row`
  Row row;                 // Row, or the exact form of an alsoRow bound
};

// `expr <= 0` (`expr < 0` when strict), already normalised.
Atom classify(Linear &&expr, bool strict) {
  Atom atom;
  if (expr.terms.empty()) {
    bool holds = strict ? expr.constant < 0.0 : expr.constant <= 0.0;
    atom.kind = holds ? AtomKind::True : AtomKind::False;
    return atom;
  }
  atom.row.constant = expr.constant;
  atom.row.strict = strict;
  for (auto [key, coef] : expr.terms) {
    if (key & kOutputBit)
      atom.row.y.emplace_back(key & ~kOutputBit, coef);
    else
      atom.row.x.emplace_back(key, coef);
  }
  if (expr.terms.size() == 1 && !(expr.terms[0].first & kOutputBit)) {
    auto [input, c] = expr.terms[0];
    // c*X + d <= 0. For c = +-1 the division and negation are exact, so a
    // plain `(<= X_0 v)` yields exactly the double nearest to v. Otherwise the
    // quotient is rounded outward unless it is exact (fma gives the exact
    // residual), so the box never loses a point of the region.
    atom.kind = c > 0 ? AtomKind::Upper : AtomKind::Lower;
    atom.input = input;
    atom.bound = -expr.constant / c;
    bool exact = c == 1.0 || c == -1.0 || std::fma(atom.bound, c, expr.constant) == 0.0;
    if (!exact)
      atom.bound = std::nextafter(atom.bound, c > 0 ? kInf : -kInf);
    if (atom.bound == 0.0)
      atom.bound = 0.0; // `(<= X_0 0)` gives -0.0 otherwise; same value, confusing to print
    atom.alsoRow = strict || !exact;
    return atom;
  }
  atom.kind = AtomKind::Row;
  return atom;
}

std::size_t weightOf(const Atom &atom) {
  return 1 + atom.row.x.size() + atom.row.y.size();
}

// ----------------------------------------------------------- formula tree ---

enum class NodeKind : std::uint8_t { And, Or, Leaf };

struct Node {
  NodeKind kind = NodeKind::Leaf;
  std::size_t offset = 0; // where the node starts, for size errors
  std::uint32_t atom = 0; // Leaf
  std::vector<std::uint32_t> children;
};

// Disjunctive normal form: a list of conjunctions of atom ids. `weight` sums
// weightOf over every reference, the measure the size guard works with.
struct Dnf {
  std::vector<std::vector<std::uint32_t>> terms;
  std::size_t weight = 0;
};

// One empty conjunction: true. (An empty list of conjunctions is false.)
Dnf trueDnf() {
  Dnf out;
  out.terms.emplace_back();
  return out;
}

// ---------------------------------------------------------------- parser ---

class Parser {
public:
  Parser(std::string_view text, const std::string &path) : text_(text), path_(path), lexer_(text) {}

  Property run() {
    advance();
    while (tok_.kind != Tok::End)
      command();
    if (asserts_.empty())
      failAt(tok_.offset, "no assert in the file");
    Property property;
    property.path = path_;
    property.num_inputs = checkDeclarations(false);
    property.num_outputs = checkDeclarations(true);
    if (property.num_inputs == 0)
      failAt(asserts_.front(), "no input declared (expected declare-const X_0 Real ...)");
    property.disjuncts = buildDisjuncts(conjoinAsserts(), property.num_inputs);
    return property;
  }

private:
  // ---- errors

  // "line:col", both 1-based, col in bytes. Computed only on error, so the
  // lexer need not count lines.
  std::string lineCol(std::size_t offset) const {
    std::string_view before = text_.substr(0, offset);
    std::size_t line = 1 + std::size_t(std::count(before.begin(), before.end(), '\n'));
    std::size_t lineStart = before.rfind('\n');
    std::size_t col = lineStart == std::string_view::npos ? offset + 1 : offset - lineStart;
    return fmt::format("{}:{}", line, col);
  }

  std::string where(std::size_t offset) const { return fmt::format("{}:{}", path_, lineCol(offset)); }

  template <typename... Args>
  [[noreturn]] void failAt(std::size_t offset, fmt::format_string<Args...> format, Args &&...args) const {
    fail(where(offset), format, std::forward<Args>(args)...);
  }

  [[noreturn]] void unexpected(std::string_view expected) const {
    switch (tok_.kind) {
    case Tok::End: {
      // The outermost open command is what a truncated file leaves dangling.
      failAt(tok_.offset, "unexpected end of file, expected {} ('(' at {} is not closed)", expected,
             lineCol(commandOffset_));
    }
    case Tok::Open:
      failAt(tok_.offset, "unexpected '(', expected {}", expected);
    case Tok::Close:
      failAt(tok_.offset, "unexpected ')', expected {}", expected);
    case Tok::Symbol:
      failAt(tok_.offset, "unexpected '{}', expected {}", shown(tok_.text), expected);
    }
    failAt(tok_.offset, "unexpected token");
  }

  // ---- token stream

  void advance() { tok_ = lexer_.next(); }

  // Consumes '(' at nesting `depth` (a top-level command is depth 1).
  std::size_t open(int depth) {
    if (tok_.kind != Tok::Open)
      unexpected("'('");
    if (depth > kMaxDepth)
      failAt(tok_.offset, "nesting deeper than {} levels", kMaxDepth);
    std::size_t offset = tok_.offset;
    advance();
    return offset;
  }

  void close(std::string_view what) {
    if (tok_.kind != Tok::Close)
      unexpected(fmt::format("')' to end {}", what));
    advance();
  }

  Token symbol(std::string_view expected) {
    if (tok_.kind != Tok::Symbol)
      unexpected(expected);
    Token t = tok_;
    advance();
    return t;
  }

  // ---- commands

  void command() {
    if (tok_.kind == Tok::Close)
      failAt(tok_.offset, "unexpected ')' with no matching '('");
    if (tok_.kind == Tok::Symbol)
      failAt(tok_.offset, "unexpected '{}' outside a command, expected '('", shown(tok_.text));
    commandOffset_ = tok_.offset;
    open(1);
    Token name = symbol("a command name");
    if (name.text == "declare-const")
      declareConst();
    else if (name.text == "assert")
      assertCommand();
    else
      failAt(name.offset, "unknown command '{}' (expected declare-const or assert)", shown(name.text));
  }

  void declareConst() {
    Token name = symbol("a variable name");
    std::optional<VarName> var = parseVarName(name.text);
    if (!var)
      failAt(name.offset, "cannot declare '{}': only X_<i> (inputs) and Y_<j> (outputs), i, j < {}, are supported",
             shown(name.text), kMaxIndex);
    Token sort = symbol("the sort Real");
    if (sort.text != "Real")
      failAt(sort.offset, "'{}' has sort '{}'; only Real is supported", shown(name.text), shown(sort.text));
    close("declare-const");

    std::vector<bool> &declared = declared_[var->output];
    if (var->index < declared.size() && declared[var->index])
      failAt(name.offset, "'{}' is already declared", name.text);
    if (var->index >= declared.size())
      declared.resize(std::size_t(var->index) + 1, false);
    declared[var->index] = true;
    declarations_[var->output].emplace_back(var->index, name.offset);
  }

  void assertCommand() {
    std::uint32_t node = formula(2);
    close("assert");
    asserts_.push_back(nodes_[node].offset);
    assertNodes_.push_back(node);
  }

  // Returns X_ or Y_ count; the declared indices must be exactly 0..n-1.
  std::size_t checkDeclarations(bool output) const {
    const std::vector<bool> &declared = declared_[output];
    const auto &list = declarations_[output];
    if (list.size() == declared.size())
      return list.size();
    std::size_t missing = std::size_t(std::find(declared.begin(), declared.end(), false) - declared.begin());
    std::pair<std::uint32_t, std::size_t> next{kMaxIndex, 0};
    for (auto decl : list)
      if (decl.first > missing && decl.first < next.first)
        next = decl;
    char family = output ? 'Y' : 'X';
    failAt(next.second, "{0}_{1} is declared but {0}_{2} is not; declarations must be {0}_0 .. {0}_<n-1>",
           family, next.first, missing);
  }

  // ---- formulas

  std::uint32_t formula(int depth) {
    if (tok_.kind == Tok::Symbol)
      failAt(tok_.offset, "expected a formula '(op ...)', found '{}'", shown(tok_.text));
    if (tok_.kind != Tok::Open)
      unexpected("a formula");
    std::size_t offset = open(depth);
    Token head = symbol("a function symbol");
    std::string_view op = head.text;
    if (op == "and" || op == "or")
      return connective(op == "and" ? NodeKind::And : NodeKind::Or, head, offset, depth);
    if (op == "<=" || op == ">=" || op == "<" || op == ">" || op == "=")
      return comparison(head, offset, depth);
    if (op == "+" || op == "-" || op == "*")
      failAt(head.offset, "'{}' builds a term, but a formula is expected here", op);
    failAt(head.offset, "unknown function symbol '{}'", shown(op));
  }

  std::uint32_t connective(NodeKind kind, const Token &head, std::size_t offset, int depth) {
    std::vector<std::uint32_t> children;
    while (tok_.kind != Tok::Close)
      children.push_back(formula(depth + 1));
    if (children.empty())
      failAt(head.offset, "'{}' needs at least one argument", head.text);
    advance();
    if (children.size() == 1)
      return children[0];
    Node node;
    node.kind = kind;
    node.offset = offset;
    node.children = std::move(children);
    return addNode(std::move(node));
  }

  std::uint32_t comparison(const Token &head, std::size_t offset, int depth) {
    std::vector<Linear> args;
    while (tok_.kind != Tok::Close)
      args.push_back(term(depth + 1));
    if (args.size() < 2)
      failAt(head.offset, "'{}' needs at least two arguments", head.text);
    advance();

    // Strict comparisons are bounded as non-strict; see the top of the file.
    std::string_view op = head.text;
    bool lessEq = op == "<=" || op == "<";
    bool equal = op == "=";
    bool strict = op == "<" || op == ">";
    std::vector<std::uint32_t> leaves;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (equal || lessEq)
        leaves.push_back(leaf(args[i], args[i + 1], offset, strict));
      if (equal || !lessEq)
        leaves.push_back(leaf(args[i + 1], args[i], offset, strict));
    }
    if (leaves.size() == 1)
      return leaves[0];
    Node node;
    node.kind = NodeKind::And;
    node.offset = offset;
    node.children = std::move(leaves);
    return addNode(std::move(node));
  }

  // The atom lhs <= rhs, as lhs - rhs <= 0.
  std::uint32_t leaf(const Linear &lhs, const Linear &rhs, std::size_t offset, bool strict) {
    Linear expr = lhs;
    expr.add(rhs, -1.0);
    expr.normalise();
    if (!expr.finite())
      failAt(offset, "a coefficient or constant overflows double");
    atoms_.push_back(classify(std::move(expr), strict));
    Node node;
    node.kind = NodeKind::Leaf;
    node.offset = offset;
    node.atom = std::uint32_t(atoms_.size() - 1);
    return addNode(std::move(node));
  }

  std::uint32_t addNode(Node &&node) {
    nodes_.push_back(std::move(node));
    return std::uint32_t(nodes_.size() - 1);
  }

  // ---- terms

  Linear term(int depth) {
    if (tok_.kind == Tok::Symbol) {
      Linear value = symbolTerm(tok_);
      advance();
      return value;
    }
    if (tok_.kind != Tok::Open)
      unexpected("a term");
    open(depth);
    Token head = symbol("a function symbol");
    std::string_view op = head.text;
    if (op == "+" || op == "-" || op == "*") {
      if (tok_.kind == Tok::Close)
        failAt(head.offset, "'{}' needs at least one argument", op);
      Linear value = op == "*" ? product(depth) : sum(op == "-", depth);
      advance();
      return value;
    }
    if (op == "and" || op == "or" || op == "<=" || op == ">=" || op == "<" || op == ">" || op == "=")
      failAt(head.offset, "'{}' builds a formula, but a term is expected here", op);
    failAt(head.offset, "unknown function symbol '{}'", shown(op));
  }

  // (+ a b ...) or (- a b ...); a lone (- a) negates.
  Linear sum(bool minus, int depth) {
    Linear value = term(depth + 1);
    if (minus && tok_.kind == Tok::Close) {
      value.scale(-1.0);
      return value;
    }
    while (tok_.kind != Tok::Close)
      value.add(term(depth + 1), minus ? -1.0 : 1.0);
    return value;
  }

  // Linear only: every factor but at most one must be constant.
  Linear product(int depth) {
    Linear value = term(depth + 1);
    value.normalise();
    while (tok_.kind != Tok::Close) {
      std::size_t offset = tok_.offset;
      Linear factor = term(depth + 1);
      factor.normalise();
      if (value.terms.empty()) {
        factor.scale(value.constant);
        value = std::move(factor);
      } else if (factor.terms.empty()) {
        value.scale(factor.constant);
      } else {
        failAt(offset, "non-linear term: product of two terms that both contain variables");
      }
    }
    return value;
  }

  Linear symbolTerm(const Token &t) const {
    if (std::optional<VarName> var = parseVarName(t.text)) {
      const std::vector<bool> &declared = declared_[var->output];
      if (var->index >= declared.size() || !declared[var->index])
        failAt(t.offset, "undeclared variable '{}'", t.text);
      Linear value;
      value.terms.emplace_back(var->output ? (var->index | kOutputBit) : var->index, 1.0);
      return value;
    }
    if (!startsLikeNumber(t.text))
      failAt(t.offset, "undeclared variable '{}'", shown(t.text));
    Linear value;
    value.constant = number(t);
    return value;
  }

  double number(const Token &t) const {
    std::string_view s = t.text;
    if (!looksLikeDecimal(s))
      failAt(t.offset, "bad number '{}'", shown(s));
    // from_chars rejects a leading '+'; the rest it rounds correctly.
    if (s[0] == '+')
      s.remove_prefix(1);
    double value = 0.0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc::result_out_of_range) {
      // Too small to represent: the nearest double is zero, as strtod says.
      if (leadingExponent(s) < 0)
        return s[0] == '-' ? -0.0 : 0.0;
      failAt(t.offset, "number '{}' is out of the range of double", shown(t.text));
    }
    if (ec != std::errc() || end != s.data() + s.size())
      failAt(t.offset, "bad number '{}'", shown(t.text));
    return value;
  }

  // ---- normal form

  Dnf dnf(std::uint32_t id) const {
    const Node &node = nodes_[id];
    switch (node.kind) {
    case NodeKind::Leaf:
      return leafDnf(node.atom);
    case NodeKind::Or: {
      Dnf out;
      for (std::uint32_t child : node.children)
        disjoin(out, dnf(child), nodes_[child].offset);
      return out;
    }
    case NodeKind::And: {
      Dnf out = trueDnf();
      for (std::uint32_t child : node.children) {
        conjoin(out, dnf(child), nodes_[child].offset);
        if (out.terms.empty())
          break; // false already; the rest cannot revive it
      }
      return out;
    }
    }
    return {};
  }

  Dnf leafDnf(std::uint32_t atom) const {
    switch (atoms_[atom].kind) {
    case AtomKind::True:
      return trueDnf();
    case AtomKind::False:
      return Dnf{};
    default: {
      Dnf out;
      out.terms.push_back({atom});
      out.weight = weightOf(atoms_[atom]);
      return out;
    }
    }
  }

  void checkSize(std::size_t count, std::size_t weight, std::size_t offset) const {
    if (count > kMaxDisjuncts)
      failAt(offset, "the property has more than {} disjuncts in disjunctive normal form", kMaxDisjuncts);
    if (weight > kMaxWeight)
      failAt(offset, "the property is too large in disjunctive normal form");
  }

  void disjoin(Dnf &acc, Dnf &&more, std::size_t offset) const {
    checkSize(acc.terms.size() + more.terms.size(), acc.weight + more.weight, offset);
    acc.weight += more.weight;
    if (acc.terms.empty()) {
      acc.terms = std::move(more.terms);
      return;
    }
    acc.terms.insert(acc.terms.end(), std::make_move_iterator(more.terms.begin()),
                     std::make_move_iterator(more.terms.end()));
  }

  void conjoin(Dnf &acc, Dnf &&factor, std::size_t offset) const {
    std::size_t n = acc.terms.size(), m = factor.terms.size();
    if (n == 0 || m == 0) {
      acc = Dnf{};
      return;
    }
    if (n > kMaxDisjuncts / m)
      checkSize(kMaxDisjuncts + 1, 0, offset);
    // Both weights are capped and n, m <= kMaxDisjuncts, so no overflow.
    std::size_t weight = acc.weight * m + factor.weight * n;
    checkSize(n * m, weight, offset);
    if (m == 1) {
      // The common case (a plain conjunct): extend in place, no copies.
      for (auto &term : acc.terms)
        term.insert(term.end(), factor.terms[0].begin(), factor.terms[0].end());
    } else {
      std::vector<std::vector<std::uint32_t>> out;
      out.reserve(n * m);
      for (const auto &a : acc.terms)
        for (const auto &b : factor.terms) {
          std::vector<std::uint32_t> term;
          term.reserve(a.size() + b.size());
          term.insert(term.end(), a.begin(), a.end());
          term.insert(term.end(), b.begin(), b.end());
          out.push_back(std::move(term));
        }
      acc.terms = std::move(out);
    }
    acc.weight = weight;
  }

  // The whole property: the conjunction of every assert.
  Dnf conjoinAsserts() {
    Dnf out = trueDnf();
    for (std::size_t i = 0; i < assertNodes_.size() && !out.terms.empty(); ++i) {
      Dnf part = dnf(assertNodes_[i]);
      if (part.terms.size() > 1)
        lastSplit_ = asserts_[i];
      conjoin(out, std::move(part), asserts_[i]);
    }
    return out;
  }

  std::vector<Disjunct> buildDisjuncts(const Dnf &form, std::size_t numInputs) const {
    if (numInputs != 0 && form.terms.size() > kMaxBoxCells / numInputs)
      failAt(lastSplit_.value_or(asserts_.front()),
             "the property's {} disjuncts of {} inputs each are too large to store", form.terms.size(),
             numInputs);
    std::vector<Disjunct> out;
    out.reserve(form.terms.size());
    for (const auto &term : form.terms)
      out.push_back(buildDisjunct(term, numInputs));
    return out;
  }

  Disjunct buildDisjunct(const std::vector<std::uint32_t> &term, std::size_t numInputs) const {
    Disjunct d;
    d.lower.assign(numInputs, -kInf);
    d.upper.assign(numInputs, kInf);
    for (std::uint32_t id : term) {
      const Atom &atom = atoms_[id];
      switch (atom.kind) {
      case AtomKind::Lower:
        d.lower[atom.input] = std::max(d.lower[atom.input], atom.bound);
        if (atom.alsoRow)
          d.rows.push_back(atom.row);
        break;
      case AtomKind::Upper:
        d.upper[atom.input] = std::min(d.upper[atom.input], atom.bound);
        if (atom.alsoRow)
          d.rows.push_back(atom.row);
        break;
      case AtomKind::Row:
        d.rows.push_back(atom.row);
        break;
      case AtomKind::True:
      case AtomKind::False:
        break; // decided in leafDnf, never reaches here
      }
    }
    return d;
  }

  std::string_view text_;
  const std::string &path_;
  Lexer lexer_;
  Token tok_;
  std::size_t commandOffset_ = 0;

  std::vector<bool> declared_[2];                                        // [output][index]
  std::vector<std::pair<std::uint32_t, std::size_t>> declarations_[2]; // (index, offset)

  std::vector<Atom> atoms_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> assertNodes_;
  std::vector<std::size_t> asserts_; // offset of each assert's formula
  std::optional<std::size_t> lastSplit_;
};

} // namespace

Property parse(std::string_view text, const std::string &path) { return Parser(text, path).run(); }

Property parseFile(const std::string &path) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    fail(path, "cannot open ({})", std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0)
    text.append(buffer, got);
  bool bad = std::ferror(file) != 0;
  int error = errno;
  std::fclose(file);
  if (bad)
    fail(path, "cannot read ({})", std::strerror(error));
  return parse(text, path);
}

} // namespace gm::vnnlib
