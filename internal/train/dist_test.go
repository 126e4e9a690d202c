package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipt-go/ipt/internal/dist"
)

// distRun trains size ranks of testRun(st) together, each on one thread,
// through dist.NewLocal, to steps, and returns rank 0's run after checking
// that every rank holds the same weights and moments, bit for bit.
func distRun(t *testing.T, dir string, st State, size, steps int, setup func(rank int, r *Run)) (*Run, error) {
	t.Helper()
	comms := dist.NewLocal(size)
	runs := make([]*Run, size)
	for rank := range size {
		runs[rank] = testRun(t, dir, st, 1)
		runs[rank].Comm = comms[rank]
		if setup != nil {
			setup(rank, runs[rank])
		}
	}
	errs := make([]error, size)
	var wg sync.WaitGroup
	for rank, r := range runs {
		wg.Go(func() {
			if errs[rank] = r.Train(context.Background(), steps); errs[rank] != nil {
				comms[rank].Close() // release the others
			}
		})
	}
	wg.Wait()
	for rank, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("rank %d: %w", rank, err)
		}
	}
	for rank, r := range runs[1:] {
		if !sameBits(r.Net.Params, runs[0].Net.Params) || !sameBits(r.Adam.M, runs[0].Adam.M) || !sameBits(r.Adam.V, runs[0].Adam.V) || r.State != runs[0].State {
			t.Errorf("rank %d's weights, moments or state differ from rank 0's", rank+1)
		}
	}
	return runs[0], nil
}

// drift compares two runs from the same initial weights init: the largest
// absolute difference of a weight, and the norm of the difference of the
// two updates (weights − init) relative to the norm of b's update.
func drift(init, a, b []float32) (maxAbs, rel float64) {
	var dd, nb float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		maxAbs = max(maxAbs, math.Abs(d))
		dd += d * d
		u := float64(b[i]) - float64(init[i])
		nb += u * u
	}
	return maxAbs, math.Sqrt(dd / nb)
}

