package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ipt-go/ipt/internal/dist"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/synth"
)

// taskRank is the head order of the authors' pre-training layout (SPEC §2):
// sr2, sr3, sr4, derain, then denoising by level (dn30, dn50).
func taskRank(t synth.Task) float64 {
	switch {
	case t.Scale > 1:
		return float64(t.Scale - 2)
	case t.Rain:
		return 3
	}
	return 4 + t.Sigma/1000
}

// OrderTasks returns tasks in head order: the released pre-training layout
// (sr2 0, sr3 1, sr4 2, derain 3, dn30 4, dn50 5) or, for a subset, that
// relative order.
func OrderTasks(tasks []synth.Task) []synth.Task {
	out := slices.Clone(tasks)
	slices.SortStableFunc(out, func(a, b synth.Task) int {
		switch ra, rb := taskRank(a), taskRank(b); {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	return out
}

// TaskNames are the tasks' names, for a checkpoint's metadata.
func TaskNames(tasks []synth.Task) []string {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return names
}

// Run is a training run: Net trained on Tasks (task i uses head i) with
// samples of Data, by Adam, as State says; State.Step counts the steps done.
type Run struct {
	Net   *Net
	Adam  *Adam
	State State
	Tasks []synth.Task
	Data  *Data

	Threads  int    // cores (0: all); results do not depend on it
	Output   string // checkpoint written every Every steps (0: only at the end), at the end, and when interrupted
	Every    int
	Progress func(StepInfo) // after each step; may be nil

	// Comm, when not nil, makes the run rank Comm.Rank() of a data-parallel
	// run of Comm.Size() processes (W), each with its Run and the same
	// Net, State, Tasks and data. A step's State.Accum micro-batches (the
	// count over all ranks) are dealt out: rank r makes those numbered
	// k·W+r, exactly as a run alone makes them (see Stream), and the
	// gradients and losses are summed over the ranks before the mean, the
	// clipping and Adam, which then run alike everywhere: the weights are
	// those of the run alone within float rounding. Only rank 0 writes
	// Output and calls Progress.
	Comm dist.Comm
}

// StepInfo describes a finished step for progress reports.
type StepInfo struct {
	Step, Steps int // steps done, and the run's total
	Task        string
	Loss        Loss    // mean over the step's micro-batches
	LR          float64 // the rate the step used
	GradNorm    float64 // global norm before clipping
	Samples     int     // samples this run has trained on so far
	Elapsed     time.Duration
}

// ErrInterrupted wraps the cause of a run stopped by its context.
var ErrInterrupted = errors.New("interrupted")

// micro is one micro-batch, made ahead of the step that uses it.
type micro struct {
	step, k int
	batch   *Batch
	err     error
}

// Train runs steps until State.Step reaches steps, writing checkpoints to
// Output. When ctx is cancelled it finishes the step under way, writes the
// checkpoint and returns an error wrapping ErrInterrupted and ctx's cause.
func (r *Run) Train(ctx context.Context, steps int) error {
	st := &r.State
	if st.Batch < 1 || st.Accum < 1 {
		return fmt.Errorf("batch %d × accumulation %d: both must be at least 1", st.Batch, st.Accum)
	}
	if st.Lambda > 0 && st.Batch < 2 {
		return fmt.Errorf("the contrastive loss (lambda %g) needs batches of at least 2 samples", st.Lambda)
	}
	if len(r.Tasks) != r.Net.Config.Tasks() {
		return fmt.Errorf("%d tasks for a net of %d heads", len(r.Tasks), r.Net.Config.Tasks())
	}
	rank, size := r.world()
	if st.Accum%size != 0 {
		return fmt.Errorf("%d micro-batches a step cannot be dealt out to %d processes evenly", st.Accum, size)
	}
	params, grads := r.Net.Trainable()
	exec := ops.Exec{Threads: r.Threads}
	if err := r.checkSame(); err != nil {
		return err
	}

	// The batches are made one micro-batch ahead by a goroutine; each is a
	// function of (seed, step, micro-batch) only (see Stream).
	stop := make(chan struct{})
	defer close(stop)
	batches := make(chan micro, 1)
	first, seed, batch, accum := st.Step, st.Seed, st.Batch, st.Accum
	go func() {
		defer close(batches)
		for s := first; s < steps; s++ {
			for k := rank; k < accum; k += size {
				b, err := r.makeBatch(seed, batch, s, k)
				select {
				case batches <- micro{s, k, b, err}:
				case <-stop:
					return
				}
				if err != nil {
					return
				}
			}
		}
	}()

	start := time.Now()
	samples := 0
	for st.Step < steps {
		s := st.Step
		sum, task, err := r.accumulate(func() (*Batch, error) {
			m := <-batches
			return m.batch, m.err
		}, exec)
		if err != nil {
			return fmt.Errorf("step %d: %w", s+1, err)
		}
		samples += st.Batch * st.Accum
		norm := ClipGrads(grads, st.Clip, r.Threads)
		if math.IsNaN(norm) || math.IsInf(norm, 0) || math.IsNaN(sum.Total) {
			return fmt.Errorf("step %d: the loss (%g) or its gradients are not finite; try a lower --lr", s+1, sum.Total)
		}
		lr := st.Schedule.At(s)
		if err := r.Adam.Step(params, grads, lr, r.Threads); err != nil {
			return err
		}
		st.Step++
		if r.Progress != nil && rank == 0 {
			r.Progress(StepInfo{Step: st.Step, Steps: steps, Task: r.Tasks[task].Name, Loss: sum, LR: lr,
				GradNorm: norm, Samples: samples, Elapsed: time.Since(start)})
		}
		interrupted, err := r.agree(ctx.Err() != nil)
		if err != nil {
			return fmt.Errorf("step %d: %w", s+1, err)
		}
		if st.Step == steps || interrupted || (r.Every > 0 && st.Step%r.Every == 0) {
			if err := r.save(); err != nil {
				return err
			}
		}
		if interrupted && st.Step < steps {
			return fmt.Errorf("%w at step %d: %w", ErrInterrupted, st.Step, context.Cause(ctx))
		}
	}
	return nil
}

// accumulate sets the gradients to the mean of those of the step's Accum
// micro-batches, which next hands out (this rank's share of them), and
// returns the mean loss and the step's task.
func (r *Run) accumulate(next func() (*Batch, error), exec ops.Exec) (Loss, int, error) {
	r.Net.ZeroGrads()
	var sum Loss
	task := 0
	_, size := r.world()
	for range r.State.Accum / size {
		b, err := next()
		if err != nil {
			return sum, 0, err
		}
		task = b.Task
		l, err := r.Net.ForwardBackward(b, r.State.Lambda, r.State.Tau, exec)
		if err != nil {
			return sum, 0, err
		}
		sum.L1 += l.L1
		sum.Contrastive += l.Contrastive
		sum.Total += l.Total
	}
	if size > 1 {
		var err error
		if sum, err = r.allReduce(sum); err != nil {
			return sum, 0, err
		}
	}
	k := float64(r.State.Accum)
	if r.State.Accum > 1 {
		// ForwardBackward adds each micro-batch's gradients of its mean
		// loss; their mean is that of the whole step's (exact for K a
		// power of two).
		inv := float32(1 / k)
		_, grads := r.Net.Trainable()
		for i := range grads {
			grads[i] *= inv
		}
	}
	return Loss{sum.L1 / k, sum.Contrastive / k, sum.Total / k}, task, nil
}

// world is the run's rank and number of processes (0 and 1 alone).
func (r *Run) world() (rank, size int) {
	if r.Comm == nil {
		return 0, 1
	}
	return r.Comm.Rank(), r.Comm.Size()
}

// allReduce sums the gradients and the loss sum over the ranks (the loss
// in float32).
func (r *Run) allReduce(sum Loss) (Loss, error) {
	_, grads := r.Net.Trainable()
	if err := r.Comm.AllReduceSum(grads); err != nil {
		return sum, err
	}
	l := []float32{float32(sum.L1), float32(sum.Contrastive), float32(sum.Total)}
	if err := r.Comm.AllReduceSum(l); err != nil {
		return sum, err
	}
	return Loss{float64(l[0]), float64(l[1]), float64(l[2])}, nil
}

// agree is whether any rank is stopping (all stop at the same step).
func (r *Run) agree(stop bool) (bool, error) {
	if _, size := r.world(); size == 1 {
		return stop, nil
	}
	flag := []float32{0}
	if stop {
		flag[0] = 1
	}
	err := r.Comm.AllReduceSum(flag)
	return flag[0] > 0, err
}

// checkSame fails on every rank when the ranks do not start alike: the
// step, the settings that deal out the samples, the net's size, the data
// and the weights (a checksum) are gathered from all and compared.
func (r *Run) checkSame() error {
	rank, size := r.world()
	if size == 1 {
		return nil
	}
	st := &r.State
	sum := uint32(2166136261) // FNV-1a over the weights' bits
	for _, v := range r.Net.Params {
		sum = (sum ^ math.Float32bits(v)) * 16777619
	}
	sum ^= sum >> 24
	const mask = 1<<24 - 1 // float32 holds these exactly
	names := []string{"step", "seed", "batch", "accum", "parameters", "images", "weights checksum"}
	mine := []uint64{uint64(st.Step), st.Seed, uint64(st.Batch), uint64(st.Accum), uint64(len(r.Net.Params)), uint64(len(r.Data.Files)), uint64(sum)}
	all := make([]float32, size*len(mine))
	for i, v := range mine {
		all[rank*len(mine)+i] = float32(v & mask)
	}
	if err := r.Comm.AllReduceSum(all); err != nil {
		return err
	}
	for q := range size {
		for i, name := range names {
			if a, b := all[i], all[q*len(mine)+i]; a != b {
				return fmt.Errorf("the processes do not start alike: rank 0's %s is %d, rank %d's %d (start every rank from the same checkpoint, data and training flags)", name, uint64(a), q, uint64(b))
			}
		}
	}
	return nil
}

func (r *Run) save() error {
	if rank, _ := r.world(); r.Output == "" || rank != 0 {
		return nil
	}
	return WriteCheckpoint(r.Output, r.Net, r.Adam, r.State)
}

// StepTask is the task (head index) optimiser step s trains.
func StepTask(seed uint64, s, tasks int) int { return Stream(seed, s, -1).IntN(tasks) }

// makeBatch draws micro-batch k of step s (batch samples): the step's
// task, then the samples.
func (r *Run) makeBatch(seed uint64, batch, s, k int) (*Batch, error) {
	ti := StepTask(seed, s, len(r.Tasks))
	task := r.Tasks[ti]
	p := r.Net.Config.PatchSize
	sampler := Sampler{
		Side:    p * task.Scale,
		Augment: synth.Dihedral,
		Degrade: func(c *ipt.Image, rng *rand.Rand) *ipt.Image { return synth.Degrade(task, c, rng) },
	}
	clean, in, err := r.Data.Samples(sampler, seed, s, k*batch, batch, r.Threads)
	if err != nil {
		return nil, err
	}
	b := &Batch{Task: ti, N: batch}
	for i := range clean {
		if in[i].H != p || in[i].W != p {
			return nil, fmt.Errorf("%s: input %d×%d, want %d×%d", task.Name, in[i].W, in[i].H, p, p)
		}
		b.In = append(b.In, in[i].Pix...)
		b.Target = append(b.Target, clean[i].Pix...)
	}
	return b, nil
}

// CheckResume reports the first setting in which a checkpoint's run (ck,
// its net's config) differs from the one asked for, as "field: ask, have".
func CheckResume(ask ipt.Config, have ipt.Config) error {
	type field struct {
		name      string
		ask, have string
	}
	for _, f := range []field{
		{"n_feats", fmt.Sprint(ask.NFeats), fmt.Sprint(have.NFeats)},
		{"patch_size", fmt.Sprint(ask.PatchSize), fmt.Sprint(have.PatchSize)},
		{"patch_dim", fmt.Sprint(ask.PatchDim), fmt.Sprint(have.PatchDim)},
		{"num_heads", fmt.Sprint(ask.NumHeads), fmt.Sprint(have.NumHeads)},
		{"enc_layers", fmt.Sprint(ask.EncLayers), fmt.Sprint(have.EncLayers)},
		{"dec_layers", fmt.Sprint(ask.DecLayers), fmt.Sprint(have.DecLayers)},
		{"tasks", strings.Join(ask.TaskNames, ","), strings.Join(have.TaskNames, ",")},
	} {
		if f.ask != f.have {
			return fmt.Errorf("%s %s, but the checkpoint has %s", f.name, f.ask, f.have)
		}
	}
	return nil
}
