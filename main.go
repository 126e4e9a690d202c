// Command ipt restores images with the Image Processing Transformer (IPT,
// Chen et al., CVPR 2021): super-resolution ×2/×3/×4, denoising and
// deraining, as a Unix filter.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/weights/builtin"
)

// cli is the whole command line; each command is a struct with Run.
type cli struct {
	Sr      srCmd      `cmd:"" help:"Super-resolve images by 2, 3 or 4."`
	Denoise denoiseCmd `cmd:"" help:"Remove Gaussian noise of a given strength."`
	Derain  derainCmd  `cmd:"" help:"Remove rain streaks."`
	Models  modelsCmd  `cmd:"" help:"List the checkpoints of the model directory and the built-in models, what each serves, and the built-in models' measured scores."`
	Convert convertCmd `cmd:"" help:"Check a checkpoint and rewrite it: as .safetensors with its config, or as a PyTorch .pt."`
	Bench   benchCmd   `cmd:"" help:"Time the released-size model and the GEMM on this machine."`

	Train    trainCmd    `cmd:"" help:"Train an IPT model on folders of clean images (pre-training on several tasks)."`
	Finetune finetuneCmd `cmd:"" help:"Fine-tune one task of a checkpoint (the released .pt files included)."`
	Degrade  degradeCmd  `cmd:"" help:"Write the synthesised input of a task (downscaled, noisy or rainy) for a clean image."`
	Compare  compareCmd  `cmd:"" help:"Print PSNR (RGB and Y) and SSIM of an image against a reference."`
	Eval     evalCmd     `cmd:"" help:"Score weights, or the bicubic or identity baseline, on a test set as the paper does."`
	Version  versionCmd  `cmd:"" help:"Print the version and the compute kernel in use."`

	Completion completionCmd `cmd:"" help:"Print a script that makes bash, zsh or fish complete ipt's commands, flags and files."`
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args and runs the command; it returns the exit status
// (0 ok, 1 an input failed, 2 usage error) so deferred clean-up runs first.
func run(args []string) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("ipt"),
		kong.Description("Restore images with the Image Processing Transformer."),
		kong.UsageOnError(),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipt:", err)
		return 2
	}
	if completing(parser) { // the shell asks for completions (COMP_LINE)
		return 0
	}
	if err := builtinFromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "ipt:", err)
		return 2
	}
	status := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				code, ok := r.(exitCode)
				if !ok {
					panic(r)
				}
				status = int(code)
			}
		}()
		ctx, err := parser.Parse(normalizeArgs(args, parser))
		if err != nil {
			fmt.Fprintln(os.Stderr, "ipt:", err)
			status = 2
			return
		}
		if err := ops.KernelError(); err != nil {
			fmt.Fprintln(os.Stderr, "ipt:", err)
			status = 2
			return
		}
		if err := ctx.Run(); err != nil {
			if !errors.As(err, new(silentError)) { // kong may wrap it
				fmt.Fprintln(os.Stderr, "ipt:", err)
			}
			status = exitStatus(err)
		}
	}()
	return status
}

type exitCode int

// builtinFromEnv applies IPT_BUILTIN: "off" leaves the built-in models out
// (as a build without them), a directory stands in for them (a candidate
// model and its scores.json, before it is embedded).
func builtinFromEnv() error {
	switch v := os.Getenv("IPT_BUILTIN"); {
	case v == "":
	case v == "off":
		builtin.FS = nil
	case isDir(v):
		builtin.FS = os.DirFS(v)
	default:
		return fmt.Errorf("IPT_BUILTIN=%s: neither off nor a directory", v)
	}
	return nil
}

// normalizeArgs accepts the single-dash long form of flags (-sigma 50, as Go
// tools and the paper's scripts write them) by rewriting "-name" to
// "--name" when name is a long flag of the command line.
func normalizeArgs(args []string, p *kong.Kong) []string {
	long := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			long[f.Name] = true
		}
		for _, ch := range n.Children {
			walk(ch)
		}
	}
	walk(p.Model.Node)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && long[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
