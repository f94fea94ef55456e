// Block structs as in ggml-common.h (and dequantize.cpp, which reads them).
#include "frontend/gguf/quantize.h"

#include "ir/constant.h"
#include "ir/error.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

namespace gm::gguf {

namespace {

constexpr int QK_K = 256;

struct BlockQ4_0 {
  std::uint16_t d;
  std::uint8_t qs[16];
};
struct BlockQ8_0 {
  std::uint16_t d;
  std::int8_t qs[32];
};
struct BlockQ4_K {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[QK_K / 8];
  std::uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
  std::uint8_t ql[QK_K / 2];
  std::uint8_t qh[QK_K / 4];
  std::int8_t scales[QK_K / 16];
  std::uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// ---- ggml's reference quantisers ----

BlockQ8_0 encodeQ8_0(const float *x) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j)
    amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  BlockQ8_0 y;
  y.d = floatToHalfNearest(d);
  for (int j = 0; j < 32; ++j)
    y.qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
  return y;
}

// The scale is the signed extreme over -8, so the extreme lands exactly on
// level 0 and the other sign gets one level fewer (clamped at 15).
BlockQ4_0 encodeQ4_0(const float *x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8;
  const float id = d ? 1.0f / d : 0.0f;
  BlockQ4_0 y;
  y.d = floatToHalfNearest(d);
  for (int j = 0; j < 16; ++j) {
    const auto xi0 = static_cast<std::uint8_t>(std::min(15, int(static_cast<std::int8_t>(x[j] * id + 8.5f))));
    const auto xi1 = static_cast<std::uint8_t>(std::min(15, int(static_cast<std::int8_t>(x[16 + j] * id + 8.5f))));
    y.qs[j] = static_cast<std::uint8_t>(xi0 | (xi1 << 4));
  }
  return y;
}

// ---- K-quants: scales rounded up so every sub-block's range is covered ----

// The smallest half >= v (v >= 0): a super-block scale rounded down to fp16
// would leave the largest sub-block scale one step past its 6 or 8 bits.
std::uint16_t halfAtLeast(float v) {
  GAMMA_ASSERT(v >= 0 && v < 65504.0f, "K-quant scale out of the fp16 range");
  std::uint16_t h = floatToHalfNearest(v);
  if (halfToFloat(h) < v)
    ++h; // positive halves are ordered like their bit patterns
  return h;
}

int roundClamped(float v, int lo, int hi) { return std::clamp(static_cast<int>(std::lround(v)), lo, hi); }

// The smallest integer k in [0, max] with k * unit >= v (v >= 0).
int ceilSteps(float v, float unit, int max) {
  return unit > 0 ? std::clamp(static_cast<int>(std::ceil(v / unit)), 0, max) : 0;
}

// Q4_K and Q5_K: value = d*sc[j]*q - dmin*m[j] over 8 sub-blocks of 32, with
// 6-bit sc and m and q in [0, levels]. Like ggml, the min is never above 0.
struct ScaleMin {
  std::uint16_t d = 0, dmin = 0;
  std::uint8_t sc[8] = {}, m[8] = {};
  std::uint8_t q[QK_K] = {};
};

ScaleMin chooseScaleMin(const float *x, int levels) {
  float lo[8], hi[8], largestMin = 0;
  for (int j = 0; j < 8; ++j) {
    lo[j] = 0, hi[j] = 0;
    for (int l = 0; l < 32; ++l) {
      lo[j] = std::min(lo[j], x[32 * j + l]);
      hi[j] = std::max(hi[j], x[32 * j + l]);
    }
    largestMin = std::max(largestMin, -lo[j]);
  }
  ScaleMin s;
  s.dmin = halfAtLeast(largestMin / 63);
  const float dmin = halfToFloat(s.dmin);
  float offset[8], need[8], largestNeed = 0;
  for (int j = 0; j < 8; ++j) {
    s.m[j] = static_cast<std::uint8_t>(ceilSteps(-lo[j], dmin, 63));
    offset[j] = dmin * s.m[j]; // as the decoder computes it
    need[j] = (hi[j] + offset[j]) / levels;
    largestNeed = std::max(largestNeed, need[j]);
  }
  s.d = halfAtLeast(largestNeed / 63);
  const float d = halfToFloat(s.d);
  for (int j = 0; j < 8; ++j) {
    s.sc[j] = static_cast<std::uint8_t>(ceilSteps(need[j], d, 63));
    const float step = d * s.sc[j];
    for (int l = 0; l < 32; ++l)
      s.q[32 * j + l] = step > 0 ? static_cast<std::uint8_t>(roundClamped((x[32 * j + l] + offset[j]) / step, 0, levels))
                                 : 0;
  }
  return s;
}

// The inverse of dequantize.cpp's scaleMinK4 (ggml's packing in quantize_row_q4_K_ref).
void packScaleMin(const ScaleMin &s, std::uint8_t *scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const std::uint8_t ls = s.sc[j], lm = s.m[j];
    if (j < 4) {
      scales[j] = ls;
      scales[j + 4] = lm;
    } else {
      scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
      scales[j - 0] |= static_cast<std::uint8_t>((lm >> 4) << 6);
    }
  }
}

// Sub-blocks 2c and 2c+1 share 32 bytes of qs: low nibbles, then high ones.
BlockQ4_K encodeQ4_K(const float *x) {
  ScaleMin s = chooseScaleMin(x, 15);
  BlockQ4_K y;
  y.d = s.d;
  y.dmin = s.dmin;
  packScaleMin(s, y.scales);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      y.qs[32 * c + l] = static_cast<std::uint8_t>(s.q[64 * c + l] | (s.q[64 * c + 32 + l] << 4));
  return y;
}

