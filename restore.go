package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
)

// restoreFlags are the flags every restoring command shares.
type restoreFlags struct {
	Inputs    []string `arg:"" optional:"" name:"input" help:"Images, directories or glob patterns to restore. None, or -, reads standard input."`
	Output    string   `short:"o" placeholder:"PATH" help:"Output file (one input) or directory (a path ending in / or an existing directory). Default: standard output for one input when it is not a terminal, else NAME.TASK.png beside each input."`
	Recursive bool     `short:"r" help:"Restore the images of directories recursively."`
	Suffix    string   `placeholder:"TASK" help:"Suffix of output names beside inputs (photo.SUFFIX.png); default the task, e.g. sr4, denoise50, derain."`
	Force     bool     `help:"Overwrite existing output files (inputs are never overwritten)."`
	Format    string   `enum:",png,jpeg,tiff,bmp,ppm,pam" default:"" placeholder:"FMT" help:"Output format: png, jpeg, tiff, bmp, ppm or pam. Default: from the output file's extension, else the input's format when it can be written, else png."`
	Quality   int      `default:"95" placeholder:"N" help:"JPEG quality, 1 to 100."`
	Weights   string   `env:"IPT_WEIGHTS" placeholder:"FILE" help:"Checkpoint: the authors' .pt files (either PyTorch format), a .safetensors file, or builtin (builtin:NAME) for a model built into ipt. Default: the best file for the task in the model directory, else the built-in model (ipt models lists both)."`
	NumHeads  int      `placeholder:"N" help:"Attention heads of the checkpoint: 12 for every released file, which is the default; .safetensors files written by ipt convert record it."`
	Tiling    string   `enum:"official,blend" default:"blend" help:"How images are cut into tiles: blend (overlap P/6, cross-faded, fast) or official (the authors' forward_chop, stride P/4, about 16 times the work)."`
	Ensemble  bool     `xor:"ensemble" help:"Average the 8 flips and transposes of the input (the paper's IPT+): 8 times the work."`
	Flips     bool     `xor:"ensemble" help:"Average the 4 flips of the input, without transposes: 4 times the work. For deraining with the built-in model, which learned near-vertical rain: --ensemble turns the rain sideways and lowers its score."`
	Head      int      `default:"-1" placeholder:"N" help:"Use this head/tail/query index of the checkpoint instead of the one the command selects."`
	Threads   int      `placeholder:"N" help:"Cores to use (default: all). The output does not depend on it."`
	Device    device   `default:"cpu" placeholder:"cpu|cuda|cuda:N" help:"Where to compute: cpu, cuda (the first GPU) or cuda:N (GPU N; ipt version lists them). The GPU needs a binary built with go build -tags cuda."`
	Mem       string   `placeholder:"SIZE" help:"Memory budget, weights included, e.g. 2GiB or 800MB: fewer tiles run at once to stay within it. With --tiling blend and neither --ensemble nor --flips the output streams to the file as the tiles run (a band of rows is held, and the input as decoded, 1 to 8 bytes a pixel), so images far larger than the budget could hold whole are restored; --ensemble, --flips and --tiling official hold the input as floats and the whole output. Default: no limit beyond the defaults (about weights + 100 MB per core)."`
	Quiet     bool     `short:"q" help:"Print nothing but errors."`
	Verbose   bool     `short:"v" help:"Say on standard error which weights are used (a built-in model is used silently when the model directory has no files)."`
	Progress  string   `enum:"auto,bar,json,none" default:"auto" help:"Progress on standard error: auto (a bar when standard error is a terminal), bar, json (one JSON object per line, for wrappers) or none."`
}

// ensembleOf is the self-ensemble the flags --ensemble and --flips ask for
// (kong lets at most one be set).
func ensembleOf(x8, flips bool) ipt.Ensemble {
	switch {
	case x8:
		return ipt.EnsembleX8
	case flips:
		return ipt.EnsembleFlips
	}
	return ipt.NoEnsemble
}

