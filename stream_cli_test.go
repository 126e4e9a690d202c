package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
)

var (
	altModel = filepath.Join("testdata", "ipt-alt", "model_legacy.pt") // P = 12, scales 4, 3, 1
	altArgs  = []string{"--weights", altModel, "--num-heads", "2"}
)

// writeTall writes a w×h picture with an alpha ramp, for the tests of
// large outputs.
func writeTall(t *testing.T, path string, w, h int) {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 11), uint8(x*y + 40), uint8(255 - x*200/w)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLargeOutputStreams restores, under --mem 32MB, an image whose output
// as whole-image floats (the blend tiler's sums and weights, 16 bytes a
// pixel) would take 154 MB: the output must be exactly what Restore and
// Write give in-process, and the child's peak RSS must stay near the budget
// (Linux only), several times below the whole-image floats.
func TestLargeOutputStreams(t *testing.T) {
	const w, h, s = 300, 2000, 4
	dir := t.TempDir()
	in, out := filepath.Join(dir, "tall.png"), filepath.Join(dir, "tall.sr4.png")
	writeTall(t, in, w, h)
	cmd, peak := measured(t, binary_, append([]string{"sr", "-x4", "--mem", "32MB", in, "-o", out}, altArgs...)...)
	cmd.Env = append(cmd.Env, "IPT_WEIGHTS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	whole := int64(16 * w * s * h * s)
	if rss, ok := peak(); ok {
		const allowed = 48 << 20 // the budget, and the binary and runtime
		t.Logf("peak RSS %d MiB; the output as whole-image floats is %d MiB", rss>>20, whole>>20)
		if rss > allowed || whole < 3*allowed {
			t.Errorf("peak RSS %d MiB, want at most %d MiB", rss>>20, allowed>>20)
		}
	}

	if got, want := must(os.ReadFile(out)), restoredInProcess(t, in, 0); !bytes.Equal(got, want) {
		t.Errorf("the streamed output (%d bytes) differs from Restore's (%d bytes)", len(got), len(want))
	}
}

// restoredInProcess is the PNG that restoring file in with task of the
// ipt-alt model gives in this process, through Read's float planes, the
// blend tiler's Restore and Write: what the streamed paths must match.
func restoredInProcess(t *testing.T, in string, task int) []byte {
	t.Helper()
	m, err := ipt.Load(altModel, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	pic, err := imageio.Read(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := &ipt.Runner{Model: m, Task: task}
	c, err := r.Restore(context.Background(), pic.Color, ipt.TilingBlend, ipt.NoEnsemble)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := imageio.Write(&want, pic.WithColor(c), "png", 0); err != nil {
		t.Fatal(err)
	}
	return want.Bytes()
}

// TestLargeInputCompact restores ×1, under --mem 24MB, a grey PNG whose
// input as float planes (12 bytes a pixel, 58 MB) would not fit the budget
// by far: the tiles are read from the decoded image (1 byte a pixel), so
// it fits, and the child's peak RSS stays near the budget (Linux only):
// at most half the float planes, and what it takes beyond the RSS of a
// 30×30 image (the binary, the runtime, the weights) at most a quarter. The output must be exactly what Read's float
// planes, Restore and Write give in-process.
func TestLargeInputCompact(t *testing.T) {
	const w, h = 2300, 2100
	dir := t.TempDir()
	in, out := filepath.Join(dir, "grey.png"), filepath.Join(dir, "grey.derain.png")
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Pix[y*w+x] = uint8(x*7 + y*3 + (x*y)%13)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(in, out string) (int64, bool) {
		cmd, peak := measured(t, binary_, append([]string{"derain", "--mem", "24MB", in, "-o", out}, altArgs...)...)
		cmd.Env = append(cmd.Env, "IPT_WEIGHTS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return peak()
	}
	small := filepath.Join(dir, "small.png")
	writePNG(t, small, 30, 30, false)
	base, _ := run(small, filepath.Join(dir, "small.derain.png"))
	floats := int64(12 * w * h)
	if rss, ok := run(in, out); ok {
		// The budget (22.9 MiB) and the binary's and runtime's pages, which
		// it does not count: 24–25.3 MiB measured, so 25 flaked.
		const allowed = 26 << 20
		t.Logf("peak RSS %d MiB, %d MiB more than for a 30×30 image; the input as float planes is %d MiB", rss>>20, (rss-base)>>20, floats>>20)
		if rss > allowed || floats < 2*allowed {
			t.Errorf("peak RSS %d MiB, want at most %d MiB", rss>>20, allowed>>20)
		}
		if 4*(rss-base) > floats {
			t.Errorf("the image took %d MiB, more than a quarter of its float planes", (rss-base)>>20)
		}
	}

	if got, want := must(os.ReadFile(out)), restoredInProcess(t, in, 2); !bytes.Equal(got, want) { // 2: the ×1 head
		t.Errorf("the output read compact (%d bytes) differs from float planes' (%d bytes)", len(got), len(want))
	}
}

// TestInterruptedStreamLeavesNothing interrupts a restoration once its
// output is being written (the temporary file beside the output exists,
// or, for standard output, the spool has spilled into $TMPDIR): ipt must
// exit with 128 + the signal and leave no output, no temporary file, nothing on stdout.
func TestInterruptedStreamLeavesNothing(t *testing.T) {
	src := t.TempDir()
	in := filepath.Join(src, "tall.png")
	writeTall(t, in, 300, 2000)
	for _, toStdout := range []bool{false, true} {
		dir, tmp := t.TempDir(), t.TempDir()
		args := []string{"sr", "-x4", in}
		watch := dir // where the temporary file appears
		sig := syscall.SIGINT
		if toStdout {
			watch, sig = tmp, syscall.SIGTERM
		} else {
			args = append(args, "-o", filepath.Join(dir, "out.png"))
		}
		cmd := exec.Command(binary_, append(args, tinyArgs...)...)
		cmd.Env = append(os.Environ(), "IPT_WEIGHTS=", "TMPDIR="+tmp)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		finished := false
	poll:
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			select {
			case err = <-done:
				finished = true
				break poll
			case <-time.After(10 * time.Millisecond):
			}
			if len(files(t, watch)) > 0 {
				cmd.Process.Signal(sig)
				break
			}
		}
		if !finished {
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("ipt did not stop within 20 s of SIGINT")
			}
		}
		if err == nil {
			t.Fatalf("stdout %v: the run finished before its output was being written", toStdout)
		}
		oneLine(t, stderr.Bytes(), "interrupted")
		if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
			t.Errorf("stdout %v: exit status %d after %v, want %d", toStdout, code, sig, 128+int(sig))
		}
		if got := files(t, dir); len(got) != 0 {
			t.Errorf("stdout %v: files after the interrupt: %v", toStdout, got)
		}
		if got := files(t, tmp); len(got) != 0 {
			t.Errorf("stdout %v: files in $TMPDIR after the interrupt: %v", toStdout, got)
		}
		if stdout.Len() != 0 {
			t.Errorf("%d bytes on stdout after the interrupt", stdout.Len())
		}
	}
}

// TestMemoryBudgetWholeImageTilers: the self-ensemble and the authors'
// tiler hold the whole output; under a budget only the streamed blend tiler
// fits, ipt says so in one line naming the file, and goes on with the
// other inputs.
func TestMemoryBudgetWholeImageTilers(t *testing.T) {
	dir := t.TempDir()
	big, small := filepath.Join(dir, "big.png"), filepath.Join(dir, "small.png")
	writePNG(t, big, 300, 200, false)
	writePNG(t, small, 30, 30, false)
	for flags, instead := range map[string]string{"--ensemble": "without --ensemble", "--flips": "without --flips", "--tiling official": "--tiling blend", "--tiling official --ensemble": "--tiling blend without --ensemble"} {
		args := append([]string{"sr", "-x4", "--mem", "48MB", "--force", big, small}, tinyArgs...)
		r := runIPT(t, nil, nil, append(args, strings.Fields(flags)...)...)
		if r.code != 1 {
			t.Fatalf("%v: exit %d, want 1: %s", flags, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "ipt: "+big+": --mem 48MB is too small for "+flags+" on this 300×200 image") ||
			!strings.Contains(lines[0], "; "+instead+", the output streams in about") {
			t.Errorf("%v: stderr %q", flags, r.stderr)
		}
		oneLine(t, []byte(lines[1]), "1 restored, 0 skipped, 1 failed")
	}
	// One self-ensemble at a time.
	r := runIPT(t, nil, nil, append([]string{"sr", "-x4", "--ensemble", "--flips", small}, tinyArgs...)...)
	if r.code != 2 {
		t.Errorf("--ensemble --flips: exit %d, want 2", r.code)
	}
	oneLine(t, r.stderr, "--ensemble and --flips can't be used together")
	// TIFF needs the whole picture quantized; PNG streams.
	r = runIPT(t, nil, nil, append([]string{"sr", "-x4", "--mem", "30MB", big, "-o", filepath.Join(dir, "out.tif")}, tinyArgs...)...)
	if r.code != 1 || !strings.Contains(string(r.stderr), "written as tiff, which holds the whole picture") || !strings.Contains(string(r.stderr), "; as PNG, written as it is restored, about") {
		t.Errorf("tiff over budget: exit %d: %s", r.code, r.stderr)
	}
	// The blend tiler streams the same image within the budget.
	r = runIPT(t, nil, nil, append([]string{"sr", "-x4", "--mem", "48MB", big, "-o", filepath.Join(dir, "out.png")}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("blend: exit %d: %s", r.code, r.stderr)
	}
}
