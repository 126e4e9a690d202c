package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// builtinDir makes a folder that stands in for the built-in models
// (IPT_BUILTIN): the tiny fixture as f16, named tinyb.safetensors, and a
// scores.json for it. env selects it.
func builtinDir(t *testing.T) (env []string, dir string) {
	t.Helper()
	dir = t.TempDir()
	r := runIPT(t, nil, nil, "convert", "--dtype", "f16", tinyModel, filepath.Join(dir, "tinyb.safetensors"), "--num-heads", "4")
	if r.code != 0 {
		t.Fatalf("convert: %s", r.stderr)
	}
	scores := `{"tinyb.safetensors": {"measured": "test, 2 threads", "rows": [
		{"task": "sr2", "data": "Set5", "metric": "psnr_y", "psnr": 36.54, "psnr_ensemble": 36.71},
		{"task": "dn50", "data": "CBSD68", "metric": "psnr_rgb", "psnr": 27.43},
		{"task": "derain", "data": "Rain100L", "metric": "psnr_y", "psnr": 32.04, "psnr_flips": 32.18}],
		"seconds_per_mp": {"sr2": 1.25, "dn50": 8.5, "derain": 8.75}}}`
	if err := os.WriteFile(filepath.Join(dir, "scores.json"), []byte(scores), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"IPT_BUILTIN=" + dir}, dir
}

// TestWeightsLookupOrder: --weights wins over IPT_WEIGHTS, which wins over
// the model directory, which wins over the built-in model; -v says which
// was used, and the built-in model is used silently when the model
// directory is empty, with a note when its files cannot serve the task.
func TestWeightsLookupOrder(t *testing.T) {
	benv, bdir := builtinDir(t)
	denv, mdir := modelHome(t) // IPT_pretrain.safetensors
	emptyHome := []string{"XDG_DATA_HOME=" + t.TempDir()}
	dir := t.TempDir()
	flagFile, envFile := filepath.Join(dir, "flag.safetensors"), filepath.Join(dir, "env.safetensors")
	for _, f := range []string{flagFile, envFile} {
		if r := runIPT(t, nil, nil, "convert", tinyModel, f, "--num-heads", "4"); r.code != 0 {
			t.Fatal(string(r.stderr))
		}
	}
	in := writePNG(t, "", 26, 25, false)
	all := append(append([]string{"IPT_WEIGHTS=" + envFile}, denv...), benv...)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"--weights", all, []string{"--weights", flagFile}, flagFile},
		{"IPT_WEIGHTS", all, nil, envFile},
		{"model directory", append(slices.Clone(denv), benv...), nil, filepath.Join(mdir, "IPT_pretrain.safetensors")},
		{"built-in", append(slices.Clone(emptyHome), benv...), nil, "builtin:tinyb.safetensors"},
		{"--weights builtin", append(slices.Clone(denv), benv...), []string{"--weights", "builtin"}, "builtin:tinyb.safetensors"},
		{"IPT_WEIGHTS=builtin", append(append(slices.Clone(denv), benv...), "IPT_WEIGHTS=builtin"), nil, "builtin:tinyb.safetensors"},
	}
	for _, c := range cases {
		r := runIPT(t, in, c.env, append([]string{"sr", "-x2", "-v"}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, r.code, r.stderr)
		}
		if want := "ipt: weights: " + c.want + " ("; !strings.HasPrefix(string(r.stderr), want) {
			t.Errorf("%s: stderr %q, want it to start %q", c.name, r.stderr, want)
		}
	}

	// Without -v the built-in model is used silently, and its output is
	// that of the same file passed with --weights.
	r := runIPT(t, in, append(slices.Clone(emptyHome), benv...), "sr", "-x2")
	if r.code != 0 || len(r.stderr) != 0 {
		t.Fatalf("built-in: exit %d, stderr %q", r.code, r.stderr)
	}
	direct := runIPT(t, in, emptyHome, "sr", "-x2", "--weights", filepath.Join(bdir, "tinyb.safetensors"))
	if direct.code != 0 || !bytes.Equal(r.stdout, direct.stdout) {
		t.Fatalf("the built-in model's output differs from its file's (exit %d: %s)", direct.code, direct.stderr)
	}

	// Files in the model directory that cannot serve the task: the
	// built-in model stands in, and stderr says so once (not with -q).
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "ipt", "models"), 0o755)
	os.WriteFile(filepath.Join(home, "ipt", "models", "broken.pt"), []byte("PK\x03\x04 nonsense"), 0o644)
	henv := append([]string{"XDG_DATA_HOME=" + home}, benv...)
	r = runIPT(t, in, henv, "sr", "-x2")
	if r.code != 0 || strings.Count(string(r.stderr), "using the built-in model tinyb.safetensors") != 1 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r = runIPT(t, in, henv, "sr", "-x2", "-q"); strings.Contains(string(r.stderr), "built-in") {
		t.Errorf("-q: stderr %q", r.stderr)
	}

	// No built-in model (IPT_BUILTIN=off, as runIPT sets): the usage error.
	r = runIPT(t, in, emptyHome, "sr", "-x2")
	if r.code != 2 {
		t.Fatalf("no weights at all: exit %d", r.code)
	}
	oneLine(t, r.stderr, "no weights for sr2", "IPT_sr2.pt", "no built-in models")
	r = runIPT(t, in, emptyHome, "sr", "-x2", "--weights", "builtin")
	if r.code != 2 {
		t.Fatalf("--weights builtin without any: exit %d", r.code)
	}
	oneLine(t, r.stderr, "--weights builtin", "no built-in models")
}

