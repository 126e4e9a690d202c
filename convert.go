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
	Input    string `arg:"" placeholder:"IN" help:"Checkpoint to read (.pt, .pth or .safetensors)."`
	Output   string `arg:"" placeholder:"OUT.safetensors" help:"File to write."`
	NumHeads int    `placeholder:"N" help:"Attention heads of the input checkpoint (default 12, or what a .safetensors input records)."`
	Force    bool   `help:"Overwrite OUT if it exists."`
}

// Run checks the input strictly (it must be a complete IPT model) and writes
// its tensors with the model config in the safetensors metadata, so later
// runs need no --num-heads.
func (c *convertCmd) Run() error {
	if !strings.EqualFold(filepath.Ext(c.Output), ".safetensors") {
		return usageError{fmt.Errorf("%s: the output must be a .safetensors file", c.Output)}
	}
	if sameFile(c.Input, c.Output) {
		return usageError{fmt.Errorf("%s: output is the input", c.Output)}
	}
	if _, err := os.Stat(c.Output); err == nil && !c.Force {
		return fmt.Errorf("%s exists (use --force to overwrite)", c.Output)
	}
	m, err := ipt.Load(c.Input, c.NumHeads)
	if err != nil {
		return err
	}
	keys, tensors := m.Tensors()
	if err := weights.WriteSafetensors(c.Output, keys, tensors, m.Config.Metadata()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ipt: wrote %s (%s)\n", c.Output, m.Config)
	return nil
}
