// The safetensors reader and HF config.json: files written here into a temp
// directory (every dtype, a sharded model, every malformed header the reader
// must refuse), then the Whisper encoder in shared/reference/transformers
// (README section 2), which skips when that material is absent.
#include "frontend/safetensors/hf_config.h"
#include "frontend/safetensors/safetensors_reader.h"
#include "ir/constant.h"
#include "ir/error.h"

#include "test/temp_dir.h"

#include "test/shared_material.h"
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

using namespace gm;
namespace fs = std::filesystem;
namespace st = gm::safetensors;
using nlohmann::json;

namespace {

using gm::test::flattenJson;
using gm::test::sharedDir;
using gm::test::transformersDir;

struct TempDir : gm::test::TempDir {
  TempDir() : gm::test::TempDir("gamma-safetensors") {}
};

// A safetensors file from raw header text: the header is not checked or padded.
std::string rawFile(const std::string &header, const std::string &data) {
  std::uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

struct Entry {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::string data;
};

// As transformers writes them: entries laid out in order, header padded with
// spaces to 8 bytes.
std::string wellFormedFile(const std::vector<Entry> &entries, const json &metadata = json::object()) {
  json header = json::object();
  std::string data;
  for (const Entry &e : entries) {
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {data.size(), data.size() + e.data.size()}}};
    data += e.data;
  }
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return rawFile(text, data);
}

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::string errorOf(const std::function<void()> &action) {
  try {
    action();
  } catch (const InputError &e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

// The message of opening a file with this header and data.
std::string openError(const TempDir &dir, const std::string &header, const std::string &data) {
  std::string file = dir.write("bad.safetensors", rawFile(header, data));
  return errorOf([&] { st::Archive::open(file); });
}

std::vector<std::uint16_t> raw16(const st::TensorView &t) {
  std::vector<std::uint16_t> out(t.bytes.size() / 2);
  std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

bool haveWhisper() {
  if (fs::is_regular_file(transformersDir() / "whisper_tiny_f32.safetensors"))
    return true;
  MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
  return false;
}

// README section 2: the 37 encoder tensors of the tiny Whisper (d_model 64, ffn 128).
std::map<std::string, Shape> whisperShapes() {
  std::map<std::string, Shape> shapes = {
      {"conv1.weight", {64, 80, 3}}, {"conv1.bias", {64}},        {"conv2.weight", {64, 64, 3}},
      {"conv2.bias", {64}},          {"embed_positions.weight", {16, 64}}, {"layer_norm.weight", {64}},
      {"layer_norm.bias", {64}},
  };
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "layers." + std::to_string(layer) + ".";
    for (const char *proj : {"q_proj", "k_proj", "v_proj", "out_proj"})
      shapes[p + "self_attn." + proj + ".weight"] = {64, 64};
    for (const char *proj : {"q_proj", "v_proj", "out_proj"})
      shapes[p + "self_attn." + proj + ".bias"] = {64};
    for (const char *norm : {"self_attn_layer_norm", "final_layer_norm"}) {
      shapes[p + norm + ".weight"] = {64};
      shapes[p + norm + ".bias"] = {64};
    }
    shapes[p + "fc1.weight"] = {128, 64};
    shapes[p + "fc1.bias"] = {128};
    shapes[p + "fc2.weight"] = {64, 128};
    shapes[p + "fc2.bias"] = {64};
  }
  std::map<std::string, Shape> prefixed;
  for (auto &[name, shape] : shapes)
    prefixed["model.encoder." + name] = shape;
  return prefixed;
}

} // namespace

TEST_SUITE("safetensors") {

TEST_CASE("dtype names round trip and map to IR dtypes") {
  for (const char *name : {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F8_E4M3", "F8_E5M2", "F16",
                           "BF16", "F32", "F64"}) {
    std::optional<st::DType> d = st::dtypeFromName(name);
    REQUIRE(d);
    CHECK(st::dtypeName(*d) == name);
  }
  CHECK(!st::dtypeFromName("f32"));
  CHECK(st::elementSize(st::DType::BF16) == 2);
  CHECK(st::elementSize(st::DType::U64) == 8);
  CHECK(st::irDType(st::DType::F16) == gm::DType::F16);
  CHECK(st::irDType(st::DType::Bool) == gm::DType::Bool);
  CHECK(!st::irDType(st::DType::U16));
}

TEST_CASE("every dtype round trips; float dtypes widen exactly") {
  TempDir dir;
  std::vector<Entry> entries = {
      {"f32", "F32", {2, 2}, bytesOf<float>({1.5f, -0.0f, 3.4e38f, 1e-45f})},
      // 1, -2, the smallest subnormal 2^-24, the largest finite 65504, +inf
      {"f16", "F16", {5}, bytesOf<std::uint16_t>({0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00})},
      // 1, -5, the smallest subnormal 2^-133, the largest finite
      {"bf16", "BF16", {4}, bytesOf<std::uint16_t>({0x3F80, 0xC0A0, 0x0001, 0x7F7F})},
      {"f64", "F64", {2}, bytesOf<double>({0.1, -1e300})},
      {"i64", "I64", {2}, bytesOf<std::int64_t>({-(std::int64_t(1) << 62), 7})},
      {"i32", "I32", {1, 2}, bytesOf<std::int32_t>({-5, 1 << 30})},
      {"i16", "I16", {2}, bytesOf<std::int16_t>({-300, 300})},
      {"u16", "U16", {2}, bytesOf<std::uint16_t>({65535, 1})},
      {"u32", "U32", {1}, bytesOf<std::uint32_t>({4000000000u})},
      {"u64", "U64", {}, bytesOf<std::uint64_t>({~std::uint64_t(0)})},
      {"i8", "I8", {3}, bytesOf<std::int8_t>({-128, 0, 127})},
      {"u8", "U8", {3}, bytesOf<std::uint8_t>({0, 1, 255})},
      {"bool", "BOOL", {2}, bytesOf<std::uint8_t>({1, 0})},
      {"f8", "F8_E4M3", {2}, bytesOf<std::uint8_t>({0x38, 0xB8})},
      {"empty", "F32", {0, 3}, ""},
  };
  std::string file = dir.write("all.safetensors", wellFormedFile(entries, {{"format", "pt"}}));
  st::Archive archive = st::Archive::open(file);
  REQUIRE(archive.size() == entries.size());
  CHECK(archive.metadata().at("format") == "pt");
  for (const Entry &e : entries) {
    CAPTURE(e.name);
    const st::TensorView &t = archive.tensor(e.name);
    CHECK(st::dtypeName(t.dtype) == e.dtype);
    CHECK(t.shape == e.shape);
    CHECK(std::string(reinterpret_cast<const char *>(t.bytes.data()), t.bytes.size()) == e.data);
    CHECK(t.file->path() == file);
    // A view into the mapping, not a copy.
    CHECK(t.bytes.data() == t.file->bytes().data() + t.offset);
  }
  CHECK(archive.tensor("u64").numElements() == 1);
  CHECK(archive.tensor("empty").numElements() == 0);
  CHECK(st::toFloats(archive.tensor("empty")).empty());

  std::vector<float> f32 = st::toFloats(archive.tensor("f32"));
  CHECK(f32 == std::vector<float>{1.5f, -0.0f, 3.4e38f, 1e-45f});
  CHECK(std::signbit(f32[1]));
  CHECK(st::toFloats(archive.tensor("f16")) ==
        std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f, INFINITY});
  CHECK(st::toFloats(archive.tensor("bf16")) ==
        std::vector<float>{1.0f, -5.0f, std::ldexp(1.0f, -133), std::bit_cast<float>(0x7F7F0000u)});
  CHECK(st::toDoubles(archive.tensor("bf16"))[2] == std::ldexp(1.0, -133));
  CHECK(st::toDoubles(archive.tensor("f64")) == std::vector<double>{0.1, -1e300});

  // Integer and float8 tensors load, but are not read as floats; F64 only as doubles.
  for (const char *name : {"i64", "i32", "u8", "bool", "f8"}) {
    std::string message = errorOf([&] { st::toFloats(archive.tensor(name)); });
    CAPTURE(message);
    CHECK(contains(message, file + ": tensor '" + name + "': dtype "));
  }
  std::string f64 = errorOf([&] { st::toFloats(archive.tensor("f64")); });
  CHECK(contains(f64, "tensor 'f64': dtype F64; reading as float needs F16, BF16 or F32"));
  CHECK(contains(errorOf([&] { st::toDoubles(archive.tensor("i32")); }), "tensor 'i32': dtype I32; reading as double needs F16, BF16, F32 or F64"));

  CHECK(archive.find("nope") == nullptr);
  std::string missing = errorOf([&] { archive.tensor("nope"); });
  CHECK(missing == file + ": tensor 'nope': no such tensor");

  // Views outlive the archive: they hold the mapping.
  st::TensorView kept = archive.tensor("f16");
  archive = st::Archive::open(dir.write("other.safetensors", wellFormedFile({entries[0]})));
  CHECK(raw16(kept) == std::vector<std::uint16_t>{0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00});
}

TEST_CASE("a directory resolves to its single file; several files need a name") {
  TempDir dir;
  std::string file = dir.write("weights.safetensors", wellFormedFile({{"w", "F32", {1}, bytesOf<float>({2.0f})}}));
  st::Archive archive = st::Archive::open(dir.path().string());
  CHECK(archive.path() == file);
  CHECK(st::toFloats(archive.tensor("w")) == std::vector<float>{2.0f});
  dir.write("more.safetensors", wellFormedFile({{"v", "F32", {1}, bytesOf<float>({3.0f})}}));
  CHECK(contains(errorOf([&] { st::Archive::open(dir.path().string()); }), "2 .safetensors files; name one"));
  // model.safetensors is what transformers saves, and wins.
  dir.write("model.safetensors", wellFormedFile({{"m", "F32", {1}, bytesOf<float>({4.0f})}}));
  CHECK(st::Archive::open(dir.path().string()).names() == std::vector<std::string>{"m"});
  TempDir empty;
  CHECK(contains(errorOf([&] { st::Archive::open(empty.path().string()); }), "no .safetensors file"));
}

TEST_CASE("a sharded model: one name map over the shards, each opened once") {
  TempDir dir;
  std::string shard1 = dir.write("model-00001-of-00002.safetensors",
                                 wellFormedFile({{"a", "F32", {2}, bytesOf<float>({1, 2})},
                                                 {"b", "BF16", {1}, bytesOf<std::uint16_t>({0x4040})}},
                                                {{"format", "pt"}}));
  std::string shard2 = dir.write("model-00002-of-00002.safetensors",
                                 wellFormedFile({{"c", "F16", {1, 1}, bytesOf<std::uint16_t>({0xBC00})},
                                                 {"unlisted", "F32", {1}, bytesOf<float>({9})}}));
  json index = {{"metadata", {{"total_size", 14}}},
                {"weight_map",
                 {{"a", "model-00001-of-00002.safetensors"},
                  {"b", "model-00001-of-00002.safetensors"},
                  {"c", "model-00002-of-00002.safetensors"}}}};
  std::string indexPath = dir.write("model.safetensors.index.json", index.dump(2));

  for (const std::string &path : {indexPath, dir.path().string()}) {
    st::Archive archive = st::Archive::open(path);
    CHECK(archive.path() == indexPath);
    CHECK(archive.names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(archive.find("unlisted") == nullptr); // the index, not the shards, says what the model holds
    CHECK(archive.tensor("a").file->path() == shard1);
    CHECK(archive.tensor("c").file->path() == shard2);
    CHECK(archive.tensor("a").file.get() == archive.tensor("b").file.get());
    CHECK(st::toFloats(archive.tensor("a")) == std::vector<float>{1, 2});
    CHECK(st::toFloats(archive.tensor("b")) == std::vector<float>{3});
    CHECK(st::toFloats(archive.tensor("c")) == std::vector<float>{-1});
    CHECK(archive.tensor("c").shape == Shape{1, 1});
    CHECK(archive.metadata().at("format") == "pt");
  }

  index["weight_map"]["d"] = "model-00002-of-00002.safetensors";
  dir.write("model.safetensors.index.json", index.dump());
  CHECK(errorOf([&] { st::Archive::open(indexPath); }) ==
        indexPath + ": tensor 'd': weight_map names " + shard2 + ", which has no such tensor");

  index["weight_map"]["d"] = "model-00003-of-00002.safetensors";
  dir.write("model.safetensors.index.json", index.dump());
  CHECK(contains(errorOf([&] { st::Archive::open(indexPath); }), "model-00003-of-00002.safetensors: cannot open"));

  index["weight_map"]["d"] = 3;
  dir.write("model.safetensors.index.json", index.dump());
  CHECK(contains(errorOf([&] { st::Archive::open(indexPath); }),
                 indexPath + ": tensor 'd': weight_map value 3 is not a file name"));

  dir.write("model.safetensors.index.json", R"({"metadata": {}})");
  CHECK(contains(errorOf([&] { st::Archive::open(indexPath); }), indexPath + ": no \"weight_map\""));
  dir.write("model.safetensors.index.json", R"({"weight_map": {"a": "x", "a": "y"}})");
  CHECK(contains(errorOf([&] { st::Archive::open(indexPath); }), "key 'a' appears twice"));
}

TEST_CASE("malformed files give one-line errors naming the file and the tensor") {
  TempDir dir;
  std::string file = (dir.path() / "bad.safetensors").string();
  std::string w = file + ": tensor 'w': ";
  std::string f32x2 = bytesOf<float>({1, 2});
  auto check = [&](const std::string &message, const std::string &expected) {
    CAPTURE(message);
    CHECK(contains(message, expected));
    CHECK(!contains(message, "\n"));
  };

  // The frame: header length and JSON.
  dir.write("bad.safetensors", "abc");
  check(errorOf([&] { st::Archive::open(file); }), file + ": 3 bytes is too short");
  std::string longHeader = rawFile("{}", "");
  longHeader[0] = char(200);
  dir.write("bad.safetensors", longHeader);
  check(errorOf([&] { st::Archive::open(file); }), file + ": header length 200 reaches past the end of the 10-byte");
  std::string absurd = rawFile("{}", "");
  std::memset(absurd.data(), 0xff, 8);
  dir.write("bad.safetensors", absurd);
  check(errorOf([&] { st::Archive::open(file); }), "header length 18446744073709551615 reaches past");
  check(openError(dir, R"({"w": {"dtype": "F32",}})", f32x2), file + ": header: parse error at line 1, column 23");
  check(openError(dir, "[1, 2]", ""), file + ": header is not a JSON object");
  check(openError(dir, R"({"w": 5})", ""), w + "header entry is not an object");
  check(openError(dir, R"({"__metadata__": {"n": 3}})", ""), file + ": __metadata__ 'n' is 3, not a string");

  // Fields.
  check(openError(dir, R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", f32x2), w + "header entry has no 'dtype'");
  check(openError(dir, R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", f32x2), w + "header entry has no 'shape'");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2]}})", f32x2), w + "header entry has no 'data_offsets'");
  check(openError(dir, R"({"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}})", f32x2),
        w + "'dtype' 32 is not a string");
  check(openError(dir, R"({"w": {"dtype": "F7", "shape": [2], "data_offsets": [0, 8]}})", f32x2),
        w + "unknown dtype 'F7'");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", f32x2),
        w + "'shape' 2 is not an array");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8]}})", f32x2),
        w + "'data_offsets' [8] is not a pair");

  // Shapes.
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})", f32x2),
        w + "shape dimension -1 is negative");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", f32x2),
        w + "shape dimension 2.5 is not an integer");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]}})", f32x2),
        w + "shape dimension 18446744073709551615 overflows int64");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", f32x2),
        w + "shape [4294967296,4294967296] has more than 2^40 elements");

  // Offsets.
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", f32x2),
        w + "data offset -8 is negative");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 4]}})", f32x2),
        w + "data_offsets [8, 4] end before they begin");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", f32x2),
        w + "data_offsets [4, 12] reach past the 8 data bytes");
  check(openError(dir, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", f32x2),
        w + "data_offsets [0, 8] hold 8 bytes, F32 [3] needs 12");
  check(openError(dir, R"({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 8]}})", f32x2),
        w + "data_offsets [0, 8] hold 8 bytes, F16 [2] needs 4");
  check(openError(dir,
                  R"({"v": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                      "w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                  f32x2 + f32x2),
        w + "data_offsets [4, 12] overlap tensor 'v' at [0, 8]");
  // An empty tensor may point anywhere in range; gaps between tensors are allowed.
  CHECK(openError(dir,
                  R"({"v": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                      "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                      "w": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})",
                  f32x2 + f32x2) == "(no error)");

  // Names.
  check(openError(dir,
                  R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                      "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                  f32x2 + f32x2),
        file + ": header: key 'w' appears twice");
}

