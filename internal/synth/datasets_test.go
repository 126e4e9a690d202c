package synth

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/quality"
)

// These tests read the benchmark images of the project's shared datasets
// folder in place; without it they skip.

// datasets finds the shared datasets folder, or skips the test.
func datasets(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/work/shared/datasets", "../../../shared/datasets"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("skipped: no shared datasets folder (/work/shared/datasets or ../shared/datasets beside the repository)")
	return ""
}

func readImage(t *testing.T, path string) *ipt.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := imageio.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p.Color
}

var set5 = []string{"baby", "bird", "butterfly", "head", "woman"}

// TestDownscaleMatchesSet5 checks every pixel of Set5/LR_bicubic (made by
// MATLAB's imresize from Set5/HR) against Downscale.
func TestDownscaleMatchesSet5(t *testing.T) {
	dir := datasets(t)
	for _, s := range []int{2, 3, 4} {
		for _, name := range set5 {
			hr := readImage(t, filepath.Join(dir, "Set5", "HR", name+".png"))
			want := readImage(t, filepath.Join(dir, "Set5", "LR_bicubic", "X"+string(rune('0'+s)), name+"x"+string(rune('0'+s))+".png"))
			got := Downscale(hr, s)
			if got.H != want.H || got.W != want.W {
				t.Fatalf("×%d %s: %d×%d, want %d×%d", s, name, got.W, got.H, want.W, want.H)
			}
			bad := 0
			for i := range got.Pix {
				if got.Pix[i] != want.Pix[i] {
					if bad < 3 {
						t.Errorf("×%d %s: value %d is %v, want %v", s, name, i, got.Pix[i], want.Pix[i])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("×%d %s: %d of %d values differ", s, name, bad, len(got.Pix))
			}
		}
	}
}

// TestUpscaleBaselineSet5: upscaling the Set5 LR images back scores the
// paper's bicubic row (SPEC §3), PSNR on Y with the border shave = scale.
func TestUpscaleBaselineSet5(t *testing.T) {
	dir := datasets(t)
	for s, want := range map[int]float64{2: 33.67, 3: 30.40, 4: 28.43} {
		var sum float64
		for _, name := range set5 {
			hr := ModCrop(readImage(t, filepath.Join(dir, "Set5", "HR", name+".png")), s)
			sx := "X" + string(rune('0'+s))
			lr := readImage(t, filepath.Join(dir, "Set5", "LR_bicubic", sx, name+strings.ToLower(sx)+".png"))
			_, y := quality.PSNR(Upscale(lr, s), hr, s)
			sum += y
		}
		if got := sum / 5; math.Abs(got-want) > 0.02 {
			t.Errorf("×%d: mean PSNR %.3f dB, want %.2f", s, got, want)
		} else {
			t.Logf("×%d: mean PSNR %.3f dB", s, got)
		}
	}
}

// TestRainCalibration: rain from AddRain on Rain100L's clean images is as
// strong, by PSNR (Y) against the clean image, as the dataset's real rain
// (26.90 dB on average over its 100 pairs).
func TestRainCalibration(t *testing.T) {
	dir := datasets(t)
	if testing.Short() {
		t.Skip("skipped in -short: reads 100 Rain100L pairs")
	}
	var real, synth float64
	for i := 1; i <= 100; i++ {
		clean := readImage(t, filepath.Join(dir, "Rain100L", "norain-"+pad3(i)+".png"))
		rainy := readImage(t, filepath.Join(dir, "Rain100L", "rainy", "rain-"+pad3(i)+".png"))
		_, y := quality.PSNR(rainy, clean, 0)
		real += y
		_, y = quality.PSNR(AddRain(clean, rand.New(rand.NewPCG(uint64(i), 0))), clean, 0)
		synth += y
	}
	real, synth = real/100, synth/100
	t.Logf("Rain100L: real rain %.2f dB, AddRain %.2f dB (PSNR Y vs clean, mean of 100)", real, synth)
	if math.Abs(real-26.90) > 0.01 {
		t.Errorf("real Rain100L pairs give %.3f dB, want 26.90", real)
	}
	if math.Abs(synth-real) > 1 {
		t.Errorf("AddRain gives %.2f dB, want within 1 dB of the real rain's %.2f", synth, real)
	}
}

func pad3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}
