package train

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
)

// writeCoordPNG writes a w×h PNG whose pixel (x, y) is (x, y, id): a crop
// tells where it came from.
func writeCoordPNG(t *testing.T, path string, w, h, id int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), uint8(id), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// testSampler crops side×side and passes the crop through unchanged,
// drawing one number from the stream for the "input" so that Degrade's use
// of the stream is part of what is compared.
func testSampler(side int) Sampler {
	return Sampler{
		Side:    side,
		Augment: func(img *ipt.Image, k int) *ipt.Image { return img },
		Degrade: func(c *ipt.Image, rng *rand.Rand) *ipt.Image {
			out := ipt.NewImage(c.H, c.W)
			n := float32(rng.IntN(1000))
			for i, v := range c.Pix {
				out.Pix[i] = v + n
			}
			return out
		},
	}
}

func TestOpenDataBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644)
	if _, err := OpenData([]string{empty}, 8, 1, nil); err == nil || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty folder: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := OpenData([]string{missing}, 8, 1, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing folder: %v", err)
	}
	small := filepath.Join(dir, "small")
	writeCoordPNG(t, filepath.Join(small, "a.png"), 10, 30, 0)
	os.WriteFile(filepath.Join(small, "broken.png"), []byte("not a png"), 0o644)
	var warnings []string
	_, err := OpenData([]string{small}, 16, 2, func(s string) { warnings = append(warnings, s) })
	if err == nil || !strings.Contains(err.Error(), small) || !strings.Contains(err.Error(), "no usable image") {
		t.Errorf("only small images: %v", err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "a.png: 10×30 is smaller than a 16×16 crop") || !strings.Contains(warnings[1], "broken.png") {
		t.Errorf("warnings %q: want one for a.png (too small) and one for broken.png", warnings)
	}
	if _, err := OpenData(nil, 8, 1, nil); err == nil {
		t.Error("no folders: no error")
	}
}

