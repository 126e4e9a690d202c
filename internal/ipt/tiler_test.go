package ipt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// identityModel builds weights under which IPT computes nearest-neighbour
// upsampling of its input: the head copies the colours into the first three
// channels, the ResBlocks and the whole transformer have zero weights (so
// each is the identity through its residual), the upsamplers copy each
// channel into its s² sub-pixels and the last conv halves the doubled
// features (body(f) + f = 2f). Any tiler run on it must reproduce the
// upsampled image, which tests the tilers' geometry on any size.
func identityModel(t *testing.T, scales ...int) *Model {
	t.Helper()
	c := Config{NFeats: 8, PatchSize: 12, PatchDim: 2, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: scales}
	keys, shapes := c.expectedShapes()
	tensors := map[string][]float32{}
	shapeMap := map[string][]int{}
	mean := []float32{0.4488 * 255, 0.4371 * 255, 0.4040 * 255}
	C := c.NFeats
	centre := func(w []float32, cin, out, in int, v float32) { w[((out*cin+in)*3+1)*3+1] = v }
	for _, k := range keys {
		s := shapes[k]
		shapeMap[k] = s
		v := make([]float32, numel(s))
		tensors[k] = v
		switch {
		case strings.HasSuffix(k, "_mean.weight"):
			v[0], v[4], v[8] = 1, 1, 1
		case k == "sub_mean.bias":
			v[0], v[1], v[2] = -mean[0], -mean[1], -mean[2]
		case k == "add_mean.bias":
			copy(v, mean)
		case strings.HasPrefix(k, "head.") && strings.HasSuffix(k, ".0.weight") && len(s) == 4 && s[1] == Colors:
			for ch := 0; ch < Colors; ch++ {
				centre(v, Colors, ch, ch, 1)
			}
		case strings.HasPrefix(k, "tail.") && strings.HasSuffix(k, ".1.weight"):
			for ch := 0; ch < Colors; ch++ {
				centre(v, C, ch, ch, 0.5)
			}
		case strings.HasPrefix(k, "tail.") && strings.HasSuffix(k, "weight"):
			r2 := s[0] / C // s² output channels per input channel
			for ch := 0; ch < C; ch++ {
				for sub := 0; sub < r2; sub++ {
					centre(v, C, ch*r2+sub, ch, 1)
				}
			}
		}
	}
	m, err := NewModel(c, shapeMap, tensors)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTilersReproduceTheModelOnAnySize(t *testing.T) {
	m := identityModel(t, 1, 2, 3, 4)
	rng := rand.New(rand.NewPCG(9, 9))
	for task, s := range m.Config.Scales {
		for _, size := range [][2]int{{12, 12}, {13, 12}, {5, 7}, {1, 1}, {40, 17}, {29, 53}, {24, 36}} {
			for _, tiling := range []Tiling{TilingOfficial, TilingBlend} {
				for _, ens := range []Ensemble{NoEnsemble, EnsembleFlips, EnsembleX8} {
					if ens != NoEnsemble && s > 2 {
						continue
					}
					name := fmt.Sprintf("x%d/%dx%d/%s/ensemble=%v", s, size[0], size[1], tiling, ens)
					h, w := size[0], size[1]
					img := NewImage(h, w)
					for i := range img.Pix {
						img.Pix[i] = float32(rng.IntN(256))
					}
					r := &Runner{Model: m, Task: task, Threads: 2, Batch: 3}
					out, err := r.Restore(context.Background(), img, tiling, ens)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if out.H != h*s || out.W != w*s {
						t.Fatalf("%s: output %d×%d", name, out.H, out.W)
					}
					worst := 0.0
					for c := 0; c < Colors; c++ {
						for y := 0; y < h*s; y++ {
							for x := 0; x < w*s; x++ {
								want := img.Pix[(c*h+y/s)*w+x/s]
								d := float64(out.Pix[(c*out.H+y)*out.W+x] - want)
								worst = max(worst, d, -d)
							}
						}
					}
					if worst > 1e-3 {
						t.Errorf("%s: differs from the upsampled input by up to %.3g", name, worst)
					}
				}
			}
		}
	}
}

func TestTileStartsCoverWithOverlap(t *testing.T) {
	for _, tc := range []struct{ n, P, o int }{{48, 48, 8}, {49, 48, 8}, {88, 48, 8}, {89, 48, 8}, {512, 48, 8}, {25, 24, 4}, {100, 12, 2}} {
		starts := tileStarts(tc.n, tc.P, tc.o)
		if starts[0] != 0 || starts[len(starts)-1] != tc.n-tc.P {
			t.Errorf("%v: starts %v do not span the side", tc, starts)
		}
		for i := 1; i < len(starts); i++ {
			if ov := starts[i-1] + tc.P - starts[i]; ov < tc.o || starts[i] <= starts[i-1] {
				t.Errorf("%v: tiles %d and %d overlap by %d", tc, i-1, i, ov)
			}
		}
	}
}

// TestEnsembleSymmetries: an ensemble's output commutes with the
// transforms it averages over and no others. With a random (asymmetric)
// model, the flips ensemble commutes with a left-right flip and not with a
// transpose; the authors' x8 commutes with both; a single pass with neither.
// (Up to rounding: the passes are summed in another order.)
func TestEnsembleSymmetries(t *testing.T) {
	c := Config{NFeats: 4, PatchSize: 8, PatchDim: 2, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: []int{1}}
	m, err := RandomModel(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	img := randomImage(rand.New(rand.NewPCG(5, 6)), 13, 13)
	restore := func(in *Image, ens Ensemble) *Image {
		out, err := (&Runner{Model: m, Threads: 2}).Restore(context.Background(), in, TilingBlend, ens)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// gap is the largest difference between a transform of the output and
	// the output of the transformed input, relative to the output's range.
	gap := func(ens Ensemble, tr func(*Image) *Image) float64 {
		a, b := tr(restore(img, ens)), restore(tr(img), ens)
		lo, hi, worst := a.Pix[0], a.Pix[0], 0.0
		for i, v := range a.Pix {
			lo, hi = min(lo, v), max(hi, v)
			worst = max(worst, math.Abs(float64(v-b.Pix[i])))
		}
		return worst / float64(hi-lo)
	}
	flipH := func(im *Image) *Image { return im.flipH() }
	transpose := func(im *Image) *Image { return im.transpose() }
	for _, tc := range []struct {
		name     string
		ens      Ensemble
		tr       func(*Image) *Image
		commutes bool
	}{
		{"single pass, flip", NoEnsemble, flipH, false},
		{"flips, flip", EnsembleFlips, flipH, true},
		{"flips, transpose", EnsembleFlips, transpose, false},
		{"x8, flip", EnsembleX8, flipH, true},
		{"x8, transpose", EnsembleX8, transpose, true},
	} {
		g := gap(tc.ens, tc.tr)
		if tc.commutes && g > 1e-5 || !tc.commutes && g < 1e-3 {
			t.Errorf("%s: relative gap %.3g, commutes %v", tc.name, g, tc.commutes)
		}
	}
}

// TestEnsembleUnknown: a value outside the three is an error, not some
// number of passes.
func TestEnsembleUnknown(t *testing.T) {
	m := identityModel(t, 1)
	for _, ens := range []Ensemble{-1, EnsembleX8 + 1} {
		if _, err := (&Runner{Model: m}).Restore(context.Background(), NewImage(5, 5), TilingBlend, ens); err == nil || !strings.Contains(err.Error(), "unknown self-ensemble") {
			t.Errorf("Restore with %v: %v", ens, err)
		}
	}
	if s := EnsembleFlips.String(); s != "flips" {
		t.Errorf("EnsembleFlips.String() = %q", s)
	}
}
