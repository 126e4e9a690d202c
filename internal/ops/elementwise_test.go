package ops

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// specials are the values that take the unusual paths: zeros of both
// signs, infinities, NaNs with distinct payloads and signs, subnormals and
// the extremes.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000),
	math.Float32frombits(0x7fc12345), math.Float32frombits(0xffa00001),
	math.Float32frombits(1), math.Float32frombits(0x807fffff),
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1, -1,
}

// mixed returns n values: mostly random of varied magnitude and sign, with
// a special value every few elements.
func mixed(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if r.IntN(5) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		} else {
			x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(13)-8)))
		}
	}
	return x
}

// withCanary copies x into a slice of len(x)+8 whose tail holds a pattern
// the kernels must not touch.
func withCanary(x []float32) []float32 {
	b := make([]float32, len(x)+8)
	copy(b, x)
	for i := len(x); i < len(b); i++ {
		b[i] = math.Float32frombits(0x7fbadbad)
	}
	return b
}

// sameBits compares every bit, except that in the first n values any NaN
// matches any NaN: which payload a sum of two NaNs keeps depends on the
// operand order the compiler picks for a commutative add (seen on arm64:
// the same Go loop compiled at two call sites kept different payloads), and
// Go does not specify it.
func sameBits(t *testing.T, what string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if i < n && got[i] != got[i] && want[i] != want[i] {
			continue // the canaries past n (NaNs too) must keep their bits
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s n=%d: [%d] = %08x, want %08x", what, n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

// float64s returns n normal values.
func float64s(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// sameBits64 is sameBits for float64 slices, any NaN matching any NaN.
func sameBits64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if got[i] != got[i] && want[i] != want[i] {
			continue
		}
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s n=%d: [%d] = %016x, want %016x", what, len(want)-1, i, math.Float64bits(got[i]), math.Float64bits(want[i]))
		}
	}
}

// lengths covers empty, every tail length, and several trips of each loop.
func lengths() []int {
	var ns []int
	for n := 0; n <= 40; n++ {
		ns = append(ns, n)
	}
	return append(ns, 63, 64, 65, 127, 1000, 1031)
}

// TestElementwiseKernelsMatchGo runs AdamUpdate, AddTo, the row scaling
// and softmax backward of attention, the layer-norm backward's passes,
// ReLUBackward (both the in-place and
// the accumulating form) and ReLUBackwardTo on every usable kernel and
// compares every bit, canaries included, with the Go references.
func TestElementwiseKernelsMatchGo(t *testing.T) {
	coefs := []AdamCoefs{
		{B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, BC2: 0.0316, Eps: 1e-8, Step: 5e-4},
		{B1: 0.9, C1: 0.100000024, B2: 0.999, C2: 0.0009999871, BC2: 0.99, Eps: 1e-8, Step: 1.3e-4},
		{B1: 0.5, C1: 0.5, B2: 0.25, C2: 0.75, BC2: 1, Eps: 0, Step: 1},
	}
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		k := c.k
		t.Run(k.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for _, n := range lengths() {
				for _, co := range coefs {
					p, g, m, v := mixed(r, n), mixed(r, n), mixed(r, n), mixed(r, n)
					for i := range v {
						if r.IntN(4) != 0 {
							v[i] = float32(math.Abs(float64(v[i]))) // mostly the non-negative v of real runs
						}
					}
					wp, wm, wv := withCanary(p), withCanary(m), withCanary(v)
					gp, gm, gv := withCanary(p), withCanary(m), withCanary(v)
					adamUpdateGo(wp[:n], g, wm[:n], wv[:n], co)
					k.adam(gp[:n], g, gm[:n], gv[:n], co)
					sameBits(t, "adam p", n, gp, wp)
					sameBits(t, "adam m", n, gm, wm)
					sameBits(t, "adam v", n, gv, wv)
				}

				a, b := mixed(r, n), mixed(r, n)
				want := withCanary(mixed(r, n))
				got := append([]float32(nil), want...)
				addToGo(want[:n], a, b)
				k.addTo(got[:n], a, b)
				sameBits(t, "addTo", n, got, want)

				// Scale and the softmax backward, by a scalar that is mostly
				// ordinary and sometimes zero, negative zero or infinite.
				for _, sc := range []float32{1 / 3.7, -0.8, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1))} {
					want = withCanary(mixed(r, n))
					got = append([]float32(nil), want...)
					scaleGo(want[:n], sc)
					k.scale(got[:n], sc)
					sameBits(t, "scale", n, got, want)

					p := mixed(r, n)
					want = withCanary(mixed(r, n))
					got = append([]float32(nil), want...)
					softmaxBackwardRowDot(want[:n], p, sc)
					k.softmaxBackward(got[:n], p, sc)
					sameBits(t, "softmaxBackward", n, got, want)
				}

				// The layer-norm backward's passes: x̂, the dGamma and dBeta
				// sums, and dX.
				x, dy, gm := mixed(r, n), mixed(r, n), mixed(r, n)
				hw, hg := make([]float64, n+1), make([]float64, n+1)
				hw[n], hg[n] = 7, 7 // canaries
				layerNormNormaliseGo(hw[:n], x, 0.3, 1.7)
				k.lnNormalise(hg[:n], x, 0.3, 1.7)
				sameBits64(t, "lnNormalise", hg, hw)
				sbw, sgw := float64s(r, n+1), float64s(r, n+1)
				sbg, sgg := slices.Clone(sbw), slices.Clone(sgw)
				layerNormAccumulateGo(sbw[:n], sgw[:n], hw[:n], dy)
				k.lnAccumulate(sbg[:n], sgg[:n], hw[:n], dy)
				sameBits64(t, "lnAccumulate sb", sbg, sbw)
				sameBits64(t, "lnAccumulate sg", sgg, sgw)
				want = withCanary(mixed(r, n))
				got = append([]float32(nil), want...)
				layerNormDxGo(want[:n], dy, gm, hw[:n], -0.25, 0.6, 1.3)
				k.lnDx(got[:n], dy, gm, hw[:n], -0.25, 0.6, 1.3)
				sameBits(t, "lnDx", n, got, want)

				dOut, y := mixed(r, n), mixed(r, n)
				want = withCanary(mixed(r, n))
				got = append([]float32(nil), want...)
				reluBackwardGo(want[:n], dOut, y)
				k.reluBackward(got[:n], dOut, y)
				sameBits(t, "reluBackward", n, got, want)

				// ReLUBackwardTo: the bits of clearing and accumulating, into
				// another slice and in place.
				want = withCanary(mixed(r, n))
				got = append([]float32(nil), want...)
				clear(want[:n])
				reluBackwardGo(want[:n], dOut, y)
				k.reluBackwardTo(got[:n], dOut, y)
				sameBits(t, "reluBackwardTo", n, got, want)
				got = withCanary(dOut)
				k.reluBackwardTo(got[:n], got[:n], y)
				sameBits(t, "reluBackwardTo in place", n, got, want)

				want = withCanary(dOut)
				got = append([]float32(nil), want...)
				reluBackwardGo(want[:n], want[:n], y)
				k.reluBackward(got[:n], got[:n], y)
				sameBits(t, "reluBackward in place", n, got, want)
			}
		})
	}
}