// As Q4_K, with the fifth bit of sub-block j in bit j of qh[l].
BlockQ5_K encodeQ5_K(const float *x) {
  ScaleMin s = chooseScaleMin(x, 31);
  BlockQ5_K y;
  y.d = s.d;
  y.dmin = s.dmin;
  packScaleMin(s, y.scales);
  std::memset(y.qh, 0, sizeof y.qh);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t q0 = s.q[64 * c + l], q1 = s.q[64 * c + 32 + l];
      y.qs[32 * c + l] = static_cast<std::uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      y.qh[l] |= static_cast<std::uint8_t>(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
    }
  return y;
}

// value = d*sc[g]*q over 16 groups of 16, sc an int8 and q in [-32, 31];
// the scales are symmetric (q in [-31, 31]) so both signs fit.
BlockQ6_K encodeQ6_K(const float *x) {
  float groupScale[16], largest = 0;
  for (int g = 0; g < 16; ++g) {
    float amax = 0;
    for (int l = 0; l < 16; ++l)
      amax = std::max(amax, std::fabs(x[16 * g + l]));
    groupScale[g] = amax / 31;
    largest = std::max(largest, groupScale[g]);
  }
  BlockQ6_K y;
  y.d = halfAtLeast(largest / 127);
  const float d = halfToFloat(y.d);
  int q[QK_K];
  for (int g = 0; g < 16; ++g) {
    y.scales[g] = static_cast<std::int8_t>(ceilSteps(groupScale[g], d, 127));
    const float step = d * y.scales[g];
    for (int l = 0; l < 16; ++l)
      q[16 * g + l] = (step > 0 ? roundClamped(x[16 * g + l] / step, -32, 31) : 0) + 32;
  }
  // Each half of 128: ql holds elements l and l+32 (low nibbles) and l+64,
  // l+96 (high nibbles); qh[l] their top two bits, in that order.
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int *e = q + 128 * h + l;
      y.ql[64 * h + l] = static_cast<std::uint8_t>((e[0] & 0xF) | ((e[64] & 0xF) << 4));
      y.ql[64 * h + 32 + l] = static_cast<std::uint8_t>((e[32] & 0xF) | ((e[96] & 0xF) << 4));
      y.qh[32 * h + l] =
          static_cast<std::uint8_t>((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
    }
  return y;
}

// ---- dispatch ----

template <typename Block, Block (*encode)(const float *), int kElements>
void encodeBlocks(std::span<const float> x, std::byte *out) {
  for (std::size_t i = 0; i < x.size(); i += kElements, out += sizeof(Block)) {
    const Block block = encode(x.data() + i);
    std::memcpy(out, &block, sizeof block);
  }
}

template <std::uint16_t (*narrow)(float)> void encode16(std::span<const float> x, std::byte *out) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::uint16_t bits = narrow(x[i]);
    std::memcpy(out + 2 * i, &bits, 2);
  }
}

void encodeF32(std::span<const float> x, std::byte *out) { std::memcpy(out, x.data(), x.size_bytes()); }

struct Encoder {
  GgmlType type;
  std::string_view name; // lower case, as gamma-synth's --type takes it
  void (*fn)(std::span<const float>, std::byte *);
};

constexpr Encoder kEncoders[] = {
    {GgmlType::F32, "f32", encodeF32},
    {GgmlType::F16, "f16", encode16<floatToHalfNearest>},
    {GgmlType::BF16, "bf16", encode16<floatToBfloat16Nearest>},
    {GgmlType::Q8_0, "q8_0", encodeBlocks<BlockQ8_0, encodeQ8_0, 32>},
    {GgmlType::Q4_0, "q4_0", encodeBlocks<BlockQ4_0, encodeQ4_0, 32>},
    {GgmlType::Q4_K, "q4_k", encodeBlocks<BlockQ4_K, encodeQ4_K, QK_K>},
    {GgmlType::Q5_K, "q5_k", encodeBlocks<BlockQ5_K, encodeQ5_K, QK_K>},
    {GgmlType::Q6_K, "q6_k", encodeBlocks<BlockQ6_K, encodeQ6_K, QK_K>},
};

const Encoder *encoderFor(GgmlType type) {
  for (const Encoder &e : kEncoders)
    if (e.type == type)
      return &e;
  return nullptr;
}

} // namespace

bool canQuantize(GgmlType type) { return encoderFor(type) != nullptr; }

std::optional<GgmlType> quantizableTypeFromName(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const Encoder &e : kEncoders)
    if (e.name == lower)
      return e.type;
  return std::nullopt;
}

std::string_view quantizableTypeNames() { return "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k"; }

std::uint64_t quantizedBytes(GgmlType type, std::int64_t elements) {
  const GgmlTypeInfo &info = ggmlTypeInfo(type);
  GAMMA_ASSERT(elements >= 0 && elements % info.blockSize == 0, "quantizedBytes: not a whole number of blocks");
  return static_cast<std::uint64_t>(elements / info.blockSize * info.blockBytes);
}

void quantize(GgmlType type, std::span<const float> x, std::byte *out) {
  const Encoder *encoder = encoderFor(type);
  GAMMA_ASSERT(encoder, "quantize: a type without an encoder");
  GAMMA_ASSERT(x.size() % static_cast<std::size_t>(ggmlTypeInfo(type).blockSize) == 0,
               "quantize: not a whole number of blocks");
  encoder->fn(x, out);
}

std::vector<std::byte> quantize(GgmlType type, std::span<const float> x) {
  std::vector<std::byte> out(quantizedBytes(type, static_cast<std::int64_t>(x.size())));
  quantize(type, x, out.data());
  return out;
}

} // namespace gm::gguf