func TestOpenDataRecursive(t *testing.T) {
	dir := t.TempDir()
	writeCoordPNG(t, filepath.Join(dir, "b.png"), 20, 20, 1)
	writeCoordPNG(t, filepath.Join(dir, "sub", "deeper", "a.png"), 24, 20, 2)
	writeCoordPNG(t, filepath.Join(dir, "sub", "tiny.png"), 8, 40, 3)
	var warnings []string
	d, err := OpenData([]string{dir, filepath.Join(dir, "sub")}, 16, 2, func(s string) { warnings = append(warnings, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "b.png"), filepath.Join(dir, "sub", "deeper", "a.png")}
	if !slices.Equal(d.Files, want) {
		t.Errorf("files %q, want %q", d.Files, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "tiny.png") {
		t.Errorf("warnings %q: want one for tiny.png", warnings)
	}
}

// TestSamples: crops are windows of the drawn image, and a step's samples
// depend only on (seed, step, micro-batch), not on threads or on what was
// drawn before.
func TestSamples(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeCoordPNG(t, filepath.Join(dir, string(rune('a'+i))+".png"), 30+7*i, 26+3*i, 10*i)
	}
	d, err := OpenData([]string{dir}, 16, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := testSampler(12)
	clean, in, err := d.Samples(s, 7, 3, 1, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range clean {
		// Pixel (r, x) of the crop is (x0+x, y0+r, id): every pixel agrees.
		x0, y0, id := c.Pix[0], c.Pix[c.H*c.W], c.Pix[2*c.H*c.W]
		for r := range c.H {
			for x := range c.W {
				got := [3]float32{c.Pix[r*c.W+x], c.Pix[(c.H+r)*c.W+x], c.Pix[(2*c.H+r)*c.W+x]}
				if got != [3]float32{x0 + float32(x), y0 + float32(r), id} {
					t.Fatalf("sample %d pixel (%d,%d) = %v: not a window of one image", i, r, x, got)
				}
			}
		}
		if in[i].Pix[0]-c.Pix[0] != in[i].Pix[5]-c.Pix[5] {
			t.Fatalf("sample %d: input not made from its crop", i)
		}
	}
	// Other draws first, another cache state and 3 threads: the same samples.
	d2, _ := OpenData([]string{dir}, 16, 1, nil)
	d2.Samples(s, 7, 0, 0, 4, 2)
	d2.Samples(s, 8, 3, 1, 4, 2)
	clean2, in2, err := d2.Samples(s, 7, 3, 1, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range clean {
		if !slices.Equal(clean[i].Pix, clean2[i].Pix) || !slices.Equal(in[i].Pix, in2[i].Pix) {
			t.Fatalf("sample %d differs between runs", i)
		}
	}
	// Samples 1..6 of the step are a micro-batch of 6 starting at 1.
	shifted, _, err := d.Samples(s, 7, 3, 2, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range shifted {
		if !slices.Equal(shifted[i].Pix, clean[i+1].Pix) {
			t.Fatalf("sample %d of the step differs when drawn from %d", i+2, 2)
		}
	}
	// Another step, first sample or seed draws other samples.
	for _, k := range [][3]int{{8, 3, 1}, {7, 4, 1}, {7, 3, 0}} {
		other, _, err := d.Samples(s, uint64(k[0]), k[1], k[2], 6, 2)
		if err != nil {
			t.Fatal(err)
		}
		same := 0
		for i := range other {
			if slices.Equal(other[i].Pix, clean[i].Pix) {
				same++
			}
		}
		if same == len(other) {
			t.Errorf("seed %d step %d first %d: the same samples as seed 7 step 3 first 1", k[0], k[1], k[2])
		}
	}
}

func TestStreamIndependent(t *testing.T) {
	seen := map[uint64]string{}
	for step := range 6 {
		for sample := -1; sample < 6; sample++ {
			v := Stream(1, step, sample).Uint64()
			key := fmt.Sprintf("(1,%d,%d)", step, sample)
			if prev, ok := seen[v]; ok {
				t.Fatalf("stream %s starts like %s", key, prev)
			}
			seen[v] = key
		}
	}
	if Stream(1, 2, 0).Uint64() != Stream(1, 2, 0).Uint64() {
		t.Error("Stream is not a function of its arguments")
	}
}

func TestImageCacheBound(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 4 {
		f := filepath.Join(dir, string(rune('a'+i))+".png")
		writeCoordPNG(t, f, 20, 20, i)
		files = append(files, f)
	}
	c := newImageCache(1) // every image is larger: one kept at a time
	for _, f := range append(files, files...) {
		p, err := c.get(f)
		if err != nil || p == nil {
			t.Fatal(f, err)
		}
		if c.lru.Len() != 1 || len(c.entries) != 1 {
			t.Fatalf("after %s: %d images kept, want 1", f, c.lru.Len())
		}
	}
	c = newImageCache(1 << 20)
	for _, f := range files {
		c.get(f)
	}
	if c.lru.Len() != 4 {
		t.Errorf("%d images kept under a 1 MiB bound, want all 4", c.lru.Len())
	}
	if _, err := c.get(filepath.Join(dir, "none.png")); err == nil || !strings.Contains(err.Error(), "none.png") {
		t.Errorf("missing file: %v", err)
	}
}

// TestSamplesLargeCropsDrawFromLargeImages: an image too small for one
// task's crop still serves the tasks with smaller crops, and a crop larger
// than every image is an error, not a panic.
func TestSamplesLargeCropsDrawFromLargeImages(t *testing.T) {
	dir := t.TempDir()
	writeCoordPNG(t, filepath.Join(dir, "big.png"), 40, 40, 1)
	writeCoordPNG(t, filepath.Join(dir, "small.png"), 20, 24, 2)
	d, err := OpenData([]string{dir}, 12, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.AtLeast(12); len(got) != 2 {
		t.Fatalf("AtLeast(12) = %v, want both images", got)
	}
	if got := d.AtLeast(24); !slices.Equal(got, []int{0}) {
		t.Fatalf("AtLeast(24) = %v, want [0] (big.png)", got)
	}
	ids := map[float32]int{}
	for step := range 20 {
		clean, _, err := d.Samples(testSampler(12), 1, step, 0, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clean {
			ids[c.Pix[2*c.H*c.W]]++ // blue is the image's id
		}
		clean, _, err = d.Samples(testSampler(24), 1, step, 0, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clean {
			if id := c.Pix[2*c.H*c.W]; id != 1 {
				t.Fatalf("a 24×24 crop came from image %g, smaller than the crop", id)
			}
		}
	}
	if ids[1] == 0 || ids[2] == 0 {
		t.Errorf("12×12 crops drew from images %v; both should serve", ids)
	}
	if _, _, err := d.Samples(testSampler(41), 1, 0, 0, 2, 1); err == nil || !strings.Contains(err.Error(), "41×41") {
		t.Errorf("a crop larger than every image: error %v", err)
	}
}
