#include "runtime/object_code.h"

#include "ir/error.h"

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <algorithm>
#include <map>
#include <utility>
#include <vector>

namespace gm {

struct ObjectCode::Symbols {
  std::map<std::string, char *, std::less<>> byName;
};

namespace {

#if defined(__x86_64__)
constexpr std::uint16_t kHostMachine = EM_X86_64;
#else
constexpr std::uint16_t kHostMachine = EM_NONE;
#endif

// Reads a T at `offset` of `bytes`, refusing what lies past the end.
template <typename T>
T readAt(std::string_view bytes, std::uint64_t offset, const std::string &where, const char *what) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    fail(where, "object code truncated: the {} at byte {} lies past the end ({} bytes)", what, offset, bytes.size());
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::uint64_t alignUp(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

struct Placed {
  bool loaded = false;
  std::uint64_t offset = 0; // in the mapping
};

} // namespace

bool ObjectCode::supportedHost() { return kHostMachine != EM_NONE; }

ObjectCode ObjectCode::link(std::string_view elf, const std::string &where) {
  auto header = readAt<Elf64_Ehdr>(elf, 0, where, "ELF header");
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    fail(where, "the object section is not ELF object code");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    fail(where, "object code is not 64-bit little-endian ELF");
  if (header.e_type != ET_REL)
    fail(where, "object code is ELF type {}, not a relocatable object", header.e_type);
  if (!supportedHost())
    fail(where, "running plan object code is built for x86-64 hosts only");
  if (header.e_machine != kHostMachine)
    fail(where, "object code is for ELF machine {}, this CPU is {}", header.e_machine, kHostMachine);
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0)
    fail(where, "object code has no usable section table");

  std::vector<Elf64_Shdr> sections(header.e_shnum);
  for (std::size_t i = 0; i < sections.size(); ++i)
    sections[i] = readAt<Elf64_Shdr>(elf, header.e_shoff + i * sizeof(Elf64_Shdr), where, "section header");
  auto contents = [&](const Elf64_Shdr &s, const char *what) {
    if (s.sh_type == SHT_NOBITS)
      return std::string_view();
    if (s.sh_offset > elf.size() || elf.size() - s.sh_offset < s.sh_size)
      fail(where, "object code truncated: the {} section ends past byte {}", what, elf.size());
    return elf.substr(s.sh_offset, s.sh_size);
  };

  // Code first, then everything else read-only from the next page on, so
  // each part gets one protection.
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<Placed> placed(sections.size());
  std::uint64_t size = 0, codeEnd = 0;
  for (bool code : {true, false}) {
    for (std::size_t i = 0; i < sections.size(); ++i) {
      const Elf64_Shdr &s = sections[i];
      if (!(s.sh_flags & SHF_ALLOC) || ((s.sh_flags & SHF_EXECINSTR) != 0) != code)
        continue;
      if (s.sh_type != SHT_PROGBITS && s.sh_type != SHT_NOBITS)
        fail(where, "object code section {} has type {}, which the loader does not place", i, s.sh_type);
      if (s.sh_flags & (SHF_WRITE | SHF_TLS))
        fail(where, "object code section {} is writable or thread-local; kernels hold neither", i);
      std::uint64_t align = std::max<std::uint64_t>(s.sh_addralign, 1);
      if ((align & (align - 1)) != 0 || align > page || s.sh_size > (std::uint64_t{1} << 32))
        fail(where, "object code section {} has alignment {} and size {}", i, s.sh_addralign, s.sh_size);
      size = alignUp(size, align);
      placed[i] = {true, size};
      size += s.sh_size;
    }
    if (code)
      size = codeEnd = alignUp(size, page);
  }
  size = alignUp(std::max<std::uint64_t>(size, 1), page);

  ObjectCode result;
  void *map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED)
    fail(where, "cannot map {} bytes for the object code", size);
  result.base_ = static_cast<char *>(map);
  result.size_ = size;
  result.symbols_ = new Symbols;
  for (std::size_t i = 0; i < sections.size(); ++i)
    if (placed[i].loaded) {
      std::string_view bytes = contents(sections[i], "code or data");
      std::memcpy(result.base_ + placed[i].offset, bytes.data(), bytes.size());
    }

