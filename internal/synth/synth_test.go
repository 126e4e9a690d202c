package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
)

// randomImage is an h×w image of integer values (what a uint8 file gives).
func randomImage(h, w int, seed uint64) *ipt.Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	im := ipt.NewImage(h, w)
	for i := range im.Pix {
		im.Pix[i] = float32(rng.IntN(256))
	}
	return im
}

func constImage(h, w int, v float32) *ipt.Image {
	im := ipt.NewImage(h, w)
	for i := range im.Pix {
		im.Pix[i] = v
	}
	return im
}

func equal(a, b *ipt.Image) bool { return a.H == b.H && a.W == b.W && slices.Equal(a.Pix, b.Pix) }

func TestResizeKeepsConstants(t *testing.T) {
	for _, s := range []int{2, 3, 4} {
		for _, v := range []float32{0, 77, 255} {
			im := constImage(3*s+s-1, 5*s+s-1, v)
			down, up := Downscale(im, s), Upscale(im, s)
			if down.H != 3 || down.W != 5 || up.H != im.H*s || up.W != im.W*s {
				t.Fatalf("×%d: sizes %d×%d and %d×%d", s, down.H, down.W, up.H, up.W)
			}
			if !equal(down, constImage(3, 5, v)) || !equal(up, constImage(up.H, up.W, v)) {
				t.Errorf("×%d: constant %v did not stay constant", s, v)
			}
		}
	}
}

// TestDownscaleCropsToMultiple: the rows and columns past the last multiple
// of s play no part.
func TestDownscaleCropsToMultiple(t *testing.T) {
	im := randomImage(14, 19, 1)
	if !equal(Downscale(im, 4), Downscale(Crop(im, 0, 0, 12, 16), 4)) {
		t.Error("Downscale(14×19, 4) differs from Downscale of its 12×16 part")
	}
	if got := Downscale(randomImage(3, 9, 2), 4); got.H != 0 || got.W != 2 {
		t.Errorf("3×9 by 4: %d×%d, want 0×2", got.H, got.W)
	}
}

// TestResizeSeparable: an image whose rows are constant is resized along
// the vertical axis only, so its result's rows are constant too and equal
// the 1-D resize of its first column (computed as a w=1 image).
func TestResizeSeparable(t *testing.T) {
	for _, s := range []int{2, 3, 4} {
		col := randomImage(7*s, 1, uint64(s))
		// rowsConst is 7s×w with every row the constant col value.
		rowsConst := func(w int) *ipt.Image {
			im := ipt.NewImage(7*s, w)
			for c := range ipt.Colors {
				for y := range im.H {
					for x := range im.W {
						im.Pix[(c*im.H+y)*im.W+x] = col.Pix[c*im.H+y]
					}
				}
			}
			return im
		}
		im := rowsConst(4 * s)
		for name, f := range map[string]func(*ipt.Image, int) *ipt.Image{"Downscale": Downscale, "Upscale": Upscale} {
			got, want := f(im, s), f(rowsConst(s), s) // want: column 0 of the narrowest
			for c := range ipt.Colors {
				for y := range got.H {
					for x := range got.W {
						if g, w := got.Pix[(c*got.H+y)*got.W+x], want.Pix[(c*want.H+y)*want.W]; g != w {
							t.Fatalf("%s ×%d: (%d, %d, %d) is %v, want the column's %v", name, s, c, y, x, g, w)
						}
					}
				}
			}
		}
	}
}

// TestResizeSymmetric: the sample positions are symmetric about the
// image's centre, so resizing commutes with flips.
func TestResizeSymmetric(t *testing.T) {
	for _, s := range []int{2, 3, 4} {
		im := randomImage(6*s, 5*s, uint64(10+s))
		for _, k := range []int{1, 2, 3} {
			if !equal(Downscale(Dihedral(im, k), s), Dihedral(Downscale(im, s), k)) {
				t.Errorf("Downscale ×%d does not commute with Dihedral %d", s, k)
			}
			if !equal(Upscale(Dihedral(im, k), s), Dihedral(Upscale(im, s), k)) {
				t.Errorf("Upscale ×%d does not commute with Dihedral %d", s, k)
			}
		}
	}
}

