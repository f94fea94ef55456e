#include "codegen/cpu_features.h"

#include "ir/error.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <span>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace gm::codegen {

namespace {

// x86-64-v3 as LLVM defines it (AVX2, FMA, BMI1/2, ...); x86-64-v4 adds the
// AVX-512 subsets. Arrays, not vectors: nothing to construct at start-up.
constexpr std::string_view kV3[] = {"cx16", "sahf", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3", "avx",
                                    "avx2", "bmi",  "bmi2",   "f16c", "fma",    "lzcnt",  "movbe", "xsave"};
constexpr std::string_view kV4[] = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"};

#if defined(__x86_64__)
constexpr std::string_view kHostArch = "x86_64";
#elif defined(__aarch64__)
constexpr std::string_view kHostArch = "aarch64";
#else
constexpr std::string_view kHostArch = "unknown";
#endif

struct Feature {
  std::string_view name;
  bool present;
};

#if defined(__x86_64__)

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

// All zero for a leaf above the CPU's maximum (basic or extended range).
Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.a, &r.b, &r.c, &r.d))
    return {};
  return r;
}

bool bit(unsigned reg, int n) { return (reg >> n) & 1; }

// The rules of LLVM's sys::getHostCPUFeatures for these names: AVX, FMA,
// F16C, XSAVE and AVX2 only when the OS saves the YMM state (XCR0 bits 1-2),
// AVX-512 only when it saves the ZMM and mask state too (bits 5-7).
std::vector<Feature> detect() {
  Regs l1 = cpuid(1), l7 = cpuid(7, 0), e1 = cpuid(0x80000001);
  unsigned xcr0 = 0;
  bool osxsave = bit(l1.c, 27);
  if (osxsave) {
    unsigned hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  bool avxSave = osxsave && bit(l1.c, 28) && (xcr0 & 0x6) == 0x6;
  bool avx512Save = avxSave && (xcr0 & 0xe0) == 0xe0;
  return {
      {"cx16", bit(l1.c, 13)},
      {"sahf", bit(e1.c, 0)},
      {"popcnt", bit(l1.c, 23)},
      {"sse3", bit(l1.c, 0)},
      {"sse4.1", bit(l1.c, 19)},
      {"sse4.2", bit(l1.c, 20)},
      {"ssse3", bit(l1.c, 9)},
      {"avx", avxSave},
      {"avx2", bit(l7.b, 5) && avxSave},
      {"bmi", bit(l7.b, 3)},
      {"bmi2", bit(l7.b, 8)},
      {"f16c", bit(l1.c, 29) && avxSave},
      {"fma", bit(l1.c, 12) && avxSave},
      {"lzcnt", bit(e1.c, 5)},
      {"movbe", bit(l1.c, 22)},
      {"xsave", bit(l1.c, 26) && avxSave},
      {"avx512f", bit(l7.b, 16) && avx512Save},
      {"avx512bw", bit(l7.b, 30) && avx512Save},
      {"avx512cd", bit(l7.b, 28) && avx512Save},
      {"avx512dq", bit(l7.b, 17) && avx512Save},
      {"avx512vl", bit(l7.b, 31) && avx512Save},
  };
}

#elif defined(__aarch64__)

// LLVM reads "asimd" from /proc/cpuinfo; the kernel's hwcap bit is the same.
std::vector<Feature> detect() {
#ifndef HWCAP_ASIMD
  constexpr unsigned long HWCAP_ASIMD = 1ul << 1;
#endif
  return {{"neon", (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0}};
}

#else

std::vector<Feature> detect() { return {}; }

#endif

const std::vector<Feature> &hostFeatures() {
  static const std::vector<Feature> features = detect();
  return features;
}

std::vector<std::string> strings(std::initializer_list<std::span<const std::string_view>> parts) {
  std::vector<std::string> out;
  for (std::span<const std::string_view> part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

} // namespace

std::vector<std::string> knownTargets() { return {"host", "x86-64-v3", "x86-64-v4", "aarch64"}; }

std::vector<std::string> requiredFeatures(std::string_view target) {
  static constexpr std::string_view neon[] = {"neon"};
  if (target == "host")
    return {};
  if (target == "x86-64-v3")
    return strings({kV3});
  if (target == "x86-64-v4")
    return strings({kV3, kV4});
  if (target == "aarch64")
    return strings({neon});
  std::string known;
  for (const std::string &k : knownTargets())
    known += (known.empty() ? "" : ", ") + k;
  fail("--target", "unknown target '{}' (known: {})", target, known);
}

std::vector<std::string> missingHostFeatures(std::string_view target) {
  std::vector<std::string> required = requiredFeatures(target);
  std::string_view arch = target == "host" ? kHostArch : target == "aarch64" ? "aarch64" : "x86_64";
  if (arch != kHostArch)
    return required;
  std::vector<std::string> missing;
  for (const std::string &feature : required)
    if (!hostHasFeature(feature))
      missing.push_back(feature);
  return missing;
}

bool hostHasFeature(std::string_view feature) {
  const std::vector<Feature> &all = hostFeatures();
  auto it = std::find_if(all.begin(), all.end(), [&](const Feature &f) { return f.name == feature; });
  return it != all.end() && it->present;
}

std::vector<std::string> detectedFeatures() {
  std::vector<std::string> names;
  for (const Feature &f : hostFeatures())
    names.emplace_back(f.name);
  return names;
}

std::vector<std::string> hostVectorFeatures() {
  std::vector<std::string> present;
  for (const char *name : {"avx2", "fma", "avx512f", "neon"})
    if (hostHasFeature(name))
      present.emplace_back(name);
  return present;
}

std::string hostCpuBrand() {
#if defined(__x86_64__)
  if (cpuid(0x80000000).a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    std::string s(brand);
    std::size_t first = s.find_first_not_of(' '), last = s.find_last_not_of(' ');
    if (first != std::string::npos)
      return s.substr(first, last - first + 1);
  }
#endif
  return std::string(kHostArch);
}

} // namespace gm::codegen
