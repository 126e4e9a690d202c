package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/weights"
)

var tinyArgs = []string{"--weights", tinyModel, "--num-heads", "4"}

// writePNG writes a small deterministic test picture.
func writePNG(t *testing.T, path string, w, h int, deep bool) []byte {
	t.Helper()
	var m image.Image
	if deep {
		im := image.NewRGBA64(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				im.SetRGBA64(x, y, color.RGBA64{uint16(x * 2000), uint16(y * 3000), uint16((x + y) * 1000), 0xffff})
			}
		}
		m = im
	} else {
		im := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				im.SetRGBA(x, y, color.RGBA{uint8(x * 7), uint8(y * 11), uint8(x*y + 40), 255})
			}
		}
		m = im
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	if path != "" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func oneLine(t *testing.T, stderr []byte, mustContain ...string) {
	t.Helper()
	s := strings.TrimSpace(string(stderr))
	for _, want := range mustContain {
		if !strings.Contains(s, want) {
			t.Errorf("stderr %q does not mention %q", s, want)
		}
	}
}

func TestNoWeightsSaysWhereToGetThem(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.png")
	writePNG(t, in, 30, 30, false)
	r := runIPT(t, nil, nil, "sr", "-x4", in)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", r.code, r.stderr)
	}
	oneLine(t, r.stderr, "IPT_WEIGHTS", "IPT_sr4.pt")
}

func TestWeightsFromEnvironment(t *testing.T) {
	in := writePNG(t, "", 26, 25, false)
	r := runIPT(t, in, []string{"IPT_WEIGHTS=" + tinyModel}, "denoise", "-sigma", "30", "--num-heads", "4")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b := decodePNG(t, r.stdout).Bounds(); b.Dx() != 26 || b.Dy() != 25 {
		t.Fatalf("output %v, want 26×25", b)
	}
}

