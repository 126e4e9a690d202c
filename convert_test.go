package main

import (
	"bytes"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/weights"
)

// sameCheckpoint checks that got holds want's keys in want's order with the
// same shapes and values.
func sameCheckpoint(t *testing.T, got, want *weights.Checkpoint) {
	t.Helper()
	if !slices.Equal(got.Keys, want.Keys) {
		t.Fatalf("keys differ:\ngot  %v\nwant %v", got.Keys, want.Keys)
	}
	for _, k := range want.Keys {
		a, b := got.Tensors[k], want.Tensors[k]
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.F32, b.F32) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s differs (shape %v, want %v)", k, a.Shape, b.Shape)
		}
	}
}

func mustLoadCheckpoint(t *testing.T, path string) *weights.Checkpoint {
	t.Helper()
	ck, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestConvertToPyTorchAndBack: the authors' file → .pt holds exactly their
// state_dict (position_ids included) and says the heads are not recorded;
// .pt → .safetensors gives the very bytes of a direct conversion.
func TestConvertToPyTorchAndBack(t *testing.T) {
	dir := t.TempDir()
	authors := mustLoadCheckpoint(t, tinyModel)
	for _, name := range []string{"tiny.pt", "tiny.pth", "TINY.PT"} {
		pt := filepath.Join(dir, name)
		r := runIPT(t, nil, nil, "convert", tinyLegacy, pt, "--num-heads", "4")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !bytes.Contains(r.stderr, []byte("--num-heads 4")) {
			t.Errorf("stderr does not say to pass --num-heads 4: %s", r.stderr)
		}
		got := mustLoadCheckpoint(t, pt)
		if got.Format != weights.FormatZip {
			t.Errorf("%s: format %s", name, got.Format)
		}
		sameCheckpoint(t, got, authors)
	}

	direct := filepath.Join(dir, "direct.safetensors")
	back := filepath.Join(dir, "back.safetensors")
	for _, args := range [][]string{{tinyModel, direct}, {filepath.Join(dir, "tiny.pt"), back}} {
		if r := runIPT(t, nil, nil, "convert", args[0], args[1], "--num-heads", "4"); r.code != 0 {
			t.Fatalf("convert %s: exit %d: %s", args[0], r.code, r.stderr)
		}
	}
	if !bytes.Equal(readAll(t, direct), readAll(t, back)) {
		t.Error("the .safetensors converted from our .pt differs from the one converted from the authors' file")
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvertDropsTrainingState: a training checkpoint (model tensors,
// train.* moments, training metadata) converts to the model alone in both
// formats, and stderr says what was left out.
func TestConvertDropsTrainingState(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "model.safetensors")
	if r := runIPT(t, nil, nil, "convert", tinyModel, st, "--num-heads", "4"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	model := mustLoadCheckpoint(t, st)
	keys := slices.Clone(model.Keys)
	tensors := maps.Clone(model.Tensors)
	for _, k := range model.Keys[:3] {
		for _, m := range []string{"train.adam_m.", "train.adam_v."} {
			keys = append(keys, m+k)
			tensors[m+k] = model.Tensors[k]
		}
	}
	meta := maps.Clone(model.Metadata)
	meta["train_step"] = "7"
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	if err := weights.WriteSafetensors(ckpt, keys, tensors, meta); err != nil {
		t.Fatal(err)
	}

	pt := filepath.Join(dir, "out.pt")
	r := runIPT(t, nil, nil, "convert", ckpt, pt)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	oneLine(t, r.stderr, "left out 6 train.* tensors")
	sameCheckpoint(t, mustLoadCheckpoint(t, pt), mustLoadCheckpoint(t, tinyModel))

	again := filepath.Join(dir, "again.safetensors")
	if r := runIPT(t, nil, nil, "convert", ckpt, again); r.code != 0 || !bytes.Contains(r.stderr, []byte("left out 6 train.* tensors")) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !bytes.Equal(readAll(t, again), readAll(t, st)) {
		t.Error("the training checkpoint's model converts to other bytes than the model itself")
	}
}

// TestConvertHostileOutputs: outputs that cannot be written give one line
// naming the path, and leave no file behind.
func TestConvertHostileOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pt")
	if err := os.WriteFile(in, readAll(t, tinyModel), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.pt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, dir)
	cases := []struct {
		name, out, want string
		code            int
	}{
		{"missing directory", filepath.Join(dir, "no/such/out.pt"), "not an existing directory", 1},
		{"parent is a file", filepath.Join(dir, "file/out.pt"), "not an existing directory", 1},
		{"output is the input", filepath.Join(dir, "sub.pt/../in.pt"), "output is the input", 2},
		{"output is a directory", filepath.Join(dir, "sub.pt"), "is a directory", 2},
		{"other extension", filepath.Join(dir, "out.bin"), "must be a .safetensors, .pt or .pth file", 2},
		{"unwritable directory", filepath.Join(ro, "out.pt"), "permission denied", 1},
	}
	for _, c := range cases {
		if c.name == "unwritable directory" && os.Geteuid() == 0 {
			t.Logf("%s: skipped, running as root (permissions do not apply)", c.name)
			continue
		}
		r := runIPT(t, nil, nil, "convert", in, c.out, "--num-heads", "4", "--force")
		lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
		if r.code != c.code || len(lines) != 1 || !strings.Contains(lines[0], c.out) || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line naming %s with %q", c.name, r.code, r.stderr, c.code, c.out, c.want)
		}
	}
	if after := listTree(t, dir); !slices.Equal(after, before) {
		t.Errorf("failed conversions changed the directory:\nbefore %v\nafter  %v", before, after)
	}
}

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestConvertedPtLoadsInTorch: Debian's PyTorch loads what `ipt convert`
// writes (restricted unpickler), finds the authors' state_dict (keys, order,
// values, position_ids) and load_state_dict(strict=True) accepts it into a
// module with their keys and shapes.
func TestConvertedPtLoadsInTorch(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("skipping: %s is missing (Debian's python3-torch checks what PyTorch loads)", py)
	}
	if out, err := exec.Command(py, "-c", `import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None and 'no module named torch')`).CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Skipf("skipping: python3-torch is not installed (%s); apt-get install -y python3-torch", lines[len(lines)-1])
	}
	dir := t.TempDir()
	st := filepath.Join(dir, "tiny.safetensors")
	pt := filepath.Join(dir, "tiny.pt")
	// Through safetensors, as a trained checkpoint would come.
	for _, args := range [][]string{{tinyLegacy, st}, {st, pt}} {
		if r := runIPT(t, nil, nil, "convert", args[0], args[1], "--num-heads", "4"); r.code != 0 {
			t.Fatalf("convert %s: exit %d: %s", args[0], r.code, r.stderr)
		}
	}
	out, err := exec.Command(py, "scripts/check_written_pt.py", "--module", pt, tinyModel).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// TestConvertToHalf: --dtype f16 and bf16 write every float tensor in that
// type, each value within half an ulp of the f32 one (the exact rounding is
// checked in internal/weights), leave out train.* and keep the task names;
// a .pt output refuses the flag.
func TestConvertToHalf(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "model.safetensors")
	if r := runIPT(t, nil, nil, "convert", tinyModel, st, "--num-heads", "4"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	model := mustLoadCheckpoint(t, st)
	keys := append(slices.Clone(model.Keys), "train.adam_m.x")
	tensors := maps.Clone(model.Tensors)
	tensors["train.adam_m.x"] = &weights.Tensor{Shape: []int{2}, F32: []float32{1, 2}}
	meta := maps.Clone(model.Metadata)
	meta["tasks"] = "sr2,sr3,sr4,derain,dn30,dn50"
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	if err := weights.WriteSafetensors(ckpt, keys, tensors, meta); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag  string
		dt    weights.DType
		ulp   float64 // relative spacing at 1
		floor float64 // smallest normal
	}{{"f16", weights.F16, 0x1p-10, 0x1p-14}, {"bf16", weights.BF16, 0x1p-7, 0x1p-126}} {
		out := filepath.Join(dir, c.flag+".safetensors")
		r := runIPT(t, nil, nil, "convert", "--dtype", c.flag, ckpt, out)
		if r.code != 0 {
			t.Fatalf("--dtype %s: exit %d: %s", c.flag, r.code, r.stderr)
		}
		oneLine(t, r.stderr, "left out 1 train.*", c.flag)
		got := mustLoadCheckpoint(t, out)
		if got.Metadata["tasks"] != meta["tasks"] || got.Metadata["num_heads"] != "4" {
			t.Errorf("%s: metadata %v lost the tasks or heads", c.flag, got.Metadata)
		}
		if !slices.Equal(got.Keys, model.Keys) {
			t.Fatalf("%s: keys %v", c.flag, got.Keys)
		}
		for _, k := range model.Keys {
			a, b := model.Tensors[k], got.Tensors[k]
			if a.F32 == nil {
				continue
			}
			if b.DType != c.dt {
				t.Fatalf("%s: %s stored as %s", c.flag, k, b.DType)
			}
			for i, x := range a.F32 {
				tol := max(math.Abs(float64(x)), c.floor) * c.ulp / 2
				if d := math.Abs(float64(b.F32[i]) - float64(x)); d > tol {
					t.Fatalf("%s: %s[%d] = %v from %v: %g off, over half an ulp", c.flag, k, i, b.F32[i], x, d)
				}
			}
		}
		if n, m := len(readAll(t, out)), len(readAll(t, st)); n > m*6/10 {
			t.Errorf("%s: %d bytes, the f32 file %d", c.flag, n, m)
		}
	}
	r := runIPT(t, nil, nil, "convert", "--dtype", "f16", ckpt, filepath.Join(dir, "x.pt"))
	if r.code != 2 {
		t.Fatalf(".pt with --dtype f16: exit %d, want 2", r.code)
	}
	oneLine(t, r.stderr, "x.pt", "--dtype f16")
}