// ensembleFlag is the flag that asks for e, "" for none.
func ensembleFlag(e ipt.Ensemble) string {
	switch e {
	case ipt.EnsembleX8:
		return "--ensemble"
	case ipt.EnsembleFlips:
		return "--flips"
	}
	return ""
}

// job is what a command asks for: a task and how to find its head.
type job struct {
	command string // sr, denoise or derain, for messages
	name    string // output suffix: sr4, denoise50, derain
	scale   int
	sigma   int  // denoising level, 0 otherwise
	derain  bool // deraining
}

// released names the authors' checkpoints, for messages.
const released = "IPT_sr2.pt, IPT_sr3.pt, IPT_sr4.pt, IPT_denoise30.pt, IPT_denoise50.pt, IPT_derain.pt or IPT_pretrain.pt"

func (f *restoreFlags) run(j job) error {
	// Flags are checked before the weights (up to 462 MB) are loaded.
	if err := f.Device.check(j.command); err != nil {
		return err
	}
	if f.NumHeads < 0 || f.Threads < 0 {
		return usageError{errors.New("--num-heads and --threads must not be negative")}
	}
	if f.Quality < 1 || f.Quality > 100 {
		return usageError{fmt.Errorf("--quality %d: want 1 to 100", f.Quality)}
	}
	var budget uint64
	if f.Mem != "" {
		var err error
		budget, err = humanize.ParseBytes(f.Mem)
		if err != nil || budget == 0 || budget > 1<<50 {
			return usageError{fmt.Errorf("--mem %s: not a size like 2GiB or 800MB", f.Mem)}
		}
	}
	suffix := j.name
	if f.Suffix != "" {
		suffix = f.Suffix
	}
	useStdin := len(f.Inputs) == 0 || (len(f.Inputs) == 1 && f.Inputs[0] == "-")
	if useStdin && isTerminal(os.Stdin) {
		return usageError{errors.New("no input: name image files, or pipe an image to standard input")}
	}
	var inputs []string
	var inputErrs []error
	if !useStdin {
		inputs, inputErrs = expandInputs(f.Inputs, f.Recursive, suffix)
	}
	toDir := f.Output != "" && (strings.HasSuffix(f.Output, "/") || isDir(f.Output))
	several := len(inputs)+len(inputErrs) > 1
	if several && f.Output != "" && !toDir {
		return usageError{fmt.Errorf("-o %s: several inputs need a directory (end the path with /)", f.Output)}
	}

	weightsPath, model, err := resolveWeights(f.Weights, j, f.NumHeads, f.Verbose, f.Quiet)
	if err != nil {
		return err
	}
	task, err := selectTask(model.Config, j, f.Head, filepath.Base(weightsPath))
	if err != nil {
		return err
	}
	var memLimit int64
	if budget > 0 && f.Device.GPU {
		// On the GPU the budget is its memory: the weights, and the tile
		// buffers and workspace the runner sizes its batches to (MemLimit).
		memLimit = int64(budget) - model.Bytes()
		if memLimit <= 0 {
			return usageError{fmt.Errorf("--mem %s: the weights alone take %s", f.Mem, humanize.IBytes(uint64(model.Bytes())))}
		}
	} else if budget > 0 {
		// The weights stay resident; keep the GC within the budget too.
		memLimit = int64(budget) - model.Bytes()
		if memLimit <= 0 {
			return usageError{fmt.Errorf("--mem %s: the weights alone take %s", f.Mem, humanize.IBytes(uint64(model.Bytes())))}
		}
		debug.SetMemoryLimit(int64(budget))
	}

	prog := newProgress(f.progressMode(), os.Stderr, max(1, len(inputs)))
	defer prog.clear()
	say := func(format string, a ...any) {
		prog.clear()
		fmt.Fprintf(os.Stderr, "ipt: "+format+"\n", a...)
	}

	ctx, stop := signalContext()
	defer stop()
	r := &ipt.Runner{Model: model, Task: task, Threads: f.Threads, Progress: prog.tiles}
	release, _, err := f.Device.runner(r, "fp32")
	if err != nil {
		return err
	}
	defer release()
	if f.Device.GPU {
		r.MemLimit = memLimit
		memLimit = 0 // the host's memory is not the budget
	}
	tiling, ens := ipt.Tiling(f.Tiling), ensembleOf(f.Ensemble, f.Flips)
	// restore writes pic restored to w as format: the tiler hands the
	// output to the encoder band by band as the tiles run, where it can.
	restore := func(w io.Writer, pic *imageio.Picture, format string) error {
		s := r.Scale()
		h, wd := pic.Size()
		out := pic.Restored(h*s, wd*s, func(yield func(*ipt.Image) error) error {
			return r.Stream(ctx, pic.Source(), tiling, ens, yield)
		})
		if memLimit > 0 {
			if err := f.budget(r, pic, out, format, memLimit); err != nil {
				return err
			}
		}
		return out.Write(w, format, f.Quality)
	}
	if useStdin {
		err := f.restoreStream(os.Stdin, prog, restore, f.outFormat)
		if err != nil && ctx.Err() != nil {
			return interruptError{"standard input", context.Cause(ctx)}
		}
		return err
	}
	failed, skipped := len(inputErrs), 0
	for _, e := range inputErrs {
		say("%v", e)
	}
	for i, in := range inputs {
		dst := f.destination(in, suffix, toDir, several)
		if dst != "" && !f.Force {
			if _, err := os.Stat(dst); err == nil && !sameFile(dst, in) {
				if !f.Quiet {
					say("%s: output %s exists, skipped (--force overwrites)", in, dst)
				}
				skipped++
				continue
			}
		}
		prog.begin(i, in)
		err := writeOutput(dst, in, f.Force, func(w io.Writer) error {
			fh, err := os.Open(in)
			if err != nil {
				return err
			}
			defer fh.Close()
			pic, err := imageio.ReadCompact(fh)
			if err != nil {
				return err
			}
			format, err := f.outFormat(dst, pic.Format)
			if err != nil {
				return err
			}
			return restore(w, pic, format)
		})
		if err != nil {
			if ctx.Err() != nil {
				return interruptError{in, context.Cause(ctx)}
			}
			say("%s: %s", in, trimPath(err))
			failed++
		}
	}
	if several && (!f.Quiet || failed > 0) {
		say("%d restored, %d skipped, %d failed", len(inputs)-failed+len(inputErrs)-skipped, skipped, failed)
	}
	if failed > 0 {
		return silentError{}
	}
	return nil
}