TEST_CASE("HF config.json: typed getters name the key") {
  TempDir dir;
  std::string path = dir.write("config.json", R"({"model_type": "whisper", "num_mel_bins": 80, "d_model": 64,
      "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 128, "max_source_positions": 16,
      "activation_function": "gelu", "layer_norm_eps": 1e-6, "use_cache": true, "rope_scaling": null})");
  hf::Config config = hf::Config::readFile(path);
  CHECK(config.integer("d_model") == 64);
  CHECK(config.number("d_model") == 64.0);
  CHECK(config.number("layer_norm_eps") == 1e-6);
  CHECK(config.boolean("use_cache"));
  CHECK(config.string("activation_function") == "gelu");
  CHECK(config.has("d_model"));
  CHECK(!config.has("rope_scaling"));
  CHECK(!config.has("vocab_size"));
  CHECK(errorOf([&] { config.integer("vocab_size"); }) == path + ": key 'vocab_size': missing");
  CHECK(errorOf([&] { config.integer("rope_scaling"); }) == path + ": key 'rope_scaling': missing");
  CHECK(errorOf([&] { config.integer("layer_norm_eps"); }) == path + ": key 'layer_norm_eps': expected an integer, got 1e-06");
  CHECK(errorOf([&] { config.string("d_model"); }) == path + ": key 'd_model': expected a string, got 64");
  CHECK(errorOf([&] { config.boolean("model_type"); }) ==
        path + ": key 'model_type': expected true or false, got \"whisper\"");
  CHECK(hf::whisperEncoderConfig(config).layerNormEps == 1e-6);

  auto whisperError = [&](const std::string &text) {
    std::string p = dir.write("bad_config.json", text);
    return errorOf([&] { hf::whisperEncoderConfig(hf::Config::readFile(p)); });
  };
  std::string bad = (dir.path() / "bad_config.json").string();
  std::string base = R"("model_type": "whisper", "num_mel_bins": 80, "encoder_layers": 2, "encoder_ffn_dim": 128,
      "max_source_positions": 16, "activation_function": "gelu")";
  CHECK(whisperError("{" + base + R"(, "encoder_attention_heads": 4})") == bad + ": key 'd_model': missing");
  CHECK(whisperError("{" + base + R"(, "d_model": "64", "encoder_attention_heads": 4})") ==
        bad + ": key 'd_model': expected an integer, got \"64\"");
  CHECK(whisperError("{" + base + R"(, "d_model": 0, "encoder_attention_heads": 4})") ==
        bad + ": key 'd_model': expected a positive integer, got 0");
  CHECK(whisperError("{" + base + R"(, "d_model": 64, "encoder_attention_heads": 5})") ==
        bad + ": d_model 64 is not a multiple of encoder_attention_heads 5");
  CHECK(whisperError(R"({"model_type": "qwen3"})") == bad + ": key 'model_type': expected 'whisper', got 'qwen3'");
  CHECK(contains(whisperError(R"({"model_type": "whisper",)"), bad + ": parse error at line 1, column 26"));
  CHECK(whisperError("[]") == bad + ": config is not a JSON object");
  CHECK(contains(errorOf([&] { hf::Config::readFile((dir.path() / "absent.json").string()); }), "absent.json: cannot open"));
}

