// The GGUF reader (frontend/gguf). Without shared material: hand-built files
// written by a small writer below (metadata of every type, blocks of every
// dequantised format packed the way ggml's quantizers pack them, and every
// error case). With shared/reference/transformers: every Qwen3 file opens, its
// metadata matches the sibling JSON's hparams, every tensor has the recorded
// type, and every dequantised tensor has the recorded sha256 (float32 bytes,
// row-major), sum and sum of absolute values.
#include "frontend/gguf/dequantize.h"
#include "frontend/gguf/gguf_reader.h"
#include "ir/constant.h"
#include "ir/error.h"

#include "test/temp_dir.h"

#include "test/shared_material.h"
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

using namespace gm;
using namespace gm::gguf;

namespace {

using gm::test::flattenJson;
using gm::test::sharedDir;
using gm::test::transformersDir;

namespace fs = std::filesystem;

// ---- SHA-256 (FIPS 180-4), for the digests in the reference JSON ----

std::string sha256Hex(const void *data, std::size_t size) {
  static constexpr std::uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string message(static_cast<const char *>(data), size);
  message += '\x80';
  while (message.size() % 64 != 56)
    message += '\0';
  for (int i = 7; i >= 0; --i)
    message += static_cast<char>((std::uint64_t(size) * 8) >> (8 * i));
  for (std::size_t chunk = 0; chunk < message.size(); chunk += 64) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto *p = reinterpret_cast<const unsigned char *>(message.data() + chunk + 4 * i);
      w[i] = std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t sum1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
      std::uint32_t t1 = hh + sum1 + ((e & f) ^ (~e & g)) + k[i] + w[i];
      std::uint32_t t2 = (std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  std::string hex;
  for (std::uint32_t word : h)
    hex += fmt::format("{:08x}", word);
  return hex;
}

// ---- a minimal GGUF writer, with knobs for writing broken files ----

template <typename T> void put(std::string &out, T v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }

void putString(std::string &out, std::string_view s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

struct Writer {
  std::uint32_t version = 3;
  std::uint64_t alignment = 32; // used for padding; set general.alignment separately
  std::string kvs, infos, data;
  std::uint64_t kvCount = 0, tensorCount = 0;

  // A key and a type; the caller appends the value to kvs.
  std::string &key(std::string_view name, ValueType type) {
    putString(kvs, name);
    put(kvs, static_cast<std::uint32_t>(type));
    ++kvCount;
    return kvs;
  }
  template <typename T> void scalar(std::string_view name, ValueType type, T v) { put(key(name, type), v); }
  void string(std::string_view name, std::string_view s) { putString(key(name, ValueType::String), s); }
  template <typename T> void array(std::string_view name, ValueType element, const std::vector<T> &items) {
    std::string &out = key(name, ValueType::Array);
    put(out, static_cast<std::uint32_t>(element));
    put<std::uint64_t>(out, items.size());
    for (const T &item : items) {
      if constexpr (std::is_same_v<T, std::string>)
        putString(out, item);
      else
        put(out, item);
    }
  }
  // Data placed at the next aligned offset unless `offset` is given.
  void tensor(std::string_view name, std::vector<std::int64_t> ne, std::uint32_t type, std::string_view bytes,
              std::optional<std::uint64_t> offset = std::nullopt) {
    data.resize((data.size() + alignment - 1) / alignment * alignment, '\0');
    putString(infos, name);
    put<std::uint32_t>(infos, static_cast<std::uint32_t>(ne.size()));
    for (std::int64_t d : ne)
      put(infos, d);
    put(infos, type);
    put<std::uint64_t>(infos, offset.value_or(data.size()));
    data += bytes;
    ++tensorCount;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    put(out, version);
    put(out, tensorCount);
    put(out, kvCount);
    out += kvs;
    out += infos;
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out + data;
  }
};

template <typename T> std::string rawBytes(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

std::string writeTemp(const std::string &name, const std::string &bytes) {
  static gm::test::TempDir dir("gamma-gguf");
  return dir.write(name, bytes);
}

File openBytes(const std::string &name, const std::string &bytes) { return File::open(writeTemp(name, bytes)); }

// The InputError message of `action`, or "" when it does not throw one.
template <typename F> std::string errorOf(F action) {
  try {
    action();
  } catch (const InputError &e) {
    return e.what();
  }
  return "";
}

// Opening `bytes` fails with one line that names the file and each of `needles`.
void checkOpenError(const std::string &name, const std::string &bytes, std::initializer_list<std::string> needles) {
  std::string path = writeTemp(name, bytes);
  std::string message = errorOf([&] { File::open(path); });
  INFO(name, ": ", message);
  REQUIRE(!message.empty());
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.rfind(path + ": ", 0) == 0);
  for (const std::string &needle : needles)
    CHECK(message.find(needle) != std::string::npos);
}

bool contains(const std::string &s, std::string_view needle) { return s.find(needle) != std::string::npos; }

// ---- blocks packed as ggml's quantize_row_*_ref pack them ----

std::uint16_t half(float v) { return floatToHalfNearest(v); }

// Deterministic levels in [0, n).
std::vector<int> levels(int count, int n, std::uint32_t seed) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) {
    seed = seed * 1664525u + 1013904223u;
    out.push_back(static_cast<int>((seed >> 16) % static_cast<std::uint32_t>(n)));
  }
  return out;
}

void putHalf(std::string &out, float v) { put<std::uint16_t>(out, half(v)); }

// The packing of (scale, min) pairs 0-7 into 12 bytes in quantize_row_q4_K_ref.
std::array<std::uint8_t, 12> packScaleMinK4(const std::array<int, 8> &ls, const std::array<int, 8> &lm) {
  std::array<std::uint8_t, 12> s{};
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = static_cast<std::uint8_t>(ls[j]);
      s[j + 4] = static_cast<std::uint8_t>(lm[j]);
    } else {
      s[j + 4] = static_cast<std::uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<std::uint8_t>((ls[j] >> 4) << 6);
      s[j - 0] |= static_cast<std::uint8_t>((lm[j] >> 4) << 6);
    }
  }
  return s;
}

