package builtin

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/weights"
)

var tinyModel = filepath.Join("..", "..", "..", "testdata", "ipt-tiny", "model.pt")

// useFS puts fsys in FS's place for one test.
func useFS(t *testing.T, fsys fs.FS) {
	t.Helper()
	old := FS
	FS = fsys
	t.Cleanup(func() { FS = old })
}

// halfModel is the tiny fixture (4 heads) as an f16 .safetensors file's
// bytes, with task names, and the model that file holds read as a file.
func halfModel(t *testing.T) ([]byte, *ipt.Model) {
	t.Helper()
	m, err := ipt.Load(tinyModel, 4)
	if err != nil {
		t.Fatal(err)
	}
	m.Config.TaskNames = []string{"sr2", "sr3", "sr4", "derain", "dn30", "dn50"}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	keys, tensors := m.Tensors()
	if err := weights.WriteSafetensorsAs(path, keys, tensors, m.Config.Metadata(), weights.F16); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := ipt.Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b, fromFile
}

func TestNamesAndLoad(t *testing.T) {
	b, want := halfModel(t)
	useFS(t, fstest.MapFS{
		"b.safetensors":  {Data: b},
		"a.safetensors":  {Data: b},
		".x.safetensors": {Data: b},
		"README.md":      {Data: []byte("# models")},
		"builtin.go":     {Data: []byte("package builtin")},
		"sub":            {Mode: fs.ModeDir},
	})
	names, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"a.safetensors", "b.safetensors"}) {
		t.Fatalf("Names = %q", names)
	}
	m, err := Load("b.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.String() != want.Config.String() || !slices.Equal(m.Config.TaskNames, want.Config.TaskNames) {
		t.Fatalf("config %v %q, want %v %q", m.Config, m.Config.TaskNames, want.Config, want.Config.TaskNames)
	}
	if m.Config.NumHeads != 4 {
		t.Errorf("heads %d, want the 4 the file records", m.Config.NumHeads)
	}
	gk, gt := m.Tensors()
	_, wt := want.Tensors()
	for _, k := range gk {
		if !slices.Equal(gt[k].F32, wt[k].F32) {
			t.Fatalf("%s differs from the same file read from disk", k)
		}
	}
	if _, err := Load("c.safetensors"); err == nil || !strings.Contains(err.Error(), "no such built-in model (there are a.safetensors, b.safetensors)") {
		t.Errorf("missing model: %v", err)
	}
}

// TestBadModelIsAnError: a built-in file that is not a model gives one line
// naming it, never a panic.
func TestBadModelIsAnError(t *testing.T) {
	b, _ := halfModel(t)
	useFS(t, fstest.MapFS{
		"junk.safetensors":  {Data: []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ")},
		"short.safetensors": {Data: b[:len(b)/2]},
		"empty.safetensors": {},
	})
	for _, n := range []string{"junk.safetensors", "short.safetensors", "empty.safetensors"} {
		_, err := Load(n)
		if err == nil {
			t.Fatalf("%s loaded", n)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "weights: builtin:"+n+": ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q does not name it on one line", n, msg)
		}
	}
}

func TestNoFS(t *testing.T) {
	useFS(t, nil)
	if names, err := Names(); names != nil || err != nil {
		t.Fatalf("Names = %q, %v", names, err)
	}
	if _, err := Load("a.safetensors"); err == nil || !strings.Contains(err.Error(), "no built-in models") {
		t.Fatalf("Load: %v", err)
	}
	if s, err := ReadScores(); s != nil || err != nil {
		t.Fatalf("ReadScores = %v, %v", s, err)
	}
}

func TestReadScores(t *testing.T) {
	good := `{"m.safetensors": {"measured": "today", "rows": [
		{"task": "sr2", "data": "Set5", "metric": "psnr_y", "psnr": 36.5, "psnr_ensemble": 36.7},
		{"task": "dn50", "data": "CBSD68", "metric": "psnr_rgb", "psnr": 27.4}],
		"seconds_per_mp": {"sr2": 1.5, "dn50": 9}}}`
	useFS(t, fstest.MapFS{ScoresFile: {Data: []byte(good)}})
	s, err := ReadScores()
	if err != nil {
		t.Fatal(err)
	}
	sc := s["m.safetensors"]
	if len(sc.Rows) != 2 || sc.Rows[0].PSNR != 36.5 || sc.Rows[0].Ensemble == nil || *sc.Rows[0].Ensemble != 36.7 ||
		sc.Rows[1].Ensemble != nil || sc.SecondsPerMP["dn50"] != 9 || sc.Measured != "today" {
		t.Fatalf("read %+v", sc)
	}

	useFS(t, fstest.MapFS{})
	if s, err := ReadScores(); s != nil || err != nil {
		t.Fatalf("no scores file: %v, %v", s, err)
	}
	for _, bad := range []string{
		`{"m.safetensors": {"rows": [{"task": "sr2", "data": "Set5", "metric": "ssim", "psnr": 1}]}}`,
		`{"m.safetensors": {"rows": [{"task": "sr2", "data": "Set5", "metric": "psnr_y", "psnr": "high"}]}}`,
		`{"m.safetensors": {"speed": 3}}`,
		`[1, 2`,
	} {
		useFS(t, fstest.MapFS{ScoresFile: {Data: []byte(bad)}})
		if _, err := ReadScores(); err == nil || !strings.HasPrefix(err.Error(), "builtin:scores.json: ") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

// TestEmbeddedModels checks what this build embeds: every model loads,
// names its tasks, and has its scores. The lead commits the shipped model;
// until then there is nothing to check.
func TestEmbeddedModels(t *testing.T) {
	useFS(t, embedded)
	names, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Skip("no model embedded: internal/weights/builtin holds no .safetensors file (scripts/make_builtin.sh makes one)")
	}
	scores, err := ReadScores()
	if err != nil {
		t.Fatal(err)
	}
	// Issue 9's budget: the binary grows by at most 25 MB.
	var total int64
	fs.WalkDir(embedded, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	if total > 25<<20 {
		t.Errorf("the embedded files take %d bytes, over the 25 MB budget", total)
	}
	for _, n := range names {
		m, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Config.TaskNames) != m.Config.Tasks() {
			t.Errorf("%s does not name its tasks", n)
		}
		if len(scores[n].Rows) == 0 {
			t.Errorf("%s has no scores in %s", n, ScoresFile)
		}
	}
}
