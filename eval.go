package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/synth"
)

type evalCmd struct {
	Task     string `required:"" placeholder:"TASK" help:"sr2, sr3, sr4, dnN such as dn30 or dn50, or derain."`
	Weights  string `env:"IPT_WEIGHTS" placeholder:"FILE|bicubic|identity" help:"Checkpoint to evaluate, builtin (or builtin:NAME) for a model built into ipt, or bicubic (MATLAB bicubic upscaling, SR) or identity (the input itself, ×1 tasks). Default: as the restoring commands choose (the model directory's file for the task, else the built-in model)."`
	Data     string `required:"" placeholder:"DIR" help:"Test set: HR/ and LR_bicubic/X{s}/ for SR, clean images (or HR/) for dn, rainy/rain-NNN.png beside norain-NNN.png (or clean images) for derain."`
	Ensemble bool   `xor:"ensemble" help:"Average the 8 flips and transposes (the paper's IPT+)."`
	Flips    bool   `xor:"ensemble" help:"Average the 4 flips, without transposes (for deraining with the built-in model)."`
	Tiling   string `enum:"official,blend" default:"blend" help:"Tiling of the model: blend or official (the authors' forward_chop, as the paper's figures)."`
	JSON     bool   `name:"json" help:"Print one JSON object: mean_psnr_y, mean_psnr_rgb, mean_ssim and the per-image figures."`
	Seed     uint64 `default:"0" placeholder:"N" help:"Seed of the synthesised noise and rain (each image's draw depends on it and the image's name)."`
	Threads  int    `placeholder:"N" help:"Cores to use (default: all). The figures do not depend on it."`
	NumHeads int    `placeholder:"N" help:"Attention heads of the checkpoint (default 12, or what a .safetensors file records)."`
	Head     int    `default:"-1" placeholder:"N" help:"Use this head/tail/query index of the checkpoint instead of the one the task selects."`
	Device   device `default:"cpu" placeholder:"cpu|cuda|cuda:N" help:"Where to compute: cpu, cuda (the first GPU) or cuda:N (GPU N; ipt version lists them). The GPU needs a binary built with go build -tags cuda."`
}

// evalPair is one test image: where its input comes from and its target.
type evalPair struct {
	name  string // shown in the table: the clean image's file name
	clean string // target file
	input string // input file, or "" to synthesise it from the target
}

// evalResult is what --json prints; the names are fixed for scripts.
type evalResult struct {
	Task        string       `json:"task"`
	Weights     string       `json:"weights"`
	Data        string       `json:"data"`
	MeanPSNRY   metric       `json:"mean_psnr_y"`
	MeanPSNRRGB metric       `json:"mean_psnr_rgb"`
	MeanSSIM    metric       `json:"mean_ssim"`
	Images      []imageScore `json:"images"`
}

type imageScore struct {
	Name string `json:"name"`
	scores
}