// One tensor of one block of `type`, dequantised.
std::vector<float> dequantizeBlock(GgmlType type, std::int64_t elements, const std::string &block) {
  Writer w;
  w.tensor("b", {elements}, static_cast<std::uint32_t>(type), block);
  File f = openBytes(fmt::format("block_{}.gguf", ggmlTypeName(type)), w.bytes());
  REQUIRE(f.tensor("b").bytes.size() == block.size());
  return dequantize(f.tensor("b"));
}

// ---- shared material ----

} // namespace

TEST_SUITE("gguf") {

TEST_CASE("metadata of every GGUF type round-trips") {
  Writer w;
  w.scalar<std::uint8_t>("u8", ValueType::U8, 200);
  w.scalar<std::int8_t>("i8", ValueType::I8, -5);
  w.scalar<std::uint16_t>("u16", ValueType::U16, 60000);
  w.scalar<std::int16_t>("i16", ValueType::I16, -300);
  w.scalar<std::uint32_t>("u32", ValueType::U32, 4000000000u);
  w.scalar<std::int32_t>("i32", ValueType::I32, -7);
  w.scalar<float>("f32", ValueType::F32, 0.1f);
  w.scalar<std::uint8_t>("bool", ValueType::Bool, 1);
  w.string("str", "h\xc3\xa9llo");
  w.scalar<std::uint64_t>("u64", ValueType::U64, (std::uint64_t(1) << 40) + 3);
  w.scalar<std::int64_t>("i64", ValueType::I64, -(std::int64_t(1) << 40));
  w.scalar<double>("f64", ValueType::F64, 1e-300);
  w.array<std::int32_t>("arr.i32", ValueType::I32, {1, -2, 3});
  w.array<float>("arr.f32", ValueType::F32, {0.5f, -1.25f});
  w.array<std::string>("arr.str", ValueType::String, {"a", "", "ccc"});
  w.array<std::uint8_t>("arr.bool", ValueType::Bool, {1, 0});
  w.array<std::uint8_t>("arr.empty", ValueType::U8, {});
  w.array<double>("arr.f64", ValueType::F64, {2.5, -1e300});
  w.array<std::uint64_t>("arr.u64", ValueType::U64, {std::uint64_t(1) << 63});
  File f = openBytes("meta.gguf", w.bytes());
  const Metadata &md = f.metadata();

  REQUIRE(md.entries().size() == 19);
  CHECK(md.entries().front().first == "u8");
  CHECK(md.entries().back().first == "arr.u64");
  CHECK(md.value("u16")->type == ValueType::U16);
  CHECK(std::get<std::uint16_t>(md.value("u16")->items.at(0)) == 60000);
  CHECK(std::get<std::int16_t>(md.value("i16")->items.at(0)) == -300);
  CHECK(md.get<std::uint32_t>("u8") == 200);
  CHECK(md.get<std::int64_t>("i8") == -5);
  CHECK(md.get<std::int32_t>("u16") == 60000);
  CHECK(md.get<std::int32_t>("i16") == -300);
  CHECK(md.get<std::uint32_t>("u32") == 4000000000u);
  CHECK(md.get<std::int32_t>("i32") == -7);
  CHECK(md.get<float>("f32") == 0.1f);
  CHECK(md.get<double>("f32") == static_cast<double>(0.1f));
  CHECK(md.get<bool>("bool"));
  CHECK(md.get<std::string>("str") == "h\xc3\xa9llo");
  CHECK(md.get<std::uint64_t>("u64") == (std::uint64_t(1) << 40) + 3);
  CHECK(md.get<std::int64_t>("i64") == -(std::int64_t(1) << 40));
  CHECK(md.get<double>("f64") == 1e-300);
  CHECK(md.getArray<std::int32_t>("arr.i32") == std::vector<std::int32_t>{1, -2, 3});
  CHECK(md.getArray<std::int64_t>("arr.i32") == std::vector<std::int64_t>{1, -2, 3});
  CHECK(md.getArray<float>("arr.f32") == std::vector<float>{0.5f, -1.25f});
  CHECK(md.getArray<std::string>("arr.str") == std::vector<std::string>{"a", "", "ccc"});
  CHECK(md.getArray<bool>("arr.bool") == std::vector<bool>{true, false});
  CHECK(md.getArray<std::uint32_t>("arr.empty").empty());
  CHECK(md.value("arr.empty")->elementType == ValueType::U8);
  CHECK(md.getArray<double>("arr.f64") == std::vector<double>{2.5, -1e300});
  CHECK(md.getArray<std::uint64_t>("arr.u64") == std::vector<std::uint64_t>{std::uint64_t(1) << 63});
  CHECK(md.arrayLength("arr.str") == 3);
  CHECK(md.find<std::uint32_t>("absent") == std::nullopt);
  CHECK(md.find<std::uint32_t>("u32") == 4000000000u);
  CHECK(!md.contains("absent"));

  std::string path = f.path();
  auto expectError = [&](auto action, std::string_view key, std::string_view needle) {
    std::string message = errorOf(action);
    INFO(message);
    CHECK(message.rfind(fmt::format("{}: metadata '{}': ", path, key), 0) == 0);
    CHECK(contains(message, needle));
  };
  expectError([&] { md.get<std::uint32_t>("absent"); }, "absent", "missing");
  expectError([&] { md.get<std::uint32_t>("i8"); }, "i8", "int8 -5 does not fit in uint32");
  expectError([&] { md.get<std::int32_t>("u32"); }, "u32", "does not fit in int32");
  expectError([&] { md.get<std::string>("u32"); }, "u32", "expected string, found uint32");
  expectError([&] { md.get<float>("i32"); }, "i32", "expected float32, found int32");
  expectError([&] { md.get<std::uint32_t>("bool"); }, "bool", "expected uint32, found bool");
  expectError([&] { md.get<std::uint32_t>("arr.i32"); }, "arr.i32", "expected uint32, found an array of int32");
  expectError([&] { md.getArray<std::uint32_t>("arr.i32"); }, "arr.i32", "element 1: int32 -2 does not fit in uint32");
  expectError([&] { md.getArray<float>("arr.str"); }, "arr.str", "element 0: expected float32, found string");
  expectError([&] { md.getArray<std::string>("str"); }, "str", "expected an array of string, found string");
  expectError([&] { md.arrayLength("u8"); }, "u8", "expected an array, found uint8");
  expectError([&] { md.find<std::string>("f64"); }, "f64", "expected string, found float64");
}

TEST_CASE("tensor infos, alignment from general.alignment, and views into the mapping") {
  Writer w;
  w.alignment = 64;
  w.scalar<std::uint32_t>("general.alignment", ValueType::U32, 64);
  std::vector<float> f32 = {1, -2, 3.5f, 4, 5, -6e-20f};
  std::vector<std::uint16_t> f16 = {half(0.5f), half(-65504.f), 0x0001 /* smallest subnormal */, 0x7c00 /* inf */};
  std::vector<std::uint16_t> bf16 = {0x3f80 /* 1 */, 0xc0a0 /* -5 */};
  w.tensor("w.f32", {3, 2}, 0, rawBytes(f32));
  w.tensor("w.f16", {4}, 1, rawBytes(f16));
  w.tensor("w.bf16", {1, 1, 2, 1}, 30, rawBytes(bf16));
  File f = openBytes("tensors.gguf", w.bytes());

  CHECK(f.alignment() == 64);
  CHECK(f.dataOffset() % 64 == 0);
  REQUIRE(f.tensors().size() == 3);
  const TensorInfo &a = f.tensor("w.f32");
  CHECK(a.ne == std::vector<std::int64_t>{3, 2});
  CHECK(a.type == GgmlType::F32);
  CHECK(a.numElements() == 6);
  CHECK(a.rowLength() == 3);
  CHECK(a.numRows() == 2);
  CHECK(a.offset == 0);
  CHECK(f.tensor("w.f16").offset == 64);
  CHECK(f.tensor("w.bf16").offset == 128);
  CHECK(f.tensor("w.bf16").numRows() == 2);
  // A view into the mapping, not a copy.
  auto mapped = f.mapping()->bytes();
  CHECK(a.bytes.data() == mapped.data() + f.dataOffset());
  CHECK(a.bytes.size() == 24);
  CHECK(a.file == f.mapping());

  CHECK(dequantize(a) == f32);
  std::vector<float> halves = dequantize(f.tensor("w.f16"));
  CHECK(halves == std::vector<float>{0.5f, -65504.f, std::ldexp(1.0f, -24), INFINITY});
  CHECK(dequantize(f.tensor("w.bf16")) == std::vector<float>{1.0f, -5.0f});
  std::vector<float> row(3);
  dequantizeRows(a, 1, 1, row.data());
  CHECK(row == std::vector<float>{4, 5, -6e-20f});

  CHECK(f.find("nope") == nullptr);
  std::string message = errorOf([&] { f.tensor("nope"); });
  CHECK(message == f.path() + ": tensor 'nope' is not in the file");
}

TEST_CASE("Q8_0 and Q4_0 blocks dequantised by hand") {
  // Q8_0: fp16 d, then 32 int8; y = q * d.
  std::string q8;
  putHalf(q8, 0.5f);
  for (int j = 0; j < 32; ++j)
    put<std::int8_t>(q8, static_cast<std::int8_t>(j - 16));
  putHalf(q8, -2.0f);
  put<std::int8_t>(q8, -128);
  put<std::int8_t>(q8, 127);
  q8.append(30, '\x01');
  Writer w;
  w.tensor("q8", {32, 2}, 8, q8);
  // Q4_0: fp16 d, 16 bytes; element j is the low nibble of byte j, element
  // j + 16 the high nibble; y = (nibble - 8) * d.
  std::string q4;
  putHalf(q4, 0.25f);
  for (int j = 0; j < 16; ++j)
    q4 += static_cast<char>(j | ((15 - j) << 4));
  w.tensor("q4", {32}, 2, q4);
  File f = openBytes("q8q4.gguf", w.bytes());

  std::vector<float> y = dequantize(f.tensor("q8"));
  REQUIRE(y.size() == 64);
  CHECK(y[0] == -8.0f);
  CHECK(y[16] == 0.0f);
  CHECK(y[31] == 7.5f);
  CHECK(y[32] == 256.0f);
  CHECK(y[33] == -254.0f);
  CHECK(y[34] == -2.0f);
  CHECK(y[63] == -2.0f);
  std::vector<float> second(32);
  dequantizeRows(f.tensor("q8"), 1, 1, second.data());
  CHECK(second == std::vector<float>(y.begin() + 32, y.end()));

  std::vector<float> z = dequantize(f.tensor("q4"));
  REQUIRE(z.size() == 32);
  CHECK(z[0] == -2.0f);    // nibble 0
  CHECK(z[1] == -1.75f);   // nibble 1
  CHECK(z[15] == 1.75f);   // nibble 15
  CHECK(z[16] == 1.75f);   // high nibble of byte 0: 15
  CHECK(z[31] == -2.0f);   // high nibble of byte 15: 0
  for (int j = 0; j < 16; ++j) {
    CHECK(z[j] == (j - 8) * 0.25f);
    CHECK(z[j + 16] == (7 - j) * 0.25f);
  }
}

// Scales are powers of two and levels small integers, so every expected value
// is exact whatever the order of the products: these cases check the layouts.
TEST_CASE("every other format, packed as ggml's quantizers pack it") {
  SUBCASE("Q4_1: y = q * d + m") {
    std::vector<int> L = levels(32, 16, 1);
    std::string b;
    putHalf(b, 0.125f);
    putHalf(b, -1.0f);
    for (int j = 0; j < 16; ++j)
      b += static_cast<char>(L[j] | (L[j + 16] << 4));
    std::vector<float> y = dequantizeBlock(GgmlType::Q4_1, 32, b);
    for (int i = 0; i < 32; ++i)
      CHECK(y[i] == L[i] * 0.125f - 1.0f);
  }
  SUBCASE("Q5_0 and Q5_1: fifth bits in a 32-bit mask") {
    std::vector<int> L = levels(32, 32, 2);
    std::uint32_t qh = 0;
    std::string qs;
    for (int j = 0; j < 16; ++j) {
      qs += static_cast<char>((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
      qh |= std::uint32_t((L[j] & 0x10) >> 4) << j;
      qh |= std::uint32_t((L[j + 16] & 0x10) >> 4) << (j + 16);
    }
    std::string b0, b1;
    putHalf(b0, 0.5f);
    put(b0, qh);
    b0 += qs;
    putHalf(b1, 0.5f);
    putHalf(b1, 3.0f);
    put(b1, qh);
    b1 += qs;
    std::vector<float> y0 = dequantizeBlock(GgmlType::Q5_0, 32, b0);
    std::vector<float> y1 = dequantizeBlock(GgmlType::Q5_1, 32, b1);
    for (int i = 0; i < 32; ++i) {
      CHECK(y0[i] == (L[i] - 16) * 0.5f);
      CHECK(y1[i] == L[i] * 0.5f + 3.0f);
    }
  }
  SUBCASE("Q2_K: 2-bit levels, 4-bit scale and min per 16") {
    std::vector<int> L = levels(256, 4, 3), sc = levels(16, 16, 4), mn = levels(16, 16, 5);
    std::string b;
    for (int j = 0; j < 16; ++j)
      b += static_cast<char>(sc[j] | (mn[j] << 4));
    for (int j = 0; j < 256; j += 128)
      for (int l = 0; l < 32; ++l)
        b += static_cast<char>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    putHalf(b, 0.25f);
    putHalf(b, 0.0625f);
    std::vector<float> y = dequantizeBlock(GgmlType::Q2_K, 256, b);
    for (int i = 0; i < 256; ++i)
      CHECK(y[i] == 0.25f * sc[i / 16] * L[i] - 0.0625f * mn[i / 16]);
  }
  SUBCASE("Q3_K: high bits in hmask, 6-bit signed scales in 12 bytes") {
    std::vector<int> L = levels(256, 8, 6), Ls = levels(16, 64, 7);
    std::string b(32, '\0');
    for (int j = 0, m = 0, hm = 1; j < 256; ++j) { // quantize_row_q3_K_ref's hmask order
      if (L[j] > 3)
        b[m] = static_cast<char>(b[m] | hm);
      if (++m == 32)
        m = 0, hm <<= 1;
    }
    for (int j = 0; j < 256; j += 128)
      for (int l = 0; l < 32; ++l)
        b += static_cast<char>((L[j + l] & 3) | ((L[j + l + 32] & 3) << 2) | ((L[j + l + 64] & 3) << 4) |
                               ((L[j + l + 96] & 3) << 6));
    std::array<std::uint8_t, 12> scales{};
    for (int j = 0; j < 16; ++j) {
      int l = Ls[j];
      if (j < 8)
        scales[j] = l & 0xF;
      else
        scales[j - 8] |= (l & 0xF) << 4;
      l >>= 4;
      scales[j % 4 + 8] |= l << (2 * (j / 4));
    }
    b.append(reinterpret_cast<const char *>(scales.data()), 12);
    putHalf(b, 0.5f);
    std::vector<float> y = dequantizeBlock(GgmlType::Q3_K, 256, b);
    for (int i = 0; i < 256; ++i)
      CHECK(y[i] == 0.5f * (Ls[i / 16] - 32) * (L[i] - 4));
  }
  SUBCASE("Q4_K and Q5_K: 6-bit (scale, min) pairs per 32") {
    std::array<int, 8> ls = {1, 63, 17, 32, 45, 5, 60, 33}, lm = {0, 62, 3, 48, 31, 16, 63, 9};
    std::array<std::uint8_t, 12> packed = packScaleMinK4(ls, lm);
    std::vector<int> L4 = levels(256, 16, 8), L5 = levels(256, 32, 9);
    std::string b4, b5;
    putHalf(b4, 0.0625f);
    putHalf(b4, 0.03125f);
    b4.append(reinterpret_cast<const char *>(packed.data()), 12);
    for (int j = 0; j < 256; j += 64)
      for (int l = 0; l < 32; ++l)
        b4 += static_cast<char>(L4[j + l] | (L4[j + l + 32] << 4));
    putHalf(b5, 0.0625f);
    putHalf(b5, 0.03125f);
    b5.append(reinterpret_cast<const char *>(packed.data()), 12);
    std::string qh(32, '\0'), ql;
    for (int n = 0, m1 = 1, m2 = 2; n < 256; n += 64, m1 <<= 2, m2 <<= 2) // quantize_row_q5_K_ref
      for (int j = 0; j < 32; ++j) {
        int l1 = L5[n + j], l2 = L5[n + j + 32];
        if (l1 > 15)
          l1 -= 16, qh[j] = static_cast<char>(qh[j] | m1);
        if (l2 > 15)
          l2 -= 16, qh[j] = static_cast<char>(qh[j] | m2);
        ql += static_cast<char>(l1 | (l2 << 4));
      }
    b5 += qh + ql;
    std::vector<float> y4 = dequantizeBlock(GgmlType::Q4_K, 256, b4);
    std::vector<float> y5 = dequantizeBlock(GgmlType::Q5_K, 256, b5);
    for (int i = 0; i < 256; ++i) {
      CHECK(y4[i] == 0.0625f * ls[i / 32] * L4[i] - 0.03125f * lm[i / 32]);
      CHECK(y5[i] == 0.0625f * ls[i / 32] * L5[i] - 0.03125f * lm[i / 32]);
    }
  }
  SUBCASE("Q6_K: 4 low bits in ql, 2 high bits in qh, int8 scale per 16") {
    std::vector<int> L = levels(256, 64, 10), sc = levels(16, 256, 11);
    std::string ql(128, '\0'), qh(64, '\0');
    for (int j = 0; j < 256; j += 128) // quantize_row_q6_K_ref
      for (int l = 0; l < 32; ++l) {
        int o = j / 2, h = j / 4;
        ql[o + l] = static_cast<char>((L[j + l] & 0xF) | ((L[j + l + 64] & 0xF) << 4));
        ql[o + l + 32] = static_cast<char>((L[j + l + 32] & 0xF) | ((L[j + l + 96] & 0xF) << 4));
        qh[h + l] = static_cast<char>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                      ((L[j + l + 96] >> 4) << 6));
      }
    std::string b = ql + qh;
    for (int s : sc)
      put<std::int8_t>(b, static_cast<std::int8_t>(s - 128));
    putHalf(b, 0.125f);
    std::vector<float> y = dequantizeBlock(GgmlType::Q6_K, 256, b);
    for (int i = 0; i < 256; ++i)
      CHECK(y[i] == 0.125f * (sc[i / 16] - 128) * (L[i] - 32));
  }
}

TEST_CASE("corrupt and unsupported files give one-line errors naming the file and the place") {
  auto base = [] {
    Writer w;
    w.string("general.name", "hello");
    return w;
  };
  std::string q8(34, '\0');
  std::string good;
  {
    Writer w = base();
    w.tensor("w", {32}, 8, q8);
    good = w.bytes();
    CHECK_NOTHROW(openBytes("good.gguf", good));
  }

  checkOpenError("empty.gguf", "", {"truncated in header"});
  checkOpenError("short.gguf", good.substr(0, 10), {"truncated in header"});
  checkOpenError("magic.gguf", "GGUX" + good.substr(4), {"not a GGUF file (bad magic)"});
  {
    Writer w = base();
    w.version = 2;
    checkOpenError("v2.gguf", w.bytes(), {"GGUF version 2 is not supported"});
    w.version = 0x03000000;
    checkOpenError("be.gguf", w.bytes(), {"big-endian"});
  }
  // Cut inside the value of general.name.
  checkOpenError("meta_cut.gguf", good.substr(0, good.find("hello") + 2), {"truncated in metadata 'general.name'"});
  // Cut inside the second key.
  {
    Writer w = base();
    w.string("general.architecture", "qwen3");
    std::string bytes = w.bytes();
    checkOpenError("key_cut.gguf", bytes.substr(0, bytes.find("general.arch") + 3), {"metadata entry 1"});
  }
  {
    Writer w = base();
    w.kvCount = std::uint64_t(1) << 60;
    checkOpenError("kv_count.gguf", w.bytes(), {"1152921504606846976 metadata entries"});
    w = base();
    w.tensorCount = std::uint64_t(1) << 62;
    checkOpenError("tensor_count.gguf", w.bytes(), {"4611686018427387904 tensors"});
  }
  {
    Writer w = base();
    std::string &out = w.key("tokenizer.ggml.tokens", ValueType::Array);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ValueType::String));
    put<std::uint64_t>(out, std::uint64_t(1) << 61);
    checkOpenError("array_count.gguf", w.bytes(),
                   {"metadata 'tokenizer.ggml.tokens': array claims 2305843009213693952 elements"});
  }
  {
    Writer w = base();
    put<std::uint64_t>(w.key("general.license", ValueType::String), std::uint64_t(1) << 62);
    checkOpenError("string_length.gguf", w.bytes(), {"truncated in metadata 'general.license'"});
  }
  {
    Writer w = base();
    put<std::uint32_t>(w.key("odd", static_cast<ValueType>(13)), 0);
    checkOpenError("value_type.gguf", w.bytes(), {"metadata 'odd': unknown value type 13"});
  }
  {
    Writer w = base();
    std::string &out = w.key("nested", ValueType::Array);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ValueType::Array));
    put<std::uint64_t>(out, 0);
    checkOpenError("nested.gguf", w.bytes(), {"metadata 'nested': arrays of arrays"});
  }
  {
    Writer w = base();
    w.string("general.name", "again");
    checkOpenError("dup_key.gguf", w.bytes(), {"metadata 'general.name': defined twice"});
  }
  {
    Writer w = base();
    w.scalar<std::uint32_t>("general.alignment", ValueType::U32, 48);
    checkOpenError("align48.gguf", w.bytes(), {"metadata 'general.alignment': 48 is not a power of two"});
    w = base();
    w.scalar<std::uint64_t>("general.alignment", ValueType::U64, 32);
    checkOpenError("align64.gguf", w.bytes(), {"metadata 'general.alignment': expected uint32, found uint64"});
  }
  {
    Writer w = base();
    w.tensor("blk.0.attn_q.weight", {32}, 8, q8);
    std::string bytes = w.bytes();
    std::size_t cut = bytes.find("blk.0.attn_q.weight") + std::strlen("blk.0.attn_q.weight") + 6;
    checkOpenError("info_cut.gguf", bytes.substr(0, cut), {"truncated in tensor 'blk.0.attn_q.weight'"});
    checkOpenError("data_cut.gguf", bytes.substr(0, bytes.size() - 1),
                   {"tensor 'blk.0.attn_q.weight'", "beyond the end of the file"});
  }
  {
    Writer w = base();
    w.tensor("w", {32}, 99, q8);
    checkOpenError("type99.gguf", w.bytes(), {"tensor 'w': unknown ggml type 99"});
  }
  {
    Writer w = base();
    w.tensor("w", {40}, 8, std::string(34 + 6, '\0'));
    checkOpenError("row.gguf", w.bytes(),
                   {"tensor 'w': rows of 40 elements are not a multiple of the Q8_0 block size 32"});
  }
  {
    Writer w = base();
    w.tensor("w", {32}, 8, q8);
    w.tensor("w", {32}, 8, q8);
    checkOpenError("dup_tensor.gguf", w.bytes(), {"tensor 'w': defined twice"});
  }
  {
    // A corrupt name cannot break the message over two lines.
    Writer w = base();
    w.tensor("a\nb", {32}, 8, q8);
    w.tensor("a\nb", {32}, 8, q8);
    checkOpenError("newline.gguf", w.bytes(), {"tensor 'a\\x0ab': defined twice"});
  }
  {
    Writer w = base();
    w.tensor("w", {32}, 8, q8, 16);
    checkOpenError("misaligned.gguf", w.bytes(), {"tensor 'w': data offset 16 is not a multiple of the alignment 32"});
  }
  {
    Writer w = base();
    w.tensor("w", {1, 1, 1, 1, 1}, 0, "xxxx");
    checkOpenError("dims.gguf", w.bytes(), {"tensor 'w': 5 dimensions"});
    w = base();
    w.tensor("w", {4, -1}, 0, "");
    checkOpenError("negative.gguf", w.bytes(), {"tensor 'w': negative dimension -1"});
    w = base();
    w.tensor("w", {std::int64_t(1) << 40, std::int64_t(1) << 40}, 0, "");
    checkOpenError("overflow.gguf", w.bytes(), {"tensor 'w': 1099511627776 x 1099511627776 elements, more than int64"});
    w = base();
    w.tensor("w", {std::int64_t(1) << 60}, 0, "");
    checkOpenError("huge.gguf", w.bytes(),
                   {"tensor 'w': data (offset 0, 4611686018427387904 bytes) extends beyond the end of the file"});
  }
  {
    // A known type gamma cannot dequantise opens; reading it names the type.
    Writer w = base();
    w.tensor("w.iq", {256}, 16, std::string(66, '\0'));
    File f = openBytes("iq2.gguf", w.bytes());
    CHECK(!canDequantize(f.tensor("w.iq").type));
    std::string message = errorOf([&] { dequantize(f.tensor("w.iq")); });
    CHECK(message.rfind(f.path() + ": tensor 'w.iq': ggml type IQ2_XXS (16) cannot be dequantized", 0) == 0);
    CHECK(contains(message, "Q6_K"));
  }
}

