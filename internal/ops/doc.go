// Package ops holds the numerical building blocks of IPT on plain float32
// slices: GEMM, convolution, linear layers, layer norm, multi-head attention
// and the reshaping ops (pixel shuffle, patch unfold/fold).
//
// Every op has a plain-Go reference (the *Ref functions) that is the
// specification and the oracle of the tests; the fast versions build on
// Sgemm, whose kernels are chosen once per process by CPU feature.
//
// Sgemm's kernels: generic (plain Go, the oracle), avx2 (AVX2+FMA, the
// default where present) and avx512. The AVX-512 path is never chosen by
// default: only IPT_CPU=avx512 or SetKernel("avx512") turns it on, until it
// has proved faster on hardware with two 512-bit FMA units.
//
// Layouts are row-major. Images are planar [C, H, W]; token matrices are
// [rows, features].
package ops