// TestAdamSqrtSweep drives the square root of every kernel's AdamUpdate
// over a sweep of float32 bit patterns of v (every 4099th, both signs:
// about a million values), with g and m random: the vector square root and
// divisions must give the Go loop's bits everywhere.
func TestAdamSqrtSweep(t *testing.T) {
	const stride = 4099
	var v []float32
	for b := uint64(0); b < 1<<32; b += stride {
		v = append(v, math.Float32frombits(uint32(b)))
	}
	r := rand.New(rand.NewPCG(3, 4))
	g, m, p := mixed(r, len(v)), mixed(r, len(v)), mixed(r, len(v))
	co := AdamCoefs{B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, BC2: 0.0316, Eps: 1e-8, Step: 5e-4}
	wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
	adamUpdateGo(wp, g, wm, wv, co)
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		gp, gm, gv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
		c.k.adam(gp, g, gm, gv, co)
		sameBits(t, c.k.name+" sweep p", len(v), gp, wp)
		sameBits(t, c.k.name+" sweep v", len(v), gv, wv)
	}
}

// TestFloat32SqrtViaFloat64 checks the claim adamUpdateGo rests on:
// float32(math.Sqrt(float64(x))) is the correctly rounded float32 square
// root (what VSQRTPS returns) — r is the nearest float32 to √x iff x lies
// between the squares of the midpoints around r, squares that float64 holds
// exactly (25-bit midpoints). Every 61st positive float32 by default; every
// one with IPT_EXHAUSTIVE=1 (a minute or so).
func TestFloat32SqrtViaFloat64(t *testing.T) {
	step := uint32(61)
	if os.Getenv("IPT_EXHAUSTIVE") != "" {
		step = 1
	}
	for b := uint32(1); b < 0x7f800000; b += step {
		x := math.Float32frombits(b)
		r := float32(math.Sqrt(float64(x)))
		lo := (float64(r) + float64(math.Nextafter32(r, 0))) / 2
		hi := (float64(r) + float64(math.Nextafter32(r, math.MaxFloat32))) / 2
		// Round half to even: a tie goes to the even significand.
		even := math.Float32bits(r)&1 == 0
		if xl := lo * lo; float64(x) < xl || (float64(x) == xl && !even) {
			t.Fatalf("sqrt(%g) = %g rounds down too far", x, r)
		}
		if xh := hi * hi; float64(x) > xh || (float64(x) == xh && !even) {
			t.Fatalf("sqrt(%g) = %g rounds up too far", x, r)
		}
	}
}

// TestL2NormBlocks: the norm is the square root of the block sums (blocks of
// normChunk, each summed in index order in float64) added in order, with the
// same bits on any number of threads, whether or not four whole blocks go
// side by side.
func TestL2NormBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	for _, n := range []int{0, 1, normChunk - 1, normChunk, 3*normChunk + 7, 4 * normChunk, 9*normChunk + 5} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * float32(1+i%7)
		}
		var total float64
		for lo := 0; lo < n; lo += normChunk {
			var s float64
			for _, v := range x[lo:min(n, lo+normChunk)] {
				s += float64(v) * float64(v)
			}
			total += s
		}
		want := math.Sqrt(total)
		for _, threads := range []int{1, 2, 3} {
			if got := (Exec{Threads: threads}).L2Norm(x); math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("n=%d, %d threads: %v, want %v", n, threads, got, want)
			}
		}
	}
}