  // Symbols of one table (the object has one; relocations name it).
  auto symbolTable = [&](std::size_t index) {
    if (index >= sections.size() || sections[index].sh_type != SHT_SYMTAB ||
        sections[index].sh_entsize != sizeof(Elf64_Sym))
      fail(where, "object code refers to section {} as its symbol table", index);
    return index;
  };
  auto symbolAt = [&](std::size_t table, std::uint64_t k) {
    const Elf64_Shdr &s = sections[table];
    if (k >= s.sh_size / sizeof(Elf64_Sym))
      fail(where, "object code refers to symbol {} of {}", k, s.sh_size / sizeof(Elf64_Sym));
    std::string_view bytes = contents(s, "symbol table");
    return readAt<Elf64_Sym>(bytes, k * sizeof(Elf64_Sym), where, "symbol");
  };
  auto nameOf = [&](std::size_t table, const Elf64_Sym &sym) {
    std::size_t strtab = sections[table].sh_link;
    if (strtab >= sections.size())
      fail(where, "object code's symbol table has no string table");
    std::string_view names = contents(sections[strtab], "string table");
    if (sym.st_name >= names.size())
      fail(where, "object code symbol name at {} lies past its string table", sym.st_name);
    std::string_view name = names.substr(sym.st_name);
    std::size_t end = name.find('\0');
    if (end == std::string_view::npos)
      fail(where, "object code symbol name is not terminated");
    return std::string(name.substr(0, end));
  };
  auto addressOf = [&](std::size_t table, const Elf64_Sym &sym) -> std::uint64_t {
    if (sym.st_shndx == SHN_ABS)
      return sym.st_value;
    if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= sections.size() || !placed[sym.st_shndx].loaded)
      fail(where, "object code needs symbol '{}', which kernels never import", nameOf(table, sym));
    return reinterpret_cast<std::uint64_t>(result.base_) + placed[sym.st_shndx].offset + sym.st_value;
  };

  for (std::size_t i = 0; i < sections.size(); ++i) {
    const Elf64_Shdr &s = sections[i];
    if (s.sh_type == SHT_REL)
      fail(where, "object code has REL relocations; x86-64 objects carry RELA");
    if (s.sh_type == SHT_SYMTAB) {
      std::size_t count = s.sh_size / sizeof(Elf64_Sym);
      for (std::size_t k = 1; k < count; ++k) {
        Elf64_Sym sym = symbolAt(symbolTable(i), k);
        if (ELF64_ST_BIND(sym.st_info) == STB_GLOBAL && sym.st_shndx != SHN_UNDEF &&
            ELF64_ST_TYPE(sym.st_info) == STT_FUNC)
          result.symbols_->byName[nameOf(i, sym)] = reinterpret_cast<char *>(addressOf(i, sym));
      }
    }
    if (s.sh_type != SHT_RELA || s.sh_info >= sections.size() || !placed[s.sh_info].loaded)
      continue;
    if (s.sh_entsize != sizeof(Elf64_Rela))
      fail(where, "object code relocation section {} has entries of {} bytes", i, s.sh_entsize);
    std::size_t table = symbolTable(s.sh_link);
    const Elf64_Shdr &target = sections[s.sh_info];
    std::string_view relocs = contents(s, "relocation");
    for (std::size_t r = 0; r < relocs.size() / sizeof(Elf64_Rela); ++r) {
      auto rela = readAt<Elf64_Rela>(relocs, r * sizeof(Elf64_Rela), where, "relocation");
      std::uint32_t type = ELF64_R_TYPE(rela.r_info);
      if (type == R_X86_64_NONE)
        continue;
      std::uint64_t S = addressOf(table, symbolAt(table, ELF64_R_SYM(rela.r_info)));
      std::uint64_t width = type == R_X86_64_64 ? 8 : 4;
      if (rela.r_offset > target.sh_size || target.sh_size - rela.r_offset < width)
        fail(where, "object code relocation {} at {} lies outside its section", r, rela.r_offset);
      char *at = result.base_ + placed[s.sh_info].offset + rela.r_offset;
      std::uint64_t P = reinterpret_cast<std::uint64_t>(at);
      std::uint64_t value = S + static_cast<std::uint64_t>(rela.r_addend);
      switch (type) {
      case R_X86_64_64:
        std::memcpy(at, &value, 8);
        break;
      case R_X86_64_PC32:
      case R_X86_64_PLT32: {
        auto delta = static_cast<std::int64_t>(value - P);
        if (delta < std::numeric_limits<std::int32_t>::min() || delta > std::numeric_limits<std::int32_t>::max())
          fail(where, "object code relocation {} does not fit 32 bits", r);
        auto v32 = static_cast<std::int32_t>(delta);
        std::memcpy(at, &v32, 4);
        break;
      }
      default:
        fail(where, "object code has relocation type {}, which kernels do not produce", type);
      }
    }
  }

  if (codeEnd > 0 && mprotect(result.base_, codeEnd, PROT_READ | PROT_EXEC) != 0)
    fail(where, "cannot make the object code executable");
  if (size > codeEnd && mprotect(result.base_ + codeEnd, size - codeEnd, PROT_READ) != 0)
    fail(where, "cannot protect the object code's constants");
  return result;
}

ObjectCode::ObjectCode(ObjectCode &&other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)),
      symbols_(std::exchange(other.symbols_, nullptr)) {}

ObjectCode &ObjectCode::operator=(ObjectCode &&other) noexcept {
  if (this != &other) {
    this->~ObjectCode();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    symbols_ = std::exchange(other.symbols_, nullptr);
  }
  return *this;
}

ObjectCode::~ObjectCode() {
  if (base_)
    munmap(base_, size_);
  delete symbols_;
}

void *ObjectCode::symbol(std::string_view name) const {
  if (!symbols_)
    return nullptr;
  auto it = symbols_->byName.find(name);
  return it == symbols_->byName.end() ? nullptr : it->second;
}

} // namespace gm
