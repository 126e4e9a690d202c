package ipt

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/weights"
)

// The parity fixtures are outputs of the authors' own PyTorch code on a
// reduced IPT (testdata/ipt-tiny/README.md); they must be met to 1e-3 on the
// 0..255 scale.
const parityTol = 1e-3

// fixture is a checkpoint with cases computed from it: ipt-tiny by the
// authors' code, ipt-alt (another config, legacy format, cuda storage tags,
// position_ids) by the independent reference in scripts/ipt_ref.py.
type fixture struct {
	dir, weights string
	heads        int
}

var fixtures = []fixture{
	{filepath.Join("..", "..", "testdata", "ipt-tiny"), "model.pt", 4},
	{filepath.Join("..", "..", "testdata", "ipt-alt"), "model_legacy.pt", 2},
}

type loaded struct {
	model *Model
	cases *weights.Checkpoint
	err   error
}

var (
	loadMu    sync.Mutex
	loadCache = map[string]*loaded{}
)

func loadFixture(t *testing.T, f fixture) (*Model, *weights.Checkpoint) {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	l, ok := loadCache[f.dir]
	if !ok {
		l = &loaded{}
		l.model, l.err = Load(filepath.Join(f.dir, f.weights), f.heads)
		if l.err == nil {
			l.cases, l.err = weights.Load(filepath.Join(f.dir, "cases.safetensors"))
		}
		loadCache[f.dir] = l
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.model, l.cases
}

func loadTiny(t *testing.T) (*Model, *weights.Checkpoint) { return loadFixture(t, fixtures[0]) }

// eachFixture runs fn as a subtest per fixture.
func eachFixture(t *testing.T, fn func(t *testing.T, m *Model, ck *weights.Checkpoint)) {
	for _, f := range fixtures {
		t.Run(filepath.Base(f.dir), func(t *testing.T) {
			m, ck := loadFixture(t, f)
			fn(t, m, ck)
		})
	}
}

func tensor(t *testing.T, ck *weights.Checkpoint, key string) *weights.Tensor {
	t.Helper()
	v, ok := ck.Tensors[key]
	if !ok {
		t.Fatalf("fixture has no tensor %s", key)
	}
	return v
}

// maxAbsDiff compares two float slices of equal length.
func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	var m float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

func TestTinyConfigInferred(t *testing.T) {
	m, _ := loadTiny(t)
	c := m.Config
	want := Config{NFeats: 16, PatchSize: 24, PatchDim: 3, NumHeads: 4, EncLayers: 2, DecLayers: 2, Scales: []int{2, 3, 4, 1, 1, 1}}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("config %v, want %v", c, want)
	}
}

func TestParityPatch(t *testing.T) { eachFixture(t, testParityPatch) }

func testParityPatch(t *testing.T, m *Model, ck *weights.Checkpoint) {
	in := tensor(t, ck, "patch.input")
	n := in.Shape[0]
	ws := m.NewWorkspace(n)
	for task := range m.Config.Scales {
		want := tensor(t, ck, fmt.Sprintf("patch.task%d.output", task))
		got := make([]float32, len(want.F32))
		if err := m.Forward(task, in.F32, n, got, ws); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, got, want.F32); d > parityTol {
			t.Errorf("task %d: max |diff| %.3g > %g", task, d, parityTol)
		} else {
			t.Logf("task %d: max |diff| %.3g", task, d)
		}
	}
}

// TestParityBatchInvariance checks a tile's output does not depend on the
// other tiles in its batch or on the batch size.
func TestParityBatchInvariance(t *testing.T) {
	m, ck := loadTiny(t)
	in := tensor(t, ck, "patch.input")
	plane := len(in.F32) / in.Shape[0]
	outPlane := plane * 9
	ws1, ws2 := m.NewWorkspace(1), m.NewWorkspace(2)
	both := make([]float32, 2*outPlane)
	if err := m.Forward(1, in.F32, 2, both, ws2); err != nil {
		t.Fatal(err)
	}
	one := make([]float32, outPlane)
	if err := m.Forward(1, in.F32[plane:], 1, one, ws1); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, one, both[outPlane:]); d != 0 {
		t.Errorf("tile 1 alone vs in a batch of 2: max |diff| %.3g", d)
	}
}

