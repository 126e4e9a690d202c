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

	// Backend runs the steps: nil for the CPU (ops.CPU with Threads), else
	// the backend Net and Adam were moved to (their MoveTo).
	Backend ops.Backend

	in, target []float32 // the batch buffers Train fills, of the backend
}

// backend is the backend the run's steps run on.
func (r *Run) backend() ops.Backend {
	if r.Backend == nil {
		return ops.CPU{Threads: r.Threads}
	}
	return r.Backend
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

// micro is one micro-batch's samples, drawn ahead of the step that uses
// it: the images (on the host), which fillBatch puts into the backend's
// batch buffers when the step starts.
type micro struct {
	step, k   int
	task      int
	clean, in []*ipt.Image
	err       error
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
	be := r.backend()
	if err := r.checkSame(); err != nil {
		return err
	}

	// The batches are drawn one micro-batch ahead by a goroutine; each is a
	// function of (seed, step, micro-batch) only (see Stream). The goroutine
	// makes images on the host; the loop copies them into the batch buffers
	// of the backend after a Sync, so that no device work is using them.
	stop := make(chan struct{})
	defer close(stop)
	batches := make(chan micro, 1)
	first, seed, batch, accum := st.Step, st.Seed, st.Batch, st.Accum
	go func() {
		defer close(batches)
		for s := first; s < steps; s++ {
			for k := rank; k < accum; k += size {
				task, clean, in, err := r.sample(seed, batch, s, k)
				select {
				case batches <- micro{s, k, task, clean, in, err}:
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
			if m.err != nil {
				return nil, m.err
			}
			if err := be.Sync(); err != nil { // the last micro-batch's work is done with the buffers
				return nil, err
			}
			return r.fillBatch(m.task, m.clean, m.in, true), nil
		}, be)
		if err != nil {
			return fmt.Errorf("step %d: %w", s+1, err)
		}
		samples += st.Batch * st.Accum
		norm := ClipGradsOn(be, grads, st.Clip)
		if err := be.Sync(); err != nil { // a device's failure, not a NaN norm
			return fmt.Errorf("step %d: %w", s+1, err)
		}
		if math.IsNaN(norm) || math.IsInf(norm, 0) || math.IsNaN(sum.Total) {
			return fmt.Errorf("step %d: the loss (%g) or its gradients are not finite; try a lower --lr", s+1, sum.Total)
		}
		lr := st.Schedule.At(s)
		if err := r.Adam.StepOn(be, params, grads, lr); err != nil {
			return err
		}
		if err := be.Sync(); err != nil {
			return fmt.Errorf("step %d: %w", s+1, err)
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
// returns the mean loss and the step's task. be runs the ops (see
// ForwardBackward).
func (r *Run) accumulate(next func() (*Batch, error), be ops.Backend) (Loss, int, error) {
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
		l, err := r.Net.ForwardBackward(b, r.State.Lambda, r.State.Tau, be)
		if err != nil {
			return sum, 0, err
		}
		sum.L1 += l.L1
		sum.Contrastive += l.Contrastive
		sum.Total += l.Total
	}
	if size > 1 {
		if err := be.Sync(); err != nil { // the gradients are complete before the ranks exchange them
			return sum, 0, err
		}
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
		_, grads := r.Net.Trainable()
		be.Scale(grads, float32(1/k))
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
	if err := r.backend().Sync(); err != nil { // the checkpoint reads Params and the moments from Go
		return err
	}
	return WriteCheckpoint(r.Output, r.Net, r.Adam, r.State)
}

// StepTask is the task (head index) optimiser step s trains.
func StepTask(seed uint64, s, tasks int) int { return Stream(seed, s, -1).IntN(tasks) }

// makeBatch draws micro-batch k of step s (batch samples) into new
// buffers of the run's backend.
func (r *Run) makeBatch(seed uint64, batch, s, k int) (*Batch, error) {
	task, clean, in, err := r.sample(seed, batch, s, k)
	if err != nil {
		return nil, err
	}
	return r.fillBatch(task, clean, in, false), nil
}

// sample draws micro-batch k of step s (batch samples): the step's task
// (its head index), then the samples' target and input images.
func (r *Run) sample(seed uint64, batch, s, k int) (task int, clean, in []*ipt.Image, err error) {
	task = StepTask(seed, s, len(r.Tasks))
	t := r.Tasks[task]
	p := r.Net.Config.PatchSize
	sampler := Sampler{
		Side:    p * t.Scale,
		Augment: synth.Dihedral,
		Degrade: func(c *ipt.Image, rng *rand.Rand) *ipt.Image { return synth.Degrade(t, c, rng) },
	}
	clean, in, err = r.Data.Samples(sampler, seed, s, k*batch, batch, r.Threads)
	if err != nil {
		return 0, nil, nil, err
	}
	for i := range in {
		if in[i].H != p || in[i].W != p {
			return 0, nil, nil, fmt.Errorf("%s: input %d×%d, want %d×%d", t.Name, in[i].W, in[i].H, p, p)
		}
	}
	return task, clean, in, nil
}

// fillBatch copies the images into a batch: into the run's batch buffers
// when reuse (grown as needed; Train's, refilled for each micro-batch),
// else into new buffers. Both come from the backend's Alloc and are
// written from Go: the caller makes sure no queued work uses them (Sync
// first).
func (r *Run) fillBatch(task int, clean, in []*ipt.Image, reuse bool) *Batch {
	be := r.backend()
	var nIn, nTarget int
	for i := range clean {
		nIn += len(in[i].Pix)
		nTarget += len(clean[i].Pix)
	}
	b := &Batch{Task: task, N: len(clean)}
	if reuse {
		if len(r.in) < nIn {
			be.Free(r.in)
			r.in = be.Alloc(nIn)
		}
		if len(r.target) < nTarget {
			be.Free(r.target)
			r.target = be.Alloc(nTarget)
		}
		b.In, b.Target = r.in[:nIn], r.target[:nTarget]
	} else {
		b.In, b.Target = be.Alloc(nIn), be.Alloc(nTarget)
	}
	var oi, ot int
	for i := range clean {
		oi += copy(b.In[oi:], in[i].Pix)
		ot += copy(b.Target[ot:], clean[i].Pix)
	}
	return b
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
