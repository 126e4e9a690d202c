package main

// --device, on every command that computes: parsed once (a kong mapper),
// and checked before anything is loaded.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/ipt-go/ipt/internal/cuda"
	"github.com/ipt-go/ipt/internal/ipt"
)

// device is where a command computes: the CPU, or GPU Index; Named says
// whether the index was given (cuda:N) or is the default (cuda: GPU 0, or
// the local rank's in data-parallel training).
type device struct {
	GPU   bool
	Index int
	Named bool
}

const deviceHelp = "Where to compute: cpu, cuda (the first GPU) or cuda:N (GPU N; ipt version lists them). The GPU needs the binary built with go build -tags cuda."

// Decode reads cpu, cuda or cuda:N (kong.MapperValue).
func (d *device) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("device", &s); err != nil {
		return err
	}
	v, err := parseDevice(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func parseDevice(s string) (device, error) {
	switch {
	case s == "cpu":
		return device{}, nil
	case s == "cuda":
		return device{GPU: true}, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err == nil && n >= 0 {
			return device{GPU: true, Index: n, Named: true}, nil
		}
	}
	return device{}, fmt.Errorf("%q: want cpu, cuda or cuda:N", s)
}

func (d device) String() string {
	if !d.GPU {
		return "cpu"
	}
	if !d.Named {
		return "cuda"
	}
	return fmt.Sprintf("cuda:%d", d.Index)
}

// check answers a command asked to run on d. The CPU needs nothing. For a
// GPU, a binary built without it says how to build one (a usage error:
// this binary cannot do it). The GPU build checks the driver for the
// commands with a GPU path (gpuCommands), which open the device
// themselves; for the others it
// opens the device, so a missing library or GPU is reported as it is, and
// then says that the command does not run on the GPU yet.
func (d device) check(command string) error {
	if !d.GPU {
		return nil
	}
	if !cuda.Built {
		return usageError{cuda.Available()}
	}
	if gpuCommands[command] {
		// The command opens the GPU itself (which one may depend on the
		// process's rank); a missing driver is said now, before anything
		// is read.
		if err := cuda.Available(); err != nil {
			return fmt.Errorf("--device %s: %v", d, err)
		}
		return nil
	}
	c, err := cuda.Open(d.Index, cuda.Options{})
	if err != nil {
		return fmt.Errorf("--device %s: %v", d, err)
	}
	name := c.Device.Name
	if err := c.Close(); err != nil {
		return fmt.Errorf("--device %s: %v", d, err)
	}
	return fmt.Errorf("--device %s: ipt %s does not run on the GPU yet (%s opened fine); use --device cpu", d, command, name)
}

// gpuCommands are the commands that run on the GPU (in the cuda build).
var gpuCommands = map[string]bool{"train": true, "finetune": true, "sr": true, "denoise": true, "derain": true, "eval": true, "bench": true}

// trainDevice merges train's --tag into --device: --tag cuda is the same
// as --device cuda (the command people type, after the build tag).
func trainDevice(d device, tag string, set map[string]bool) (device, error) {
	switch tag {
	case "":
		return d, nil
	case "cuda":
		if set["device"] && !d.GPU {
			return d, usageError{errors.New("--tag cuda and --device cpu disagree")}
		}
		if !d.GPU {
			d = device{GPU: true}
		}
		return d, nil
	}
	return d, usageError{fmt.Errorf("--tag %s: the only build tag is cuda (the GPU)", tag)}
}

// runner puts r's model on d's GPU, the Runner's forward passes with it
// (nothing for the CPU), and returns the GPU's name and what releases
// them. The restoring commands use one GPU each: d.Index, whatever the
// rank.
func (d device) runner(r *ipt.Runner, precision string) (release func(), name string, err error) {
	if !d.GPU {
		return func() {}, "", nil
	}
	be, name, closeBE, err := gpuBackend(fmt.Sprintf("cuda:%d", d.Index), precision)
	if err != nil {
		return nil, "", fmt.Errorf("--device %s: %v", d, err)
	}
	if err := r.Model.MoveTo(be); err != nil {
		closeBE()
		return nil, "", fmt.Errorf("--device %s: %v", d, err)
	}
	r.Backend = be
	return func() { r.Close(); closeBE() }, name, nil
}
