package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/synth"
)

type degradeCmd struct {
	Task    string `required:"" placeholder:"TASK" help:"What to synthesise: sr2, sr3, sr4 (MATLAB bicubic downscaling), dnN such as dn30 or dn50 (Gaussian noise of σ N), dnA-B (σ drawn from A to B), or derain (rain streaks)."`
	Sigma   int    `placeholder:"N" help:"Noise level of a dn task, overriding its N (1 to 255)."`
	Seed    uint64 `default:"1" placeholder:"N" help:"Seed of the noise or rain; the same seed gives the same output."`
	Input   string `arg:"" name:"input" placeholder:"IN" help:"Clean image; - reads standard input."`
	Output  string `short:"o" placeholder:"OUT" help:"Output file; its extension sets the format. Default: standard output when it is not a terminal."`
	Force   bool   `help:"Overwrite OUT if it exists (never the input)."`
	Format  string `enum:",png,jpeg,tiff,bmp,ppm,pam" default:"" placeholder:"FMT" help:"Output format: png, jpeg, tiff, bmp, ppm or pam. Default: from OUT's extension, else the input's format when it can be written, else png."`
	Quality int    `default:"95" placeholder:"N" help:"JPEG quality, 1 to 100."`
}

// Run writes the synthesised input of the task for one clean image. The
// file holds whole numbers, so noise is rounded when written (ipt eval adds
// it in memory, unrounded, as the benchmarks do).
func (c *degradeCmd) Run() error {
	task, err := degradeTask(c.Task, c.Sigma)
	if err != nil {
		return err
	}
	if c.Quality < 1 || c.Quality > 100 {
		return usageError{fmt.Errorf("--quality %d: want 1 to 100", c.Quality)}
	}
	if c.Output == "" && isTerminal(os.Stdout) {
		return usageError{errors.New("no output: name one with -o, or redirect standard output")}
	}
	name, in := c.Input, os.Stdin
	if c.Input == "-" {
		name, c.Input = "standard input", ""
	} else {
		f, err := os.Open(c.Input)
		if err != nil {
			return fmt.Errorf("%s: %s", c.Input, trimPath(err))
		}
		defer f.Close()
		in = f
	}
	pic, err := imageio.Read(in)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	out := synth.Degrade(task, pic.Color, rand.New(rand.NewPCG(c.Seed, 0)))
	if out.H == 0 || out.W == 0 {
		return fmt.Errorf("%s: %d×%d is smaller than the scale %d", name, pic.Color.W, pic.Color.H, task.Scale)
	}
	res := pic.WithColor(out)
	if task.Scale == 1 {
		res.Grey = false // noise and rain differ between the channels
	}
	format, err := (&restoreFlags{Format: c.Format}).outFormat(c.Output, pic.Format)
	if err != nil {
		return err
	}
	err = writeOutput(c.Output, c.Input, c.Force, func(w io.Writer) error {
		return imageio.Write(w, res, format, c.Quality)
	})
	if err != nil {
		return fmt.Errorf("%s: %s", name, trimPath(err))
	}
	return nil
}

// degradeTask reads --task, with --sigma replacing a dn task's level.
func degradeTask(name string, sigma int) (synth.Task, error) {
	t, err := synth.ParseTask(name)
	if err != nil {
		return t, usageError{fmt.Errorf("--task: %v", err)}
	}
	if sigma != 0 {
		if t.Scale != 1 || t.Rain {
			return t, usageError{fmt.Errorf("--sigma applies to dn tasks, not %s", name)}
		}
		if t, err = synth.ParseTask(fmt.Sprintf("dn%d", sigma)); err != nil {
			return t, usageError{fmt.Errorf("--sigma %d: want 1 to 255", sigma)}
		}
	}
	return t, nil
}
