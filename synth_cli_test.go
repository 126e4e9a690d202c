package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of degrade, compare and eval, run through the built binary.

// sharedDatasets finds the project's shared datasets folder, or skips.
func sharedDatasets(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/work/shared/datasets", filepath.Join("..", "shared", "datasets")} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("skipped: no shared datasets folder (/work/shared/datasets or ../shared/datasets beside the repository)")
	return ""
}

func readPNGFile(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodePNG(t, b)
}

// psnrRGB is the test's own PSNR over the 8-bit RGB values of two images.
func psnrRGB(a, b image.Image) float64 {
	var sum float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			for ch := range 3 {
				d := float64(channel8(a, x, y, ch)) - float64(channel8(b, x, y, ch))
				sum += d * d
			}
		}
	}
	return 10 * math.Log10(255*255/(sum/float64(3*r.Dx()*r.Dy())))
}

type compareJSON struct {
	PSNRRGB *float64 `json:"psnr_rgb"`
	PSNRY   *float64 `json:"psnr_y"`
	SSIM    *float64 `json:"ssim"`
}

func TestDegradeAndCompare(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.png")
	writePNG(t, clean, 30, 28, false)
	run := func(args ...string) result {
		t.Helper()
		r := runIPT(t, nil, nil, args...)
		if r.code != 0 {
			t.Fatalf("ipt %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	out := func(name string) string { return filepath.Join(dir, name) }

	run("degrade", "--task", "sr2", clean, "-o", out("lr2.png"))
	run("degrade", "--task", "sr4", clean, "-o", out("lr4.png"))
	if b := readPNGFile(t, out("lr2.png")).Bounds(); b.Dx() != 15 || b.Dy() != 14 {
		t.Errorf("sr2 of 30×28: %v, want 15×14", b)
	}
	if b := readPNGFile(t, out("lr4.png")).Bounds(); b.Dx() != 7 || b.Dy() != 7 {
		t.Errorf("sr4 of 30×28: %v, want 7×7 (cropped to 28×28 first)", b)
	}

	run("degrade", "--task", "dn30", "--seed", "3", clean, "-o", out("n1.png"))
	run("degrade", "--task", "dn50", "--sigma", "30", "--seed", "3", clean, "-o", out("n2.png"))
	run("degrade", "--task", "dn30", "--seed", "4", clean, "-o", out("n3.png"))
	n1, _ := os.ReadFile(out("n1.png"))
	n2, _ := os.ReadFile(out("n2.png"))
	n3, _ := os.ReadFile(out("n3.png"))
	if !bytes.Equal(n1, n2) {
		t.Error("dn30 and dn50 --sigma 30 with one seed differ")
	}
	if bytes.Equal(n1, n3) {
		t.Error("different seeds gave the same noise")
	}
	// σ 30 noise, clipped and rounded: the PSNR is near 10·log10(255²/30²) = 18.6 dB.
	if p := psnrRGB(readPNGFile(t, out("n1.png")), readPNGFile(t, clean)); p < 18 || p > 20.5 {
		t.Errorf("dn30 output: PSNR %.2f dB against the clean image, want about 18.6", p)
	}

	run("degrade", "--task", "derain", clean, "-o", out("rain.png"))
	rain, cl := readPNGFile(t, out("rain.png")), readPNGFile(t, clean)
	for y := range 28 {
		for x := range 30 {
			for ch := range 3 {
				if channel8(rain, x, y, ch) < channel8(cl, x, y, ch) {
					t.Fatalf("rain darkened (%d, %d)", x, y)
				}
			}
		}
	}

	// compare: its PSNR is the test's own, its JSON has the three names.
	r := run("compare", "--json", out("n1.png"), clean)
	var got compareJSON
	if err := json.Unmarshal(r.stdout, &got); err != nil || got.PSNRRGB == nil || got.PSNRY == nil || got.SSIM == nil {
		t.Fatalf("compare --json: %q (%v)", r.stdout, err)
	}
	if want := psnrRGB(readPNGFile(t, out("n1.png")), cl); math.Abs(*got.PSNRRGB-want) > 1e-5 {
		t.Errorf("compare: psnr_rgb %v, want %v", *got.PSNRRGB, want)
	}
	if *got.SSIM <= 0 || *got.SSIM >= 1 || *got.PSNRY <= *got.PSNRRGB {
		// Noise independent per channel partly cancels in Y.
		t.Errorf("compare: psnr_y %v, ssim %v out of range", *got.PSNRY, *got.SSIM)
	}
	r = run("compare", "--json", clean, clean)
	if strings.TrimSpace(string(r.stdout)) != `{"psnr_rgb":null,"psnr_y":null,"ssim":1.000000}` {
		t.Errorf("compare of an image with itself: %s", r.stdout)
	}
	r = run("compare", "--shave", "2", out("n1.png"), clean)
	if !bytes.HasPrefix(r.stdout, []byte("psnr_rgb ")) || !bytes.Contains(r.stdout, []byte(" dB  psnr_y ")) {
		t.Errorf("compare text output: %q", r.stdout)
	}
}

func TestDegradeCompareBadInput(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 30, 28, false)
	writePNG(t, b, 31, 28, false)
	missing := filepath.Join(dir, "missing.png")
	text := filepath.Join(dir, "text.png")
	os.WriteFile(text, []byte("not an image"), 0o644)
	cases := []struct {
		args    []string
		code    int
		mention []string
	}{
		{[]string{"degrade", "--task", "sr2", missing, "-o", filepath.Join(dir, "x.png")}, 1, []string{missing}},
		{[]string{"degrade", "--task", "sr2", text, "-o", filepath.Join(dir, "x.png")}, 1, []string{text}},
		{[]string{"degrade", "--task", "sr5", a, "-o", filepath.Join(dir, "x.png")}, 2, []string{"sr5", "sr2, sr3, sr4, dn30, dn50, derain"}},
		{[]string{"degrade", "--task", "sr2", "--sigma", "20", a, "-o", filepath.Join(dir, "x.png")}, 2, []string{"--sigma"}},
		{[]string{"degrade", "--task", "dn75-5", a, "-o", filepath.Join(dir, "x.png")}, 2, []string{"dn75-5", "A < B"}},
		{[]string{"degrade", "--task", "dn30", a, "-o", a}, 1, []string{a, "input"}},
		{[]string{"degrade", "--task", "dn30", a, "-o", b}, 1, []string{b, "--force"}},
		{[]string{"degrade", "--task", "dn30", a, "-o", filepath.Join(dir, "x.xyz")}, 2, []string{"x.xyz"}},
		{[]string{"compare", a, b}, 1, []string{a, "30×28", b, "31×28"}},
		{[]string{"compare", a, missing}, 1, []string{missing}},
		{[]string{"compare", text, a}, 1, []string{text}},
		{[]string{"compare", "--shave", "14", a, a}, 2, []string{"--shave 14"}},
	}
	for _, c := range cases {
		r := runIPT(t, nil, nil, c.args...)
		if r.code != c.code {
			t.Errorf("ipt %s: exit %d, want %d; stderr %s", strings.Join(c.args, " "), r.code, c.code, r.stderr)
			continue
		}
		if n := strings.Count(strings.TrimSpace(string(r.stderr)), "\n"); n > 0 && c.code == 1 {
			t.Errorf("ipt %s: %d lines on stderr, want one: %s", strings.Join(c.args, " "), n+1, r.stderr)
		}
		oneLine(t, r.stderr, c.mention...)
	}
	if fs := files(t, dir); len(fs) != 3 {
		t.Errorf("files left: %q, want a.png, b.png and text.png only", fs)
	}
}

type evalJSON struct {
	MeanPSNRY   float64 `json:"mean_psnr_y"`
	MeanPSNRRGB float64 `json:"mean_psnr_rgb"`
	MeanSSIM    float64 `json:"mean_ssim"`
	Images      []struct {
		Name    string  `json:"name"`
		PSNRRGB float64 `json:"psnr_rgb"`
		PSNRY   float64 `json:"psnr_y"`
		SSIM    float64 `json:"ssim"`
	} `json:"images"`
}

// TestEvalMatchesRestoreAndCompare: eval of a model on a folder gives, per
// image, what degrade, sr and compare --shave give one step at a time.
func TestEvalMatchesRestoreAndCompare(t *testing.T) {
	dir := t.TempDir()
	hr := filepath.Join(dir, "set", "HR")
	os.MkdirAll(hr, 0o755)
	writePNG(t, filepath.Join(hr, "one.png"), 34, 30, false)
	writePNG(t, filepath.Join(hr, "two.png"), 27, 31, false) // cropped to 26×30
	r := runIPT(t, nil, nil, append([]string{"eval", "--task", "sr2", "--data", filepath.Join(dir, "set"), "--json"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("eval: exit %d: %s", r.code, r.stderr)
	}
	var got evalJSON
	if err := json.Unmarshal(r.stdout, &got); err != nil || len(got.Images) != 2 {
		t.Fatalf("eval --json: %s (%v)", r.stdout, err)
	}
	var sum float64
	for i, name := range []string{"one", "two"} {
		lr, sr, ref := filepath.Join(dir, name+".lr.png"), filepath.Join(dir, name+".sr.png"), filepath.Join(dir, name+".hr.png")
		for _, args := range [][]string{
			{"degrade", "--task", "sr2", filepath.Join(hr, name+".png"), "-o", lr},
			append([]string{"sr", "-x2", lr, "-o", sr}, tinyArgs...),
		} {
			if r := runIPT(t, nil, nil, args...); r.code != 0 {
				t.Fatalf("ipt %s: %s", strings.Join(args, " "), r.stderr)
			}
		}
		// The target is the HR image cropped to a multiple of 2.
		m := readPNGFile(t, filepath.Join(hr, name+".png"))
		b := m.Bounds()
		writeCropped(t, ref, m, b.Dx()/2*2, b.Dy()/2*2)
		r := runIPT(t, nil, nil, "compare", "--json", "--shave", "2", sr, ref)
		var c compareJSON
		if err := json.Unmarshal(r.stdout, &c); err != nil || c.PSNRY == nil {
			t.Fatalf("compare: %s %s", r.stdout, r.stderr)
		}
		im := got.Images[i]
		if im.Name != name+".png" || im.PSNRY != *c.PSNRY || im.PSNRRGB != *c.PSNRRGB || im.SSIM != *c.SSIM {
			t.Errorf("eval's %+v; degrade, sr and compare give %v %v %v", im, *c.PSNRY, *c.PSNRRGB, *c.SSIM)
		}
		sum += im.PSNRY
	}
	if math.Abs(got.MeanPSNRY-sum/2) > 1e-5 {
		t.Errorf("mean_psnr_y %v, want %v", got.MeanPSNRY, sum/2)
	}
	// The text form: a header, a line per image and the mean.
	r = runIPT(t, nil, nil, append([]string{"eval", "--task", "sr2", "--data", filepath.Join(dir, "set")}, tinyArgs...)...)
	if lines := strings.Split(strings.TrimSpace(string(r.stdout)), "\n"); r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[3], "mean (2 images)") {
		t.Errorf("eval table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func writeCropped(t *testing.T, path string, m image.Image, w, h int) {
	t.Helper()
	c := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c.Set(x, y, m.At(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	bad := filepath.Join(dir, "bad")
	os.MkdirAll(filepath.Join(bad, "LR_bicubic", "X2"), 0o755)
	writePNG(t, filepath.Join(bad, "a.png"), 20, 20, false)
	writePNG(t, filepath.Join(bad, "LR_bicubic", "X2", "ax2.png"), 9, 10, false)
	noisy := filepath.Join(dir, "noisy")
	os.Mkdir(noisy, 0o755)
	os.WriteFile(filepath.Join(noisy, "broken.png"), []byte("not an image"), 0o644)
	cases := []struct {
		args    []string
		code    int
		mention []string
	}{
		{[]string{"eval", "--task", "dn30", "--weights", "identity", "--data", empty}, 1, []string{empty, "no images"}},
		{[]string{"eval", "--task", "dn30", "--weights", "identity", "--data", filepath.Join(dir, "nope")}, 1, []string{filepath.Join(dir, "nope")}},
		{[]string{"eval", "--task", "sr2", "--weights", "bicubic", "--data", bad}, 1, []string{"ax2.png", "9×10", "10×10"}},
		{[]string{"eval", "--task", "dn30", "--weights", "identity", "--data", noisy}, 1, []string{"broken.png"}},
		{[]string{"eval", "--task", "dn30", "--weights", "bicubic", "--data", bad}, 2, []string{"bicubic"}},
		{[]string{"eval", "--task", "sr2", "--weights", "identity", "--data", bad}, 2, []string{"identity"}},
		{[]string{"eval", "--task", "sr7", "--weights", "bicubic", "--data", bad}, 2, []string{"sr7"}},
		{[]string{"eval", "--task", "dn5-75", "--weights", "identity", "--data", noisy}, 2, []string{"dn5-75", "one noise level", "dn40"}},
		{[]string{"eval", "--task", "sr2", "--weights", filepath.Join(dir, "none.pt"), "--data", bad}, 1, []string{"none.pt"}},
	}
	for _, c := range cases {
		r := runIPT(t, nil, nil, c.args...)
		if r.code != c.code {
			t.Errorf("ipt %s: exit %d, want %d; stderr %s", strings.Join(c.args, " "), r.code, c.code, r.stderr)
			continue
		}
		if c.code == 1 && strings.Count(strings.TrimSpace(string(r.stderr)), "\n") > 0 {
			t.Errorf("ipt %s: want one line on stderr: %s", strings.Join(c.args, " "), r.stderr)
		}
		oneLine(t, r.stderr, c.mention...)
	}
}

// TestEvalBaselines: the paper's bicubic row on Set5 (SPEC §3) and its
// Rain100L input figure, through the command.
func TestEvalBaselines(t *testing.T) {
	data := sharedDatasets(t)
	check := func(want float64, args ...string) {
		t.Helper()
		r := runIPT(t, nil, nil, append(args, "--json")...)
		var got evalJSON
		if r.code != 0 || json.Unmarshal(r.stdout, &got) != nil {
			t.Fatalf("ipt %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		if math.Abs(got.MeanPSNRY-want) > 0.02 {
			t.Errorf("ipt %s: mean PSNR (Y) %.3f, want %.2f", strings.Join(args, " "), got.MeanPSNRY, want)
		}
	}
	for s, want := range map[string]float64{"2": 33.67, "3": 30.40, "4": 28.43} {
		check(want, "eval", "--task", "sr"+s, "--weights", "bicubic", "--data", filepath.Join(data, "Set5"))
	}
	if testing.Short() {
		t.Skip("Rain100L skipped in -short: 100 pairs")
	}
	check(26.90, "eval", "--task", "derain", "--weights", "identity", "--data", filepath.Join(data, "Rain100L"))
}
