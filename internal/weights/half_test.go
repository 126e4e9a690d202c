package weights

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// roundHalfRef rounds x to binary16 the slow way, in float64: the quantum
// is 2^(E-10) for |x| in [2^E, 2^(E+1)), at least 2^-24 (subnormals);
// math.RoundToEven does the ties; past 65504 + half a quantum it is Inf.
func roundHalfRef(x float32) float64 {
	v := float64(x)
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return v
	}
	_, e := math.Frexp(math.Abs(v)) // |v| = f·2^e, f in [0.5, 1)
	q := math.Ldexp(1, max(e-1, -14)-10)
	r := math.RoundToEven(v/q) * q
	if math.Abs(r) > 65504 {
		return math.Copysign(math.Inf(1), v)
	}
	return r
}

// roundBF16Ref does the same for bfloat16: 8 significant bits, float32's range.
func roundBF16Ref(x float32) float64 {
	v := float64(x)
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return v
	}
	_, e := math.Frexp(math.Abs(v))
	q := math.Ldexp(1, max(e-1, -126)-7)
	r := math.RoundToEven(v/q) * q
	if math.Abs(r) > math.MaxFloat32 {
		return math.Copysign(math.Inf(1), v)
	}
	return r
}

func bf16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// halfCases are the edges: ties both ways, the largest half and what rounds
// past it, the subnormal range and what rounds to zero, specials.
var halfCases = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65519.996, 65520, -65520, 1e6,
	float32(math.Ldexp(1, -14)), float32(math.Ldexp(1, -24)), float32(math.Ldexp(1, -25)),
	float32(math.Ldexp(1.5, -25)), float32(math.Ldexp(3, -26)), float32(math.Ldexp(1, -26)), 1e-30,
	1 + float32(math.Ldexp(1, -11)), 1 + float32(math.Ldexp(3, -11)), // ties: to 1, to 1+2^-9
	2049, 2051, 0.1, 1.0 / 3, float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(1), math.Float32frombits(0x7f7fffff),
}

func TestFloat32ToHalfRoundsToNearestEven(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := slices.Clone(halfCases)
	for range 200000 {
		// Uniform in the exponents a model's weights use, and beyond.
		xs = append(xs, float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(50)-30)))
		xs = append(xs, math.Float32frombits(rng.Uint32())) // any bit pattern
	}
	for _, x := range xs {
		got := halfToFloat32(float32ToHalf(x))
		if math.IsNaN(float64(x)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("NaN %#x became %v", math.Float32bits(x), got)
			}
			continue
		}
		want := roundHalfRef(x)
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(float64(x)) {
			t.Fatalf("f16(%v = %#x) = %v, want %v", x, math.Float32bits(x), got, want)
		}
		// Within half a quantum of x wherever the result is finite.
		if !math.IsInf(want, 0) {
			_, e := math.Frexp(math.Abs(float64(x)))
			if d := math.Abs(float64(got) - float64(x)); d > math.Ldexp(1, max(e-1, -14)-11) {
				t.Fatalf("f16(%v) = %v is %g off", x, got, d)
			}
		}
	}
}

func TestFloat32ToBF16RoundsToNearestEven(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := slices.Clone(halfCases)
	xs = append(xs, 1+float32(math.Ldexp(1, -8)), 1+float32(math.Ldexp(3, -8)), 3.0e38)
	for range 200000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for _, x := range xs {
		got := bf16ToFloat32(float32ToBF16(x))
		if math.IsNaN(float64(x)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("NaN %#x became %v", math.Float32bits(x), got)
			}
			continue
		}
		if want := roundBF16Ref(x); float64(got) != want || math.Signbit(float64(got)) != math.Signbit(float64(x)) {
			t.Fatalf("bf16(%v = %#x) = %v, want %v", x, math.Float32bits(x), got, want)
		}
	}
}

// TestSafetensorsAsHalfRoundTrip writes a checkpoint as F16 and as BF16 and
// reads it back: each float is its own rounding, the integers are intact,
// and an unknown storage type is refused.
func TestSafetensorsAsHalfRoundTrip(t *testing.T) {
	src := mustLoad(t, fixtureZip)
	for _, dt := range []DType{F16, BF16} {
		path := filepath.Join(t.TempDir(), "half.safetensors")
		if err := WriteSafetensorsAs(path, src.Keys, src.Tensors, map[string]string{"a": "b"}, dt); err != nil {
			t.Fatal(err)
		}
		got := mustLoad(t, path)
		checkConsistent(t, got)
		if !slices.Equal(got.Keys, src.Keys) || got.Metadata["a"] != "b" {
			t.Fatalf("%s: keys or metadata lost", dt)
		}
		floats := 0
		for _, k := range src.Keys {
			a, b := src.Tensors[k], got.Tensors[k]
			if !slices.Equal(a.Shape, b.Shape) {
				t.Fatalf("%s: %s: shape %v, want %v", dt, k, b.Shape, a.Shape)
			}
			if a.F32 == nil {
				if b.DType != I64 || !slices.Equal(a.I64, b.I64) {
					t.Errorf("%s: %s: integers changed (dtype %s)", dt, k, b.DType)
				}
				continue
			}
			if b.DType != dt {
				t.Errorf("%s: %s stored as %s", dt, k, b.DType)
			}
			for i, x := range a.F32 {
				want := roundHalfRef(x)
				if dt == BF16 {
					want = roundBF16Ref(x)
				}
				if float64(b.F32[i]) != want {
					t.Fatalf("%s: %s[%d] = %v, want %v (from %v)", dt, k, i, b.F32[i], want, x)
				}
			}
			floats += len(a.F32)
		}
		if floats == 0 {
			t.Fatal("the fixture has no float tensors")
		}
	}
	err := WriteSafetensorsAs(filepath.Join(t.TempDir(), "x.safetensors"), src.Keys, src.Tensors, nil, I8)
	if err == nil {
		t.Fatal("I8 storage accepted")
	}
}