func TestStdinToStdoutAndSmallImage(t *testing.T) {
	// 5×7 is smaller than a tile (24): mirror-padded, output cropped back.
	in := writePNG(t, "", 5, 7, false)
	r := runIPT(t, in, nil, append([]string{"sr", "-x", "2"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b := decodePNG(t, r.stdout).Bounds(); b.Dx() != 10 || b.Dy() != 14 {
		t.Fatalf("output %v, want 10×14", b)
	}
}

func TestSixteenBitStaysSixteenBit(t *testing.T) {
	in := writePNG(t, "", 25, 24, true)
	r := runIPT(t, in, nil, append([]string{"derain", "-"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	switch m := decodePNG(t, r.stdout).(type) {
	case *image.RGBA64, *image.NRGBA64:
	default:
		t.Fatalf("16-bit input gave %T", m)
	}
}

func TestBadInputsNameTheFileAndLeaveNoOutput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	full := writePNG(t, good, 30, 28, false)
	trunc := filepath.Join(dir, "trunc.png")
	os.WriteFile(trunc, full[:len(full)/2], 0o644)
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("not an image at all"), 0o644)
	missing := filepath.Join(dir, "missing.png")

	r := runIPT(t, nil, nil, append([]string{"denoise", "--sigma", "50", good, trunc, text, missing}, tinyArgs...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
	for _, bad := range []string{trunc, text, missing} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, "ipt: "+bad+": ")
		}
		if !found {
			t.Errorf("no error line for %s in %q", bad, r.stderr)
		}
	}
	oneLine(t, r.stderr, "1 restored, 0 skipped, 3 failed")
	want := map[string]bool{"good.png": true, "trunc.png": true, "notes.png": true, "good.denoise50.png": true}
	got := files(t, dir)
	for _, f := range got {
		if !want[f] {
			t.Errorf("unexpected file %s (partial output?)", f)
		}
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.png")
	orig := writePNG(t, in, 24, 24, false)
	// -o naming the input itself.
	r := runIPT(t, nil, nil, append([]string{"derain", in, "-o", in}, tinyArgs...)...)
	if r.code == 0 {
		t.Fatal("overwrote the input")
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
		t.Fatal("input changed")
	}
	// An existing output is kept unless --force.
	out := filepath.Join(dir, "out.png")
	os.WriteFile(out, []byte("keep me"), 0o644)
	r = runIPT(t, nil, nil, append([]string{"derain", in, "-o", out}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (skipped)", r.code)
	}
	oneLine(t, r.stderr, "exists, skipped", "--force")
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("existing output overwritten without --force")
	}
	r = runIPT(t, nil, nil, append([]string{"derain", in, "-o", out, "--force"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
	}
	decodePNG(t, must(os.ReadFile(out)))
}

func TestOutputDirectoryAndSiblings(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 24, 30, false)
	writePNG(t, b, 31, 24, false)
	r := runIPT(t, nil, nil, append([]string{"sr", "-x4", a, b}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if m := decodePNG(t, must(os.ReadFile(filepath.Join(dir, "b.sr4.png")))); m.Bounds().Dx() != 124 || m.Bounds().Dy() != 96 {
		t.Fatalf("b.sr4.png is %v", m.Bounds())
	}
	outDir := filepath.Join(dir, "out") + "/"
	os.Mkdir(outDir, 0o755)
	r = runIPT(t, nil, nil, append([]string{"sr", "-x3", a, b, "-o", outDir}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := strings.Join(files(t, outDir), " "); got != "a.sr3.png b.sr3.png" {
		t.Fatalf("output dir holds %s", got)
	}
}

func TestWeightsThatCannotServe(t *testing.T) {
	// A one-task ×2 safetensors file cut out of the six-task fixture.
	ck, err := weights.Load(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range ck.Keys {
		if strings.HasPrefix(k, "head.") && !strings.HasPrefix(k, "head.0.") || strings.HasPrefix(k, "tail.") && !strings.HasPrefix(k, "tail.0.") {
			delete(ck.Tensors, k)
			continue
		}
		keys = append(keys, k)
	}
	q := ck.Tensors["body.query_embed.weight"]
	q.F32 = q.F32[:q.Shape[1]]
	q.Shape = []int{1, q.Shape[1]}
	path := filepath.Join(t.TempDir(), "sr2.safetensors")
	if err := weights.WriteSafetensors(path, keys, ck.Tensors, map[string]string{"num_heads": "4"}); err != nil {
		t.Fatal(err)
	}
	in := writePNG(t, "", 24, 24, false)
	r := runIPT(t, in, nil, "sr", "-x4", "--weights", path)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	oneLine(t, r.stderr, "sr2.safetensors", "cannot serve ×4", "sr -x 2")
	// The heads come from the file's metadata: ×2 works without --num-heads.
	r = runIPT(t, in, nil, "sr", "-x2", "--weights", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestCorruptWeightsOneLineError(t *testing.T) {
	full := must(os.ReadFile(tinyModel))
	path := filepath.Join(t.TempDir(), "cut.pt")
	os.WriteFile(path, full[:len(full)/3], 0o644)
	in := writePNG(t, "", 24, 24, false)
	r := runIPT(t, in, nil, "derain", "--weights", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(string(r.stderr)), "\n"); n != 0 {
		t.Errorf("error is %d lines: %s", n+1, r.stderr)
	}
	oneLine(t, r.stderr, "cut.pt")
	if len(r.stdout) != 0 {
		t.Error("partial output on stdout")
	}
}

func TestWrongNumHeadsIsAnError(t *testing.T) {
	in := writePNG(t, "", 24, 24, false)
	// 5 does not divide the token width 144.
	r := runIPT(t, in, nil, "derain", "--weights", tinyModel, "--num-heads", "5")
	if r.code == 0 {
		t.Fatal("5 heads accepted for width 144")
	}
	oneLine(t, r.stderr, "heads")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestConvertRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "tiny.safetensors")
	r := runIPT(t, nil, nil, "convert", tinyLegacy, st, "--num-heads", "4")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The converted file carries its heads: the fixture output is reproduced
	// without --num-heads, and matches the PyTorch-format run exactly.
	in := filepath.Join(tinyDir, "png", "sr3.in.png")
	a := runIPT(t, nil, nil, "sr", "-x3", "--weights", st, "--tiling", "official", in)
	b := runIPT(t, nil, nil, "sr", "-x3", "--weights", tinyModel, "--num-heads", "4", "--tiling", "official", in)
	if a.code != 0 || b.code != 0 {
		t.Fatalf("exit %d/%d: %s %s", a.code, b.code, a.stderr, b.stderr)
	}
	if !bytes.Equal(a.stdout, b.stdout) {
		t.Error("safetensors and .pt runs differ")
	}
	if r := runIPT(t, nil, nil, "convert", tinyLegacy, st, "--num-heads", "4"); r.code == 0 {
		t.Error("convert overwrote an existing file without --force")
	}
}

func TestMemoryBudget(t *testing.T) {
	in := writePNG(t, "", 50, 41, false)
	args := append([]string{"sr", "-x2", "--tiling", "official"}, tinyArgs...)
	free := runIPT(t, in, nil, args...)
	tight := runIPT(t, in, nil, append(args, "--mem", "20MB")...)
	if free.code != 0 || tight.code != 0 {
		t.Fatalf("exit %d/%d: %s %s", free.code, tight.code, free.stderr, tight.stderr)
	}
	if !bytes.Equal(free.stdout, tight.stdout) {
		t.Error("a memory budget changed the output")
	}
	r := runIPT(t, in, nil, append(args, "--mem", "1MB")...)
	if r.code != 2 {
		t.Fatalf("--mem 1MB: exit %d, want 2", r.code)
	}
	oneLine(t, r.stderr, "weights alone")
	r = runIPT(t, in, nil, append(args, "--mem", "lots")...)
	if r.code != 2 {
		t.Fatalf("--mem lots: exit %d, want 2", r.code)
	}
}

// modelHome makes an XDG_DATA_HOME whose model directory holds the fixture
// as IPT_pretrain.safetensors (converted, so it records its 4 heads).
func modelHome(t *testing.T) (env []string, dir string) {
	t.Helper()
	home := t.TempDir()
	dir = filepath.Join(home, "ipt", "models")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runIPT(t, nil, nil, "convert", tinyModel, filepath.Join(dir, "IPT_pretrain.safetensors"), "--num-heads", "4")
	if r.code != 0 {
		t.Fatalf("convert: %s", r.stderr)
	}
	return []string{"XDG_DATA_HOME=" + home}, dir
}

// TestXargsPipeline runs the literal command line through a shell.
func TestXargsPipeline(t *testing.T) {
	env, _ := modelHome(t)
	dir := t.TempDir()
	for _, n := range []string{"a.png", "b.png", "sub/c.png"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755)
		writePNG(t, filepath.Join(dir, n), 26, 24, false)
	}
	cmd := exec.Command("sh", "-c", "find . -name '*.png' | xargs \"$IPT\" denoise -sigma 50")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "IPT="+binary_, "IPT_WEIGHTS="), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, n := range []string{"a.denoise50.png", "b.denoise50.png", "sub/c.denoise50.png"} {
		decodePNG(t, must(os.ReadFile(filepath.Join(dir, n))))
	}
}

func TestModelsListsWhatEachFileServes(t *testing.T) {
	env, dir := modelHome(t)
	os.WriteFile(filepath.Join(dir, "broken.pt"), []byte("PK\x03\x04 nonsense"), 0o644)
	r := runIPT(t, nil, env, "models")
	if r.code != 1 {
		t.Fatalf("exit %d with a broken file, want 1: %s", r.code, r.stderr)
	}
	for _, want := range []string{"IPT_pretrain.safetensors", "sr -x 2, 3, 4", "derain (head 3)", "broken.pt", "unusable"} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("ipt models output lacks %q:\n%s", want, r.stdout)
		}
	}
	// With no usable file for the task, the error says where to put which file.
	empty := t.TempDir()
	r = runIPT(t, writePNG(t, "", 24, 24, false), []string{"XDG_DATA_HOME=" + empty}, "sr", "-x2")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	oneLine(t, r.stderr, "IPT_sr2.pt", filepath.Join(empty, "ipt", "models"))
}

// TestStdinStream feeds three concatenated images (as ffmpeg -f image2pipe
// writes them) and gets three restored images back, in order, in the
// stream's format.
func TestStdinStream(t *testing.T) {
	var in bytes.Buffer
	sizes := [][2]int{{24, 25}, {30, 24}, {26, 27}}
	for _, s := range sizes {
		in.Write(writePNG(t, "", s[0], s[1], false))
	}
	r := runIPT(t, in.Bytes(), nil, append([]string{"sr", "-x2"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rest := r.stdout
	for i, s := range sizes {
		m, err := png.Decode(bytes.NewReader(rest))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if b := m.Bounds(); b.Dx() != 2*s[0] || b.Dy() != 2*s[1] {
			t.Fatalf("image %d is %v, want %d×%d", i, b, 2*s[0], 2*s[1])
		}
		// Skip to the next PNG: after this one's IEND chunk.
		end := bytes.Index(rest, []byte("IEND"))
		rest = rest[end+8:]
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes after the third image", len(rest))
	}
}

func TestFormatsAlphaAndGrey(t *testing.T) {
	dir := t.TempDir()
	// An image with an alpha gradient: SR keeps an alpha plane, upscaled.
	rgba := image.NewNRGBA(image.Rect(0, 0, 24, 26))
	grey := image.NewGray(image.Rect(0, 0, 25, 24))
	for y := 0; y < 26; y++ {
		for x := 0; x < 24; x++ {
			rgba.SetNRGBA(x, y, color.NRGBA{uint8(10 * x), uint8(9 * y), 128, uint8(10 * x)})
		}
	}
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i * 7)
	}
	for name, m := range map[string]image.Image{"alpha.png": rgba, "grey.png": grey} {
		var buf bytes.Buffer
		png.Encode(&buf, m)
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	r := runIPT(t, nil, nil, append([]string{"sr", "-x2", filepath.Join(dir, "alpha.png"), filepath.Join(dir, "grey.png")}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	a := decodePNG(t, must(os.ReadFile(filepath.Join(dir, "alpha.sr2.png"))))
	if _, _, _, al := a.At(0, 0).RGBA(); al != 0 {
		t.Errorf("alpha at a transparent corner is %d", al)
	}
	if _, _, _, al := a.At(46, 10).RGBA(); al < 0xc000 {
		t.Errorf("alpha at an opaque edge is %d", al)
	}
	if a.Bounds().Dx() != 48 || a.Bounds().Dy() != 52 {
		t.Errorf("alpha output %v", a.Bounds())
	}
	g := decodePNG(t, must(os.ReadFile(filepath.Join(dir, "grey.sr2.png"))))
	if _, ok := g.(*image.Gray); !ok {
		t.Errorf("grey input gave %T", g)
	}
	// JPEG by extension, and --format choosing the sibling's extension.
	r = runIPT(t, nil, nil, append([]string{"derain", filepath.Join(dir, "grey.png"), "-o", filepath.Join(dir, "out.jpg")}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b := must(os.ReadFile(filepath.Join(dir, "out.jpg"))); len(b) < 3 || b[0] != 0xff || b[1] != 0xd8 {
		t.Error("out.jpg is not a JPEG")
	}
	r = runIPT(t, nil, nil, append([]string{"derain", filepath.Join(dir, "alpha.png"), filepath.Join(dir, "grey.png"), "--format", "tiff"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, n := range []string{"alpha.derain.tif", "grey.derain.tif"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Error(err)
		}
	}
	r = runIPT(t, nil, nil, append([]string{"derain", filepath.Join(dir, "grey.png"), "-o", filepath.Join(dir, "out.xyz")}, tinyArgs...)...)
	if r.code == 0 {
		t.Error("unknown output extension accepted")
	}
}

func TestProgressJSONAndQuiet(t *testing.T) {
	in := writePNG(t, "", 60, 50, false)
	r := runIPT(t, in, nil, append([]string{"derain", "--progress", "json"}, tinyArgs...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
	var last struct {
		TilesDone, TilesTotal int
		Fraction              float64
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		last.TilesDone, last.TilesTotal, last.Fraction = int(v["tiles_done"].(float64)), int(v["tiles_total"].(float64)), v["fraction"].(float64)
	}
	if last.TilesDone != last.TilesTotal || last.Fraction != 1 {
		t.Errorf("last progress line %+v, want all tiles done", last)
	}
	// Not a terminal and no --progress: nothing on stderr.
	r = runIPT(t, in, nil, append([]string{"derain"}, tinyArgs...)...)
	if r.code != 0 || len(r.stderr) != 0 {
		t.Errorf("exit %d, stderr %q; want silence", r.code, r.stderr)
	}
}

// TestInterruptLeavesNothing stops a long run with SIGINT: ipt must exit
// non-zero soon, leave no output or temporary file, and keep the input.
func TestInterruptLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "big.png")
	orig := writePNG(t, in, 300, 300, false)
	cmd := exec.Command(binary_, append([]string{"derain", in, "-o", filepath.Join(dir, "out.png"), "--tiling", "official", "--ensemble"}, tinyArgs...)...)
	cmd.Env = append(os.Environ(), "IPT_WEIGHTS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Skip("the run finished before the signal arrived; nothing to check")
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ipt did not stop within 20 s of SIGINT")
	}
	// A signal before ipt installed its handler kills it outright; either
	// way nothing may be left behind.
	if code := cmd.ProcessState.ExitCode(); code != -1 {
		oneLine(t, stderr.Bytes(), "interrupted")
		if code != 130 {
			t.Errorf("exit status %d after SIGINT, want 130 (128 + SIGINT, as a shell reports it)", code)
		}
	}
	if got := files(t, dir); len(got) != 1 || got[0] != "big.png" {
		t.Errorf("files after the interrupt: %v", got)
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
		t.Error("input changed")
	}
}

// TestFFmpegPipeline runs the video pipeline literally, with a real
// ffmpeg on both sides (skipped where ffmpeg is not installed; .ci/run
// installs it): every frame comes through, at the right size, in PNG and
// in PPM streams.
func TestFFmpegPipeline(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed")
	}
	env, _ := modelHome(t)
	dir := t.TempDir()
	run := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", "set -e; "+script)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "IPT="+binary_, "IPT_WEIGHTS="), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
	}
	frames := func(name string) string {
		t.Helper()
		out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", filepath.Join(dir, name)).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	run("ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48:rate=5 -t 1.2 -pix_fmt yuv420p in.mp4")
	run(`ffmpeg -loglevel error -i in.mp4 -f image2pipe -c:v png - | "$IPT" denoise -sigma 30 | ffmpeg -loglevel error -f image2pipe -i - out.mp4`)
	run(`ffmpeg -loglevel error -i in.mp4 -f image2pipe -c:v ppm - | "$IPT" sr -x2 | ffmpeg -loglevel error -f image2pipe -c:v ppm -i - sr.mp4`)
	if in, out, sr := frames("in.mp4"), frames("out.mp4"), frames("sr.mp4"); in != "64,48,6" || out != in || sr != "128,96,6" {
		t.Errorf("frames (width,height,count): in %s, denoised %s, ×2 %s", in, out, sr)
	}
}

// TestBadFlagsBeforeWeights: a bad flag value is a usage error (exit 2)
// named at once, before any weights are looked for or loaded (here they
// do not even exist).
func TestBadFlagsBeforeWeights(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.png")
	writePNG(t, in, 24, 24, false)
	missing := filepath.Join(dir, "no-such-weights.pt")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--quality", "0"}, "--quality 0"},
		{[]string{"--quality", "101"}, "--quality 101"},
		{[]string{"--mem", "lots"}, "--mem lots"},
		{[]string{"--threads=-1"}, "must not be negative"},
	} {
		r := runIPT(t, nil, nil, append([]string{"sr", "-x2", in, "--weights", missing}, c.args...)...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", c.args, r.code, r.stderr)
		}
		oneLine(t, r.stderr, c.want)
		if strings.Contains(string(r.stderr), "no-such-weights") {
			t.Errorf("%v: the weights were looked at before the flags: %s", c.args, r.stderr)
		}
	}
}
