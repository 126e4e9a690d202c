package main

// ipt train and ipt finetune: the command line of internal/train.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/ipt-go/ipt/internal/dist"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/synth"
	"github.com/ipt-go/ipt/internal/train"
)

// trainConfigs are the model sizes --config names. tiny trains a step of
// batch 8 in well under a second on two cores; small is a quarter of the
// released width with 2+2 layers; released is the authors' model (SPEC §1).
var trainConfigs = map[string]ipt.Config{
	"tiny":     {NFeats: 16, PatchSize: 24, PatchDim: 3, NumHeads: 4, EncLayers: 1, DecLayers: 1},
	"small":    {NFeats: 32, PatchSize: 48, PatchDim: 3, NumHeads: 8, EncLayers: 2, DecLayers: 2},
	"released": {NFeats: 64, PatchSize: 48, PatchDim: 3, NumHeads: 12, EncLayers: 12, DecLayers: 12},
}

// defaultLR is --lr when not given: higher for the smaller models, the
// paper's 5e-5 for the released size; 2e-5 (the paper's) for finetune.
var defaultLR = map[string]float64{"tiny": 2e-4, "small": 1e-4, "released": 5e-5}

const finetuneLR = 2e-5

// trainFlags are the flags train and finetune share.
type trainFlags struct {
	Data          []string `placeholder:"DIR" help:"Folders of clean training images, searched recursively, any format ipt reads (repeat the flag or separate with commas). Images smaller than the largest crop (P·scale) are skipped with a warning."`
	Steps         int      `default:"1000" placeholder:"N" help:"Train until N optimiser steps are done (counting those of --resume)."`
	Batch         int      `default:"8" placeholder:"N" help:"Samples per micro-batch (at least 2 with --lambda above 0); the contrastive loss is taken over each micro-batch."`
	Accum         int      `default:"1" placeholder:"K" help:"Micro-batches per optimiser step (per process of a data-parallel run), their gradients averaged: an effective batch of K·N (K·N·W over W processes) at the memory of N; the same task for all."`
	LR            float64  `name:"lr" placeholder:"RATE" help:"Adam's learning rate (default: 2e-4 tiny, 1e-4 small, 5e-5 released; 2e-5 for finetune)."`
	Schedule      string   `enum:"step,cosine,constant" default:"step" help:"Learning-rate schedule: step (the paper's: the rate until 2/3 of the steps, then 0.4 times it), cosine (from the rate to 0, after --warmup steps rising to it) or constant."`
	ScheduleSteps int      `placeholder:"N" help:"Steps the schedule is laid out over (default --steps): give the final count when a run is trained in parts with --resume."`
	Warmup        int      `placeholder:"N" help:"Warm-up steps of the cosine schedule."`
	Clip          float64  `default:"1" placeholder:"NORM" help:"Clip the gradients to this global norm, as the authors' code (0: no clipping)."`
	Lambda        float64  `default:"0.1" placeholder:"W" help:"Weight of the contrastive loss (paper Eq. 5) beside L1; 0 for L1 alone."`
	Tau           float64  `default:"0.07" placeholder:"T" help:"Temperature of the contrastive loss."`
	Seed          uint64   `default:"1" placeholder:"N" help:"Seed of the initial weights and of every random draw: a run is reproducible for any --threads."`
	Output        string   `short:"o" required:"" placeholder:"FILE.safetensors" help:"Checkpoint to write: weights under the released key names (every restoring command and ipt convert load it), config, task names and training state."`
	Every         int      `default:"500" placeholder:"N" help:"Write the checkpoint every N steps (0: only at the end); also at the end and on Ctrl-C."`
	Resume        string   `placeholder:"FILE" help:"Continue the run of this checkpoint exactly: the config, tasks and training settings come from it (flags that are given must agree with its config and tasks; given training settings override its own)."`
	Threads       int      `placeholder:"N" help:"Cores to use (default: all). The weights do not depend on it."`
	Device        device   `default:"cpu" placeholder:"cpu|cuda|cuda:N" help:"Where to train: cpu, cuda (the first GPU) or cuda:N (GPU N; ipt version lists them). The GPU needs a binary built with go build -tags cuda."`
	Precision     string   `enum:"fp32,tf32,bf16" default:"fp32" help:"Arithmetic of the GPU's matrix products: fp32 (the CPU's results within float rounding), tf32 or bf16 (tensor cores: inputs rounded to TF32 or bfloat16, sums in fp32; faster, less exact). The CPU computes in fp32 only."`
	Tag           string   `placeholder:"cuda" help:"--tag cuda is the same as --device cuda: train on the GPU (the binary of go build -tags cuda)."`
	Quiet         bool     `short:"q" help:"Print nothing but errors."`
	Progress      string   `enum:"auto,bar,json,none" default:"auto" help:"Progress on standard error: auto (a bar on a terminal, else a line every 10 seconds), bar, json (one JSON object per step) or none."`
	Rank          int      `placeholder:"N" help:"This process's rank in a data-parallel run (default: RANK, else SLURM_PROCID, else 0). Rank 0 writes the checkpoint and the progress."`
	WorldSize     int      `placeholder:"W" help:"Processes of a data-parallel run, one per GPU (default: WORLD_SIZE, else SLURM_NTASKS, else 1); needs the cuda build. A step takes N·K·W samples; a resumed run must keep the checkpoint's."`
	LocalRank     int      `placeholder:"N" help:"Rank among the processes on this host: --device cuda means cuda:N (default: LOCAL_RANK, else SLURM_LOCALID, else the rank)."`
	DistAddr      string   `placeholder:"HOST:PORT" help:"Where rank 0 hands out the NCCL id (default: MASTER_ADDR:MASTER_PORT, else the first host of SLURM_STEP_NODELIST or SLURM_JOB_NODELIST; port 29500 when none is set)."`
}