func imageFrom(tt *weights.Tensor) *Image {
	return &Image{H: tt.Shape[2], W: tt.Shape[3], Pix: tt.F32}
}

var caseKey = regexp.MustCompile(`^(chop|x8)\.task(\d+)\.(\d+)x(\d+)\.input$`)

func TestParityTilerAndEnsemble(t *testing.T) { eachFixture(t, testParityTiler) }

func testParityTiler(t *testing.T, m *Model, ck *weights.Checkpoint) {
	found := 0
	for _, key := range ck.Keys {
		g := caseKey.FindStringSubmatch(key)
		if g == nil {
			continue
		}
		found++
		task, _ := strconv.Atoi(g[2])
		base := key[:len(key)-len(".input")]
		want := tensor(t, ck, base+".output")
		ens := NoEnsemble
		if g[1] == "x8" {
			ens = EnsembleX8
		}
		var first *Image
		for _, threads := range []int{1, 2, 3} {
			r := &Runner{Model: m, Task: task, Threads: threads, Batch: 5}
			out, err := r.Restore(context.Background(), imageFrom(tensor(t, ck, key)), TilingOfficial, ens)
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			if out.H != want.Shape[2] || out.W != want.Shape[3] {
				t.Fatalf("%s: output %d×%d, want %d×%d", base, out.H, out.W, want.Shape[2], want.Shape[3])
			}
			if first == nil {
				first = out
			} else if d := maxAbsDiff(t, out.Pix, first.Pix); d != 0 {
				t.Errorf("%s: %d threads differ from 1 thread by up to %.3g", base, threads, d)
			}
			d := maxAbsDiff(t, out.Pix, want.F32)
			if d > parityTol {
				t.Errorf("%s (threads %d): max |diff| %.3g > %g", base, threads, d, parityTol)
			} else {
				t.Logf("%s (threads %d): max |diff| %.3g", base, threads, d)
			}
		}
	}
	if found == 0 {
		t.Fatal("found no tiler/ensemble cases in the fixture")
	}
}

func TestLegacyFormatSameModel(t *testing.T) {
	m, ck := loadTiny(t)
	legacy, err := Load(filepath.Join(fixtures[0].dir, "model_legacy.pt"), 4)
	if err != nil {
		t.Fatal(err)
	}
	in := tensor(t, ck, "patch.input")
	for task := range m.Config.Scales {
		want := tensor(t, ck, fmt.Sprintf("patch.task%d.output", task))
		got := make([]float32, len(want.F32))
		if err := legacy.Forward(task, in.F32, in.Shape[0], got, legacy.NewWorkspace(in.Shape[0])); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, got, want.F32); d > parityTol {
			t.Errorf("legacy task %d: max |diff| %.3g", task, d)
		}
	}
}

// TestParityReleasedSize checks a released-size checkpoint (115.6 M
// parameters) against PyTorch outputs made by scripts/make_cases.py. The
// files are ≈ 460 MB and a tile costs ≈ 66 GFLOP, so this runs only when
// asked: scripts/check_released.sh generates the files and runs it.
func TestParityReleasedSize(t *testing.T) {
	ckpt, cases := os.Getenv("IPT_RELEASED_CKPT"), os.Getenv("IPT_RELEASED_CASES")
	if ckpt == "" || cases == "" {
		t.Skip("set IPT_RELEASED_CKPT and IPT_RELEASED_CASES (scripts/check_released.sh does) to check a released-size model")
	}
	start := time.Now()
	m, err := Load(ckpt, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s in %v: %s", ckpt, time.Since(start).Round(time.Millisecond), m.Config)
	ck, err := weights.Load(cases)
	if err != nil {
		t.Fatal(err)
	}
	testParityPatch(t, m, ck)
	testParityTiler(t, m, ck)
}