// TestModelsListsBuiltin: ipt models shows the built-in model, what it
// serves and the scores of its scores.json.
func TestModelsListsBuiltin(t *testing.T) {
	benv, _ := builtinDir(t)
	r := runIPT(t, nil, append(benv, "XDG_DATA_HOME="+t.TempDir()), "models")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := string(r.stdout)
	for _, want := range []string{
		"no checkpoints in", "built in", "tinyb.safetensors", "sr -x 2, 3, 4 (heads 0-2)", "heads 4",
		"Set5", "36.54", "36.71", "1.25", "CBSD68", "RGB", "27.43", "8.50", "Rain100L", "32.18", "derain", "8.75", "measured: test, 2 threads",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ipt models output lacks %q:\n%s", want, out)
		}
	}
	r = runIPT(t, nil, []string{"XDG_DATA_HOME=" + t.TempDir()}, "models")
	if r.code != 0 || !strings.Contains(string(r.stdout), "built in: none") {
		t.Errorf("without built-in models: exit %d\n%s", r.code, r.stdout)
	}
}

// TestBadBuiltin: a built-in file that is not a model, or a broken
// scores.json, gets one line naming it and a non-zero exit, never a panic.
func TestBadBuiltin(t *testing.T) {
	benv, bdir := builtinDir(t)
	home := []string{"XDG_DATA_HOME=" + t.TempDir()}
	os.WriteFile(filepath.Join(bdir, "scores.json"), []byte(`{"tinyb.safetensors": {"rows": 3}}`), 0o644)
	r := runIPT(t, nil, append(benv, home...), "models")
	if r.code != 1 || !strings.Contains(string(r.stdout), "scores.json") || !strings.Contains(string(r.stdout), "sr -x 2, 3, 4") {
		t.Errorf("broken scores.json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(bdir, "tinyb.safetensors"), []byte("\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1} "), 0o644)
	in := writePNG(t, "", 26, 25, false)
	r = runIPT(t, in, append(benv, home...), "sr", "-x2")
	if r.code != 1 || bytes.Count(r.stderr, []byte("\n")) != 1 {
		t.Fatalf("bad built-in model: exit %d, stderr %q", r.code, r.stderr)
	}
	oneLine(t, r.stderr, "builtin:tinyb.safetensors")
	r = runIPT(t, nil, append(benv, home...), "models")
	if r.code != 1 || !strings.Contains(string(r.stdout), "tinyb.safetensors") || !strings.Contains(string(r.stdout), "unusable") {
		t.Errorf("bad built-in model: ipt models exit %d\n%s", r.code, r.stdout)
	}
	r = runIPT(t, in, []string{"IPT_BUILTIN=" + filepath.Join(bdir, "nonesuch")}, "sr", "-x2")
	if r.code != 2 {
		t.Errorf("IPT_BUILTIN naming no directory: exit %d", r.code)
	}
	oneLine(t, r.stderr, "IPT_BUILTIN", "nonesuch")
}

// TestEvalBuiltin: ipt eval --weights builtin scores the built-in model,
// with the figures of its file, and names it in --json.
func TestEvalBuiltin(t *testing.T) {
	benv, bdir := builtinDir(t)
	data := t.TempDir()
	writePNG(t, filepath.Join(data, "a.png"), 30, 28, false)
	writePNG(t, filepath.Join(data, "b.png"), 26, 31, false)
	var got [2]evalResult
	for i, w := range []string{"builtin", filepath.Join(bdir, "tinyb.safetensors")} {
		r := runIPT(t, nil, benv, "eval", "--task", "dn50", "--data", data, "--json", "--weights", w)
		if r.code != 0 {
			t.Fatalf("--weights %s: exit %d: %s", w, r.code, r.stderr)
		}
		if err := json.Unmarshal(r.stdout, &got[i]); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
	}
	if got[0].Weights != "builtin:tinyb.safetensors" {
		t.Errorf("weights %q", got[0].Weights)
	}
	if got[0].MeanPSNRY != got[1].MeanPSNRY || got[0].MeanSSIM != got[1].MeanSSIM || len(got[0].Images) != 2 {
		t.Errorf("built-in %+v, file %+v", got[0], got[1])
	}
}

// TestEmbeddedModelRestores runs the README's first command with what this
// build embeds: no weights anywhere else, and sr -x4 works.
func TestEmbeddedModelRestores(t *testing.T) {
	home := "XDG_DATA_HOME=" + t.TempDir()
	r := runIPT(t, nil, []string{home, "IPT_BUILTIN="}, "models")
	if r.code != 0 {
		t.Fatalf("ipt models: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(string(r.stdout), "built in: none") {
		t.Skip("no model embedded: internal/weights/builtin holds no .safetensors file (scripts/make_builtin.sh makes one)")
	}
	r = runIPT(t, writePNG(t, "", 30, 26, false), []string{home, "IPT_BUILTIN="}, "sr", "-x4")
	if r.code != 0 || len(r.stderr) != 0 {
		t.Fatalf("sr -x4 with the built-in model: exit %d, stderr %q", r.code, r.stderr)
	}
	if b := decodePNG(t, r.stdout).Bounds(); b.Dx() != 120 || b.Dy() != 104 {
		t.Fatalf("output %v, want 120×104", b)
	}
	// Every task of the README works out of the box.
	for _, args := range [][]string{{"sr", "-x2"}, {"sr", "-x3"}, {"denoise", "-sigma", "30"}, {"denoise", "-sigma", "50"}, {"derain"}} {
		r = runIPT(t, writePNG(t, "", 30, 26, false), []string{home, "IPT_BUILTIN="}, append(args, "-v")...)
		if r.code != 0 || !strings.Contains(string(r.stderr), "weights: builtin:") {
			t.Errorf("%v with the built-in models: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestBuiltinPrefersSpecialist: among several built-in models the one
// trained for the task wins (for denoising, the nearest σ), then the one
// trained for fewest tasks, whatever the file names' order.
func TestBuiltinPrefersSpecialist(t *testing.T) {
	benv, bdir := builtinDir(t) // tinyb.safetensors: the six released tasks
	data := trainImages(t, 2, 30, 30)
	for _, m := range []struct{ task, file string }{{"dn50", "a-dn50.safetensors"}, {"dn30", "b-dn30.safetensors"}} {
		r := runIPT(t, nil, nil, "finetune", "--task", m.task, "--weights", tinyModel, "--data", data,
			"--steps", "1", "--batch", "2", "-q", "-o", filepath.Join(bdir, m.file))
		if r.code != 0 {
			t.Fatalf("finetune %s: exit %d: %s", m.task, r.code, r.stderr)
		}
	}
	in := writePNG(t, "", 20, 18, false)
	home := []string{"XDG_DATA_HOME=" + t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"denoise", "--sigma", "30"}, "b-dn30"},
		{[]string{"denoise", "--sigma", "50"}, "a-dn50"},
		{[]string{"denoise", "--sigma", "25"}, "b-dn30"},
		{[]string{"denoise", "--sigma", "40"}, "a-dn50"}, // as near as tinyb's σ50 head, and a specialist
		{[]string{"sr", "-x2"}, "tinyb"},
		{[]string{"derain"}, "tinyb"},
	} {
		r := runIPT(t, in, append(slices.Clone(home), benv...), append(c.args, "-v")...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, r.code, r.stderr)
		}
		if want := "ipt: weights: builtin:" + c.want + ".safetensors ("; !strings.HasPrefix(string(r.stderr), want) {
			t.Errorf("%v: stderr %q, want it to start %q", c.args, r.stderr, want)
		}
	}
	// A denoiser for a range of levels takes the levels in it that no
	// specialist has, and those nearer its range than any specialist.
	r := runIPT(t, nil, nil, "finetune", "--task", "dn10-60", "--weights", tinyModel, "--data", data,
		"--steps", "1", "--batch", "2", "-q", "-o", filepath.Join(bdir, "c-dn10-60.safetensors"))
	if r.code != 0 {
		t.Fatalf("finetune dn10-60: exit %d: %s", r.code, r.stderr)
	}
	for sigma, want := range map[int]string{30: "b-dn30", 50: "a-dn50", 25: "c-dn10-60", 40: "c-dn10-60", 70: "c-dn10-60", 5: "c-dn10-60", 90: "c-dn10-60"} {
		args := []string{"denoise", "--sigma", strconv.Itoa(sigma), "-v"}
		r := runIPT(t, in, append(slices.Clone(home), benv...), args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		if w := "ipt: weights: builtin:" + want + ".safetensors ("; !strings.HasPrefix(string(r.stderr), w) {
			t.Errorf("%v: stderr %q, want it to start %q", args, r.stderr, w)
		}
	}
}
