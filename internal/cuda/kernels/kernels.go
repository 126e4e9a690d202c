// Package kernels holds the CUDA C source of ipt's GPU kernels and their
// launch list. The source is compiled at run time by NVRTC (no nvcc at
// build time); the runtime (internal/cuda) looks a kernel up by name here,
// computes its grid with Kernel.Grid, and launches it with BlockSize threads
// per block and the arguments in Params order.
//
// Every kernel is the GPU form of a plain-Go reference in internal/ops or
// internal/train (Kernel.Ref), which stays the specification; the test runs
// each kernel on the CPU through a small CUDA emulator (emu/) and compares it
// with its reference.
package kernels

import (
	_ "embed"
	"fmt"
	"math"
	"strings"
)

// Source is the CUDA C of every kernel (kernels.cu), for NVRTC.
//
//go:embed kernels.cu
var Source string

// BlockSize is the number of threads per block of every kernel (a 1-D
// block): the block reductions are trees over exactly this many threads.
const BlockSize = 256

// Chunk is the fixed partition of the two-pass global sums (sum_squares,
// l1_loss): one float64 partial per Chunk values, whatever the grid.
const Chunk = 16384

// MaxGrid is the most blocks Grid asks for (gridDim.x's limit); every kernel
// loops over its work with a grid stride, so fewer blocks give the same
// result.
const MaxGrid = math.MaxInt32

// Options are the NVRTC options the kernels assume, besides the target
// (--gpu-architecture=sm_XY or compute_XY for the GPU found). --fmad=false
// keeps the compiler from contracting a multiply and an add into an FMA in
// any expression the intrinsics do not already pin down.
var Options = []string{"--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--std=c++17"}

// Kind is the C type of a kernel parameter.
type Kind uint8

const (
	PtrF32 Kind = iota + 1 // float* (a device buffer of float32)
	PtrF64                 // double*
	I64                    // long long (i64 in the source): sizes and indices
	F32                    // float
	F64                    // double
)

var kindNames = map[Kind]string{PtrF32: "float*", PtrF64: "double*", I64: "i64", F32: "float", F64: "double"}

func (k Kind) String() string { return kindNames[k] }

// Param is one kernel parameter. Const pointers are inputs only; the
// others may be written.
type Param struct {
	Name  string
	Kind  Kind
	Const bool
}

// Kernel describes one kernel of Source.
type Kernel struct {
	Name   string
	Params []Param
	// Work names the i64 parameters whose product is the number of work
	// units (none: one unit), and PerBlock how many units a block takes:
	// BlockSize for a thread per unit, 1 for a block per unit (a row, a
	// channel), Chunk for a block per chunk. See Grid.
	Work     []string
	PerBlock int64
	Ref      string // the Go reference it computes
}

// Grid returns the number of blocks to launch k with (each of BlockSize
// threads) for these arguments, given in Params order (the i64 ones as
// int64 or int; the others are not read): ⌈work/PerBlock⌉, at most MaxGrid.
// It is 0 when there is no work, and then the launch must be skipped (CUDA
// rejects an empty grid).
func (k *Kernel) Grid(args ...any) (int64, error) {
	if len(args) != len(k.Params) {
		return 0, fmt.Errorf("kernel %s: %d arguments for %d parameters", k.Name, len(args), len(k.Params))
	}
	work := int64(1)
	for _, name := range k.Work {
		i := k.param(name)
		var v int64
		switch a := args[i].(type) {
		case int64:
			v = a
		case int:
			v = int64(a)
		default:
			return 0, fmt.Errorf("kernel %s: argument %s is %T, want an integer", k.Name, name, args[i])
		}
		if v < 0 {
			return 0, fmt.Errorf("kernel %s: argument %s is %d, want ≥ 0", k.Name, name, v)
		}
		if v != 0 && work > math.MaxInt64/v {
			return 0, fmt.Errorf("kernel %s: work overflows int64", k.Name)
		}
		work *= v
	}
	return min((work+k.PerBlock-1)/k.PerBlock, MaxGrid), nil
}

func (k *Kernel) param(name string) int {
	for i, p := range k.Params {
		if p.Name == name {
			return i
		}
	}
	panic("kernels: " + k.Name + " has no parameter " + name)
}

// Lookup returns the kernel called name.
func Lookup(name string) (*Kernel, bool) {
	for i := range Kernels {
		if Kernels[i].Name == name {
			return &Kernels[i], true
		}
	}
	return nil, false
}

