// emu_main.cpp: runs one kernel of kernels.cu under cuda_emu.h, for the Go
// tests (emu.go builds it). Usage:
//
//   emu KERNEL GRID BLOCK CHECKGRID ARG...
//
// runs KERNEL on GRID blocks of BLOCK threads; with CHECKGRID > 0 it also
// runs it, on fresh copies of the buffers, on CHECKGRID blocks with each
// block's threads scheduled in reverse order, and fails unless every buffer
// comes out the same bit for bit (any NaN matching any NaN): the result
// must not depend on the grid or on the order of threads between barriers.
//
// with one ARG per kernel parameter: f32:PATH or f64:PATH (a buffer of
// little-endian float32 or float64 values, read before the launch and
// written back after it), alias:N (the same buffer as argument N, counting
// from 0, for kernels that allow aliases), null (a null pointer), i64:N, f32v:BITS or
// f64v:BITS (a scalar given by its IEEE bits in hex, so it passes exactly).
// A parameter's C type must match its ARG, or the run fails naming both.
// The kernels come from registry.inc (a KERNEL(name) line each), written
// by the Go test from the launch list in kernels.go.
#include "cuda_emu.h"
#include "kernels.cu"

#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace {

struct Arg {
  std::string spec, kind, path;
  Arg* same = nullptr;  // alias:N: the buffer of argument N
  std::vector<float> f32;
  std::vector<double> f64;
};

template <class T>
std::vector<T> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) emu::fail(("cannot read " + path).c_str());
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> v(raw.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), raw.data(), v.size() * sizeof(T));
  return v;
}

template <class T>
void writeFile(const std::string& path, const std::vector<T>& v) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  if (!out) emu::fail(("cannot write " + path).c_str());
}

template <class T>
bool sameBits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0 && !(a[i] != a[i] && b[i] != b[i])) return false;
  return true;
}

[[noreturn]] void mismatch(const Arg& a, const char* want) {
  std::fprintf(stderr, "cuda_emu: argument %s for a parameter of type %s\n", a.spec.c_str(), want);
  std::exit(2);
}

// convert turns an argument into the parameter type T.
template <class T>
T convert(Arg& arg) {
  Arg& a = arg.same ? *arg.same : arg;
  using U = std::remove_cv_t<std::remove_pointer_t<T>>;
  if constexpr (std::is_pointer_v<T>) {
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, double>);
    if (a.kind == "null") return nullptr;
    if constexpr (std::is_same_v<U, float>) {
      if (a.kind != "f32") mismatch(a, "float*");
      return a.f32.data();
    } else {
      if (a.kind != "f64") mismatch(a, "double*");
      return a.f64.data();
    }
  } else if constexpr (std::is_same_v<T, long long>) {
    if (a.kind != "i64") mismatch(a, "long long");
    return std::stoll(a.path);
  } else if constexpr (std::is_same_v<T, float>) {
    if (a.kind != "f32v") mismatch(a, "float");
    return __uint_as_float((unsigned)std::stoul(a.path, nullptr, 16));
  } else {
    static_assert(std::is_same_v<T, double>);
    if (a.kind != "f64v") mismatch(a, "double");
    return __longlong_as_double((long long)std::stoull(a.path, nullptr, 16));
  }
}

template <class... P, size_t... I>
std::tuple<P...> convertAll(std::vector<Arg>& args, std::index_sequence<I...>) {
  return std::tuple<P...>{convert<P>(args[I])...};
}

template <class... P>
void call(void (*k)(P...), std::vector<Arg>& args, dim3 grid, dim3 block, bool reverse) {
  if (args.size() != sizeof...(P)) {
    std::fprintf(stderr, "cuda_emu: %zu arguments for %zu parameters\n", args.size(), sizeof...(P));
    std::exit(2);
  }
  auto t = convertAll<P...>(args, std::index_sequence_for<P...>{});
  emu::launch(grid, block, reverse, [&] { std::apply(k, t); });
}

using Launcher = void (*)(std::vector<Arg>&, dim3, dim3, bool);

const std::map<std::string, Launcher> registry = {
#define KERNEL(name) {#name, [](std::vector<Arg>& a, dim3 g, dim3 b, bool r) { call(name, a, g, b, r); }},
#include "registry.inc"
#undef KERNEL
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) emu::fail("usage: emu KERNEL GRID BLOCK CHECKGRID ARG...");
  auto it = registry.find(argv[1]);
  if (it == registry.end()) emu::fail((std::string("no kernel ") + argv[1]).c_str());
  dim3 grid{(unsigned)std::stoul(argv[2])}, block{(unsigned)std::stoul(argv[3])};
  unsigned check = (unsigned)std::stoul(argv[4]);
  std::vector<Arg> args;
  for (int i = 5; i < argc; i++) {
    Arg a;
    a.spec = argv[i];
    size_t colon = a.spec.find(':');
    a.kind = a.spec.substr(0, colon);
    if (colon != std::string::npos) a.path = a.spec.substr(colon + 1);
    if (a.kind == "f32") a.f32 = readFile<float>(a.path);
    if (a.kind == "f64") a.f64 = readFile<double>(a.path);
    args.push_back(std::move(a));
  }
  for (auto& a : args)
    if (a.kind == "alias") {
      size_t n = std::stoul(a.path);
      if (n >= args.size() || args[n].kind == "alias") emu::fail("bad alias");
      a.same = &args[n];
    }
  if (check > 0) {
    std::vector<Arg> again = args;
    for (auto& a : again)
      if (a.same) a.same = &again[a.same - args.data()];
    it->second(again, dim3{check}, block, true);
    it->second(args, grid, block, false);
    for (size_t i = 0; i < args.size(); i++)
      if (!sameBits(args[i].f32, again[i].f32) || !sameBits(args[i].f64, again[i].f64)) {
        std::fprintf(stderr, "cuda_emu: %s: argument %zu differs between %u blocks and %u blocks in reverse thread order\n",
                     argv[1], i, grid.x, check);
        return 1;
      }
  } else {
    it->second(args, grid, block, false);
  }
  for (auto& a : args) {
    if (a.kind == "f32") writeFile(a.path, a.f32);
    if (a.kind == "f64") writeFile(a.path, a.f64);
  }
  return 0;
}
