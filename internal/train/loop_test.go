package train

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/synth"
)

func TestOrderTasks(t *testing.T) {
	tasks, err := synth.ParseTasks("dn50,derain,sr4,dn30,sr2,sr3")
	if err != nil {
		t.Fatal(err)
	}
	if got := TaskNames(OrderTasks(tasks)); !slices.Equal(got, []string{"sr2", "sr3", "sr4", "derain", "dn30", "dn50"}) {
		t.Errorf("all six in order %q; want the pre-training layout", got)
	}
	tasks, _ = synth.ParseTasks("dn50,dn15,sr3")
	if got := TaskNames(OrderTasks(tasks)); !slices.Equal(got, []string{"sr3", "dn15", "dn50"}) {
		t.Errorf("subset in order %q; want sr3 dn15 dn50", got)
	}
}

// randomImages writes n noisy w×h PNGs (smooth gradients plus noise, so
// that every task has something to learn) and returns their folder.
func randomImages(t *testing.T, n, w, h int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(w)))
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				v := func(base int) uint8 { return uint8(min(255, max(0, base+rng.IntN(40)))) }
				img.Set(x, y, color.NRGBA{v(3 * x), v(5 * y), v(100 + 20*i), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// testRun is a run of a tiny net (P 6, two tasks) on random images.
func testRun(t *testing.T, dir string, st State, threads int) *Run {
	t.Helper()
	tasks, err := synth.ParseTasks("sr2,dn30")
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(2, 1)
	cfg.PatchSize = 6
	cfg.TaskNames = TaskNames(tasks)
	n, err := NewNet(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenData([]string{dir}, 12, threads, nil)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := n.Trainable()
	return &Run{Net: n, Adam: NewAdam(len(params)), State: st, Tasks: tasks, Data: d, Threads: threads}
}

func testState() State {
	return State{Seed: 11, Batch: 2, Accum: 2, Schedule: Schedule{Kind: "step", LR: 1e-3, Steps: 6}, Clip: 0.05, Lambda: 0.1, Tau: 0.07}
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestResumeExact: 6 steps in one go on 1 thread and 3 steps, a checkpoint,
// and 3 more from it on 2 threads give the same weights and moments, bit
// for bit. Clipping, accumulation and the contrastive term are on.
func TestResumeExact(t *testing.T) {
	dir := randomImages(t, 3, 30, 26)
	ctx := context.Background()
	one := testRun(t, dir, testState(), 1)
	before := slices.Clone(one.Net.Params)
	if err := one.Train(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if sameBits(before, one.Net.Params) {
		t.Fatal("6 steps did not change the weights")
	}

	path := filepath.Join(t.TempDir(), "ck.safetensors")
	first := testRun(t, dir, testState(), 2)
	first.Output, first.Every = path, 2
	if err := first.Train(ctx, 3); err != nil {
		t.Fatal(err)
	}
	n, a, st, err := ReadCheckpoint(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 3 || *st != first.State {
		t.Fatalf("checkpoint state %+v, want %+v", *st, first.State)
	}
	second := testRun(t, dir, *st, 2)
	second.Net, second.Adam = n, a
	if err := second.Train(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if !sameBits(one.Net.Params, second.Net.Params) || !sameBits(one.Adam.M, second.Adam.M) || !sameBits(one.Adam.V, second.Adam.V) || one.Adam.T != second.Adam.T {
		t.Error("6 steps in one go differ from 3 + 3 resumed (or 1 thread from 2)")
	}
}

// TestAccumulation: with lambda 0, two micro-batches of 2 give the
// gradients of one batch of 4 (the same samples, see Stream) within float
// rounding: the GEMMs sum over the batch in another order and the sum of
// two means is halved, so the bits may differ.
func TestAccumulation(t *testing.T) {
	dir := randomImages(t, 3, 30, 26)
	exec := ops.Exec{Threads: 1}
	st := testState()
	st.Lambda = 0
	split := testRun(t, dir, st, 1)
	var parts []*Batch
	for k := range 2 {
		b, err := split.makeBatch(st.Seed, 2, 0, k)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	l1, _, err := split.accumulate(func() (*Batch, error) { b := parts[0]; parts = parts[1:]; return b, nil }, exec)
	if err != nil {
		t.Fatal(err)
	}
	st.Accum, st.Batch = 1, 4
	whole := testRun(t, dir, st, 1)
	b, err := whole.makeBatch(st.Seed, 4, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	l2, _, err := whole.accumulate(func() (*Batch, error) { return b, nil }, exec)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l1.L1-l2.L1) > 1e-6*l2.L1 {
		t.Errorf("L1 %v from 2×2, %v from 1×4", l1.L1, l2.L1)
	}
	_, g1 := split.Net.Trainable()
	_, g2 := whole.Net.Trainable()
	norm := GradNorm(g2, 1)
	diff := make([]float32, len(g1))
	for i := range g1 {
		diff[i] = g1[i] - g2[i]
	}
	if d := GradNorm(diff, 1); !(norm > 0) || d > 1e-5*norm {
		t.Errorf("gradients of 2×2 and 1×4 differ by %g (norm %g)", d, norm)
	}
}

// TestInterrupt: a cancelled run finishes its step, writes the checkpoint
// and says it was interrupted.
func TestInterrupt(t *testing.T) {
	dir := randomImages(t, 2, 30, 26)
	r := testRun(t, dir, testState(), 1)
	r.Output = filepath.Join(t.TempDir(), "ck.safetensors")
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("signal")
	cancel(cause)
	err := r.Train(ctx, 6)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, cause) {
		t.Fatalf("error %v, want one wrapping ErrInterrupted and the cause", err)
	}
	_, _, st, err := ReadCheckpoint(r.Output, 0)
	if err != nil || st.Step != 1 {
		t.Fatalf("checkpoint after the interrupt: %v, state %+v; want step 1", err, st)
	}
}
