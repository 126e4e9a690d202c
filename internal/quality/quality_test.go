package quality

import (
	"math"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
)

// pair builds the test images of scripts/quality_ref.py: a is a ramp with
// wraps, b is a plus a fixed pattern of ±30 (clipped), or with contrast,
// a/2 + 60 (integer division).
func pair(h, w int, contrast bool) (a, b *ipt.Image) {
	a, b = ipt.NewImage(h, w), ipt.NewImage(h, w)
	for c := range 3 {
		for y := range h {
			for x := range w {
				i := (c*h+y)*w + x
				av := (7*x+3*y+40*c)%200 + 20
				bv := min(max(av+(13*x*x+7*x*y+3*c)%61-30, 0), 255)
				if contrast {
					bv = av/2 + 60
				}
				a.Pix[i], b.Pix[i] = float32(av), float32(bv)
			}
		}
	}
	return a, b
}

// The wanted figures were printed by scripts/quality_ref.py (numpy for
// PSNR, scikit-image 0.19.3's structural_similarity for SSIM) with Debian's
// python3.
func TestAgainstReference(t *testing.T) {
	cases := []struct {
		h, w, shave     int
		contrast        bool
		rgb, y, ssimRef float64
	}{
		{40, 37, 0, false, 23.148269466762, 25.220093365555, 0.666620674935},
		{40, 37, 3, false, 23.175891227721, 25.337628106621, 0.697544611244},
		{40, 37, 0, true, 19.125533141180, 24.042100979578, 0.843736777220},
		{23, 64, 0, false, 23.010883793327, 25.082834143316, 0.664487474394},
		{23, 64, 3, false, 23.091737098516, 25.213205910129, 0.677578156816},
		{23, 64, 0, true, 19.157780561944, 24.078134184411, 0.844327981280},
	}
	for _, c := range cases {
		a, b := pair(c.h, c.w, c.contrast)
		rgb, y := PSNR(a, b, c.shave)
		s := SSIM(a, b, c.shave)
		if math.Abs(rgb-c.rgb) > 1e-9 || math.Abs(y-c.y) > 1e-9 || math.Abs(s-c.ssimRef) > 1e-9 {
			t.Errorf("%d×%d shave %d contrast %v: PSNR %.12f / Y %.12f, SSIM %.12f; want %.12f / %.12f, %.12f",
				c.w, c.h, c.shave, c.contrast, rgb, y, s, c.rgb, c.y, c.ssimRef)
		}
		// Both measures are symmetric.
		rgb2, y2 := PSNR(b, a, c.shave)
		if rgb2 != rgb || y2 != y || math.Abs(SSIM(b, a, c.shave)-s) > 1e-12 {
			t.Errorf("%d×%d: not symmetric", c.w, c.h)
		}
	}
}

func TestIdenticalAndDegenerate(t *testing.T) {
	a, _ := pair(20, 20, false)
	rgb, y := PSNR(a, a, 0)
	if !math.IsInf(rgb, 1) || !math.IsInf(y, 1) {
		t.Errorf("identical images: PSNR %v, %v; want +Inf", rgb, y)
	}
	if s := SSIM(a, a, 2); math.Abs(s-1) > 1e-12 {
		t.Errorf("identical images: SSIM %v, want 1", s)
	}
	b, _ := pair(20, 21, false)
	if rgb, _ := PSNR(a, b, 0); !math.IsNaN(rgb) || !math.IsNaN(SSIM(a, b, 0)) {
		t.Error("different sizes must give NaN")
	}
	if rgb, _ := PSNR(a, a, 10); !math.IsNaN(rgb) {
		t.Error("a shave that leaves nothing must give NaN")
	}
	if s := SSIM(a, a, 5); !math.IsNaN(s) {
		t.Error("SSIM of 10×10 (smaller than the window) must give NaN")
	}
}

// TestPSNRYWeights: a difference in one channel only is weighted by that
// channel's Y coefficient: PSNR_Y = −10·log10((k·d/256/255)²).
func TestPSNRYWeights(t *testing.T) {
	for ch, k := range []float64{65.738, 129.057, 25.064} {
		a, b := ipt.NewImage(4, 4), ipt.NewImage(4, 4)
		for i := range 16 {
			a.Pix[ch*16+i] = 10
		}
		rgb, y := PSNR(a, b, 0)
		wantY := -20 * math.Log10(k*10/256/255)
		wantRGB := 10 * math.Log10(255*255/(100.0/3))
		if math.Abs(y-wantY) > 1e-9 || math.Abs(rgb-wantRGB) > 1e-9 {
			t.Errorf("channel %d: PSNR %v / Y %v, want %v / %v", ch, rgb, y, wantRGB, wantY)
		}
	}
}
