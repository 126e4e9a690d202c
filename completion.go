package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// Shell completion is dynamic: the script that "ipt completion SHELL" prints
// tells the shell to run ipt itself with COMP_LINE (and COMP_POINT) set to
// the line being edited; ipt then prints the candidates, one a line, and
// exits 0 before parsing anything (see completing). The candidates come
// from the same kong model as --help (github.com/willabides/kongplete over
// github.com/posener/complete), so they never drift from the flags.

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" placeholder:"bash|zsh|fish" help:"Shell to print the completion script for."`
}

// completionScripts register "ipt", found on PATH when the shell completes,
// so the scripts can ship in release archives. They are kongplete's
// (InstallCompletions) with the command name instead of an absolute path.
var completionScripts = map[string]string{
	"bash": `# bash completion for ipt: source this file, or save it as
# ~/.local/share/bash-completion/completions/ipt
complete -o filenames -C ipt ipt
`,
	"zsh": `# zsh completion for ipt: source this file from ~/.zshrc, e.g.
#   source <(ipt completion zsh)
(( $+functions[compdef] )) || { autoload -U +X compinit && compinit }
autoload -U +X bashcompinit && bashcompinit
complete -o filenames -C ipt ipt
`,
	"fish": `# fish completion for ipt: source this file, or save it as
# ~/.config/fish/completions/ipt.fish
function __complete_ipt
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    ipt
end
complete -f -c ipt -a "(__complete_ipt)"
`,
}

// Run prints the script for c.Shell.
func (c *completionCmd) Run(ctx *kong.Context) error {
	_, err := fmt.Fprint(ctx.Stdout, completionScripts[c.Shell])
	return err
}

// Predictors for values that kongplete cannot infer from the struct tags
// (it does enums and booleans itself): keyed by the kong name of a flag or
// positional argument, on any command.
var (
	anyFile     = complete.PredictFiles("*")
	checkpoints = complete.PredictFunc(func(a complete.Args) []string {
		var out []string // directories, to descend, and checkpoint files
		for _, p := range anyFile.Predict(a) {
			switch strings.ToLower(path.Ext(p)) {
			case ".pt", ".pth", ".safetensors":
				out = append(out, p)
			default:
				if strings.HasSuffix(p, "/") {
					out = append(out, p)
				}
			}
		}
		return out
	})

	valuePredictors = map[string]complete.Predictor{
		"input":     anyFile, // images, directories, patterns; convert's checkpoint
		"output":    anyFile, // -o PATH; convert's OUT
		"weights":   checkpoints,
		"format":    complete.PredictSet("png", "jpeg", "tiff", "bmp"), // when not an enum
		"image":     anyFile,                                           // compare's A and B
		"reference": anyFile,
		"data":      complete.PredictDirs("*"), // eval's test set
	}
)

// completionCommand is the completion model of the command line: kongplete's
// translation of the kong model plus valuePredictors.
func completionCommand(p *kong.Kong) (complete.Command, error) {
	cmd, err := kongplete.Command(p)
	if err != nil {
		return cmd, err
	}
	addPredictors(p.Model.Node, &cmd)
	return cmd, nil
}

func addPredictors(n *kong.Node, c *complete.Command) {
	for _, f := range n.Flags {
		p, ok := valuePredictors[f.Name]
		if !ok || f.Hidden || f.IsBool() || f.Enum != "" {
			continue
		}
		c.GlobalFlags["--"+f.Name] = p
		if f.Short != 0 {
			c.GlobalFlags["-"+string(f.Short)] = p
		}
	}
	// Positional arguments all of which name files complete as files; any
	// other (an enum such as completion's SHELL) keeps kongplete's.
	files := len(n.Positional) > 0
	for _, a := range n.Positional {
		files = files && valuePredictors[a.Name] != nil && a.Enum == ""
	}
	if files {
		c.Args = anyFile
	}
	for _, ch := range n.Children {
		sub, ok := c.Sub[ch.Name]
		if !ok {
			continue
		}
		addPredictors(ch, &sub)
		c.Sub[ch.Name] = sub
	}
}

// completing answers a shell's completion request, which it recognises by
// COMP_LINE in the environment, and reports whether it did; the caller then
// exits 0 without parsing the command line.
func completing(p *kong.Kong) bool {
	cmd, err := completionCommand(p)
	if err != nil {
		// A predictor the model names but this file lacks: a bug, but
		// completion must never break the command itself.
		return false
	}
	c := complete.New(p.Model.Name, cmd)
	c.Out = p.Stdout
	return c.Complete()
}