// TestDataParallel: two ranks of batch 2 train the weights of one process
// with the combined batch of 4 (L1 alone), and those of one process with
// --batch 2 --accum 2 with the contrastive term too, within float
// rounding; with --accum 2 on each rank as well.
//
// The differences are only in the order of float32 additions: a GEMM's
// sum over a batch of 4 against two sums over 2 added by the all-reduce.
// The gradients then differ by about 1e-7 relative; Adam divides by
// sqrt(v), so an update's relative error is about that of its gradient,
// except for entries whose gradients are near 0, where a rounding can
// move m/sqrt(v) by up to the rate. Measured over 6 steps (lr 1e-3, the
// weights of order 0.1): the updates differ by 1.2e-6 … 3.9e-6 of their
// norm, no weight by more than 1.3e-6. Asserted: 1e-4 relative and 1e-5
// absolute (a hundredth of the rate: one flipped near-zero gradient would
// show), about ten times what was measured.
func TestDataParallel(t *testing.T) {
	dir := randomImages(t, 3, 30, 26)
	const steps = 6
	init := testRun(t, dir, testState(), 1).Net.Params
	one := func(st State) []float32 {
		r := testRun(t, dir, st, 1)
		if err := r.Train(context.Background(), steps); err != nil {
			t.Fatal(err)
		}
		return r.Net.Params
	}
	for _, c := range []struct {
		name          string
		lambda        float64
		accum         int // over both ranks
		batch, oneAcc int // of the run alone
	}{
		{"L1, 2 ranks × 2 = batch 4", 0, 2, 4, 1},
		{"L1, 2 ranks × 2 × accum 2 = batch 4 × accum 2", 0, 4, 4, 2},
		{"contrastive, 2 ranks × 2 = batch 2 × accum 2", 0.1, 2, 2, 2},
		{"contrastive, 2 ranks × 2 × accum 2 = batch 2 × accum 4", 0.1, 4, 2, 4},
	} {
		st := testState()
		st.Lambda, st.Batch, st.Accum = c.lambda, 2, c.accum
		r, err := distRun(t, dir, st, 2, steps, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.State.Step != steps {
			t.Fatalf("%s: at step %d", c.name, r.State.Step)
		}
		st.Batch, st.Accum = c.batch, c.oneAcc
		want := one(st)
		maxAbs, rel := drift(init, r.Net.Params, want)
		t.Logf("%s: weights differ by %.3g at most, updates by %.3g relative", c.name, maxAbs, rel)
		if maxAbs > 1e-5 || rel > 1e-4 {
			t.Errorf("%s: weights differ by %.3g (updates by %.3g relative), want ≤ 1e-5 (1e-4)", c.name, maxAbs, rel)
		}
	}
	// The contrastive term couples the samples of a micro-batch: two ranks
	// of 2 are not one batch of 4 (see Run.Comm).
	st := testState()
	st.Batch, st.Accum = 2, 2
	r, err := distRun(t, dir, st, 2, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Batch, st.Accum = 4, 1
	_, rel := drift(init, r.Net.Params, one(st))
	t.Logf("contrastive, 2 ranks × 2 against batch 4: updates differ by %.3g relative", rel)
	if rel < 1e-3 {
		t.Errorf("contrastive: 2 ranks × 2 and one batch of 4 differ by only %.3g; the term no longer couples a micro-batch's samples?", rel)
	}
}

// TestDataParallelRun: rank 0 alone reports progress, with the loss of the
// run alone; only it writes the checkpoint, which records the run, not the
// ranks, so a one-process run continues it, and a one-process checkpoint
// continues on two ranks. Ranks that do not start alike, or micro-batches
// that do not deal out evenly, fail on every rank.
func TestDataParallelRun(t *testing.T) {
	dir := randomImages(t, 3, 30, 26)
	ctx := context.Background()
	st := testState() // batch 2, accum 2, contrastive on
	alone := testRun(t, dir, st, 1)
	var want []float64
	alone.Progress = func(s StepInfo) { want = append(want, s.Loss.Total) }
	if err := alone.Train(ctx, 6); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "ck.safetensors")
	var got []float64
	_, err := distRun(t, dir, st, 2, 3, func(rank int, r *Run) {
		r.Output = filepath.Join(filepath.Dir(path), fmt.Sprintf("rank%d.safetensors", rank))
		if rank == 0 {
			r.Output = path
		}
		r.Progress = func(s StepInfo) {
			if rank != 0 {
				t.Errorf("rank %d reported progress", rank)
			}
			got = append(got, s.Loss.Total)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range got {
		if math.Abs(l-want[i]) > 1e-6*want[i] {
			t.Errorf("step %d: loss %v on 2 ranks, %v alone", i+1, l, want[i])
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "rank1.safetensors")); err == nil {
		t.Error("rank 1 wrote a checkpoint")
	}
	// The rest in one process, from the two ranks' checkpoint.
	n, a, ck, err := ReadCheckpoint(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 3 || ck.Batch != 2 || ck.Accum != 2 {
		t.Fatalf("checkpoint state %+v, want step 3, batch 2, accum 2", *ck)
	}
	rest := testRun(t, dir, *ck, 1)
	rest.Net, rest.Adam = n, a
	if err := rest.Train(ctx, 6); err != nil {
		t.Fatal(err)
	}
	init := testRun(t, dir, st, 1).Net.Params
	if maxAbs, rel := drift(init, rest.Net.Params, alone.Net.Params); maxAbs > 1e-5 || rel > 1e-4 {
		t.Errorf("3 steps on 2 ranks + 3 alone differ from 6 alone by %.3g (%.3g relative)", maxAbs, rel)
	}
	// A checkpoint of a run alone, continued on two ranks.
	first := testRun(t, dir, st, 1)
	first.Output = path
	if err := first.Train(ctx, 3); err != nil {
		t.Fatal(err)
	}
	two, err := distRun(t, dir, st, 2, 6, func(rank int, r *Run) {
		n, a, ck, err := ReadCheckpoint(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.Net, r.Adam, r.State = n, a, *ck
	})
	if err != nil {
		t.Fatal(err)
	}
	if maxAbs, rel := drift(init, two.Net.Params, alone.Net.Params); maxAbs > 1e-5 || rel > 1e-4 {
		t.Errorf("3 steps alone + 3 on 2 ranks differ from 6 alone by %.3g (%.3g relative)", maxAbs, rel)
	}

	for _, c := range []struct {
		name  string
		setup func(rank int, r *Run)
		want  string
	}{
		{"a rank at another step", func(rank int, r *Run) { r.State.Step = rank }, "rank 0's step is 0, rank 1's 1"},
		{"other weights", func(rank int, r *Run) { r.Net.Params[rank] += 1 }, "weights checksum"},
		{"3 micro-batches", func(rank int, r *Run) { r.State.Accum = 3 }, "3 micro-batches a step cannot be dealt out to 2 processes"},
	} {
		if _, err := distRun(t, dir, st, 2, 1, c.setup); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
