#include "frontend/npy.h"
#include "ir/error.h"

#include <doctest/doctest.h>

using namespace gm;

TEST_SUITE("npy") {

TEST_CASE("serialize then parse gives the array back") {
  npy::Array a{{2, 3}, {1, -2.5, 3, 4e-9, 5, 6}};
  npy::Array b = npy::parse(npy::serialize(a), "a.npy");
  CHECK(b.shape == a.shape);
  CHECK(b.data == a.data);
  npy::Array v{{4}, {1, 2, 3, 4}};
  CHECK(npy::parse(npy::serialize(v), "v.npy").shape == Shape{4});
}

TEST_CASE("float32 arrays as numpy writes them") {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' + header;
  float values[] = {0.5f, -1.25f};
  bytes.append(reinterpret_cast<const char *>(values), sizeof values);
  npy::Array a = npy::parse(bytes, "f.npy");
  CHECK(a.shape == Shape{1, 2});
  CHECK(a.data == std::vector<double>{0.5, -1.25});
}

TEST_CASE("bad .npy files give one-line errors naming the file") {
  std::string good = npy::serialize({{3}, {1, 2, 3}});
  CHECK_THROWS_WITH_AS(npy::parse("garbage", "g.npy"), doctest::Contains("g.npy: not a .npy file"), InputError);
  CHECK_THROWS_WITH_AS(npy::parse(good.substr(0, good.size() - 4), "t.npy"), doctest::Contains("t.npy: npy data has"),
                       InputError);
  CHECK_THROWS_WITH_AS(npy::parse(good.substr(0, 20), "h.npy"), doctest::Contains("h.npy: truncated"), InputError);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  CHECK_THROWS_WITH_AS(npy::parse(fortran, "o.npy"), doctest::Contains("Fortran"), InputError);
  std::string huge = good;
  huge.replace(huge.find("(3,)"), 4, "(99999999999999,99999999)");
  CHECK_THROWS_AS(npy::parse(huge, "x.npy"), InputError);
}

} // TEST_SUITE
