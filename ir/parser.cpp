// Parser for the textual IR. Hand-written recursive descent over a small
// tokenizer; every error carries path:line:col.
#include "ir/error.h"
#include "ir/text.h"
#include "ir/verifier.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

namespace gm {

namespace {

enum class Tok { Word, Value, String, At, Punct, End };

struct Token {
  Tok kind = Tok::End;
  std::string_view text; // for String: the raw text between the quotes
  int line = 1, col = 1;
};

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '+';
}

class Parser {
public:
  Parser(std::string_view text, std::string path) : text_(text), path_(std::move(path)) { advance(); }

  Graph parse();

private:
  std::string_view text_;
  std::string path_;
  std::size_t pos_ = 0;
  int line_ = 1, col_ = 1;
  Token tok_;
  Graph graph_;
  std::unordered_map<std::int64_t, ValueId> values_; // textual %N -> id
  std::map<std::string, std::shared_ptr<const MappedFile>> files_;

  [[noreturn]] void error(const Token &at, const std::string &message) const {
    fail(fmt::format("{}:{}:{}", path_, at.line, at.col), "{}", message);
  }

  void step() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void advance() {
    for (;;) { // skip blanks and // comments
      while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
        step();
      if (pos_ + 1 < text_.size() && text_[pos_] == '/' && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          step();
        continue;
      }
      break;
    }
    tok_ = Token{Tok::End, {}, line_, col_};
    if (pos_ >= text_.size())
      return;
    char c = text_[pos_];
    std::size_t start = pos_;
    if (c == '"') {
      step();
      while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size())
          step();
        step();
      }
      if (pos_ >= text_.size() || text_[pos_] != '"')
        error(tok_, "unterminated string");
      tok_.kind = Tok::String;
      tok_.text = text_.substr(start + 1, pos_ - start - 1);
      step();
      return;
    }
    if (c == '%' || isWordChar(c)) {
      step();
      while (pos_ < text_.size() && isWordChar(text_[pos_]))
        step();
      tok_.kind = c == '%' ? Tok::Value : Tok::Word;
      tok_.text = text_.substr(start, pos_ - start);
      return;
    }
    if (c == '@') {
      step();
      tok_.kind = Tok::At;
      tok_.text = "@";
      return;
    }
    if (std::string_view("=,:[]{}()<>").find(c) != std::string_view::npos) {
      step();
      tok_.kind = Tok::Punct;
      tok_.text = text_.substr(start, 1);
      return;
    }
    error(tok_, fmt::format("unexpected character '{}'", c));
  }

  bool isPunct(char c) const { return tok_.kind == Tok::Punct && tok_.text[0] == c; }
  bool isWord(std::string_view w) const { return tok_.kind == Tok::Word && tok_.text == w; }

  std::string describe(const Token &t) const {
    return t.kind == Tok::End ? "end of file" : fmt::format("'{}'", t.text);
  }

  void expect(char c) {
    if (!isPunct(c))
      error(tok_, fmt::format("expected '{}', found {}", c, describe(tok_)));
    advance();
  }

  void expectWord(std::string_view w) {
    if (!isWord(w))
      error(tok_, fmt::format("expected '{}', found {}", w, describe(tok_)));
    advance();
  }

  std::string unescape(const Token &t) const {
    std::string out;
    std::string_view s = t.text;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\') {
        out += s[i];
        continue;
      }
      if (i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
        out += s[++i];
        continue;
      }
      unsigned value = 0;
      if (i + 2 >= s.size() || std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16).ptr != s.data() + i + 3)
        error(t, "bad escape in string");
      out += static_cast<char>(value);
      i += 2;
    }
    return out;
  }

  std::string parseString() {
    if (tok_.kind != Tok::String)
      error(tok_, fmt::format("expected a string, found {}", describe(tok_)));
    std::string s = unescape(tok_);
    advance();
    return s;
  }

  template <typename T> T parseNumber(const Token &t) {
    T value{};
    std::string_view s = t.text;
    if (!s.empty() && s[0] == '+')
      s.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (t.kind != Tok::Word || ec != std::errc() || ptr != s.data() + s.size())
      error(t, fmt::format("expected a number, found {}", describe(t)));
    return value;
  }

  std::int64_t parseInt() {
    Token t = tok_;
    advance();
    return parseNumber<std::int64_t>(t);
  }

  ValueId parseUse() {
    if (tok_.kind != Tok::Value)
      error(tok_, fmt::format("expected a value like %3, found {}", describe(tok_)));
    std::int64_t n = valueNumber(tok_);
    auto it = values_.find(n);
    if (it == values_.end())
      error(tok_, fmt::format("use of undefined value {}", tok_.text));
    advance();
    return it->second;
  }

  std::int64_t valueNumber(const Token &t) {
    std::int64_t n = -1;
    auto [ptr, ec] = std::from_chars(t.text.data() + 1, t.text.data() + t.text.size(), n);
    if (ec != std::errc() || ptr != t.text.data() + t.text.size() || n < 0)
      error(t, fmt::format("bad value name {}", t.text));
    return n;
  }

  TensorType parseType() {
    Token t = tok_;
    if (tok_.kind != Tok::Word)
      error(tok_, fmt::format("expected a type like f32[1,5], found {}", describe(tok_)));
    auto dtype = dtypeFromName(tok_.text);
    if (!dtype)
      error(tok_, fmt::format("unknown dtype '{}'", tok_.text));
    advance();
    expect('[');
    Shape shape;
    while (!isPunct(']')) {
      if (!shape.empty())
        expect(',');
      Token d = tok_;
      std::int64_t dim = parseInt();
      if (dim < 0)
        error(d, "negative dimension");
      shape.push_back(dim);
    }
    advance();
    try {
      numElements(shape);
    } catch (const InputError &e) {
      error(t, e.what());
    }
    return TensorType{*dtype, shape};
  }

  AttrValue parseAttrValue() {
    if (tok_.kind == Tok::String)
      return parseString();
    if (isPunct('[')) {
      advance();
      std::vector<Token> items;
      while (!isPunct(']')) {
        if (!items.empty())
          expect(',');
        items.push_back(tok_);
        advance();
      }
      advance();
      bool anyFloat = false;
      for (const Token &t : items)
        anyFloat |= t.text.find_first_of(".eEn") != std::string_view::npos;
      if (anyFloat) {
        std::vector<double> v;
        for (const Token &t : items)
          v.push_back(parseNumber<double>(t));
        return v;
      }
      std::vector<std::int64_t> v;
      for (const Token &t : items)
        v.push_back(parseNumber<std::int64_t>(t));
      return v;
    }
    Token t = tok_;
    advance();
    if (t.text.find_first_of(".eEn") != std::string_view::npos)
      return parseNumber<double>(t);
    return parseNumber<std::int64_t>(t);
  }

  Attrs parseAttrs() {
    Attrs attrs;
    if (!isPunct('{'))
      return attrs;
    advance();
    while (!isPunct('}')) {
      if (!attrs.empty())
        expect(',');
      if (tok_.kind != Tok::Word)
        error(tok_, fmt::format("expected an attribute name, found {}", describe(tok_)));
      std::string name(tok_.text);
      Token at = tok_;
      advance();
      expect('=');
      if (attrs.has(name))
        error(at, fmt::format("attribute '{}' given twice", name));
      attrs.set(name, parseAttrValue());
    }
    advance();
    return attrs;
  }

  // The payload of a const, parsed once the type is known (it follows ':').
  struct Payload {
    Token at;
    std::vector<Token> dense;
    bool isRef = false;
    std::string path;
    std::uint64_t offset = 0;
    std::uint64_t hash = 0;
    std::string format; // block format of an encoded reference, empty for plain storage
    Token formatAt;
  };

  Payload parsePayload() {
    Payload p;
    p.at = tok_;
    if (isWord("dense")) {
      advance();
      expect('<');
      expect('[');
      while (!isPunct(']')) {
        if (!p.dense.empty())
          expect(',');
        if (tok_.kind != Tok::Word)
          error(tok_, fmt::format("expected a number, found {}", describe(tok_)));
        p.dense.push_back(tok_);
        advance();
      }
      advance();
      expect('>');
      return p;
    }
    if (tok_.kind != Tok::At)
      error(tok_, fmt::format("expected dense<[...]> or @\"file\"[offset] after const, found {}", describe(tok_)));
    advance();
    p.isRef = true;
    p.path = parseString();
    expect('[');
    Token off = tok_;
    std::int64_t offset = parseInt();
    if (offset < 0)
      error(off, "negative offset");
    p.offset = static_cast<std::uint64_t>(offset);
    expect(']');
    if (tok_.kind == Tok::Word && tok_.text != "xxh3") { // a block format: @"f"[off] Q8_0 xxh3:...
      p.formatAt = tok_;
      p.format = std::string(tok_.text);
      advance();
    }
    expectWord("xxh3");
    expect(':');
    Token h = tok_;
    std::string_view hex = tok_.text;
    auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), p.hash, 16);
    if (tok_.kind != Tok::Word || ec != std::errc() || ptr != hex.data() + hex.size())
      error(h, "expected a hexadecimal hash");
    advance();
    return p;
  }

  std::shared_ptr<const Constant> buildConstant(const Payload &p, const TensorType &type) {
    try {
      if (p.isRef)
        return buildReference(p, type);
      std::int64_t n = type.numElements();
      if (static_cast<std::int64_t>(p.dense.size()) != n)
        error(p.at, fmt::format("dense constant has {} values, type {} needs {}", p.dense.size(),
                                typeString(type), n));
      std::vector<double> values;
      values.reserve(p.dense.size());
      for (const Token &t : p.dense)
        values.push_back(type.dtype == DType::F32 ? double(parseNumber<float>(t))
                         : isFloat(type.dtype)    ? parseNumber<double>(t)
                                                  : double(parseNumber<std::int64_t>(t)));
      return Constant::fromDoubles(type, values);
    } catch (const InputError &e) {
      std::string what = e.what();
      if (what.rfind(path_, 0) == 0)
        throw;
      error(p.at, what);
    }
  }

  std::shared_ptr<const Constant> buildReference(const Payload &p, const TensorType &type) {
    std::filesystem::path file(p.path);
    if (file.is_relative())
      file = std::filesystem::path(path_).parent_path() / file;
    std::string key = file.string();
    auto it = files_.find(key);
    if (it == files_.end())
      it = files_.emplace(key, MappedFile::open(key)).first;
    std::shared_ptr<const Constant> c;
    if (p.format.empty()) {
      c = Constant::fromFile(type, it->second, p.offset);
    } else {
      const BlockFormat *format = findBlockFormat(p.format);
      if (!format)
        error(p.formatAt, fmt::format("unknown block format '{}' (formats are known once their reader is linked, "
                                      "e.g. GGUF's)",
                                      p.format));
      c = Constant::fromEncodedFile(type, *format, it->second, p.offset);
    }
    if (c->hash() != p.hash)
      error(p.at, fmt::format("weights in '{}' at offset {} changed (hash {:016x}, expected {:016x})", key,
                              p.offset, c->hash(), p.hash));
    return c;
  }

  void parseStatement() {
    std::vector<Token> resultTokens;
    for (;;) {
      if (tok_.kind != Tok::Value)
        error(tok_, fmt::format("expected a value like %3 or 'return', found {}", describe(tok_)));
      resultTokens.push_back(tok_);
      advance();
      if (!isPunct(','))
        break;
      advance();
    }
    expect('=');
    Token opTok = tok_;
    auto op = tok_.kind == Tok::Word ? opFromKeyword(tok_.text) : std::nullopt;
    if (!op)
      error(tok_, fmt::format("unknown op {}", describe(tok_)));
    advance();
    Node node;
    node.op = *op;
    if (tok_.kind == Tok::Value) {
      node.operands.push_back(parseUse());
      while (isPunct(',')) {
        advance();
        node.operands.push_back(parseUse());
      }
    }
    Payload payload;
    if (*op == Op::Const)
      payload = parsePayload();
    node.attrs = parseAttrs();
    expect(':');
    std::vector<TensorType> types = {parseType()};
    while (isPunct(',')) {
      advance();
      types.push_back(parseType());
    }
    if (isWord("loc")) {
      advance();
      expect('(');
      node.name = parseString();
      expect(')');
    }
    if (types.size() != resultTokens.size())
      error(opTok, fmt::format("{} results but {} types", resultTokens.size(), types.size()));
    if (static_cast<int>(types.size()) != opInfo(*op).numResults)
      error(opTok, fmt::format("{} has {} results, not {}", opKeyword(*op), opInfo(*op).numResults, types.size()));
    if (*op == Op::Const)
      node.constant = buildConstant(payload, types[0]);
    checkTypes(opTok, node, types);
    std::vector<ValueId> ids = graph_.addUnchecked(std::move(node), types);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::int64_t n = valueNumber(resultTokens[i]);
      if (!values_.emplace(n, ids[i]).second)
        error(resultTokens[i], fmt::format("value {} defined twice", resultTokens[i].text));
    }
  }

  // Types are checked where they are written, so the error points at the line.
  void checkTypes(const Token &at, const Node &node, const std::vector<TensorType> &types) {
    if (node.op == Op::Input) {
      if (!node.attrs.has("name"))
        error(at, "input needs {name = \"...\"}");
      return;
    }
    if (node.op == Op::Const)
      return;
    std::vector<TensorType> operandTypes;
    for (ValueId v : node.operands)
      operandTypes.push_back(graph_.type(v));
    std::vector<TensorType> expected;
    try {
      expected = inferResultTypes(node.op, operandTypes, node.attrs);
    } catch (const InputError &e) {
      error(at, e.what());
    }
    for (std::size_t i = 0; i < types.size(); ++i)
      if (!(expected[i] == types[i]))
        error(at, fmt::format("result {} is declared {} but {} gives {}", i, typeString(types[i]),
                              opKeyword(node.op), typeString(expected[i])));
  }
};

Graph Parser::parse() {
  expectWord("graph");
  if (tok_.kind != Tok::At)
    error(tok_, fmt::format("expected '@name' after 'graph', found {}", describe(tok_)));
  advance();
  if (tok_.kind == Tok::String) {
    graph_.name = parseString();
  } else if (tok_.kind == Tok::Word) {
    graph_.name = std::string(tok_.text);
    advance();
  } else {
    error(tok_, "expected the graph name");
  }
  expect('{');
  while (!isWord("return")) {
    if (tok_.kind == Tok::End)
      error(tok_, "unexpected end of file: missing 'return'");
    parseStatement();
  }
  advance();
  std::vector<ValueId> outputs = {parseUse()};
  while (isPunct(',')) {
    advance();
    outputs.push_back(parseUse());
  }
  graph_.setOutputs(std::move(outputs));
  expect('}');
  if (tok_.kind != Tok::End)
    error(tok_, fmt::format("unexpected {} after the graph", describe(tok_)));
  verify(graph_, path_);
  return std::move(graph_);
}

} // namespace

Graph parseGraph(std::string_view text, const std::string &path) { return Parser(text, path).parse(); }

Graph parseGraphFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parseGraph(buffer.str(), path);
}

} // namespace gm
