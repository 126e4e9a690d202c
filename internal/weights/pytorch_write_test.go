package weights

import (
	"archive/zip"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pickle"
)

// checkSameTensors checks that got holds src's keys in src's order and the
// same values bit for bit, floats as F32 and integers as I64.
func checkSameTensors(t *testing.T, got *Checkpoint, keys []string, src map[string]*Tensor) {
	t.Helper()
	checkConsistent(t, got)
	if !slices.Equal(got.Keys, keys) {
		t.Fatalf("keys differ:\ngot  %.300v\nwant %.300v", got.Keys, keys)
	}
	for _, k := range keys {
		a, b := src[k], got.Tensors[k]
		want := F32
		if a.F32 == nil && a.I64 != nil {
			want = I64
		}
		if b.DType != want {
			t.Errorf("%s: dtype %s, want %s", k, b.DType, want)
		}
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s: shape %v, want %v (or integer values differ)", k, b.Shape, a.Shape)
		}
		if len(a.F32) != len(b.F32) {
			t.Errorf("%s: %d values, want %d", k, len(b.F32), len(a.F32))
			continue
		}
		for i := range a.F32 {
			if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
				t.Errorf("%s[%d] = %v, want %v", k, i, b.F32[i], a.F32[i])
				break
			}
		}
	}
}

// checkPyTorchLayout checks the zip's records against what torch.save writes:
// stored, data 64-aligned, in the order data.pkl, byteorder, data/0..n-1, version.
func checkPyTorchLayout(t *testing.T, path string, n int) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := []string{"archive/data.pkl", "archive/byteorder"}
	for i := range n {
		want = append(want, fmt.Sprintf("archive/data/%d", i))
	}
	want = append(want, "archive/version")
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 || f.Method != zip.Store {
			t.Errorf("%s: data at byte %d, method %d; want 64-aligned and stored", f.Name, off, f.Method)
		}
		switch f.Name {
		case "archive/version", "archive/byteorder":
			rc, _ := f.Open()
			b := make([]byte, 16)
			m, _ := rc.Read(b)
			rc.Close()
			if w := map[string]string{"archive/version": "3\n", "archive/byteorder": "little"}[f.Name]; string(b[:m]) != w {
				t.Errorf("%s holds %q, want %q", f.Name, b[:m], w)
			}
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("records %.400v, want %.400v", names, want)
	}
}

func TestWritePyTorchRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []string{fixtureZip, fixtureLegacy, "../../testdata/ipt-alt/model_legacy.pt",
		filepath.Join(genDir, "dtypes.pt"), filepath.Join(genDir, "dtypes_legacy_p4.pt")} {
		ck := mustLoad(t, src)
		path := filepath.Join(dir, "out.pt")
		// Write twice: the second write replaces the first.
		for range 2 {
			if err := WritePyTorch(path, ck.Keys, ck.Tensors); err != nil {
				t.Fatal(err)
			}
		}
		got := mustLoad(t, path)
		if got.Format != FormatZip {
			t.Errorf("%s: written as %q", src, got.Format)
		}
		checkSameTensors(t, got, ck.Keys, ck.Tensors)
		checkPyTorchLayout(t, path, len(ck.Keys))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the one file", len(ents))
	}
}

// randomCheckpoint makes n tensors of random shapes (scalars, empty and
// 5-dimensional ones among them) and values (every float32 bit pattern,
// NaNs and infinities included), some of them int64.
func randomCheckpoint(seed uint64, n int) ([]string, map[string]*Tensor) {
	r := rand.New(rand.NewPCG(seed, 1))
	keys := make([]string, n)
	ts := make(map[string]*Tensor, n)
	for i := range keys {
		shape := make([]int, r.IntN(6))
		for j := range shape {
			shape[j] = r.IntN(5)
			if r.IntN(8) > 0 {
				shape[j]++ // mostly non-empty
			}
		}
		if i == 1 {
			shape = []int{300, 257} // numel past BININT2
		}
		tn := &Tensor{Shape: shape, DType: F32}
		numel := tn.NumElements()
		if r.IntN(4) == 0 {
			tn.DType = I64
			tn.I64 = make([]int64, numel)
			for j := range tn.I64 {
				tn.I64[j] = int64(r.Uint64())
			}
		} else {
			tn.F32 = make([]float32, numel)
			for j := range tn.F32 {
				tn.F32[j] = math.Float32frombits(r.Uint32())
			}
		}
		keys[i] = fmt.Sprintf("layer.%d.w%c-ü", r.IntN(1000)*n+i, 'a'+r.IntN(26))
		ts[keys[i]] = tn
	}
	return keys, ts
}

