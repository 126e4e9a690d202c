// Package ops holds the numerical building blocks of IPT on plain float32
// slices: GEMM, convolution, linear layers, layer norm, multi-head attention
// and the reshaping ops (pixel shuffle, patch unfold/fold).
//
// Every op has a plain-Go reference (the *Ref functions) that is the
// specification and the oracle of the tests; the fast versions build on
// Sgemm, whose kernels are chosen once per process by CPU feature.
//
// The backward of each op sits beside its forward (Conv2dBackward and
// SumChannels, AddChannelBias's, in conv.go; LinearBackward, ReLUBackward
// and SumRows, AddRowBias's, in linear.go; LayerNormBackward in
// layernorm.go; the reshapes' in reshape.go), with a *Ref oracle where it
// computes. Backwards accumulate, as in llm.c: each gradient output gets
// ∂L/∂· added to it (callers zero them), and a nil gradient output is
// skipped. The convolution and linear backwards run on the forward's GEMM
// and give the same bits on any number of threads.
//
// Sgemm's kernels: generic (plain Go, the oracle), avx2 (AVX2+FMA) and
// avx512 (AVX-512F), the last one the CPU has being the default. The
// AVX-512 path is on by default since it passed every test on two AVX-512
// machines: an Intel Xeon with two 512-bit FMA units, where it runs the
// forward 1.4× faster than avx2, and an AMD Zen 4, where the two tie.
//
// Backend (backend.go) lists the ops inference and training run, for
// another device to implement; CPU, that is Exec, is this package's implementation, and
// package opstest checks any implementation against it. The losses
// (L1Loss, ContrastiveLoss, loss.go) and the optimiser's Adam update and
// global norm (adam.go) are here for that reason.
//
// Layouts are row-major. Images are planar [C, H, W]; token matrices are
// [rows, features].
package ops