// destination is where input in's output goes: into the -o directory or
// file, to standard output (""), or beside the input as NAME.SUFFIX.ext.
func (f *restoreFlags) destination(in, suffix string, toDir, several bool) string {
	switch {
	case toDir:
		return filepath.Join(f.Output, siblingName(filepath.Base(in), suffix, f.Format))
	case f.Output != "":
		return f.Output
	case !several && !isTerminal(os.Stdout):
		return ""
	}
	return filepath.Join(filepath.Dir(in), siblingName(filepath.Base(in), suffix, f.Format))
}

// outFormat chooses the written format: --format, the output name's
// extension, the input's format when writable, else PNG.
func (f *restoreFlags) outFormat(dst, inFormat string) (string, error) {
	if f.Format != "" {
		return f.Format, nil
	}
	if dst != "" {
		fm, err := imageio.FormatForPath(dst)
		if err != nil {
			return "", usageError{fmt.Errorf("%s: %v (or use --format)", dst, err)}
		}
		return fm, nil
	}
	switch inFormat {
	case "png", "jpeg", "tiff", "bmp", "ppm", "pam":
		return inFormat, nil
	}
	return "png", nil
}

// progressMode resolves --progress and --quiet: "bar", "json" or "" (none).
func (f *restoreFlags) progressMode() string {
	switch {
	case f.Quiet || f.Progress == "none":
		return ""
	case f.Progress == "auto" && isTerminal(os.Stderr):
		return "bar"
	case f.Progress == "auto":
		return ""
	}
	return f.Progress
}

