// cuda_emu.h: just enough of CUDA C to run ipt's kernels (../kernels.cu) on
// the CPU, for tests only. Compile with -ffp-contract=off (and no fast-math)
// so every float operation rounds on its own as the __f*_rn intrinsics do.
//
// A block's threads are fibers (ucontext) on one OS thread rather than
// std::threads: 256 OS threads meeting at a futex barrier cost about a
// millisecond per __syncthreads on a small machine, fibers a few
// microseconds, and the run is deterministic. The launcher runs the grid
// one block at a time, so function-static __shared__ arrays are per block.
// Each fiber is started once per launch (makecontext) and then runs block
// after block; switches are _setjmp/_longjmp, which, unlike swapcontext,
// make no system call. A block runs in rounds: each live thread runs until its next
// __syncthreads or its end; a round where some threads end while others
// wait at a barrier is a divergent __syncthreads and aborts the launch.
// Threads can be scheduled in reverse order, so that a missing
// __syncthreads shows up as a different result.
#pragma once

#include <setjmp.h>
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace emu {
inline thread_local dim3 thread_idx, block_idx, block_dim, grid_dim;
}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

using std::exp;
using std::fabs;
using std::log;
using std::sqrt;

// The round-to-nearest intrinsics are plain IEEE operations here.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }

template <class To, class From>
inline To emu_bits(From f) {
  static_assert(sizeof(To) == sizeof(From));
  To t;
  std::memcpy(&t, &f, sizeof t);
  return t;
}
inline int __float_as_int(float f) { return emu_bits<int>(f); }
inline float __int_as_float(int i) { return emu_bits<float>(i); }
inline unsigned __float_as_uint(float f) { return emu_bits<unsigned>(f); }
inline float __uint_as_float(unsigned u) { return emu_bits<float>(u); }
inline double __longlong_as_double(long long i) { return emu_bits<double>(i); }
inline long long __double_as_longlong(double d) { return emu_bits<long long>(d); }
// Truncation toward zero; CUDA saturates out-of-range values where C++ is
// undefined, and the kernels only convert values in range.
inline int __float2int_rz(float f) { return (int)f; }

namespace emu {

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;  // not zeroed: untouched pages cost nothing
  jmp_buf jb;
  dim3 tid;
  bool done, started;
};

inline jmp_buf scheduler;
inline std::vector<Fiber> fibers;
inline Fiber* current;
inline std::function<void()> body;

[[noreturn]] inline void fail(const char* msg) {
  std::fprintf(stderr, "cuda_emu: %s\n", msg);
  std::exit(2);
}

inline void sync() {
  if (!_setjmp(current->jb)) _longjmp(scheduler, 1);
}

// fiber_main runs the kernel once per block, pausing at the end of each.
inline void fiber_main(int i) {
  for (;;) {
    body();
    fibers[i].done = true;
    sync();
  }
}

// resume runs f until its next __syncthreads or its end.
inline void resume(Fiber& f) {
  current = &f;
  thread_idx = f.tid;
  if (_setjmp(scheduler)) return;
  if (f.started) _longjmp(f.jb, 1);
  f.started = true;
  ucontext_t here;  // abandoned: the fiber comes back by _longjmp
  if (swapcontext(&here, &f.ctx) != 0) fail("swapcontext");
}

// launch runs body over grid × block, one block at a time, its threads as
// fibers (in reverse order of thread index when reverse is set).
inline void launch(dim3 grid, dim3 block, bool reverse, std::function<void()> kernel) {
  const size_t n = (size_t)block.x * block.y * block.z;
  if (n == 0 || n > 1024) fail("block size out of range (1..1024 threads)");
  const size_t stackSize = 64 << 10;
  fibers.resize(n);
  ucontext_t blank;
  if (getcontext(&blank) != 0) fail("getcontext");
  for (size_t i = 0; i < n; i++) {
    Fiber& f = fibers[i];
    if (!f.stack) f.stack.reset(new char[stackSize]);
    f.ctx = blank;
    f.ctx.uc_stack.ss_sp = f.stack.get();
    f.ctx.uc_stack.ss_size = stackSize;
    f.ctx.uc_link = nullptr;  // fiber_main never returns
    makecontext(&f.ctx, (void (*)())fiber_main, 1, (int)i);
    f.started = false;
  }
  body = std::move(kernel);
  grid_dim = grid;
  block_dim = block;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        block_idx = dim3{bx, by, bz};
        for (size_t i = 0; i < n; i++) {
          Fiber& f = fibers[i];
          f.tid = dim3{(unsigned)(i % block.x), (unsigned)(i / block.x % block.y),
                       (unsigned)(i / ((size_t)block.x * block.y))};
          f.done = false;
        }
        for (size_t live = n; live > 0;) {
          size_t ended = 0;
          for (size_t k = 0; k < n; k++) {
            Fiber& f = fibers[reverse ? n - 1 - k : k];
            if (f.done) continue;
            resume(f);
            if (f.done) ended++;
          }
          if (ended != 0 && ended != live) fail("divergent __syncthreads: some threads of a block ended while others wait at a barrier");
          live -= ended;
        }
      }
}

}  // namespace emu

#define __syncthreads() (::emu::sync())
