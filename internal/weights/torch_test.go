package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// findTorch looks for the torch package without importing it (which takes
// seconds): a torch that is installed but broken fails the test, not skips it.
const findTorch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None and 'no module named torch')"

// torchPython returns Debian's python3 if it can import torch, and skips the
// test otherwise.
func torchPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("skipping: %s is missing (Debian's python3-torch checks what PyTorch loads)", py)
	}
	if out, err := exec.Command(py, "-c", findTorch).CombinedOutput(); err != nil {
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		t.Skipf("skipping: python3-torch is not installed (%s); apt-get install -y python3-torch", lines[len(lines)-1])
	}
	return py
}

// runTorchCheck runs scripts/check_written_pt.py with args.
func runTorchCheck(t *testing.T, py string, args ...string) {
	t.Helper()
	cmd := exec.Command(py, append([]string{"../../scripts/check_written_pt.py"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%v: %s", err, out)
	} else {
		t.Logf("%s", bytes.TrimSpace(out))
	}
}

// TestTorchLoadsWritePyTorch has PyTorch load what WritePyTorch wrote: the
// fixture and every dtype and view of the generated file (checked against
// torch.load of the originals), and random tensors (checked bit for bit
// against their values written here, separately, as raw bytes).
func TestTorchLoadsWritePyTorch(t *testing.T) {
	py := torchPython(t)
	dir := t.TempDir()
	var pairs []string // written file, what to compare it with
	for i, src := range []string{fixtureZip, filepath.Join(genDir, "dtypes.pt")} {
		ck := mustLoad(t, src)
		out := filepath.Join(dir, []string{"tiny.pt", "dtypes.pt"}[i])
		if err := WritePyTorch(out, ck.Keys, ck.Tensors); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, out, src)
	}

	keys, ts := randomCheckpoint(7, 60)
	out := filepath.Join(dir, "random.pt")
	if err := WritePyTorch(out, keys, ts); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	var entries [][]any
	for _, k := range keys {
		tn := ts[k]
		dt := "F32"
		if tn.F32 == nil {
			dt = "I64"
		}
		entries = append(entries, []any{k, dt, append([]int{}, tn.Shape...), raw.Len()}) // [] for a scalar, not null
		if dt == "F32" {
			binary.Write(&raw, binary.LittleEndian, tn.F32)
		} else {
			binary.Write(&raw, binary.LittleEndian, tn.I64)
		}
	}
	rawPath := filepath.Join(dir, "random.raw")
	manifest, err := json.Marshal(map[string]any{"raw": rawPath, "tensors": entries})
	if err != nil {
		t.Fatal(err)
	}
	manPath := filepath.Join(dir, "random.json")
	if err := os.WriteFile(rawPath, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manPath, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	runTorchCheck(t, py, append(pairs, out, manPath)...)
}