type trainCmd struct {
	Config   string `enum:"tiny,small,released" default:"tiny" help:"Model size: tiny (n_feats 16, patch 24, heads 4, 1+1 layers), small (32, 48, 8, 2+2) or released (64, 48, 12, 12+12: the authors' model)."`
	Feats    int    `placeholder:"C" help:"Feature channels of heads and tails (overrides --config's)."`
	Patch    int    `placeholder:"P" help:"Side of the input crops the model sees (overrides --config's)."`
	PatchDim int    `placeholder:"p" help:"Side of the patches that become tokens (overrides --config's)."`
	Heads    int    `placeholder:"N" help:"Attention heads (overrides --config's)."`
	Layers   int    `placeholder:"N" help:"Encoder and decoder layers, each (overrides --config's)."`
	Tasks    string `default:"sr2,sr3,sr4,dn30,dn50,derain" placeholder:"LIST" help:"Tasks to train, one per step at random: sr2, sr3, sr4, dnN (Gaussian noise σ N), dnA-B (σ drawn from A to B for each image: one denoiser for them all), derain. Heads in the pre-training layout: sr2 sr3 sr4 derain dn30 dn50, or that order for a subset."`
	trainFlags
}

type finetuneCmd struct {
	Task      string `placeholder:"TASK" help:"The task to fine-tune: sr2, sr3, sr4, dnN, dnA-B or derain. Its head, tail and query are kept; the others dropped."`
	Weights   string `placeholder:"FILE" help:"Checkpoint to start from: the released .pt files or any checkpoint ipt loads."`
	NumHeads  int    `placeholder:"N" help:"Attention heads of --weights (default 12, or what a .safetensors file records)."`
	AddLayers int    `placeholder:"K" help:"Make the model deeper: K more encoder and K more decoder layers after those of --weights, each starting as the identity (so training starts from what --weights computes) and initialised by --seed."`
	trainFlags
}

// given reports which flags the command line set (kong marks flags with
// defaults as set too, so the parse path is read instead).
func given(k *kong.Context) map[string]bool {
	set := map[string]bool{}
	for _, p := range k.Path {
		if p.Flag != nil {
			set[p.Flag.Name] = true
		}
	}
	return set
}

