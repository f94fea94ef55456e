// Each decode() is ggml-quants.c's dequantize_row_* for one block, with the
// block struct of ggml-common.h; expressions keep ggml's operand order and
// types (int to float conversions included) so the floats come out the same.
#include "frontend/gguf/dequantize.h"

#include "ir/constant.h"
#include "ir/error.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace gm::gguf {

namespace {

constexpr int QK_K = 256;

// ---- block layouts (ggml-common.h); fp16 fields are raw bit patterns ----

struct BlockQ4_0 {
  static constexpr int kElements = 32;
  std::uint16_t d;
  std::uint8_t qs[16]; // element j in the low nibble of qs[j], element j + 16 in the high one
};
struct BlockQ4_1 {
  static constexpr int kElements = 32;
  std::uint16_t d, m;
  std::uint8_t qs[16];
};
struct BlockQ5_0 {
  static constexpr int kElements = 32;
  std::uint16_t d;
  std::uint8_t qh[4]; // fifth bits, one per element
  std::uint8_t qs[16];
};
struct BlockQ5_1 {
  static constexpr int kElements = 32;
  std::uint16_t d, m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct BlockQ8_0 {
  static constexpr int kElements = 32;
  std::uint16_t d;
  std::int8_t qs[32];
};
struct BlockQ2_K {
  static constexpr int kElements = QK_K;
  std::uint8_t scales[QK_K / 16]; // low nibble scale, high nibble min, per 16 elements
  std::uint8_t qs[QK_K / 4];
  std::uint16_t d, dmin;
};
struct BlockQ3_K {
  static constexpr int kElements = QK_K;
  std::uint8_t hmask[QK_K / 8];
  std::uint8_t qs[QK_K / 4];
  std::uint8_t scales[12]; // 16 six-bit scales
  std::uint16_t d;
};
struct BlockQ4_K {
  static constexpr int kElements = QK_K;
  std::uint16_t d, dmin;
  std::uint8_t scales[12]; // 8 six-bit (scale, min) pairs, see scaleMinK4
  std::uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
  static constexpr int kElements = QK_K;
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[QK_K / 8];
  std::uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
  static constexpr int kElements = QK_K;
  std::uint8_t ql[QK_K / 2];
  std::uint8_t qh[QK_K / 4];
  std::int8_t scales[QK_K / 16];
  std::uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ2_K) == 84 &&
              sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 &&
              sizeof(BlockQ6_K) == 210);

float fp16(std::uint16_t bits) { return halfToFloat(bits); }

// ---- the 32-element formats ----

void decode(const BlockQ4_0 &x, float *y) {
  const float d = fp16(x.d);
  for (int j = 0; j < 16; ++j) {
    const int x0 = (x.qs[j] & 0x0F) - 8;
    const int x1 = (x.qs[j] >> 4) - 8;
    y[j] = x0 * d;
    y[j + 16] = x1 * d;
  }
}

void decode(const BlockQ4_1 &x, float *y) {
  const float d = fp16(x.d);
  const float m = fp16(x.m);
  for (int j = 0; j < 16; ++j) {
    const int x0 = x.qs[j] & 0x0F;
    const int x1 = x.qs[j] >> 4;
    y[j] = x0 * d + m;
    y[j + 16] = x1 * d + m;
  }
}

void decode(const BlockQ5_0 &x, float *y) {
  const float d = fp16(x.d);
  std::uint32_t qh;
  std::memcpy(&qh, x.qh, sizeof qh);
  for (int j = 0; j < 16; ++j) {
    const std::uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
    const std::uint8_t xh1 = (qh >> (j + 12)) & 0x10;
    const std::int32_t x0 = ((x.qs[j] & 0x0F) | xh0) - 16;
    const std::int32_t x1 = ((x.qs[j] >> 4) | xh1) - 16;
    y[j] = x0 * d;
    y[j + 16] = x1 * d;
  }
}

void decode(const BlockQ5_1 &x, float *y) {
  const float d = fp16(x.d);
  const float m = fp16(x.m);
  std::uint32_t qh;
  std::memcpy(&qh, x.qh, sizeof qh);
  for (int j = 0; j < 16; ++j) {
    const std::uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
    const std::uint8_t xh1 = (qh >> (j + 12)) & 0x10;
    const int x0 = (x.qs[j] & 0x0F) | xh0;
    const int x1 = (x.qs[j] >> 4) | xh1;
    y[j] = x0 * d + m;
    y[j + 16] = x1 * d + m;
  }
}

void decode(const BlockQ8_0 &x, float *y) {
  const float d = fp16(x.d);
  for (int j = 0; j < 32; ++j)
    y[j] = x.qs[j] * d;
}

// ---- K-quants: super-blocks of 256 ----

void decode(const BlockQ2_K &x, float *y) {
  const float d = fp16(x.d);
  const float min = fp16(x.dmin);
  const std::uint8_t *q = x.qs;
  int is = 0;
  for (int n = 0; n < QK_K; n += 128) {
    int shift = 0;
    for (int j = 0; j < 4; ++j) {
      std::uint8_t sc = x.scales[is++];
      float dl = d * (sc & 0xF);
      float ml = min * (sc >> 4);
      for (int l = 0; l < 16; ++l)
        *y++ = dl * static_cast<std::int8_t>((q[l] >> shift) & 3) - ml;
      sc = x.scales[is++];
      dl = d * (sc & 0xF);
      ml = min * (sc >> 4);
      for (int l = 0; l < 16; ++l)
        *y++ = dl * static_cast<std::int8_t>((q[l + 16] >> shift) & 3) - ml;
      shift += 2;
    }
    q += 32;
  }
}

void decode(const BlockQ3_K &x, float *y) {
  constexpr std::uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const float dAll = fp16(x.d);
  // Unpack the 16 six-bit scales: low nibbles in bytes 0-7, high bit pairs in 8-11.
  std::uint32_t aux[4];
  std::memcpy(aux, x.scales, 12);
  const std::uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  std::int8_t scales[16];
  std::memcpy(scales, aux, sizeof scales);

  const std::uint8_t *q = x.qs;
  const std::uint8_t *hm = x.hmask;
  std::uint8_t m = 1;
  int is = 0;
  for (int n = 0; n < QK_K; n += 128) {
    int shift = 0;
    for (int j = 0; j < 4; ++j) {
      float dl = dAll * (scales[is++] - 32);
      for (int l = 0; l < 16; ++l)
        *y++ = dl * (static_cast<std::int8_t>((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
      dl = dAll * (scales[is++] - 32);
      for (int l = 0; l < 16; ++l)
        *y++ = dl * (static_cast<std::int8_t>((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
      shift += 2;
      m <<= 1;
    }
    q += 32;
  }
}

// ggml's get_scale_min_k4: pairs 0-3 are the low six bits of bytes 0-3 (scale)
// and 4-7 (min); pairs 4-7 take their low nibbles from bytes 8-11 and their
// top two bits from the spare bits of bytes 0-7.
void scaleMinK4(int j, const std::uint8_t *q, std::uint8_t &d, std::uint8_t &m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

void decode(const BlockQ4_K &x, float *y) {
  const float d = fp16(x.d);
  const float min = fp16(x.dmin);
  const std::uint8_t *q = x.qs;
  int is = 0;
  std::uint8_t sc, m;
  for (int j = 0; j < QK_K; j += 64) {
    scaleMinK4(is + 0, x.scales, sc, m);
    const float d1 = d * sc, m1 = min * m;
    scaleMinK4(is + 1, x.scales, sc, m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void decode(const BlockQ5_K &x, float *y) {
  const float d = fp16(x.d);
  const float min = fp16(x.dmin);
  const std::uint8_t *ql = x.qs;
  const std::uint8_t *qh = x.qh;
  int is = 0;
  std::uint8_t sc, m;
  std::uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < QK_K; j += 64) {
    scaleMinK4(is + 0, x.scales, sc, m);
    const float d1 = d * sc, m1 = min * m;
    scaleMinK4(is + 1, x.scales, sc, m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

void decode(const BlockQ6_K &x, float *y) {
  const float d = fp16(x.d);
  const std::uint8_t *ql = x.ql;
  const std::uint8_t *qh = x.qh;
  const std::int8_t *sc = x.scales;
  for (int n = 0; n < QK_K; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const std::int8_t q1 = static_cast<std::int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const std::int8_t q2 = static_cast<std::int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const std::int8_t q3 = static_cast<std::int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const std::int8_t q4 = static_cast<std::int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

// ---- dispatch ----

using DecodeFn = void (*)(const std::uint8_t *src, float *out, std::int64_t blocks);

template <typename Block> void decodeBlocks(const std::uint8_t *src, float *out, std::int64_t blocks) {
  for (std::int64_t i = 0; i < blocks; ++i, src += sizeof(Block), out += Block::kElements) {
    Block block;
    std::memcpy(&block, src, sizeof block); // the mapping gives no alignment guarantee for the struct
    decode(block, out);
  }
}

void decodeF32(const std::uint8_t *src, float *out, std::int64_t n) {
  std::memcpy(out, src, static_cast<std::size_t>(n) * sizeof(float));
}

template <float (*widen)(std::uint16_t)> void decode16(const std::uint8_t *src, float *out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, src + 2 * i, 2);
    out[i] = widen(bits);
  }
}

struct Decoder {
  GgmlType type;
  std::size_t blockBytes; // checked against ggml_type.cpp's table
  DecodeFn fn;
};

constexpr Decoder kDecoders[] = {
    {GgmlType::F32, 4, decodeF32},
    {GgmlType::F16, 2, decode16<halfToFloat>},
    {GgmlType::BF16, 2, decode16<bfloat16ToFloat>},
    {GgmlType::Q4_0, sizeof(BlockQ4_0), decodeBlocks<BlockQ4_0>},
    {GgmlType::Q4_1, sizeof(BlockQ4_1), decodeBlocks<BlockQ4_1>},
    {GgmlType::Q5_0, sizeof(BlockQ5_0), decodeBlocks<BlockQ5_0>},
    {GgmlType::Q5_1, sizeof(BlockQ5_1), decodeBlocks<BlockQ5_1>},
    {GgmlType::Q8_0, sizeof(BlockQ8_0), decodeBlocks<BlockQ8_0>},
    {GgmlType::Q2_K, sizeof(BlockQ2_K), decodeBlocks<BlockQ2_K>},
    {GgmlType::Q3_K, sizeof(BlockQ3_K), decodeBlocks<BlockQ3_K>},
    {GgmlType::Q4_K, sizeof(BlockQ4_K), decodeBlocks<BlockQ4_K>},
    {GgmlType::Q5_K, sizeof(BlockQ5_K), decodeBlocks<BlockQ5_K>},
    {GgmlType::Q6_K, sizeof(BlockQ6_K), decodeBlocks<BlockQ6_K>},
};

const Decoder *decoderFor(GgmlType type) {
  for (const Decoder &d : kDecoders)
    if (d.type == type)
      return &d;
  return nullptr;
}

std::string supportedTypes() {
  std::string names;
  for (const Decoder &d : kDecoders)
    names += fmt::format("{}{}", names.empty() ? "" : ", ", ggmlTypeName(d.type));
  return names;
}

const Decoder &requireDecoder(const TensorInfo &tensor) {
  const Decoder *decoder = decoderFor(tensor.type);
  if (!decoder)
    fail(tensor.where(), "ggml type {} ({}) cannot be dequantized (gamma reads {})",
         ggmlTypeName(tensor.type), static_cast<std::uint32_t>(tensor.type), supportedTypes());
  return *decoder;
}

} // namespace

bool canDequantize(GgmlType type) { return decoderFor(type) != nullptr; }

namespace {
template <GgmlType T> void decodeFormat(const std::byte *blocks, std::int64_t numBlocks, float *out) {
  const Decoder *d = decoderFor(T);
  // The plain types' decoders count elements, the block types' count blocks;
  // both have one element per "block" or numBlocks blocks here.
  d->fn(reinterpret_cast<const std::uint8_t *>(blocks), out, numBlocks);
}

template <GgmlType T> BlockFormat makeFormat() {
  const GgmlTypeInfo &info = ggmlTypeInfo(T);
  return BlockFormat{info.name, info.blockSize, info.blockBytes, decodeFormat<T>};
}

const std::vector<BlockFormat> &formats() {
  static const std::vector<BlockFormat> all = [] {
    std::vector<BlockFormat> f = {
        makeFormat<GgmlType::F16>(),  makeFormat<GgmlType::BF16>(), makeFormat<GgmlType::Q4_0>(),
        makeFormat<GgmlType::Q4_1>(), makeFormat<GgmlType::Q5_0>(), makeFormat<GgmlType::Q5_1>(),
        makeFormat<GgmlType::Q8_0>(), makeFormat<GgmlType::Q2_K>(), makeFormat<GgmlType::Q3_K>(),
        makeFormat<GgmlType::Q4_K>(), makeFormat<GgmlType::Q5_K>(), makeFormat<GgmlType::Q6_K>(),
    };
    return f;
  }();
  static const bool registered = [] {
    for (const BlockFormat &f : all)
      registerBlockFormat(f);
    return true;
  }();
  (void)registered;
  return all;
}
} // namespace

const BlockFormat *blockFormat(GgmlType type) {
  std::string_view name = ggmlTypeName(type);
  for (const BlockFormat &f : formats())
    if (f.name == name)
      return &f;
  return nullptr;
}

void registerBlockFormats() { formats(); }

void dequantizeRows(const TensorInfo &tensor, std::int64_t row0, std::int64_t rows, float *out) {
  const Decoder *decoder = &requireDecoder(tensor);
  const GgmlTypeInfo &info = ggmlTypeInfo(tensor.type);
  GAMMA_ASSERT(decoder->blockBytes == static_cast<std::size_t>(info.blockBytes), "block size tables disagree");
  GAMMA_ASSERT(row0 >= 0 && rows >= 0 && row0 <= tensor.numRows() && rows <= tensor.numRows() - row0,
               "dequantizeRows: rows out of range");
  const std::uint64_t rowBytes = tensor.rowBytes();
  GAMMA_ASSERT(tensor.bytes.size() == rowBytes * static_cast<std::uint64_t>(tensor.numRows()),
               "tensor bytes do not match its shape");
  const auto *src = reinterpret_cast<const std::uint8_t *>(tensor.bytes.data()) + row0 * rowBytes;
  decoder->fn(src, out, rows * (tensor.rowLength() / info.blockSize));
}

std::vector<float> dequantize(const TensorInfo &tensor) {
  requireDecoder(tensor); // before allocating for a tensor that cannot be read
  std::vector<float> out(static_cast<std::size_t>(tensor.numElements()));
  dequantizeRows(tensor, 0, tensor.numRows(), out.data());
  return out;
}

} // namespace gm::gguf