TEST_CASE("shared whisper_tiny: 37 tensors; the F16 file is the F32 file rounded to nearest") {
  if (!haveWhisper())
    return;
  st::Archive f32 = st::Archive::open((transformersDir() / "whisper_tiny_f32.safetensors").string());
  st::Archive f16 = st::Archive::open((transformersDir() / "whisper_tiny_f16.safetensors").string());
  std::map<std::string, Shape> expected = whisperShapes();
  REQUIRE(expected.size() == 37);
  CHECK(f32.size() == 37);
  CHECK(f16.size() == 37);
  CHECK(f32.metadata().at("format") == "pt");
  std::int64_t elements = 0;
  for (const auto &[name, shape] : expected) {
    CAPTURE(name);
    const st::TensorView *a = f32.find(name);
    const st::TensorView *b = f16.find(name);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->dtype == st::DType::F32);
    CHECK(b->dtype == st::DType::F16);
    CHECK(a->shape == shape);
    CHECK(b->shape == shape);
    std::vector<float> wide = st::toFloats(*a);
    std::vector<std::uint16_t> half = raw16(*b);
    REQUIRE(half.size() == wide.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < wide.size(); ++i)
      mismatches += floatToHalfNearest(wide[i]) != half[i];
    CHECK(mismatches == 0);
    elements += a->numElements();
  }
  // Every data byte is some tensor's: 8 + header + 4 bytes per element is the file size.
  CHECK(f32.tensor("model.encoder.conv1.bias").offset + 4 * elements ==
        fs::file_size(transformersDir() / "whisper_tiny_f32.safetensors"));
}