func (c *trainCmd) Run(k *kong.Context) error {
	set := given(k)
	if err := c.checkDevice(set, "train"); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.Resume != "" {
		net, adam, st, err := c.resume()
		if err != nil {
			return err
		}
		// The flags that were given must agree with the checkpoint.
		ask, err := c.config(net.Config, set)
		if err != nil {
			return err
		}
		if err := train.CheckResume(ask, net.Config); err != nil {
			return usageError{fmt.Errorf("%s: %v", c.Resume, err)}
		}
		tasks, err := namedTasks(net.Config, c.Resume)
		if err != nil {
			return err
		}
		return c.trainFlags.run(net, adam, st, tasks, 0, set, "run")
	}
	cfg, err := c.config(trainConfigs[c.Config], map[string]bool{"tasks": true})
	if err != nil {
		return err
	}
	tasks, err := namedTasks(cfg, "--tasks")
	if err != nil {
		return err
	}
	net, err := train.NewNet(cfg, c.Seed)
	if err != nil {
		return err
	}
	return c.trainFlags.run(net, nil, nil, tasks, defaultLR[c.Config], set, configName(c.Config, set))
}

// config is base with what the flags set changed: --config's sizes,
// then --feats, --patch, --patch-dim, --heads, --layers, and --tasks (in
// the pre-training order).
func (c *trainCmd) config(base ipt.Config, set map[string]bool) (ipt.Config, error) {
	cfg := base
	if set["config"] {
		p := trainConfigs[c.Config]
		cfg.NFeats, cfg.PatchSize, cfg.PatchDim, cfg.NumHeads, cfg.EncLayers, cfg.DecLayers = p.NFeats, p.PatchSize, p.PatchDim, p.NumHeads, p.EncLayers, p.DecLayers
	}
	for _, o := range []struct {
		v   int
		dst *int
	}{{c.Feats, &cfg.NFeats}, {c.Patch, &cfg.PatchSize}, {c.PatchDim, &cfg.PatchDim}, {c.Heads, &cfg.NumHeads}, {c.Layers, &cfg.EncLayers}, {c.Layers, &cfg.DecLayers}} {
		if o.v < 0 {
			return cfg, usageError{errors.New("--feats, --patch, --patch-dim, --heads and --layers must be positive")}
		}
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if set["tasks"] {
		tasks, err := synth.ParseTasks(c.Tasks)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--tasks: %v", err)}
		}
		tasks = train.OrderTasks(tasks)
		cfg.Scales, cfg.TaskNames = nil, train.TaskNames(tasks)
		for _, t := range tasks {
			cfg.Scales = append(cfg.Scales, t.Scale)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func configName(name string, set map[string]bool) string {
	if set["feats"] || set["patch"] || set["patch-dim"] || set["heads"] || set["layers"] {
		return "custom"
	}
	return name
}

func (c *finetuneCmd) Run(k *kong.Context) error {
	set := given(k)
	if err := c.checkDevice(set, "finetune"); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.NumHeads < 0 || c.AddLayers < 0 {
		return usageError{errors.New("--num-heads and --add-layers must not be negative")}
	}
	if c.AddLayers > 0 && c.Resume != "" {
		return usageError{errors.New("--add-layers makes a new model from --weights; --resume continues one as it is")}
	}
	var net *train.Net
	var adam *train.Adam
	var st *train.State
	var err error
	var task synth.Task
	if c.Task != "" {
		if task, err = synth.ParseTask(c.Task); err != nil {
			return usageError{fmt.Errorf("--task: %v", err)}
		}
	}
	switch {
	case c.Resume != "":
		if net, adam, st, err = c.resume(); err != nil {
			return err
		}
		if c.Task != "" && (net.Config.Tasks() != 1 || len(net.Config.TaskNames) != 1 || net.Config.TaskNames[0] != c.Task) {
			return usageError{fmt.Errorf("%s: tasks %s, but --task is %s", c.Resume, strings.Join(net.Config.TaskNames, ","), c.Task)}
		}
	case c.Task == "" || c.Weights == "":
		return usageError{errors.New("finetune needs --task and --weights (or --resume)")}
	default:
		full, _, _, err := train.ReadCheckpoint(c.Weights, c.NumHeads)
		if err != nil {
			return err
		}
		// A range starts from the head of the level nearest its middle.
		j := job{name: task.Name, scale: task.Scale, sigma: int(task.Level()), derain: task.Rain}
		head, err := selectTask(full.Config, j, -1, filepath.Base(c.Weights))
		if err != nil {
			return err
		}
		if net, err = full.KeepTask(head); err != nil {
			return err
		}
		if c.AddLayers > 0 {
			if net, err = net.AddLayers(c.AddLayers, c.Seed); err != nil {
				return err
			}
		}
		net.Config.TaskNames = []string{task.Name}
	}
	tasks, err := namedTasks(net.Config, c.Output)
	if err != nil {
		return err
	}
	return c.trainFlags.run(net, adam, st, tasks, finetuneLR, set, "finetune")
}

// namedTasks parses the task names a checkpoint's config records.
func namedTasks(cfg ipt.Config, file string) ([]synth.Task, error) {
	if len(cfg.TaskNames) != cfg.Tasks() {
		return nil, fmt.Errorf("%s: the checkpoint does not name its tasks (metadata tasks)", file)
	}
	tasks := make([]synth.Task, len(cfg.TaskNames))
	for i, name := range cfg.TaskNames {
		t, err := synth.ParseTask(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if t.Scale != cfg.Scales[i] {
			return nil, fmt.Errorf("%s: head %d is named %s but its tail has scale ×%d", file, i, name, cfg.Scales[i])
		}
		tasks[i] = t
	}
	return tasks, nil
}

// checkDevice resolves --tag into --device and checks the device, before
// anything else.
func (f *trainFlags) checkDevice(set map[string]bool, command string) error {
	d, err := trainDevice(f.Device, f.Tag, set)
	if err != nil {
		return err
	}
	f.Device = d
	if !d.GPU && f.Precision != "fp32" {
		return usageError{fmt.Errorf("--precision %s needs --device cuda: the CPU computes in fp32", f.Precision)}
	}
	return d.check(command)
}

// check validates the flags before anything is loaded.
func (f *trainFlags) check() error {
	switch {
	case f.Steps < 1:
		return usageError{fmt.Errorf("--steps %d: must be at least 1", f.Steps)}
	case f.Batch < 1 || f.Accum < 1:
		return usageError{errors.New("--batch and --accum must be at least 1")}
	case f.LR < 0, f.Clip < 0, f.Lambda < 0, f.Tau <= 0:
		return usageError{errors.New("--lr, --clip and --lambda must not be negative, --tau must be positive")}
	case f.Every < 0 || f.Threads < 0 || f.Warmup < 0 || f.ScheduleSteps < 0:
		return usageError{errors.New("--every, --threads, --warmup and --schedule-steps must not be negative")}
	case !strings.EqualFold(filepath.Ext(f.Output), ".safetensors"):
		return usageError{fmt.Errorf("-o %s: the checkpoint must be a .safetensors file", f.Output)}
	case len(f.Data) == 0:
		return usageError{errors.New("no training images: name folders with --data")}
	}
	// Fail now, not after hours of training, when -o cannot be written.
	dir := filepath.Dir(f.Output)
	probe, err := os.CreateTemp(dir, ".ipt-train-probe*")
	if err != nil {
		return fmt.Errorf("-o %s: cannot write in %s: %v", f.Output, dir, trimPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// resume loads --resume: a checkpoint of ipt train, with its state.
func (f *trainFlags) resume() (*train.Net, *train.Adam, *train.State, error) {
	net, adam, st, err := train.ReadCheckpoint(f.Resume, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if st == nil {
		return nil, nil, nil, usageError{fmt.Errorf("%s: no training state (not written by ipt train); use it with finetune --weights", f.Resume)}
	}
	return net, adam, st, nil
}

// run trains net on tasks: a new run when st is nil, else the checkpoint's
// run continued, with the flags that were given overriding its settings.
func (f *trainFlags) run(net *train.Net, adam *train.Adam, st *train.State, tasks []synth.Task, lr float64, set map[string]bool, name string) error {
	if set["lr"] {
		lr = f.LR
	}
	world, err := f.world(set)
	if err != nil {
		return err
	}
	W := world.Size
	// The GPU is opened first, so a missing library or GPU fails the run
	// before the data is read.
	var gpu ops.Backend
	var gpuName, dev string
	if f.Device.GPU {
		dev = dist.DeviceFor(f.Device.String(), world.LocalRank)
		var release func()
		if gpu, gpuName, release, err = gpuBackend(dev, f.Precision); err != nil {
			return fmt.Errorf("--device %s: %v", dev, err)
		}
		defer release()
	}
	// State.Accum counts the micro-batches of a step over all processes.
	fresh := train.State{Seed: f.Seed, Batch: f.Batch, Accum: f.Accum * W,
		Schedule: train.Schedule{Kind: f.Schedule, LR: lr, Steps: f.ScheduleSteps, Warmup: f.Warmup},
		Clip:     f.Clip, Lambda: f.Lambda, Tau: f.Tau}
	if fresh.Schedule.Steps == 0 {
		fresh.Schedule.Steps = f.Steps
	}
	if st == nil {
		params, _ := net.Trainable()
		adam, st = train.NewAdam(len(params)), &fresh
	} else {
		global := st.Batch * st.Accum
		for flag, apply := range map[string]func(){
			"seed": func() { st.Seed = fresh.Seed }, "batch": func() { st.Batch = fresh.Batch }, "accum": func() { st.Accum = fresh.Accum },
			"lr": func() { st.Schedule.LR = fresh.Schedule.LR }, "schedule": func() { st.Schedule.Kind = fresh.Schedule.Kind },
			"schedule-steps": func() { st.Schedule.Steps = fresh.Schedule.Steps }, "warmup": func() { st.Schedule.Warmup = fresh.Schedule.Warmup },
			"clip": func() { st.Clip = fresh.Clip }, "lambda": func() { st.Lambda = fresh.Lambda }, "tau": func() { st.Tau = fresh.Tau },
		} {
			if set[flag] {
				apply()
			}
		}
		if st.Step >= f.Steps {
			return usageError{fmt.Errorf("%s: already at step %d; ask for more with --steps", f.Resume, st.Step)}
		}
		if err := keepGlobalBatch(f.Resume, st, global, W, set); err != nil {
			return err
		}
	}
	if err := st.Schedule.Validate(); err != nil {
		return usageError{err}
	}
	if st.Lambda > 0 && st.Batch < 2 {
		return usageError{fmt.Errorf("--batch %d: the contrastive loss (--lambda %g) needs at least 2 samples a batch (or --lambda 0)", st.Batch, st.Lambda)}
	}
	if world.Rank != 0 {
		f.Quiet = true // rank 0 speaks for the run
	}
	mode := f.progressMode()
	say := func(format string, a ...any) {
		if !f.Quiet {
			fmt.Fprintf(os.Stderr, "ipt: "+format+"\n", a...)
		}
	}
	// Images too small for the largest crop (×4: 4·P) still serve the
	// tasks with smaller ones; an image smaller than every crop is skipped.
	minScale := tasks[0].Scale
	for _, t := range tasks {
		minScale = min(minScale, t.Scale)
	}
	data, err := train.OpenData(f.Data, net.Config.PatchSize*minScale, f.Threads, func(msg string) { say("warning: %s", msg) })
	if err != nil {
		return err
	}
	for _, t := range tasks {
		side := net.Config.PatchSize * t.Scale
		switch n := len(data.AtLeast(side)); {
		case n == 0:
			return fmt.Errorf("%s: no image is %d×%d or larger, as task %s's crops are", strings.Join(f.Data, ", "), side, side, t.Name)
		case n < len(data.Files):
			say("warning: %d of the %d images are smaller than %s's %d×%d crop: the other tasks use them", len(data.Files)-n, len(data.Files), t.Name, side, side)
		}
	}
	params, _ := net.Trainable()
	verb := "training"
	if f.Resume != "" {
		verb = fmt.Sprintf("resuming %s at step %d:", f.Resume, st.Step)
	}
	batch := fmt.Sprintf("%d×%d", st.Batch, st.Accum)
	if W > 1 {
		batch = fmt.Sprintf("%d×%d on each of %d processes (%d a step)", st.Batch, st.Accum/W, W, st.Batch*st.Accum)
	}
	say("%s %s (%s; %d trained parameters) on %d images; tasks %s; batch %s, lr %g (%s), seed %d",
		verb, name, net.Config, len(params), len(data.Files), strings.Join(train.TaskNames(tasks), ","),
		batch, st.Schedule.LR, st.Schedule.Kind, st.Seed)

	if gpu != nil {
		// The net and the moments were built or read on the CPU; they move
		// to the GPU, whose backend then runs every step. The checkpoints
		// read them from Go after the backend's Sync (Run.save).
		if err := net.MoveTo(gpu); err != nil {
			return fmt.Errorf("--device %s: %v", dev, err)
		}
		if err := adam.MoveTo(gpu); err != nil {
			return fmt.Errorf("--device %s: %v", dev, err)
		}
		if err := gpu.Sync(); err != nil {
			return fmt.Errorf("--device %s: %v", dev, err)
		}
		say("on %s (%s), its matrix products in %s", dev, gpuName, f.Precision)
	}

	ctx, stop := signalContext()
	defer stop()
	var comm dist.Comm
	if W > 1 {
		say("rank 0 of %d (from %s): waiting for the others on %s", W, world.From, world.Addr)
		if comm, err = dist.Join(ctx, world, dist.DeviceFor(f.Device.String(), world.LocalRank)); err != nil {
			return err
		}
		defer comm.Close()
	}
	p := &trainProgress{mode: mode, w: os.Stderr, start: -1}
	r := &train.Run{Net: net, Adam: adam, State: *st, Tasks: tasks, Data: data, Threads: f.Threads,
		Output: f.Output, Every: f.Every, Progress: p.step, Comm: comm, Backend: gpu}
	err = r.Train(ctx, f.Steps)
	p.clear()
	if errors.Is(err, train.ErrInterrupted) {
		msg := fmt.Sprintf("%s written at step %d (continue with --resume)", f.Output, r.State.Step)
		if world.Rank != 0 {
			msg = fmt.Sprintf("rank %d stopped at step %d with the others (rank 0 wrote %s)", world.Rank, r.State.Step, f.Output)
		}
		return interruptError{msg, context.Cause(ctx)}
	}
	if err != nil {
		return err
	}
	say("wrote %s (step %d)", f.Output, r.State.Step)
	return nil
}

// world is where this process stands in a data-parallel run: the flags,
// else the launcher's environment (see dist.Resolve). A world size above
// 1 needs a build with a multi-process Comm (the cuda build).
func (f *trainFlags) world(set map[string]bool) (dist.Env, error) {
	fl := dist.Flags{Rank: -1, WorldSize: -1, LocalRank: -1, Addr: f.DistAddr}
	for name, o := range map[string]struct{ v, dst *int }{
		"rank": {&f.Rank, &fl.Rank}, "world-size": {&f.WorldSize, &fl.WorldSize}, "local-rank": {&f.LocalRank, &fl.LocalRank},
	} {
		if set[name] {
			if *o.v < 0 {
				return dist.Env{}, usageError{errors.New("--rank, --world-size and --local-rank must not be negative")}
			}
			*o.dst = *o.v
		}
	}
	e, err := dist.Resolve(fl, os.Getenv)
	if err != nil {
		return e, usageError{err}
	}
	if e.Size > 1 && dist.Join == nil {
		return e, fmt.Errorf("world size %d (from %s): %w; --world-size 1 trains this process alone", e.Size, e.From, dist.ErrNoBackend)
	}
	return e, nil
}

// keepGlobalBatch makes a resumed run of W processes take the samples a
// step that the checkpoint's run took (global: its batch × accum, which
// count over all processes; a given --accum is already times W): without
// --batch and --accum the checkpoint's
// micro-batches are dealt out, which needs W to divide their count; with
// --batch N alone, the step's N-sample micro-batches are; with --accum K,
// N·K·W must be the checkpoint's global batch. A process alone (W 1)
// may change it, as before data-parallel runs.
func keepGlobalBatch(file string, st *train.State, global, W int, set map[string]bool) error {
	if W == 1 {
		return nil
	}
	if set["batch"] && !set["accum"] && global%st.Batch == 0 {
		st.Accum = global / st.Batch // the micro-batches of the new size
	}
	if st.Batch*st.Accum != global || st.Accum%W != 0 {
		hint := ""
		if global%W == 0 {
			hint = fmt.Sprintf(": --batch %d does", global/W)
		}
		return usageError{fmt.Errorf("%s: the run takes %d samples a step, which %d processes of --batch %d cannot share (--batch × --accum × %d must be %d%s; a run alone may change it)",
			file, global, W, st.Batch, W, global, hint)}
	}
	return nil
}

func (f *trainFlags) progressMode() string {
	switch {
	case f.Quiet || f.Progress == "none":
		return ""
	case f.Progress == "auto" && isTerminal(os.Stderr):
		return "bar"
	case f.Progress == "auto":
		return "lines"
	}
	return f.Progress
}

// trainProgress reports steps: a line redrawn in place ("bar"), a line
// every 10 seconds and at the end ("lines"), a JSON object per step
// ("json"), or nothing.
type trainProgress struct {
	mode  string
	w     io.Writer
	start int // steps done when the run began; -1 before the first report
	last  time.Time
	drawn bool
}

func (p *trainProgress) step(s train.StepInfo) {
	if p.mode == "" {
		return
	}
	rate := float64(s.Samples) / max(s.Elapsed.Seconds(), 1e-9)
	if p.start < 0 {
		p.start = s.Step - 1 // the step the run (or resume) began at
	}
	done := s.Step - p.start
	eta := time.Duration(0)
	if done > 0 {
		eta = time.Duration(float64(s.Elapsed) / float64(done) * float64(s.Steps-s.Step))
	}
	switch p.mode {
	case "json":
		line, _ := json.Marshal(map[string]any{
			"step": s.Step, "steps": s.Steps, "task": s.Task, "loss": s.Loss.Total, "l1": s.Loss.L1,
			"contrastive": s.Loss.Contrastive, "lr": s.LR, "grad_norm": s.GradNorm,
			"samples_per_s": round3(rate), "eta_s": round3(eta.Seconds()),
		})
		fmt.Fprintf(p.w, "%s\n", line)
	case "bar", "lines":
		now := time.Now()
		if s.Step < s.Steps && now.Sub(p.last) < map[string]time.Duration{"bar": 100 * time.Millisecond, "lines": 10 * time.Second}[p.mode] {
			return
		}
		p.last = now
		line := fmt.Sprintf("step %d/%d %-6s loss %.4f (L1 %.4f) lr %.3g %.1f samples/s ETA %s",
			s.Step, s.Steps, s.Task, s.Loss.Total, s.Loss.L1, s.LR, rate, eta.Round(time.Second))
		if p.mode == "bar" {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.drawn = true
		} else {
			fmt.Fprintf(p.w, "ipt: %s\n", line)
		}
	}
}

func (p *trainProgress) clear() {
	if p.mode == "bar" && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
