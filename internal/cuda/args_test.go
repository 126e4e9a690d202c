package cuda

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestKernelArg(t *testing.T) {
	for _, c := range []struct {
		arg  any
		want uint64
	}{
		{DevicePtr(0x7f0012345600), 0x7f0012345600},
		{[]float32(nil), 0},
		{-1, 0xffffffff}, // a C int: 4 bytes, the high ones unused
		{int32(-2), 0xfffffffe},
		{uint32(7), 7},
		{float32(1.5), uint64(math.Float32bits(1.5))},
		{int64(-1), math.MaxUint64},
		{uint64(1 << 40), 1 << 40},
		{2.5, math.Float64bits(2.5)},
	} {
		got, err := kernelArg(c.arg)
		if err != nil || got != c.want {
			t.Errorf("kernelArg(%T %v) = %#x, %v; want %#x", c.arg, c.arg, got, err, c.want)
		}
	}
	s := make([]float32, 4)
	if got, err := kernelArg(s); err != nil || DevicePtr(got) != Ptr(s) || got == 0 {
		t.Errorf("kernelArg([]float32) = %#x, %v; want its address", got, err)
	}
	bad := []any{"x", []float64{1}, int16(1)}
	if strconv.IntSize == 64 { // an int wider than a C int; int is 32 bits elsewhere
		shift := 31
		bad = append(bad, 1<<shift)
	}
	for _, bad := range bad {
		if _, err := kernelArg(bad); err == nil {
			t.Errorf("kernelArg(%T %v) accepted", bad, bad)
		}
	}
}

func TestLaunchDims(t *testing.T) {
	g, b, err := launchDims(Dim3{X: 10}, Dim3{X: 256, Y: 2})
	if err != nil || g != [3]uint32{10, 1, 1} || b != [3]uint32{256, 2, 1} {
		t.Errorf("launchDims = %v %v %v", g, b, err)
	}
	for _, c := range [][2]Dim3{{{}, {X: 1}}, {{X: 1}, {X: -1}}, {{X: 1, Y: -2}, {X: 1}}} {
		if _, _, err := launchDims(c[0], c[1]); err == nil || !strings.Contains(err.Error(), "at least 1") {
			t.Errorf("launchDims(%+v, %+v): %v", c[0], c[1], err)
		}
	}
}

// The row-major product as cuBLAS's column-major call: operands, sizes,
// transposes, leading dimensions and strides swap together.
func TestRowMajorGemm(t *testing.T) {
	const a, b, c = DevicePtr(0xa000), DevicePtr(0xb000), DevicePtr(0xc000)
	g, err := rowMajorGemm(true, false, 3, 5, 7, a, 3, 21, b, 5, 35, c, 6, 18, 4)
	want := colGemm{
		opA: opN, opB: opT, m: 5, n: 3, k: 7,
		a: b, lda: 5, strideA: 35,
		b: a, ldb: 3, strideB: 21,
		c: c, ldc: 6, strideC: 18, batch: 4,
	}
	if err != nil || g != want {
		t.Errorf("rowMajorGemm =\n %+v, %v\nwant %+v", g, err, want)
	}
	g, _ = rowMajorGemm(false, true, 3, 5, 7, a, 7, 0, b, 7, 0, c, 5, 0, 1)
	if g.opA != opT || g.opB != opN || g.lda != 7 || g.ldb != 7 {
		t.Errorf("transB: %+v", g)
	}
	shift := 31
	bigK := 1 << shift // past a C int where int has 64 bits
	for _, c := range []struct {
		transA, transB         bool
		m, n, k, lda, ldb, ldc int
		want                   string
	}{
		{false, false, 3, 5, 7, 6, 5, 5, "lda = 6, want at least 7"}, // A is 3×7
		{true, false, 3, 5, 7, 2, 5, 5, "lda = 2, want at least 3"},  // A is 7×3
		{false, false, 3, 5, 7, 7, 4, 5, "ldb = 4, want at least 5"}, // B is 7×5
		{false, true, 3, 5, 7, 7, 6, 5, "ldb = 6, want at least 7"},  // B is 5×7
		{false, false, 3, 5, 7, 7, 5, 4, "ldc = 4, want at least 5"}, // C is 3×5
		{false, false, -1, 5, 7, 7, 5, 5, "m = -1, want at least 0"},
		{false, false, 3, 5, bigK, bigK, 5, 5, "k = 2147483648 does not fit"},
	} {
		if c.k < 0 {
			continue // bigK wrapped: int is 32 bits here
		}
		_, err := rowMajorGemm(c.transA, c.transB, c.m, c.n, c.k, a, c.lda, 0, b, c.ldb, 0, 0, c.ldc, 0, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rowMajorGemm(%+v): %v, want %q", c, err, c.want)
		}
	}
	// Empty products need leading dimensions of at least 1, as BLAS.
	if _, err := rowMajorGemm(false, false, 0, 0, 0, a, 1, 0, b, 1, 0, c, 1, 0, 1); err != nil {
		t.Errorf("empty product: %v", err)
	}
}
