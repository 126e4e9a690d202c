// Package ops holds the numerical building blocks of IPT on plain float32
// slices: GEMM, convolution, linear layers, layer norm, multi-head attention
// and the reshaping ops (pixel shuffle, patch unfold/fold).
//
// Every op has a plain-Go reference (the *Ref functions) that is the
// specification and the oracle of the tests; the fast versions build on
// Sgemm, whose kernels are chosen once per process by CPU feature.
//
// Layouts are row-major. Images are planar [C, H, W]; token matrices are
// [rows, features].
package ops