TEST_CASE("shared Qwen3 GGUF files: metadata, tensor types and dequantised digests") {
  fs::path dir = sharedDir() / "reference" / "transformers";
  if (!fs::is_directory(dir)) {
    MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
    return;
  }
  std::vector<fs::path> files;
  for (const auto &entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".gguf")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());

  int tensorsChecked = 0, exact = 0;
  std::vector<std::string> mismatches;
  for (const fs::path &path : files) {
    INFO(path.filename().string());
    fs::path jsonPath = path;
    jsonPath.replace_extension(".json");
    std::ifstream in(jsonPath);
    REQUIRE(in);
    nlohmann::json ref = nlohmann::json::parse(in);
    File f = File::open(path.string());
    const Metadata &md = f.metadata();

    const nlohmann::json &hp = ref["hparams"];
    CHECK(md.get<std::string>("general.architecture") == "qwen3");
    CHECK(md.get<std::uint32_t>("qwen3.block_count") == hp["block_count"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.context_length") == hp["context_length"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.embedding_length") == hp["embedding_length"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.feed_forward_length") == hp["feed_forward_length"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.attention.head_count") == hp["head_count"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.attention.head_count_kv") == hp["head_count_kv"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.attention.key_length") == hp["key_length"].get<std::uint32_t>());
    CHECK(md.get<std::uint32_t>("qwen3.attention.value_length") == hp["value_length"].get<std::uint32_t>());
    CHECK(md.get<float>("qwen3.rope.freq_base") == static_cast<float>(hp["rope_freq_base"].get<double>()));
    CHECK(md.get<float>("qwen3.attention.layer_norm_rms_epsilon") == static_cast<float>(hp["rms_eps"].get<double>()));
    CHECK(md.arrayLength("tokenizer.ggml.tokens") == ref["n_vocab"].get<std::size_t>());
    CHECK(md.getArray<std::string>("tokenizer.ggml.tokens")[32] == "\xc4\xa0"); // Ġ, the space

    const nlohmann::json &types = ref["tensor_types"];
    const nlohmann::json &digests = ref["dequantized_weight_digest"];
    CHECK(f.tensors().size() == types.size());
    for (const TensorInfo &t : f.tensors()) {
      INFO(t.name);
      REQUIRE(types.contains(t.name));
      CHECK(ggmlTypeName(t.type) == types[t.name].get<std::string>());
      REQUIRE(digests.contains(t.name));
      const nlohmann::json &digest = digests[t.name];
      std::vector<float> values = dequantize(t);
      REQUIRE(values.size() == static_cast<std::size_t>(t.numElements()));
      double sum = 0, sumAbs = 0;
      for (float v : values) {
        sum += v;
        sumAbs += std::fabs(v);
      }
      std::string hash = sha256Hex(values.data(), values.size() * sizeof(float));
      ++tensorsChecked;
      if (hash == digest["sha256_f32"].get<std::string>())
        ++exact;
      else
        mismatches.push_back(fmt::format("{} {} ({}): sha256 differs; sum {} vs {}, sum_abs {} vs {}",
                                         path.filename().string(), t.name, ggmlTypeName(t.type), sum,
                                         digest["sum"].get<double>(), sumAbs, digest["sum_abs"].get<double>()));
      // Summation order differs from numpy's pairwise sum: a relative 1e-9 covers it.
      double refSum = digest["sum"].get<double>(), refAbs = digest["sum_abs"].get<double>();
      CHECK(std::fabs(sum - refSum) <= 1e-9 * refAbs);
      CHECK(std::fabs(sumAbs - refAbs) <= 1e-9 * refAbs);
    }
  }
  for (const std::string &m : mismatches)
    MESSAGE(m);
  MESSAGE(fmt::format("{} files, {} tensors dequantised, {} bit-exact (sha256)", files.size(), tensorsChecked,
                      exact));
  CHECK(exact == tensorsChecked);
  CHECK(tensorsChecked > 0);
}

} // TEST_SUITE