// Run evaluates a model (or the bicubic or identity baseline) on a test
// set as the paper does (SPEC §3): SR on MATLAB-bicubic inputs with the
// border shave = scale, noise of σ N added with a fixed seed and clipped
// but not rounded, outputs clamped and rounded as the restoring commands
// write them, PSNR on Y of the difference, Y-channel SSIM, means over
// images.
func (c *evalCmd) Run() error {
	if err := c.Device.check("eval"); err != nil {
		return err
	}
	task, err := synth.ParseTask(c.Task)
	if err != nil {
		return usageError{fmt.Errorf("--task: %v", err)}
	}
	if task.Blind() {
		// The benchmarks score one level at a time; a model trained for a
		// range is scored at each level of it that matters.
		return usageError{fmt.Errorf("--task %s: evaluate one noise level at a time (dnN, such as dn%d)", c.Task, int(task.Level()))}
	}
	if c.NumHeads < 0 || c.Threads < 0 {
		return usageError{errors.New("--num-heads and --threads must not be negative")}
	}
	baseline := c.Weights == "bicubic" || c.Weights == "identity"
	ens := ensembleOf(c.Ensemble, c.Flips)
	switch {
	case c.Weights == "bicubic" && task.Scale == 1:
		return usageError{fmt.Errorf("--weights bicubic is an SR baseline; %s is a ×1 task (use identity)", task.Name)}
	case c.Weights == "identity" && task.Scale > 1:
		return usageError{fmt.Errorf("--weights identity passes the input through; %s upscales (use bicubic)", task.Name)}
	case baseline && ens != ipt.NoEnsemble:
		return usageError{fmt.Errorf("%s applies to a model, not to --weights %s", ensembleFlag(ens), c.Weights)}
	}
	pairs, err := evalPairs(c.Data, task)
	if err != nil {
		return err
	}

	// restore maps one input to its output, clamped and rounded.
	var restore func(ctx context.Context, in *ipt.Image) (*ipt.Image, error)
	weightsName := c.Weights
	switch c.Weights {
	case "bicubic":
		restore = func(_ context.Context, in *ipt.Image) (*ipt.Image, error) { return synth.Upscale(in, task.Scale), nil }
	case "identity":
		restore = func(_ context.Context, in *ipt.Image) (*ipt.Image, error) { return in, nil }
	default:
		j := evalJob(task)
		var model *ipt.Model
		// Which weights were scored matters here: always said.
		weightsName, model, err = resolveWeights(c.Weights, j, c.NumHeads, true, false)
		if err != nil {
			return err
		}
		head, err := selectTask(model.Config, j, c.Head, filepath.Base(weightsName))
		if err != nil {
			return err
		}
		r := &ipt.Runner{Model: model, Task: head, Threads: c.Threads}
		release, _, err := c.Device.runner(r, "fp32")
		if err != nil {
			return err
		}
		defer release()
		restore = func(ctx context.Context, in *ipt.Image) (*ipt.Image, error) {
			out, err := r.Restore(ctx, in, ipt.Tiling(c.Tiling), ens)
			if err != nil {
				return nil, err
			}
			for i, v := range out.Pix {
				out.Pix[i] = float32(imageio.Quantize(v))
			}
			return out, nil
		}
	}

	ctx, stop := signalContext()
	defer stop()
	res := evalResult{Task: task.Name, Weights: weightsName, Data: c.Data}
	if !c.JSON {
		fmt.Printf("%-24s %9s %9s %7s\n", "image", "psnr_y", "psnr_rgb", "ssim")
	}
	var sumY, sumRGB, sumSSIM float64
	for _, p := range pairs {
		s, err := c.evalOne(ctx, p, task, restore)
		if err != nil {
			if ctx.Err() != nil {
				return interruptError{p.name, context.Cause(ctx)}
			}
			return err
		}
		res.Images = append(res.Images, imageScore{p.name, s})
		sumY, sumRGB, sumSSIM = sumY+float64(s.PSNRY), sumRGB+float64(s.PSNRRGB), sumSSIM+float64(s.SSIM)
		if !c.JSON {
			fmt.Printf("%-24s %9s %9s %7s\n", p.name, fmtMetric(s.PSNRY, 4), fmtMetric(s.PSNRRGB, 4), fmtMetric(s.SSIM, 4))
		}
	}
	n := float64(len(pairs))
	res.MeanPSNRY, res.MeanPSNRRGB, res.MeanSSIM = metric(sumY/n), metric(sumRGB/n), metric(sumSSIM/n)
	if c.JSON {
		out, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Println(string(out))
		return nil
	}
	fmt.Printf("%-24s %9s %9s %7s\n", fmt.Sprintf("mean (%d images)", len(pairs)), fmtMetric(res.MeanPSNRY, 4), fmtMetric(res.MeanPSNRRGB, 4), fmtMetric(res.MeanSSIM, 4))
	return nil
}