// TestCubicKernel checks the kernel against Keys' a = −0.5 polynomial at a
// few points computed by hand.
func TestCubicKernel(t *testing.T) {
	for x, want := range map[float64]float64{0: 1, 0.5: 0.5625, 1: 0, 1.5: -0.0625, 2: 0, 2.5: 0, -0.5: 0.5625, 0.25: 0.8671875} {
		if got := cubic(x); math.Abs(got-want) > 1e-15 {
			t.Errorf("cubic(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestAddNoiseStatistics(t *testing.T) {
	const sigma = 10
	im := constImage(100, 100, 128)
	out := AddNoise(im, sigma, rand.New(rand.NewPCG(1, 2)))
	var sum, sq float64
	integers := 0
	for _, v := range out.Pix {
		d := float64(v) - 128
		sum += d
		sq += d * d
		if v == float32(math.Round(float64(v))) {
			integers++
		}
	}
	n := float64(len(out.Pix))
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 4*sigma/math.Sqrt(n) || math.Abs(std-sigma) > 0.03*sigma {
		t.Errorf("noise mean %.3f, σ %.3f; want 0 and %d", mean, std, sigma)
	}
	if integers > len(out.Pix)/100 {
		t.Errorf("%d of %.0f noisy values are whole numbers: the noise must not be rounded", integers, n)
	}
	if !equal(out, AddNoise(im, sigma, rand.New(rand.NewPCG(1, 2)))) {
		t.Error("the same seed gave different noise")
	}
}

func TestAddNoiseClips(t *testing.T) {
	for _, base := range []float32{3, 250} {
		out := AddNoise(constImage(40, 40, base), 30, rand.New(rand.NewPCG(3, 4)))
		clipped := 0
		for _, v := range out.Pix {
			if v < 0 || v > 255 {
				t.Fatalf("value %v outside 0..255", v)
			}
			if v == 0 || v == 255 {
				clipped++
			}
		}
		// At 250 (or 3) with σ 30 about 43% of the values pass the bound.
		if clipped < len(out.Pix)/4 {
			t.Errorf("base %v: only %d of %d values clipped", base, clipped, len(out.Pix))
		}
	}
}

// applyOps is the test's own Dihedral: elementary flips and a transpose in
// the documented order.
func applyOps(im *ipt.Image, k int) *ipt.Image {
	at := func(m *ipt.Image, c, y, x int) float32 { return m.Pix[(c*m.H+y)*m.W+x] }
	out := im
	if k&1 != 0 { // left-right
		n := ipt.NewImage(out.H, out.W)
		for c := range 3 {
			for y := range out.H {
				for x := range out.W {
					n.Pix[(c*n.H+y)*n.W+x] = at(out, c, y, out.W-1-x)
				}
			}
		}
		out = n
	}
	if k&2 != 0 { // up-down
		n := ipt.NewImage(out.H, out.W)
		for c := range 3 {
			for y := range out.H {
				for x := range out.W {
					n.Pix[(c*n.H+y)*n.W+x] = at(out, c, out.H-1-y, x)
				}
			}
		}
		out = n
	}
	if k&4 != 0 {
		n := ipt.NewImage(out.W, out.H)
		for c := range 3 {
			for y := range n.H {
				for x := range n.W {
					n.Pix[(c*n.H+y)*n.W+x] = at(out, c, x, y)
				}
			}
		}
		out = n
	}
	return out
}

func TestDihedral(t *testing.T) {
	im := randomImage(3, 5, 7)
	var all []*ipt.Image
	for k := range 8 {
		d := Dihedral(im, k)
		if !equal(d, applyOps(im, k)) {
			t.Errorf("Dihedral %d differs from its flips and transpose done one by one", k)
		}
		for j, prev := range all {
			if equal(d, prev) {
				t.Errorf("Dihedral %d equals Dihedral %d", k, j)
			}
		}
		all = append(all, d)
		if back := Dihedral(d, DihedralInverse(k)); !equal(back, im) {
			t.Errorf("Dihedral %d then %d is not the identity", k, DihedralInverse(k))
		}
	}
	if &all[0].Pix[0] == &im.Pix[0] {
		t.Error("Dihedral 0 returned img itself, not a copy")
	}
	// The half turn, by hand: (y, x) comes from (H−1−y, W−1−x).
	half := Dihedral(im, 3)
	if half.Pix[0] != im.Pix[im.H*im.W-1] || half.Pix[im.W+1] != im.Pix[(im.H-2)*im.W+im.W-2] {
		t.Error("Dihedral 3 is not the half turn")
	}
}

func TestCrop(t *testing.T) {
	im := randomImage(6, 7, 9)
	c := Crop(im, 2, 3, 3, 4)
	for ch := range 3 {
		for y := range 3 {
			for x := range 4 {
				if c.Pix[(ch*3+y)*4+x] != im.Pix[(ch*6+y+2)*7+x+3] {
					t.Fatalf("Crop (%d,%d,%d) wrong", ch, y, x)
				}
			}
		}
	}
}

func TestAddRain(t *testing.T) {
	im := randomImage(80, 90, 11)
	a := AddRain(im, rand.New(rand.NewPCG(5, 6)))
	b := AddRain(im, rand.New(rand.NewPCG(5, 6)))
	c := AddRain(im, rand.New(rand.NewPCG(7, 8)))
	if !equal(a, b) {
		t.Error("the same seed gave different rain")
	}
	if equal(a, c) {
		t.Error("different seeds gave the same rain")
	}
	changed := 0
	for i, v := range a.Pix {
		if v < im.Pix[i] || v > 255 {
			t.Fatalf("value %d: %v from %v: rain must only brighten, up to 255", i, v, im.Pix[i])
		}
		if v != im.Pix[i] {
			changed++
		}
	}
	if changed < len(a.Pix)/50 || changed > len(a.Pix)*3/4 {
		t.Errorf("rain changed %d of %d values; want streaks, not nothing or everything", changed, len(a.Pix))
	}
}

func TestParseTask(t *testing.T) {
	for name, want := range map[string]Task{
		"sr2": {Name: "sr2", Scale: 2}, "sr3": {Name: "sr3", Scale: 3}, "sr4": {Name: "sr4", Scale: 4},
		"dn30": {Name: "dn30", Scale: 1, Sigma: 30}, "dn50": {Name: "dn50", Scale: 1, Sigma: 50},
		"dn1": {Name: "dn1", Scale: 1, Sigma: 1}, "dn255": {Name: "dn255", Scale: 1, Sigma: 255},
		"derain": {Name: "derain", Scale: 1, Rain: true},
		"dn5-75": {Name: "dn5-75", Scale: 1, Sigma: 5, SigmaMax: 75}, "dn0-255": {Name: "dn0-255", Scale: 1, Sigma: 0, SigmaMax: 255},
	} {
		got, err := ParseTask(name)
		if err != nil || got != want {
			t.Errorf("ParseTask(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "sr5", "sr1", "dn0", "dn256", "dn", "dn-5", "dn030", "dn3.5", "SR2", "rain",
		"dn5-5", "dn75-5", "dn5-", "dn-", "dn05-75", "dn5-256", "dn5-75-80", "dn-5-75"} {
		if _, err := ParseTask(bad); err == nil {
			t.Errorf("ParseTask(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "task") {
			t.Errorf("ParseTask(%q): error %q does not say what it wanted", bad, err)
		}
	}
	if b, d := (Task{Sigma: 5, SigmaMax: 75}), (Task{Sigma: 30}); b.Level() != 40 || d.Level() != 30 {
		t.Errorf("Level: dn5-75 %g, dn30 %g; want 40 and 30", b.Level(), d.Level())
	}
	if _, err := ParseTask("sr9"); err == nil || !strings.Contains(err.Error(), TaskNames) {
		t.Errorf("ParseTask(sr9): %v; want the valid names listed", err)
	}
}

func TestParseTasks(t *testing.T) {
	got, err := ParseTasks("sr2,sr3,sr4,dn30,dn50,derain")
	if err != nil || len(got) != 6 || got[3].Sigma != 30 || !got[5].Rain {
		t.Fatalf("ParseTasks: %+v, %v", got, err)
	}
	for _, bad := range []string{"sr2,sr2", "sr2,", "", "sr2,bogus"} {
		if _, err := ParseTasks(bad); err == nil {
			t.Errorf("ParseTasks(%q) accepted", bad)
		}
	}
}

func TestDegrade(t *testing.T) {
	im := randomImage(26, 30, 13)
	if got := Degrade(Task{Name: "sr4", Scale: 4}, im, nil); !equal(got, Downscale(im, 4)) {
		t.Error("sr4 is not Downscale")
	}
	seed := func() *rand.Rand { return rand.New(rand.NewPCG(1, 1)) }
	if got := Degrade(Task{Name: "dn50", Scale: 1, Sigma: 50}, im, seed()); !equal(got, AddNoise(im, 50, seed())) {
		t.Error("dn50 is not AddNoise(σ 50)")
	}
	if got := Degrade(Task{Name: "derain", Scale: 1, Rain: true}, im, seed()); !equal(got, AddRain(im, seed())) {
		t.Error("derain is not AddRain")
	}
	// dnA-B: a level from [A, B], drawn first, then the noise.
	blind, _ := ParseTask("dn5-75")
	r := seed()
	if got := Degrade(blind, im, seed()); !equal(got, AddNoise(im, 5+70*r.Float64(), r)) {
		t.Error("dn5-75 is not AddNoise at a level drawn from [5, 75]")
	}
	// Each image its own level: the noise's spread differs between draws
	// and stays within the range.
	flat := constImage(64, 64, 128)
	r = seed()
	lo, hi := 255.0, 0.0
	for range 20 {
		s := noiseStd(Degrade(blind, flat, r), flat)
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo < 5*0.9 || hi > 75*1.1 || hi-lo < 20 {
		t.Errorf("dn5-75: noise σ of 20 images from %.1f to %.1f; want spread over [5, 75]", lo, hi)
	}
}

// noiseStd is the standard deviation of noisy − clean.
func noiseStd(noisy, clean *ipt.Image) float64 {
	var s, s2 float64
	for i, v := range noisy.Pix {
		d := float64(v - clean.Pix[i])
		s, s2 = s+d, s2+d*d
	}
	n := float64(len(noisy.Pix))
	return math.Sqrt(s2/n - (s/n)*(s/n))
}