// trimPath drops the "open NAME: " prefix of os errors, since the caller
// names the file already.
func trimPath(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// siblingName turns photo.jpg into photo.sr4.jpg: the input's extension
// when its format can be written, .png otherwise, or that of --format.
func siblingName(base, task, format string) string {
	ext := filepath.Ext(base)
	if format != "" {
		ext = map[string]string{"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "bmp": ".bmp", "ppm": ".ppm", "pam": ".pam"}[format]
	} else if _, err := imageio.FormatForPath(base); err != nil {
		ext = ".png"
	}
	return strings.TrimSuffix(base, filepath.Ext(base)) + "." + task + ext
}

// restoreStream restores every image of a stream (one image, or several
// concatenated as ffmpeg -f image2pipe writes them) one at a time, writing
// each as soon as it is done: to -o for a single image, else to stdout in
// the stream's format. Memory stays bounded however long the stream.
func (f *restoreFlags) restoreStream(in io.Reader, prog *progress, restore func(io.Writer, *imageio.Picture, string) error, outFormat func(dst, inFormat string) (string, error)) error {
	stream := imageio.NewStreamReader(in)
	for i := 0; ; i++ {
		pic, err := stream.NextCompact()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		if i > 0 && f.Output != "" {
			return usageError{fmt.Errorf("stdin holds several images: write them to standard output, not -o %s", f.Output)}
		}
		prog.begin(i, fmt.Sprintf("stdin image %d", i+1))
		format, err := outFormat(f.Output, stream.Format())
		if err != nil {
			return err
		}
		err = writeOutput(f.Output, "", true, func(w io.Writer) error { return restore(w, pic, format) })
		if err != nil {
			return fmt.Errorf("stdin image %d: %w", i+1, err)
		}
	}
}

// budget sets r.MemLimit to what the memory budget (memLimit, the weights
// left out) leaves for the tile workers once the image, the tiler's output
// buffers, the encoder's and the output's buffer are counted, or says why
// the image does not fit.
func (f *restoreFlags) budget(r *ipt.Runner, pic *imageio.Picture, out *imageio.Output, format string, memLimit int64) error {
	tiling := ipt.Tiling(f.Tiling)
	// What the output's buffer holds: at most a file's worth, taken as 8
	// bytes a pixel (no encoder needs more), the profile and headers.
	buffer := min(outputBuffer, 8*int64(out.H)*int64(out.W)+int64(len(out.ICC))+64<<10)
	need := func(tiling ipt.Tiling, ens ipt.Ensemble, format string) int64 {
		return r.ImageBytes(pic.Source(), tiling, ens) + out.WriteBytes(format) + buffer + r.TileBytes()
	}
	ens := ensembleOf(f.Ensemble, f.Flips)
	n := need(tiling, ens, format)
	r.MemLimit = memLimit - n + r.TileBytes()
	if n <= memLimit {
		return nil
	}
	h, w := pic.Size()
	size := fmt.Sprintf("%d×%d", w, h)
	if !ipt.Streams(tiling, ens) {
		var what, instead []string
		if tiling == ipt.TilingOfficial {
			what, instead = append(what, "--tiling official"), append(instead, "--tiling blend")
		}
		if flag := ensembleFlag(ens); flag != "" {
			what, instead = append(what, flag), append(instead, "without "+flag)
		}
		if s := need(ipt.TilingBlend, ipt.NoEnsemble, format); s <= memLimit {
			return fmt.Errorf("--mem %s is too small for %s on this %s image, which holds the whole output (about %s besides the weights); %s, the output streams in about %s",
				f.Mem, strings.Join(what, " "), size, humanize.IBytes(uint64(n)), strings.Join(instead, " "), humanize.IBytes(uint64(s)))
		}
	}
	if p := need(tiling, ens, "png"); p < n && p <= memLimit {
		return fmt.Errorf("--mem %s is too small for this %s image written as %s, which holds the whole picture (about %s besides the weights); as PNG, written as it is restored, about %s",
			f.Mem, size, format, humanize.IBytes(uint64(n)), humanize.IBytes(uint64(p)))
	}
	return fmt.Errorf("--mem %s is too small for this %s image: it needs about %s besides the weights", f.Mem, size, humanize.IBytes(uint64(n)))
}

// outputBuffer is what writing an output holds: standard output is spooled
// in memory up to this much (then in a temporary file), a file is written
// through a much smaller buffer.
const outputBuffer = 4 << 20

// writeOutput runs produce, which writes one image, and puts what it wrote
// in place only when it succeeds, so a failure never leaves a partial
// output: when dst is "", produce writes to a spool that goes to standard
// output at the end (in memory up to outputBuffer, past that in a
// temporary file); else to a temporary file in dst's folder (made at the
// first byte) that is renamed to dst. It refuses to overwrite the input
// itself, and existing files unless force.
func writeOutput(dst, input string, force bool, produce func(io.Writer) error) error {
	if dst != "" {
		if input != "" && sameFile(dst, input) {
			return fmt.Errorf("output %s is the input; refusing to overwrite it", dst)
		}
		if _, err := os.Stat(dst); err == nil && !force {
			return fmt.Errorf("output %s exists (use --force to overwrite)", dst)
		}
	}
	if dst == "" {
		sp := &spool{}
		defer sp.discard()
		if err := produce(sp); err != nil {
			return err
		}
		return sp.copyTo(os.Stdout)
	}
	tmp := &lazyTemp{dir: filepath.Dir(dst), pattern: "." + filepath.Base(dst) + ".*.tmp"}
	defer tmp.discard()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := produce(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	f, err := tmp.file()
	if err != nil {
		return err
	}
	// The temporary file is private (0600); the output gets the mode a
	// plain create would give it, or keeps the one of the file it replaces.
	mode := newFileMode()
	if fi, err := os.Stat(dst); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	// On disk before it takes the output's name: a crash leaves the old
	// file or the new one, never a truncated one.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// lazyTemp is a temporary file made at the first write.
type lazyTemp struct {
	dir, pattern string
	f            *os.File
}

func (t *lazyTemp) file() (*os.File, error) {
	if t.f == nil {
		f, err := os.CreateTemp(t.dir, t.pattern)
		if err != nil {
			return nil, err
		}
		t.f = f
	}
	return t.f, nil
}

func (t *lazyTemp) Write(b []byte) (int, error) {
	f, err := t.file()
	if err != nil {
		return 0, err
	}
	return f.Write(b)
}

// discard removes the file unless it was renamed.
func (t *lazyTemp) discard() {
	if t.f != nil {
		t.f.Close()
		os.Remove(t.f.Name())
	}
}

// spool keeps what is written in memory, up to outputBuffer bytes, and
// past that in a temporary file, until copyTo.
type spool struct {
	mem  bytes.Buffer
	file lazyTemp
}

func (s *spool) Write(b []byte) (int, error) {
	if s.file.f == nil && s.mem.Len()+len(b) <= outputBuffer {
		return s.mem.Write(b)
	}
	if s.file.f == nil {
		s.file.pattern = "ipt-stdout-*.tmp"
		if _, err := s.file.Write(s.mem.Bytes()); err != nil {
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	return s.file.Write(b)
}

func (s *spool) copyTo(w io.Writer) error {
	if s.file.f == nil {
		_, err := w.Write(s.mem.Bytes())
		return err
	}
	if _, err := s.file.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.file.f)
	return err
}

func (s *spool) discard() { s.file.discard() }

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