// evalOne reads (or synthesises) one pair's input, restores it and scores
// the output against the target.
func (c *evalCmd) evalOne(ctx context.Context, p evalPair, task synth.Task, restore func(context.Context, *ipt.Image) (*ipt.Image, error)) (scores, error) {
	clean, err := readColor(p.clean)
	if err != nil {
		return scores{}, err
	}
	clean = synth.ModCrop(clean, task.Scale)
	if clean.H == 0 || clean.W == 0 {
		return scores{}, fmt.Errorf("%s: smaller than the scale %d", p.clean, task.Scale)
	}
	var in *ipt.Image
	if p.input != "" {
		if in, err = readColor(p.input); err != nil {
			return scores{}, err
		}
		if in.H*task.Scale != clean.H || in.W*task.Scale != clean.W {
			return scores{}, fmt.Errorf("%s is %d×%d; its target %s needs %d×%d", p.input, in.W, in.H, p.clean, clean.W/task.Scale, clean.H/task.Scale)
		}
	} else {
		h := fnv.New64a()
		h.Write([]byte(p.name))
		in = synth.Degrade(task, clean, rand.New(rand.NewPCG(c.Seed, h.Sum64())))
	}
	out, err := restore(ctx, in)
	if err != nil {
		return scores{}, fmt.Errorf("%s: %v", p.name, err)
	}
	shave := 0
	if task.Scale > 1 {
		shave = task.Scale
	}
	if 2*shave >= clean.H || 2*shave >= clean.W {
		return scores{}, fmt.Errorf("%s: %d×%d leaves no pixel after the border shave of %d", p.clean, clean.W, clean.H, shave)
	}
	return measure(out, clean, shave), nil
}

// evalJob is the restoring commands' job for a task, for choosing weights
// and the head.
func evalJob(t synth.Task) job {
	switch {
	case t.Scale > 1:
		return job{name: t.Name, scale: t.Scale}
	case t.Rain:
		return job{name: "derain", scale: 1, derain: true}
	}
	return job{name: fmt.Sprintf("denoise%d", int(t.Sigma)), scale: 1, sigma: int(t.Sigma)}
}

// evalPairs lists a test set's pairs in name order (see evalCmd.Data).
func evalPairs(dir string, t synth.Task) ([]evalPair, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%s: %s", dir, trimPath(err))
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	var pairs []evalPair
	if rainy := filepath.Join(dir, "rainy"); t.Rain && isDir(rainy) {
		names, err := imagesIn(rainy)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			num, ok := strings.CutPrefix(n, "rain-")
			if !ok {
				continue
			}
			clean := filepath.Join(dir, "norain-"+num)
			if _, err := os.Stat(clean); err != nil {
				return nil, fmt.Errorf("%s: no clean image %s beside it", filepath.Join(rainy, n), clean)
			}
			pairs = append(pairs, evalPair{name: "norain-" + num, clean: clean, input: filepath.Join(rainy, n)})
		}
		if len(pairs) == 0 {
			return nil, fmt.Errorf("%s: no rain-NNN images", rainy)
		}
		return pairs, nil
	}
	cleanDir := dir
	if hr := filepath.Join(dir, "HR"); isDir(hr) {
		cleanDir = hr
	}
	names, err := imagesIn(cleanDir)
	if err != nil {
		return nil, err
	}
	lrDir := filepath.Join(dir, "LR_bicubic", fmt.Sprintf("X%d", t.Scale))
	for _, n := range names {
		p := evalPair{name: n, clean: filepath.Join(cleanDir, n)}
		if t.Scale > 1 {
			lr := filepath.Join(lrDir, fmt.Sprintf("%sx%d.png", strings.TrimSuffix(n, filepath.Ext(n)), t.Scale))
			if _, err := os.Stat(lr); err == nil {
				p.input = lr
			}
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// imagesIn lists the image files of dir (not recursively), sorted; none is
// an error that names dir.
func imagesIn(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", dir, trimPath(err))
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && isImageName(e.Name()) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no images in this directory", dir)
	}
	slices.Sort(names)
	return names, nil
}