func TestWritePyTorchRandom(t *testing.T) {
	dir := t.TempDir()
	// 2345 tensors: three SETITEMS batches.
	for _, n := range []int{0, 1, 2345} {
		keys, ts := randomCheckpoint(uint64(n), n)
		path := filepath.Join(dir, fmt.Sprintf("random%d.pt", n))
		if err := WritePyTorch(path, keys, ts); err != nil {
			t.Fatal(err)
		}
		checkSameTensors(t, mustLoad(t, path), keys, ts)
		checkPyTorchLayout(t, path, n)
	}
}

// TestPicklerInts decodes each int the pickler writes with gopickle.
func TestPicklerInts(t *testing.T) {
	for _, v64 := range []int64{0, 1, 255, 256, 65535, 65536, 1<<31 - 1, 1 << 31, 1<<40 + 3, math.MaxInt64} {
		v := int(v64)
		if int64(v) != v64 {
			continue // beyond int on a 32-bit host
		}
		p := newPickler()
		p.int(v)
		p.op(opStop)
		got, err := pickle.Loads(string(p.buf))
		if err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		switch g := got.(type) {
		case int:
			if g != v {
				t.Errorf("%d decodes as %d", v, g)
			}
		case *big.Int:
			if !g.IsInt64() || g.Int64() != int64(v) {
				t.Errorf("%d decodes as %v", v, g)
			}
		default:
			t.Errorf("%d decodes as %T %v", v, got, got)
		}
	}
}

func TestContiguousStrides(t *testing.T) {
	// What torch.empty(shape).stride() gives.
	cases := []struct{ shape, want []int }{
		{nil, []int{}},
		{[]int{5}, []int{1}},
		{[]int{2, 3, 4}, []int{12, 4, 1}},
		{[]int{0, 3}, []int{3, 1}},
		{[]int{3, 0}, []int{1, 1}},
		{[]int{2, 0, 4}, []int{4, 4, 1}},
	}
	for _, c := range cases {
		if got := contiguousStrides(c.shape); !slices.Equal(got, c.want) {
			t.Errorf("%v: strides %v, want %v", c.shape, got, c.want)
		}
	}
}

func TestWritePyTorchErrors(t *testing.T) {
	dir := t.TempDir()
	good := &Tensor{Shape: []int{2}, DType: F32, F32: []float32{1, 2}}
	cases := []struct {
		name, want string
		keys       []string
		tensors    map[string]*Tensor
	}{
		{"missing", "b: no such tensor", []string{"a", "b"}, map[string]*Tensor{"a": good}},
		{"dup", "a: key given twice", []string{"a", "a"}, map[string]*Tensor{"a": good}},
		{"utf8", `"\xff": key is not UTF-8`, []string{"\xff"}, map[string]*Tensor{"\xff": good}},
		{"count", "a: 3 values for shape [2]", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{2}, F32: []float32{1, 2, 3}}}},
		{"no_values", "a: 0 values for shape [2]", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{2}}}},
		{"negative", "a: bad shape [-1]", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{-1}}}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".pt")
		err := WritePyTorch(path, c.keys, c.tensors)
		if err == nil || err.Error() != "weights: "+path+": "+c.want {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// Where the file cannot be written: one line naming it, nothing left behind.
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "no/such/dir/x.pt"), "no such file or directory"},
		{filepath.Join(dir, "file/x.pt"), "not a directory"},
		{filepath.Join(dir, "sub"), "file exists"}, // renaming onto a directory
	} {
		err := WritePyTorch(c.path, []string{"a"}, map[string]*Tensor{"a": good})
		if err == nil || !strings.HasPrefix(err.Error(), "weights: "+c.path+": ") ||
			!strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line with %q", c.path, err, c.want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("failed writes left files: %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "sub")); len(ents) != 0 {
		t.Errorf("a failed write into sub left %v", ents)
	}
}