// sig parses a parameter list written as in kernels.cu ("float* x, i64 n").
func sig(s string) []Param {
	var ps []Param
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		var p Param
		if rest, ok := strings.CutPrefix(f, "const "); ok {
			p.Const, f = true, rest
		}
		typ, name, ok := strings.Cut(f, " ")
		if !ok {
			panic("kernels: bad parameter " + f)
		}
		switch typ {
		case "float*":
			p.Kind = PtrF32
		case "double*":
			p.Kind = PtrF64
		case "i64":
			p.Kind = I64
		case "float":
			p.Kind = F32
		case "double":
			p.Kind = F64
		default:
			panic("kernels: bad parameter type " + typ)
		}
		p.Name = strings.TrimSpace(name)
		ps = append(ps, p)
	}
	return ps
}

// The launch shapes.
var (
	perThread = int64(BlockSize)
	perBlock  = int64(1)
	perChunk  = int64(Chunk)
)

// Kernels is the launch list: every kernel of Source, its parameters in
// order (the same text as the source's signature, checked by the test),
// and its grid.
var Kernels = []Kernel{
	// Utilities and element-wise ops: a thread per value.
	{Name: "fill_f32", Params: sig("float* x, i64 n, float v"), Work: []string{"n"}, PerBlock: perThread, Ref: "x[i] = v (clear)"},
	{Name: "copy_f32", Params: sig("float* dst, const float* src, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "copy (Backend.Copy)"},
	{Name: "scale_f32", Params: sig("float* x, i64 n, float f"), Work: []string{"n"}, PerBlock: perThread, Ref: "x[i] *= f (train.ClipGrads)"},
	{Name: "add_f32", Params: sig("float* dst, const float* src, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.Add"},
	{Name: "add_to_f32", Params: sig("float* dst, const float* a, const float* b, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.AddTo"},
	{Name: "relu_f32", Params: sig("float* x, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.ReLU"},
	{Name: "add_row_bias", Params: sig("float* x, const float* bias, i64 rows, i64 cols"), Work: []string{"rows", "cols"}, PerBlock: perThread, Ref: "ops.AddRowBias"},
	{Name: "add_bias_relu", Params: sig("float* x, const float* bias, i64 rows, i64 cols"), Work: []string{"rows", "cols"}, PerBlock: perThread, Ref: "ops.AddBiasReLU"},
	{Name: "relu_backward", Params: sig("float* dX, const float* dOut, const float* y, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.ReLUBackward"},
	{Name: "relu_backward_to", Params: sig("float* dst, const float* dOut, const float* y, i64 n"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.ReLUBackwardTo"},
	{Name: "add_channel_bias", Params: sig("float* x, const float* bias, i64 nimg, i64 c, i64 hw"), Work: []string{"nimg", "c", "hw"}, PerBlock: perThread, Ref: "ops.AddChannelBias per image"},
	{Name: "mean_shift", Params: sig("float* out, const float* in, const float* bias, i64 nimg, i64 c, i64 hw"), Work: []string{"nimg", "c", "hw"}, PerBlock: perThread, Ref: "sub_mean/add_mean: ops.Conv2d with identity 1×1 weight"},
	{Name: "adam_update", Params: sig("float* p, const float* g, float* m, float* v, i64 n, float b1, float c1, float b2, float c2, float bc2, float eps, float step"), Work: []string{"n"}, PerBlock: perThread, Ref: "ops.AdamUpdate"},

	// Convolution (GEMMs on cuBLAS).
	{Name: "im2col", Params: sig("float* cols, const float* in, i64 nimg, i64 cin, i64 h, i64 w, i64 k, i64 y0, i64 rows"), Work: []string{"nimg", "cin", "k", "k", "rows", "w"}, PerBlock: perThread, Ref: "ops.im2col (ops.Conv2d)"},
	{Name: "col2im", Params: sig("float* dIn, const float* cols, i64 nimg, i64 cin, i64 h, i64 w, i64 k, i64 y0, i64 rows"), Work: []string{"nimg", "cin", "h", "w"}, PerBlock: perThread, Ref: "ops.col2im (ops.Conv2dBackward)"},
	{Name: "sum_channels", Params: sig("float* dBias, const float* x, i64 nimg, i64 c, i64 hw"), Work: []string{"c"}, PerBlock: perBlock, Ref: "ops.SumChannels per image"},

	// Linear layers.
	{Name: "sum_rows", Params: sig("float* dBias, const float* x, i64 rows, i64 cols"), Work: []string{"cols"}, PerBlock: perThread, Ref: "ops.SumRows"},

	// Layer norm.
	{Name: "layernorm_forward", Params: sig("float* out, double* mean, double* rstd, const float* x, const float* gamma, const float* beta, i64 rows, i64 d, double eps"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "ops.LayerNorm"},
	{Name: "layernorm_backward_dx", Params: sig("float* dX, const float* dOut, const float* x, const float* gamma, const double* mean, const double* rstd, i64 rows, i64 d"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "ops.LayerNormBackward (dX)"},
	{Name: "layernorm_backward_params", Params: sig("float* dGamma, float* dBeta, const float* dOut, const float* x, const double* mean, const double* rstd, i64 rows, i64 d"), Work: []string{"d"}, PerBlock: perThread, Ref: "ops.LayerNormBackward (dGamma, dBeta)"},

	// Attention (products on cuBLAS).
	{Name: "softmax_rows", Params: sig("float* x, float* sums, i64 rows, i64 cols"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "ops softmaxUnnormalised (ops.SoftmaxRow before its scaling)"},
	{Name: "scale_rows_inv", Params: sig("float* x, const float* sums, i64 rows, i64 cols"), Work: []string{"rows", "cols"}, PerBlock: perThread, Ref: "attendHead's ctx and MultiHeadAttentionTrain's p normalisation"},
	{Name: "softmax_backward_rows", Params: sig("float* dy, const float* p, const float* a, const float* b, i64 rows, i64 cols, i64 k"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "ops.SoftmaxBackwardRow (a = dy, b = p, k = cols)"},
	{Name: "heads_split", Params: sig("float* out, const float* in, i64 nseq, i64 L, i64 heads, i64 dh"), Work: []string{"nseq", "L", "heads", "dh"}, PerBlock: perThread, Ref: "[nseq, L, heads·dh] → [nseq, heads, L, dh]"},
	{Name: "heads_merge", Params: sig("float* out, const float* in, i64 nseq, i64 L, i64 heads, i64 dh"), Work: []string{"nseq", "L", "heads", "dh"}, PerBlock: perThread, Ref: "[nseq, heads, L, dh] → [nseq, L, heads·dh]"},

	// Reshapes.
	{Name: "pixel_shuffle", Params: sig("float* out, const float* in, i64 nimg, i64 c, i64 h, i64 w, i64 r"), Work: []string{"nimg", "c", "h", "w", "r", "r"}, PerBlock: perThread, Ref: "ops.PixelShuffle"},
	{Name: "pixel_shuffle_backward", Params: sig("float* dIn, const float* dOut, i64 nimg, i64 c, i64 h, i64 w, i64 r"), Work: []string{"nimg", "c", "h", "w", "r", "r"}, PerBlock: perThread, Ref: "ops.PixelShuffleBackward"},
	{Name: "unfold", Params: sig("float* out, const float* in, i64 nimg, i64 c, i64 h, i64 w, i64 p"), Work: []string{"nimg", "c", "h", "w"}, PerBlock: perThread, Ref: "ops.Unfold"},
	{Name: "fold", Params: sig("float* out, const float* tokens, i64 nimg, i64 c, i64 h, i64 w, i64 p"), Work: []string{"nimg", "c", "h", "w"}, PerBlock: perThread, Ref: "ops.Fold"},
	{Name: "unfold_backward", Params: sig("float* dIn, const float* dTokens, i64 nimg, i64 c, i64 h, i64 w, i64 p"), Work: []string{"nimg", "c", "h", "w"}, PerBlock: perThread, Ref: "ops.UnfoldBackward"},
	{Name: "fold_backward", Params: sig("float* dTokens, const float* dOut, i64 nimg, i64 c, i64 h, i64 w, i64 p"), Work: []string{"nimg", "c", "h", "w"}, PerBlock: perThread, Ref: "ops.FoldBackward"},

	// Global sums: a partial per chunk, then the partials in order.
	{Name: "sum_squares", Params: sig("double* partial, const float* x, i64 n"), Work: []string{"n"}, PerBlock: perChunk, Ref: "train.GradNorm (squared, first pass)"},
	{Name: "sum_f64_ordered", Params: sig("double* out, const double* x, i64 n"), PerBlock: perBlock, Ref: "Σ x in index order (second pass)"},

	// Losses.
	{Name: "l1_loss", Params: sig("float* dOut, double* partial, const float* out, const float* target, i64 n, float g"), Work: []string{"n"}, PerBlock: perChunk, Ref: "train.l1Loss"},
	{Name: "l2_normalize_rows", Params: sig("float* f, double* norms, const float* x, i64 rows, i64 d"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "train.contrastiveLoss (normalisation)"},
	{Name: "contrastive_softmax", Params: sig("float* g, double* rowloss, i64 N, i64 L, double tau, double w"), Work: []string{"N", "L"}, PerBlock: perBlock, Ref: "train.contrastiveLoss (softmaxes, loss, dG)"},
	{Name: "symmetrize_grad", Params: sig("float* g, i64 n"), Work: []string{"n", "n"}, PerBlock: perThread, Ref: "train.contrastiveLoss (dG + dGᵀ)"},
	{Name: "l2_normalize_rows_backward", Params: sig("float* dx, const float* f, const float* df, const double* norms, i64 rows, i64 d"), Work: []string{"rows"}, PerBlock: perBlock, Ref: "train.contrastiveLoss (normalisation backward)"},
}
