package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/weights"
)

type convertCmd struct {
	Input    string `arg:"" placeholder:"IN" help:"Checkpoint to read (.pt, .pth or .safetensors, ours or the authors')."`
	Output   string `arg:"" placeholder:"OUT" help:"File to write: .safetensors, or .pt/.pth for PyTorch (the authors' code loads it)."`
	NumHeads int    `placeholder:"N" help:"Attention heads of the input checkpoint (default 12, or what a .safetensors input records)."`
	Force    bool   `help:"Overwrite OUT if it exists."`
	DType    string `name:"dtype" enum:"f32,f16,bf16" default:"f32" placeholder:"f32|f16|bf16" help:"How a .safetensors output stores the weights: f32, f16 or bf16 (half the size; each value rounded to the nearest, ties to even)."`
}

// trainPrefix marks the tensors a training checkpoint carries besides the
// model (the optimiser's moments): convert writes the model only.
const trainPrefix = "train."

// Run checks the input strictly (it must be a complete IPT model) and writes
// it in the format OUT's extension names: safetensors with the model config
// in the metadata, so later runs need no --num-heads, or torch.save's zip
// format holding exactly the authors' state_dict.
func (c *convertCmd) Run() error {
	ext := strings.ToLower(filepath.Ext(c.Output))
	if ext != ".safetensors" && ext != ".pt" && ext != ".pth" {
		return usageError{fmt.Errorf("%s: the output must be a .safetensors, .pt or .pth file", c.Output)}
	}
	if sameFile(c.Input, c.Output) {
		return usageError{fmt.Errorf("%s: output is the input", c.Output)}
	}
	if c.DType != "f32" && ext != ".safetensors" {
		return usageError{fmt.Errorf("%s: --dtype %s needs a .safetensors output", c.Output, c.DType)}
	}
	if isDir(c.Output) {
		return usageError{fmt.Errorf("%s: output is a directory", c.Output)}
	}
	// Checked before the (possibly long) load; the writer still reports
	// anything that changes meanwhile.
	if d := filepath.Dir(c.Output); !isDir(d) {
		return fmt.Errorf("%s: cannot write there: %s is not an existing directory", c.Output, d)
	}
	if _, err := os.Stat(c.Output); err == nil && !c.Force {
		return fmt.Errorf("%s exists (use --force to overwrite)", c.Output)
	}
	ck, err := weights.Load(c.Input)
	if err != nil {
		return err
	}
	if n := dropTrainingState(ck); n > 0 {
		fmt.Fprintf(os.Stderr, "ipt: %s: left out %d %s* tensors (training state: optimiser moments); %s holds the model only\n",
			c.Input, n, trainPrefix, c.Output)
	}
	m, err := ipt.FromCheckpoint(ck, c.NumHeads)
	if err != nil {
		return fmt.Errorf("weights: %s: %w", c.Input, err)
	}
	if ext == ".safetensors" {
		keys, tensors := m.Tensors()
		err = weights.WriteSafetensorsAs(c.Output, keys, tensors, m.Config.Metadata(), weights.DType(strings.ToUpper(c.DType)))
	} else {
		keys, tensors := m.StateDict()
		err = weights.WritePyTorch(c.Output, keys, tensors)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ipt: wrote %s (%s, %s)\n", c.Output, m.Config, c.DType)
	if ext != ".safetensors" && m.Config.NumHeads != ipt.DefaultNumHeads {
		fmt.Fprintf(os.Stderr, "ipt: %s does not record the number of heads: load it with --num-heads %d\n",
			c.Output, m.Config.NumHeads)
	}
	return nil
}

// dropTrainingState removes the train.* tensors from ck and says how many
// there were.
func dropTrainingState(ck *weights.Checkpoint) int {
	keys := ck.Keys[:0]
	n := 0
	for _, k := range ck.Keys {
		if strings.HasPrefix(k, trainPrefix) {
			delete(ck.Tensors, k)
			n++
			continue
		}
		keys = append(keys, k)
	}
	ck.Keys = keys
	return n
}
