package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/cuda"
	"github.com/ipt-go/ipt/internal/imageio"
)

// These tests run the built binary the way a user does: files in a temp
// folder, pipes, exit codes, decoded outputs.

var binary_ string

func TestMain(m *testing.M) {
	if to := os.Getenv(peakRSSTo); to != "" {
		os.Exit(runForPeakRSS(to, os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "ipt-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary_ = filepath.Join(dir, "ipt")
	build := []string{"build", "-o", binary_}
	if cuda.Built { // the binary under test is of the tests' build
		build = append(build, "-tags", "cuda")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ipt: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	tinyDir    = filepath.Join("testdata", "ipt-tiny")
	tinyModel  = filepath.Join(tinyDir, "model.pt")
	tinyLegacy = filepath.Join(tinyDir, "model_legacy.pt")
)

type result struct {
	stdout, stderr []byte
	code           int
}

// runIPT runs the binary with args, stdin (may be nil) and extra environment.
func runIPT(t *testing.T, stdin []byte, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary_, args...)
	// Built-in models are left out unless a test puts its own in (env
	// comes last, so it wins): the tests do not depend on what is embedded.
	cmd.Env = append(os.Environ(), "IPT_WEIGHTS=", "IPT_BUILTIN=off")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.Bytes(), errb.Bytes(), code}
}

// readNPY reads a little-endian float32 .npy file (format 1.0).
func readNPY(t *testing.T, path string) ([]int, []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	header := string(b[10 : 10+hl])
	if !strings.Contains(header, "'<f4'") || strings.Contains(header, "'fortran_order': True") {
		t.Fatalf("%s: unsupported header %s", path, header)
	}
	var shape []int
	for _, f := range regexp.MustCompile(`\d+`).FindAllString(regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)[1], -1) {
		n, _ := strconv.Atoi(f)
		shape = append(shape, n)
	}
	data := b[10+hl:]
	v := make([]float32, len(data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return shape, v
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return m
}

// compareImages returns the largest per-channel difference in grey levels
// and how many values differ at all.
func compareImages(t *testing.T, got, want image.Image) (maxDiff, differing int) {
	t.Helper()
	if got.Bounds() != want.Bounds() {
		t.Fatalf("output is %v, want %v", got.Bounds(), want.Bounds())
	}
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g1, g2, g3, _ := got.At(x, y).RGBA()
			w1, w2, w3, _ := want.At(x, y).RGBA()
			for _, d := range []int{int(g1>>8) - int(w1>>8), int(g2>>8) - int(w2>>8), int(g3>>8) - int(w3>>8)} {
				if d < 0 {
					d = -d
				}
				if d > 0 {
					differing++
				}
				maxDiff = max(maxDiff, d)
			}
		}
	}
	return
}

type pngCase struct {
	Case     string `json:"case"`
	Head     int    `json:"head"`
	Scale    int    `json:"scale"`
	Size     []int  `json:"size"`
	Ensemble bool   `json:"ensemble"`
	Tiling   string `json:"tiling"`
}

// TestFixturePNGs runs every end-to-end case of the authors' fixture
// through the CLI, as the literal command lines do.
func TestFixturePNGs(t *testing.T) {
	for _, dir := range []string{tinyDir, filepath.Join("testdata", "ipt-alt")} {
		t.Run(filepath.Base(dir), func(t *testing.T) { testFixturePNGs(t, dir) })
	}
}

func testFixturePNGs(t *testing.T, dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "png", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Config struct {
			NumHeads int `json:"num_heads"`
		}
		Weights string
		Cases   []pngCase
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range spec.Cases {
		t.Run(c.Case, func(t *testing.T) {
			in := filepath.Join(dir, "png", c.Case+".in.png")
			var args []string
			switch {
			case c.Scale > 1:
				args = []string{"sr", fmt.Sprintf("-x%d", c.Scale)}
			case c.Head == 5:
				args = []string{"denoise", "-sigma", "50"}
			case c.Head == 4:
				args = []string{"denoise", "--sigma", "30"}
			default:
				args = []string{"derain"}
			}
			args = append(args, "--weights", filepath.Join(dir, spec.Weights), "--num-heads", strconv.Itoa(spec.Config.NumHeads), "--tiling", c.Tiling, in)
			if c.Ensemble {
				args = append(args, "--ensemble")
			}
			r := runIPT(t, nil, nil, args...)
			if r.code != 0 {
				t.Fatalf("ipt %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
			}
			got := decodePNG(t, r.stdout)
			wantB, _ := os.ReadFile(filepath.Join(dir, "png", c.Case+".want.png"))
			want := decodePNG(t, wantB)
			maxDiff, differing := compareImages(t, got, want)
			t.Logf("%s: max difference %d grey levels, %d values differ", c.Case, maxDiff, differing)
			if maxDiff > 1 {
				t.Errorf("%s: max difference %d grey levels, want ≤ 1", c.Case, maxDiff)
			}
			// Values that differ must be ones whose float output sits
			// within the fixture tolerance of a rounding boundary.
			shape, wantF := readNPY(t, filepath.Join(dir, "png", c.Case+".want_float.npy"))
			h, w := shape[1], shape[2]
			for ch := 0; ch < 3; ch++ {
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						f := wantF[(ch*h+y)*w+x]
						g := channel8(got, x, y, ch)
						if q := imageio.Quantize(f); q != g {
							clamped := math.Min(math.Max(float64(f), 0), 255)
							if frac := clamped - math.Floor(clamped); math.Abs(frac-0.5) > 1e-3 {
								t.Errorf("(%d,%d,%d): got %d, want %d from float %v, not near a rounding boundary", ch, y, x, g, q, f)
							}
						}
					}
				}
			}
		})
	}
}

// channel8 reads channel ch (0 R, 1 G, 2 B) of pixel (x, y) as 8 bits.
func channel8(m image.Image, x, y, ch int) uint8 {
	c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
	return [3]uint8{c.R, c.G, c.B}[ch]
}
