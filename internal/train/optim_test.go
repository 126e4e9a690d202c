package train

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// adamRef is the output of testdata/adam_ref.py: float32 bits of the
// parameters and moments after each of three steps.
const adamRef = `
step 1
p bebf7cee be808312 be010625 3a83126e 3dfdf3b6 3e800000 3ec08312
m bc4ccccd 3d000000 3bcccccd bc99999a 3ccccccd 00000000 bccccccd
v 3783126f 38ccccce 3683126f 381374bc 3883126f 00000000 3883126f
step 2
p bebf5a05 be809c2c be01edfa 3adae5da 3dfe0f4e 3e7f3cf2 3ec0eff0
m bba3d709 3c199998 3cfae148 bc8a3d71 bb23d710 379d4952 bceb851e
v 37a3b57d 390b295f 388b417d 38134efc 390301a8 2e1a9e6c 388b2208
step 3
p bebf77fe be80a5e0 be01f3f4 3ad5453b 3dfe36fb 3e7f5dfa 3ec10381
m 3ca7ef9e 3c0a3d6f 3b27ef98 3b6978d8 bc0b4397 b7712c28 bc5b22cf
v 38abf554 390b05bf 39071823 38934f01 3906f8b1 2f11fd80 38abc306
`

func hexBits(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%08x", math.Float32bits(x))
	}
	return strings.Join(s, " ")
}

// TestAdamReference runs the inputs of adam_ref.py and compares every bit.
func TestAdamReference(t *testing.T) {
	const n = 7
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(i-3) / 8
	}
	a := NewAdam(n)
	var got strings.Builder
	for step, lr := range []float64{1e-3, 1e-3, 5e-4} {
		tt := step + 1
		g := make([]float32, n)
		for i := range g {
			scale := 1.0
			if i == 5 {
				scale = 1e-3
			}
			g[i] = float32(float64((i*7+tt*3)%11-5) / 16 * scale)
		}
		if err := a.Step(p, g, lr, 1); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "step %d\np %s\nm %s\nv %s\n", tt, hexBits(p), hexBits(a.M), hexBits(a.V))
	}
	if strings.TrimSpace(got.String()) != strings.TrimSpace(adamRef) {
		t.Errorf("Adam differs from testdata/adam_ref.py:\ngot\n%s\nwant%s", got.String(), adamRef)
	}
}

// TestAdamFirstStep checks the textbook property of step 1: with bias
// correction, m̂ = g and v̂ = g², so each parameter moves by lr·g/(|g|+ε).
func TestAdamFirstStep(t *testing.T) {
	g := []float32{0.5, -2, 1e-3, 0, 300}
	p := make([]float32, len(g))
	a := NewAdam(len(g))
	const lr = 0.01
	if err := a.Step(p, g, lr, 1); err != nil {
		t.Fatal(err)
	}
	for i, gi := range g {
		want := -lr * float64(gi) / (math.Abs(float64(gi)) + 1e-8)
		if math.Abs(float64(p[i])-want) > 1e-6*lr {
			t.Errorf("p[%d] = %g after one step with g %g, want %g", i, p[i], gi, want)
		}
	}
	if a.T != 1 {
		t.Errorf("T = %d, want 1", a.T)
	}
}

// TestAdamThreads: the update is the same for any number of goroutines.
func TestAdamThreads(t *testing.T) {
	const n = 3*adamChunk + 17
	run := func(threads int) []float32 {
		p := make([]float32, n)
		g := make([]float32, n)
		for i := range p {
			p[i] = float32(math.Sin(float64(i)))
			g[i] = float32(math.Cos(float64(i) * 0.37))
		}
		a := NewAdam(n)
		for range 3 {
			if err := a.Step(p, g, 1e-3, threads); err != nil {
				t.Fatal(err)
			}
		}
		return append(p, append(a.M, a.V...)...)
	}
	one, four := run(1), run(4)
	for i := range one {
		if math.Float32bits(one[i]) != math.Float32bits(four[i]) {
			t.Fatalf("element %d: %g with 1 thread, %g with 4", i, one[i], four[i])
		}
	}
}

func TestAdamLengthMismatch(t *testing.T) {
	if err := NewAdam(3).Step(make([]float32, 3), make([]float32, 2), 1e-3, 1); err == nil {
		t.Error("no error for 3 params and 2 grads")
	}
}

func TestClipGrads(t *testing.T) {
	g := []float32{3, 4, 0} // norm 5
	if n := ClipGrads(g, 0, 1); n != 5 || g[0] != 3 || g[1] != 4 {
		t.Errorf("clip 0 (off): norm %g, g %v; want 5, unchanged", n, g)
	}
	if n := ClipGrads(g, 10, 1); n != 5 || g[0] != 3 || g[1] != 4 {
		t.Errorf("clip 10 above the norm: norm %g, g %v; want 5, unchanged", n, g)
	}
	if n := ClipGrads(g, 1, 1); n != 5 {
		t.Errorf("norm %g, want 5", n)
	}
	if g[0] != float32(0.6) || g[1] != float32(0.8) || g[2] != 0 {
		t.Errorf("clipped to 1: %v, want [0.6 0.8 0]", g)
	}
	// Large vectors: the norm is summed in fixed blocks, the same for any threads.
	big := make([]float32, 5*normChunk+3)
	want := 0.0
	for i := range big {
		big[i] = float32(i%13) - 6
		want += float64(big[i]) * float64(big[i])
	}
	want = math.Sqrt(want)
	n1, n3 := GradNorm(big, 1), GradNorm(big, 3)
	if n1 != n3 || math.Abs(n1-want) > 1e-9*want {
		t.Errorf("GradNorm: %v (1 thread), %v (3), want %v", n1, n3, want)
	}
}
