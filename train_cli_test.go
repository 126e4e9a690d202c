package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/train"
)

// trainImages writes n w×h PNGs into a new folder.
func trainImages(t *testing.T, n, w, h int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		writePNG(t, filepath.Join(dir, string(rune('a'+i))+".png"), w+i, h+2*i, false)
	}
	return dir
}

// microArgs train a very small custom model fast: two tasks, crops of 6
// and 12, accumulation and the contrastive term on.
func microArgs(data string, more ...string) []string {
	return append([]string{"train", "--feats", "4", "--patch", "6", "--patch-dim", "2", "--heads", "2", "--layers", "1",
		"--tasks", "dn30,sr2", "--data", data, "--batch", "2", "--accum", "2", "--clip", "0.1", "-q"}, more...)
}

// TestTrainResumeAndThreads: --steps 6 in one go on 1 thread, the same on
// 2 threads, and --steps 3 then --resume … --steps 6 write the same
// checkpoint, byte for byte (weights, moments, state).
func TestTrainResumeAndThreads(t *testing.T) {
	data := trainImages(t, 3, 30, 26)
	out := t.TempDir()
	p := func(name string) string { return filepath.Join(out, name) }
	for _, args := range [][]string{
		microArgs(data, "--steps", "6", "--threads", "1", "-o", p("one.safetensors")),
		microArgs(data, "--steps", "6", "--threads", "2", "-o", p("two.safetensors")),
		microArgs(data, "--steps", "3", "--schedule-steps", "6", "--threads", "2", "-o", p("half.safetensors")),
		{"train", "--data", data, "--resume", p("half.safetensors"), "--steps", "6", "-q", "-o", p("resumed.safetensors")},
	} {
		if r := runIPT(t, nil, nil, args...); r.code != 0 {
			t.Fatalf("ipt %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	one := must(os.ReadFile(p("one.safetensors")))
	for _, other := range []string{"two.safetensors", "resumed.safetensors"} {
		if !bytes.Equal(one, must(os.ReadFile(p(other)))) {
			t.Errorf("%s differs from one.safetensors", other)
		}
	}
	half := must(os.ReadFile(p("half.safetensors")))
	if bytes.Equal(one, half) {
		t.Error("3 steps wrote what 6 steps write")
	}
	// The checkpoint serves the restoring commands, picked by task name.
	m, err := ipt.Load(p("one.safetensors"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Config.TaskNames, []string{"sr2", "dn30"}) {
		t.Errorf("task names %q, want sr2, dn30 (the pre-training order)", m.Config.TaskNames)
	}
	img := writePNG(t, "", 9, 7, false)
	if r := runIPT(t, img, nil, "sr", "-x", "2", "--weights", p("one.safetensors")); r.code != 0 || decodePNG(t, r.stdout).Bounds().Dx() != 18 {
		t.Errorf("sr -x 2 with the trained checkpoint: exit %d: %s", r.code, r.stderr)
	}
	if r := runIPT(t, img, nil, "derain", "--weights", p("one.safetensors")); r.code != 2 || !strings.Contains(string(r.stderr), "trained for sr2, dn30") {
		t.Errorf("derain with an sr2,dn30 checkpoint: exit %d: %s", r.code, r.stderr)
	}
	// A resume with another config than the flags ask for.
	r := runIPT(t, nil, nil, "train", "--data", data, "--resume", p("half.safetensors"), "--patch", "8", "--steps", "6", "-o", p("x.safetensors"))
	if r.code != 2 {
		t.Errorf("mismatched resume: exit %d, want 2", r.code)
	}
	oneLine(t, r.stderr, "half.safetensors", "patch_size 8, but the checkpoint has 6")
}

func TestTrainBadInput(t *testing.T) {
	out := t.TempDir()
	empty := t.TempDir()
	small := trainImages(t, 2, 10, 10)  // large enough for dn30's 6×6 crops, not for sr2's 12×12
	tooSmall := trainImages(t, 1, 5, 5) // smaller than every crop
	good := trainImages(t, 2, 30, 30)
	notDir := filepath.Join(out, "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{microArgs(empty, "--steps", "1", "-o", filepath.Join(out, "a.safetensors")), 1, []string{empty, "no images"}},
		{microArgs(small, "--steps", "1", "-o", filepath.Join(out, "a.safetensors")), 1, []string{small, "no image is 12×12", "sr2"}},
		{microArgs(tooSmall, "--steps", "1", "-o", filepath.Join(out, "a.safetensors")), 1, []string{tooSmall, "no usable image", "6"}},
		{microArgs(good, "--steps", "1", "-o", filepath.Join(notDir, "a.safetensors")), 1, []string{notDir, "cannot write"}},
		{microArgs(good, "--steps", "1", "-o", filepath.Join(out, "a.pt")), 2, []string{"a.pt", ".safetensors"}},
		{microArgs(good, "--steps", "1", "--tag", "cuda", "--device", "cpu", "-o", filepath.Join(out, "a.safetensors")), 2, []string{"--tag cuda", "--device cpu", "disagree"}},
		{microArgs(good, "--steps", "1", "--tag", "gpu", "-o", filepath.Join(out, "a.safetensors")), 2, []string{"--tag gpu", "cuda"}},
		{microArgs(good, "--steps", "1", "--batch", "1", "-o", filepath.Join(out, "a.safetensors")), 2, []string{"--batch 1", "contrastive"}},
		{[]string{"train", "--data", good, "--resume", tinyModel, "-o", filepath.Join(out, "a.safetensors")}, 2, []string{"model.pt", "no training state"}},
		{[]string{"finetune", "--data", good, "--task", "sr5", "--weights", tinyModel, "-o", filepath.Join(out, "a.safetensors")}, 2, []string{"sr5"}},
		{[]string{"finetune", "--data", good, "--task", "sr2", "--weights", tinyModel, "--add-layers=-1", "-o", filepath.Join(out, "a.safetensors")}, 2, []string{"--add-layers", "negative"}},
		{[]string{"finetune", "--data", good, "--resume", filepath.Join(out, "b.safetensors"), "--add-layers", "1", "-o", filepath.Join(out, "a.safetensors")}, 2, []string{"--add-layers", "--resume"}},
	} {
		r := runIPT(t, nil, nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("ipt %s: exit %d, want %d (%s)", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		}
		if n := strings.Count(strings.TrimSpace(string(r.stderr)), "\n"); n > 0 {
			t.Errorf("ipt %s: %d lines on stderr, want one: %s", strings.Join(tc.args, " "), n+1, r.stderr)
		}
		oneLine(t, r.stderr, tc.want...)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Errorf("failed runs left files in the output folder: %d entries", len(ents))
	}
	// Small images among good ones: one smaller than every crop is skipped
	// with a warning naming it; one that only sr2's crops do not fit serves
	// dn30, said once; training goes on.
	writePNG(t, filepath.Join(good, "tiny.png"), 4, 40, false)
	writePNG(t, filepath.Join(good, "narrow.png"), 8, 40, false)
	r := runIPT(t, nil, nil, slices.DeleteFunc(microArgs(good, "--steps", "1", "--progress", "none", "-o", filepath.Join(out, "a.safetensors")), func(a string) bool { return a == "-q" })...)
	if r.code != 0 || !strings.Contains(string(r.stderr), "tiny.png: 4×40 is smaller than a 6×6 crop, skipped") ||
		!strings.Contains(string(r.stderr), "1 of the 3 images are smaller than sr2's 12×12 crop") {
		t.Errorf("small images among good ones: exit %d: %s", r.code, r.stderr)
	}
}

// TestFinetune: the released layout's σ30 head of the test weights, alone,
// trained for two steps; the result denoises and is served by name.
func TestFinetune(t *testing.T) {
	data := trainImages(t, 2, 30, 30)
	out := filepath.Join(t.TempDir(), "dn30.safetensors")
	r := runIPT(t, nil, nil, "finetune", "--task", "dn30", "--weights", tinyModel, "--data", data, "--steps", "2", "--batch", "2", "-q", "-o", out)
	if r.code != 0 {
		t.Fatalf("finetune: exit %d: %s", r.code, r.stderr)
	}
	n, _, st, err := train.ReadCheckpoint(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.Config.Scales, []int{1}) || !slices.Equal(n.Config.TaskNames, []string{"dn30"}) || st.Step != 2 || st.Schedule.LR != 2e-5 {
		t.Errorf("finetuned: scales %v, tasks %q, state %+v; want one ×1 head dn30, step 2, lr 2e-5", n.Config.Scales, n.Config.TaskNames, *st)
	}
	// The body starts from the checkpoint's: after 2 small steps it is close to it.
	full, _, _, _ := train.ReadCheckpoint(tinyModel, 0)
	a, _ := full.Tensor("body.linear_encoding.weight")
	b, _ := n.Tensor("body.linear_encoding.weight")
	for i := range a {
		if d := a[i] - b[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("body.linear_encoding.weight[%d] moved from %g to %g", i, a[i], b[i])
		}
	}
	if r := runIPT(t, writePNG(t, "", 9, 7, false), nil, "denoise", "--sigma", "30", "--weights", out); r.code != 0 {
		t.Errorf("denoise with the finetuned checkpoint: exit %d: %s", r.code, r.stderr)
	}

	// --add-layers: one more encoder and decoder layer, recorded in the
	// checkpoint, which the restoring commands then run.
	deep := filepath.Join(t.TempDir(), "deep.safetensors")
	r = runIPT(t, nil, nil, "finetune", "--task", "dn30", "--weights", tinyModel, "--add-layers", "1", "--data", data, "--steps", "1", "--batch", "2", "-q", "-o", deep)
	if r.code != 0 {
		t.Fatalf("finetune --add-layers 1: exit %d: %s", r.code, r.stderr)
	}
	d, _, _, err := train.ReadCheckpoint(deep, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Config.EncLayers != full.Config.EncLayers+1 || d.Config.DecLayers != full.Config.DecLayers+1 {
		t.Errorf("finetune --add-layers 1: layers %d+%d from %d+%d", d.Config.EncLayers, d.Config.DecLayers, full.Config.EncLayers, full.Config.DecLayers)
	}
	if r := runIPT(t, writePNG(t, "", 9, 7, false), nil, "denoise", "--sigma", "30", "--weights", deep); r.code != 0 {
		t.Errorf("denoise with the deepened checkpoint: exit %d: %s", r.code, r.stderr)
	}
}

// TestTrainInterruptAndFullDisk: SIGINT stops a run after its step with
// the checkpoint written and status 130; a checkpoint write that fails
// (file size limit, as a full disk) is an error that leaves the previous
// checkpoint as it was.
func TestTrainInterruptAndFullDisk(t *testing.T) {
	data := trainImages(t, 2, 30, 30)
	out := filepath.Join(t.TempDir(), "ck.safetensors")
	cmd := exec.Command(binary_, microArgs(data, "--steps", "100000", "--every", "1", "-o", out)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint after 60 s")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130: %s", code, stderr.String())
	}
	_, _, st, err := train.ReadCheckpoint(out, 0)
	if err != nil || st.Step < 1 || st.Step >= 100000 {
		t.Fatalf("checkpoint after SIGINT: %v, state %+v", err, st)
	}
	if !strings.Contains(stderr.String(), "--resume") {
		t.Errorf("stderr does not say how to continue: %s", stderr.String())
	}

	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash for ulimit -f")
	}
	before := must(os.ReadFile(out))
	// 64 KiB: less than a checkpoint of this model, more than the probe.
	sh := exec.Command("bash", "-c", `ulimit -f 64 && exec "$@"`, "bash", binary_, "train", "--data", data, "--resume", out, "--steps", "100000", "--every", "1", "-q", "-o", out)
	var shErr bytes.Buffer
	sh.Stderr = &shErr
	sh.Run()
	if code := sh.ProcessState.ExitCode(); code != 1 || !strings.Contains(shErr.String(), out) {
		t.Errorf("checkpoint over the file size limit: exit %d: %s", code, shErr.String())
	}
	if !bytes.Equal(before, must(os.ReadFile(out))) {
		t.Error("the failed write changed the previous checkpoint")
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("%d files beside the checkpoint after the failed write", len(ents)-1)
	}
}

// TestTrainSharedDatasets runs two steps of the tiny config on the shared
// training images, when they are there.
func TestTrainSharedDatasets(t *testing.T) {
	dir := ""
	for _, d := range []string{"/work/shared/datasets/train", "../shared/datasets/train"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Skip("no shared datasets (../shared/datasets/train): not checked")
	}
	out := filepath.Join(t.TempDir(), "tiny.safetensors")
	r := runIPT(t, nil, nil, "train", "--config", "tiny", "--data", dir, "--steps", "2", "--batch", "2", "--progress", "json", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(string(r.stderr), `"step":`); n != 2 {
		t.Errorf("%d progress objects, want 2: %s", n, r.stderr)
	}
	if _, err := ipt.Load(out, 0); err != nil {
		t.Error(err)
	}
}

// TestTrainDataParallelFlags: the default build refuses a world size above
// 1, from the flags or a launcher's environment, in one line; bad ranks
// and missing addresses are usage errors; --world-size 1 trains alone
// whatever the environment says.
func TestTrainDataParallelFlags(t *testing.T) {
	data := trainImages(t, 2, 30, 30)
	out := t.TempDir()
	o := filepath.Join(out, "a.safetensors")
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want []string
	}{
		{nil, []string{"--world-size", "2", "--rank", "0", "--dist-addr", "127.0.0.1:29999"}, 1, []string{"world size 2 (from flags)", "needs the cuda build and NCCL"}},
		{[]string{"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=h"}, nil, 1, []string{"world size 2 (from torchrun's RANK, WORLD_SIZE)", "cuda build"}},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=4", "SLURM_JOB_NODELIST=gpu[01-02]"}, nil, 1, []string{"world size 4 (from Slurm's", "cuda build"}},
		{nil, []string{"--world-size", "2", "--rank", "2", "--dist-addr", "h:1"}, 2, []string{"rank 2", "ranks are 0 … 1"}},
		{[]string{"SLURM_PROCID=0", "SLURM_NTASKS=2"}, nil, 2, []string{"no rendezvous address", "--dist-addr"}},
		{nil, []string{"--world-size", "2", "--rank", "1", "--dist-addr", "h"}, 2, []string{"want HOST:PORT"}},
		{[]string{"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=h"}, []string{"--world-size", "1", "--rank", "0"}, 0, nil},
	} {
		clear := []string{"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT=", "SLURM_PROCID=", "SLURM_NTASKS=", "SLURM_LOCALID=", "SLURM_JOB_NODELIST=", "SLURM_STEP_NODELIST="}
		args := microArgs(data, append([]string{"--steps", "1", "-o", o}, tc.args...)...)
		r := runIPT(t, nil, append(clear, tc.env...), args...)
		if r.code != tc.code {
			t.Errorf("%s ipt %s: exit %d, want %d (%s)", tc.env, strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
			continue
		}
		if tc.code != 0 {
			oneLine(t, r.stderr, tc.want...)
			if _, err := os.Stat(o); err == nil {
				t.Errorf("%s ipt %s: wrote %s", tc.env, strings.Join(tc.args, " "), o)
			}
		}
	}
}

// TestKeepGlobalBatch: a resumed data-parallel run deals out the
// checkpoint's micro-batches, takes a --batch whose micro-batches share
// out evenly, and refuses to change the samples a step.
func TestKeepGlobalBatch(t *testing.T) {
	for _, tc := range []struct {
		batch, accum int // after the flags (accum over all processes)
		W            int
		set          []string
		wantAccum    int
		want         string // error
	}{
		{1, 4, 2, nil, 4, ""},               // 4 micro-batches of 1, 2 each
		{4, 1, 2, nil, 0, "--batch 2 does"}, // 1 micro-batch of 4 on 2 processes
		{2, 1, 2, []string{"batch"}, 2, ""}, // --batch 2: 2 micro-batches of 2
		{8, 1, 2, []string{"batch"}, 0, "takes 4 samples a step, which 2 processes of --batch 8 cannot share"},
		{4, 2, 2, []string{"accum"}, 0, "must be 4: --batch 2 does"},
		{3, 1, 1, []string{"batch"}, 1, ""}, // alone: changes allowed
	} {
		st := &train.State{Batch: tc.batch, Accum: tc.accum}
		set := map[string]bool{}
		for _, s := range tc.set {
			set[s] = true
		}
		err := keepGlobalBatch("ck", st, 4, tc.W, set) // the checkpoint: 4 samples a step
		switch {
		case tc.want == "" && (err != nil || st.Accum != tc.wantAccum):
			t.Errorf("%+v: %v, accum %d; want %d", tc, err, st.Accum, tc.wantAccum)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error with %q", tc, err, tc.want)
		}
	}
}