TEST_CASE("shared whisper_tiny: embed_positions is the sinusoid table") {
  if (!haveWhisper())
    return;
  st::Archive archive = st::Archive::open((transformersDir() / "whisper_tiny_f32.safetensors").string());
  const st::TensorView &t = archive.tensor("model.encoder.embed_positions.weight");
  REQUIRE(t.shape == Shape{16, 64});
  std::vector<double> table = st::toDoubles(t);
  // sin over the first 32 channels, cos over the last 32, timescales exp(-c ln(10000)/31).
  double worst = 0;
  for (int position = 0; position < 16; ++position)
    for (int c = 0; c < 32; ++c) {
      double angle = position * std::exp(-c * std::log(10000.0) / 31);
      worst = std::max(worst, std::abs(table[position * 64 + c] - std::sin(angle)));
      worst = std::max(worst, std::abs(table[position * 64 + 32 + c] - std::cos(angle)));
    }
  CHECK(worst < 1e-6);
  CHECK(table[64 + 0] == doctest::Approx(std::sin(1.0)));
}

TEST_CASE("shared whisper_tiny: config.json") {
  if (!haveWhisper())
    return;
  hf::WhisperEncoderConfig w =
      hf::whisperEncoderConfig(hf::Config::readFile((transformersDir() / "whisper_tiny_config.json").string()));
  CHECK(w.modelType == "whisper");
  CHECK(w.dModel == 64);
  CHECK(w.encoderLayers == 2);
  CHECK(w.encoderAttentionHeads == 4);
  CHECK(w.encoderFfnDim == 128);
  CHECK(w.numMelBins == 80);
  CHECK(w.maxSourcePositions == 16);
  CHECK(w.activationFunction == "gelu");
  CHECK(w.layerNormEps == 1e-5);
}

} // TEST_SUITE
