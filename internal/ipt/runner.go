package ipt

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ipt-go/ipt/internal/ops"
)

// Runner restores whole images, one at a time, with one task of a model: it cuts them into
// P×P tiles, runs the tiles through the model in batches, several batches at
// once, and stitches the outputs. Results do not depend on Threads: batches
// are formed the same way whatever the thread count, and their outputs are
// stitched in tile order.
type Runner struct {
	Model   *Model
	Task    int
	Threads int // cores to use; 0 means GOMAXPROCS
	Batch   int // most tiles per forward pass; 0 means DefaultBatch
	// MemLimit, if positive, bounds the bytes of tile buffers and workspaces
	// (the weights and image buffers not included): fewer tiles then run at
	// once. Restore fails if not even one tile fits. On a Backend other than
	// the CPU it bounds the device memory of the tile buffers and the
	// workspace instead, and the batch grows to what fits (see plan).
	MemLimit int64
	// Backend, if not nil or an ops.CPU, runs the forward passes: the model's
	// weights must be on it (Model.MoveTo). One goroutine then feeds it
	// batches as large as Batch or MemLimit allow (DefaultDeviceBatch when
	// neither is set), cropping the next batch and handing on the last one's
	// outputs while the device runs. Tiling, stitching and the
	// self-ensemble stay on the host, the same arithmetic as on the CPU.
	Backend ops.Backend
	// Progress, if set, is called after each round of batches with the
	// tiles done so far and the total for the image being restored (all
	// eight passes of the self-ensemble together).
	Progress func(done, total int)

	mu         sync.Mutex
	workspaces []*Workspace
	pass       int // self-ensemble pass under way, and how many there are
	passes     int
}

// Scale is the task's upscaling factor.
func (r *Runner) Scale() int { return r.Model.Config.Scales[r.Task] }

// DefaultBatch is the default number of tiles per forward pass: 1024 token
// rows per GEMM, enough to run the kernels at full speed, at ≈ 45 MB of
// workspace per batch at the released size.
const DefaultBatch = 4

// DefaultDeviceBatch is the most tiles per forward pass on a Backend other
// than the CPU when neither Batch nor MemLimit is set: 16,384 token rows
// per GEMM, 0.7–0.8 GiB of device memory at the released size (11–12 MiB a
// tile, deviceBatchBytes).
const DefaultDeviceBatch = 64

// maxDeviceBatch bounds the batch on a device whatever MemLimit allows:
// beyond it a GPU gains nothing and a forward pass gets long between
// progress reports.
const maxDeviceBatch = 1024

func (r *Runner) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return DefaultBatch
}

func (r *Runner) threads() int {
	if r.Threads > 0 {
		return r.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// workspace hands out a workspace for batch tiles from the runner's free
// list, or a new one.
func (r *Runner) workspace(batch int) *Workspace {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ws := range r.workspaces {
		if ws.Batch >= batch && ws.owner == r.Model && ws.be == r.Model.be {
			r.workspaces = append(r.workspaces[:i], r.workspaces[i+1:]...)
			return ws
		}
	}
	// All too small: let them go rather than hoard memory.
	for _, ws := range r.workspaces {
		ws.Free()
	}
	r.workspaces = nil
	return r.Model.NewWorkspace(batch)
}

// Close frees the workspaces the runner keeps for the next image: on a
// device, the memory goes back to it. The runner may be used again after.
func (r *Runner) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ws := range r.workspaces {
		ws.Free()
	}
	r.workspaces = nil
}

// device is the backend the forward passes run on, nil for the CPU, after
// checking the model's weights are there.
func (r *Runner) device() (ops.Backend, error) {
	var dev ops.Backend
	if !isCPU(r.Backend) {
		dev = r.Backend
	}
	if r.Model.be != dev {
		name := func(b ops.Backend) string {
			if b == nil {
				return "the CPU"
			}
			return fmt.Sprintf("a %T", b)
		}
		return nil, fmt.Errorf("the model's weights are on %s, the runner's backend is %s: move them with Model.MoveTo", name(r.Model.be), name(dev))
	}
	return dev, nil
}

func (r *Runner) release(ws *Workspace) {
	r.mu.Lock()
	r.workspaces = append(r.workspaces, ws)
	r.mu.Unlock()
}

// plan splits n tiles over the cores: with enough tiles, one batch per core
// at a time, each GEMM on one thread (the cheapest way to use every core,
// as attention and the element-wise ops parallelise with it); with fewer
// tiles than cores, smaller batches and the spare cores inside the GEMMs.
// Tile outputs do not depend on the batch size or the GEMM thread count
// (TestParityBatchInvariance and the ops tests check it), so neither does
// the result.
//
// On a device (a Backend other than the CPU), one worker runs batches of
// up to Batch tiles, or as many as MemLimit leaves room for (at most
// maxDeviceBatch), or DefaultDeviceBatch without either, evened out over
// the fewest batches that take n tiles.
func (r *Runner) plan(n int) (batch, workers int, exec ops.Exec, err error) {
	if !isCPU(r.Backend) {
		batch, err = r.planDevice(n)
		return batch, 1, exec, err
	}
	T := r.threads()
	workers = max(1, min(T, n))
	batch = max(1, min(r.batch(), (n+workers-1)/workers))
	if r.MemLimit > 0 {
		for r.batchBytes(batch)*int64(workers) > r.MemLimit {
			switch {
			case batch > 1:
				batch--
			case workers > 1:
				workers--
			default:
				return 0, 0, exec, fmt.Errorf("memory budget too small: one tile needs %d MiB on top of the weights and image", r.batchBytes(1)>>20)
			}
		}
	}
	return batch, workers, ops.Exec{Threads: max(1, T/workers)}, nil
}

func (r *Runner) planDevice(n int) (int, error) {
	limit := DefaultDeviceBatch
	switch {
	case r.Batch > 0:
		limit = r.Batch
	case r.MemLimit > 0:
		limit = maxDeviceBatch
	}
	batch := max(1, min(limit, n))
	if r.MemLimit > 0 && r.deviceBatchBytes(batch) > r.MemLimit {
		// The largest batch that fits: lo fits (0 trivially), hi does not.
		lo, hi := 0, batch
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; r.deviceBatchBytes(mid) <= r.MemLimit {
				lo = mid
			} else {
				hi = mid
			}
		}
		if lo == 0 {
			return 0, fmt.Errorf("device memory budget too small: one tile needs %d MiB on top of the weights", r.deviceBatchBytes(1)>>20)
		}
		batch = lo
	}
	batches := max(1, (n+batch-1)/batch)
	return max(1, (n+batches-1)/batches), nil
}

// ImageBytes estimates the memory restoring src with Stream takes besides
// the weights and the tile workers. Streamed (see Streams): src as it is
// held (src.Bytes(): 12 bytes a pixel for float planes, as little as 1 for
// a compact 8-bit grey image), its padded float copy when it is smaller
// than a tile, and the band buffers (sums and weights of the P·s output
// rows a tile row touches, and the band handed on), which grow with the
// width only. Otherwise: src, the input as float planes and their flips,
// the tiler's whole-image output canvases and the result.
func (r *Runner) ImageBytes(src Source, tiling Tiling, ens Ensemble) int64 {
	s := int64(r.Scale())
	sh, sw := src.Size()
	h, w := int64(sh), int64(sw)
	in := int64(Colors) * h * w * 4
	_, floats := src.(*Image)
	if Streams(tiling, ens) {
		P := int64(r.Model.Config.PatchSize)
		n := src.Bytes()
		if h < P || w < P {
			if !floats {
				n += in // ImageOf's copy, which padTo copies again
			}
			h, w = max(h, P), max(w, P)
			n += Colors * h * w * 4
		}
		Ps := P * s
		return n + 4*(Colors+1)*Ps*w*s + 4*Colors*Ps*int64(sw)*s
	}
	out := in * s * s
	n := 2*in + 6*out // the authors' tiler keeps sum, average and count canvases
	if !floats {
		n += src.Bytes() // the compact image stays, for the alpha plane
	}
	if ens != NoEnsemble {
		n += 4*in + 2*out // the flipped inputs and the running sum
	}
	return n
}

// TileBytes is the least memory the tile workers take: one worker running
// one tile (on a device: the device memory of a batch of one). A MemLimit
// below it fails Restore and Stream.
func (r *Runner) TileBytes() int64 {
	if !isCPU(r.Backend) {
		return r.deviceBatchBytes(1)
	}
	return r.batchBytes(1)
}

// batchBytes is the memory one worker running batch tiles takes: its
// workspace, its tile input and output buffers, and GEMM packing buffers.
func (r *Runner) batchBytes(batch int) int64 {
	c := r.Model.Config
	P, s := int64(c.PatchSize), int64(r.Scale())
	tiles := int64(batch) * 4 * Colors * (P*P + P*s*P*s)
	const gemmPacking = 5 << 20
	return c.WorkspaceBytes(batch) + tiles + gemmPacking
}

// deviceBatchBytes is the device memory a batch of batch tiles takes on a
// Backend other than the CPU: the workspace, the attention scores of every
// (tile, head) pair at once (the most a device's attention scratch keeps),
// the input tiles and two sets of output tiles (one filled while the host
// reads the other).
func (r *Runner) deviceBatchBytes(batch int) int64 {
	c := r.Model.Config
	P, s, L := int64(c.PatchSize), int64(r.Scale()), int64(c.SeqLen())
	scores := int64(batch) * int64(c.NumHeads) * (L*L + L)
	tiles := int64(batch) * Colors * (P*P + 2*P*s*P*s)
	return c.WorkspaceBytes(batch) + 4*(scores+tiles)
}

// point is the top-left corner of a P×P tile in input pixels.
type point struct{ y, x int }

// runTiles runs the model on the P×P crops of img at pos and calls emit for
// every tile, in the order of pos, with its output ([3, P·s, P·s], reused
// after emit returns). An error from emit stops the run and is returned.
func (r *Runner) runTiles(ctx context.Context, img Source, pos []point, emit func(i int, out []float32) error) error {
	c := r.Model.Config
	P, s := c.PatchSize, r.Scale()
	dev, err := r.device()
	if err != nil {
		return err
	}
	B, W, exec, err := r.plan(len(pos))
	if err != nil {
		return err
	}
	if dev != nil {
		if len(pos) == 0 {
			return nil
		}
		return r.runTilesOn(ctx, dev, B, img, pos, emit)
	}
	inPlane, outPlane := Colors*P*P, Colors*P*s*P*s
	type slot struct{ in, out []float32 }
	slots := make([]slot, W)
	for i := range slots {
		slots[i] = slot{make([]float32, B*inPlane), make([]float32, B*outPlane)}
	}
	for start := 0; start < len(pos); start += B * W {
		g, gctx := errgroup.WithContext(ctx)
		for w := 0; w < W; w++ {
			lo := start + w*B
			if lo >= len(pos) {
				break
			}
			hi := min(lo+B, len(pos))
			sl := slots[w]
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				for i := lo; i < hi; i++ {
					img.Crop(sl.in[(i-lo)*inPlane:(i-lo+1)*inPlane], pos[i].y, pos[i].x, P, P)
				}
				ws := r.workspace(B)
				defer r.release(ws)
				ws.Exec = exec
				return r.Model.Forward(r.Task, sl.in, hi-lo, sl.out, ws)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		done := min(start+B*W, len(pos))
		for i := start; i < done; i++ {
			w, k := (i-start)/B, (i-start)%B
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(i, slots[w].out[k*outPlane:(k+1)*outPlane]); err != nil {
				return err
			}
		}
		if r.Progress != nil {
			r.Progress(r.pass*len(pos)+done, max(1, r.passes)*len(pos))
		}
	}
	return nil
}

// runTilesOn is runTiles on a device, in batches of B tiles from one
// goroutine: while the device runs batch k, the host crops batch k+1 into
// a host buffer and hands on the outputs of batch k-1; after each Sync it
// copies the next crops into the device's input buffer and queues their
// forward pass into the other of two output buffers.
func (r *Runner) runTilesOn(ctx context.Context, dev ops.Backend, B int, img Source, pos []point, emit func(i int, out []float32) error) (err error) {
	c := r.Model.Config
	P, s, n := c.PatchSize, r.Scale(), len(pos)
	inPlane, outPlane := Colors*P*P, Colors*P*s*P*s
	stage := make([]float32, B*inPlane)
	in := dev.Alloc(B * inPlane)
	outs := [2][]float32{dev.Alloc(B * outPlane), dev.Alloc(B * outPlane)}
	ws := r.workspace(B)
	defer func() {
		// Nothing still queued may use what goes back.
		if serr := dev.Sync(); serr != nil && err == nil {
			err = serr
		}
		r.release(ws)
		dev.Free(in)
		dev.Free(outs[0])
		dev.Free(outs[1])
	}()
	crop := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			img.Crop(stage[(i-lo)*inPlane:(i-lo+1)*inPlane], pos[i].y, pos[i].x, P, P)
		}
	}
	// hand emits the outputs of tiles lo … hi-1, read from out after a Sync
	// that followed their forward pass.
	hand := func(lo, hi int, out []float32) error {
		for i := lo; i < hi; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(i, out[(i-lo)*outPlane:(i-lo+1)*outPlane]); err != nil {
				return err
			}
		}
		if r.Progress != nil {
			r.Progress(r.pass*n+hi, max(1, r.passes)*n)
		}
		return nil
	}
	crop(0, min(B, n))
	var prev []float32 // the outputs of the batch before, prevLo … lo-1
	prevLo := 0
	for k, lo := 0, 0; lo < n; k, lo = k+1, lo+B {
		hi := min(lo+B, n)
		if err := ctx.Err(); err != nil {
			return err
		}
		// The last batch is done: in is free and its outputs readable.
		if err := dev.Sync(); err != nil {
			return err
		}
		copy(in, stage[:(hi-lo)*inPlane])
		if err := r.Model.Forward(r.Task, in, hi-lo, outs[k%2], ws); err != nil {
			return err
		}
		if hi < n {
			crop(hi, min(hi+B, n))
		}
		if prev != nil {
			if err := hand(prevLo, lo, prev); err != nil {
				return err
			}
		}
		prev, prevLo = outs[k%2], lo
	}
	if err := dev.Sync(); err != nil {
		return err
	}
	return hand(prevLo, n, prev)
}

// ForwardTiles runs n independent P×P tiles (in: [n, 3, P, P]) through the
// model exactly as a restoration does — same batches, same threads — and
// writes their outputs to out ([n, 3, P·s, P·s]). It is what benchmarks time.
func (r *Runner) ForwardTiles(ctx context.Context, in []float32, n int, out []float32) error {
	P, s := r.Model.Config.PatchSize, r.Scale()
	// The tiles side by side form a P × n·P image.
	strip := NewImage(P, n*P)
	pos := make([]point, n)
	for i := range pos {
		pos[i] = point{0, i * P}
		for c := 0; c < Colors; c++ {
			for y := 0; y < P; y++ {
				copy(strip.Pix[(c*P+y)*n*P+i*P:][:P], in[((i*Colors+c)*P+y)*P:][:P])
			}
		}
	}
	outPlane := Colors * P * s * P * s
	r.pass, r.passes = 0, 1
	return r.runTiles(ctx, strip, pos, func(i int, tile []float32) error {
		copy(out[i*outPlane:(i+1)*outPlane], tile)
		return nil
	})
}

// Tiling names a way of cutting an image into tiles.
type Tiling string

const (
	// TilingOfficial is the authors' forward_chop: stride P/4, exact (SPEC §3).
	TilingOfficial Tiling = "official"
	// TilingBlend uses a small overlap and a linear cross-fade: ≈16× fewer
	// tile passes than the official tiler and no visible seams.
	TilingBlend Tiling = "blend"
)

// Ensemble says how many transformed copies of the input a restoration
// averages (SPEC §3's self-ensemble, the paper's IPT+).
type Ensemble int

const (
	// NoEnsemble restores the input once.
	NoEnsemble Ensemble = iota
	// EnsembleFlips averages the 4 flips (none, left-right, up-down, both)
	// without transposes: for models that only saw near-vertical rain,
	// which a transpose turns sideways.
	EnsembleFlips
	// EnsembleX8 is the authors' forward_x8: the 4 flips and their
	// transposes.
	EnsembleX8
)

// String names e as the flag that asks for it.
func (e Ensemble) String() string {
	switch e {
	case NoEnsemble:
		return "none"
	case EnsembleFlips:
		return "flips"
	case EnsembleX8:
		return "x8"
	}
	return fmt.Sprintf("Ensemble(%d)", int(e))
}

// passes is how many restorations the ensemble runs.
func (e Ensemble) passes() int {
	switch e {
	case EnsembleFlips:
		return 4
	case EnsembleX8:
		return 8
	}
	return 1
}

// Restore runs the task on a whole image of any size (≥ 1×1) and returns the
// float output, unclamped. Images smaller than a tile are mirror-padded to
// P×P and the output cropped back.
func (r *Runner) Restore(ctx context.Context, img *Image, tiling Tiling, ens Ensemble) (*Image, error) {
	if err := checkRestore(img.H, img.W, tiling); err != nil {
		return nil, err
	}
	if ens < NoEnsemble || ens > EnsembleX8 {
		return nil, fmt.Errorf("unknown self-ensemble %v", ens)
	}
	r.pass, r.passes = 0, ens.passes()
	if ens != NoEnsemble {
		return r.selfEnsemble(ctx, img, tiling, ens)
	}
	return r.restoreOnce(ctx, img, tiling)
}

// Streams says whether [Runner.Stream] hands the output on while the tiles
// run, holding only a band of it: with the blend tiler and no self-ensemble.
// The authors' tiler and the self-ensemble compute the whole output first.
func Streams(tiling Tiling, ens Ensemble) bool {
	return ens == NoEnsemble && (tiling == TilingBlend || tiling == "")
}

// Stream restores src as Restore does and hands the output to yield in
// bands of whole rows, top to bottom: each band is [3, band.H, w·s] for a
// source w pixels wide, reused once yield returns. When Streams(tiling,
// ens), bands come out as the tiles run, reading each tile's crop from
// src as it goes (src need not be float planes, see Source), and only about
// P·s rows of output are held; otherwise src is converted to whole float
// planes (ImageOf), the whole output is computed and handed on as one band.
// An error from yield stops the restoration and is returned.
func (r *Runner) Stream(ctx context.Context, src Source, tiling Tiling, ens Ensemble, yield func(band *Image) error) error {
	if !Streams(tiling, ens) {
		out, err := r.Restore(ctx, ImageOf(src), tiling, ens)
		if err != nil {
			return err
		}
		return yield(out)
	}
	h, w := src.Size()
	if err := checkRestore(h, w, tiling); err != nil {
		return err
	}
	r.pass, r.passes = 0, 1
	P, s := r.Model.Config.PatchSize, r.Scale()
	if h < P || w < P {
		src = ImageOf(src).padTo(P, P)
	}
	return r.blend(ctx, src, blendOverlap(P), h*s, w*s, yield)
}

func checkRestore(h, w int, tiling Tiling) error {
	if h < 1 || w < 1 {
		return fmt.Errorf("empty image (%d×%d)", w, h)
	}
	switch tiling {
	case TilingOfficial, TilingBlend, "":
		return nil
	}
	return fmt.Errorf("unknown tiling %q (want official or blend)", tiling)
}

// restoreOnce restores img into a whole output image.
func (r *Runner) restoreOnce(ctx context.Context, img *Image, tiling Tiling) (*Image, error) {
	P, s := r.Model.Config.PatchSize, r.Scale()
	padded := img.padTo(P, P)
	if tiling == TilingOfficial {
		out, err := r.chop(ctx, padded)
		if err != nil {
			return nil, err
		}
		return out.cropOut(img.H*s, img.W*s), nil
	}
	out := NewImage(img.H*s, img.W*s)
	y := 0
	err := r.blend(ctx, padded, blendOverlap(P), out.H, out.W, func(b *Image) error {
		for c := 0; c < Colors; c++ {
			copy(out.Pix[(c*out.H+y)*out.W:][:b.H*b.W], b.Pix[c*b.H*b.W:][:b.H*b.W])
		}
		y += b.H
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// selfEnsemble is the authors' forward_x8 (SPEC §3) for EnsembleX8: the 8
// flips and transposes of the input, each restored and mapped back, then
// averaged in that order; EnsembleFlips takes the first 4 (no transposes).
// Each transpose is made when its pass starts, and each flip let go after
// its last use.
func (r *Runner) selfEnsemble(ctx context.Context, img *Image, tiling Tiling, ens Ensemble) (*Image, error) {
	v := img.flipH()
	flips := []*Image{img, v, img.flipV(), v.flipV()}
	n := ens.passes()
	var sum *Image
	for i := range n {
		r.pass = i
		in := flips[i%4]
		if i >= 4 {
			in = in.transpose()
		}
		if i+4 >= n {
			flips[i%4] = nil
		}
		out, err := r.restoreOnce(ctx, in, tiling)
		if err != nil {
			return nil, err
		}
		if i >= 4 {
			out = out.transpose()
		}
		if i%4 >= 2 {
			out = out.flipV()
		}
		if i%2 == 1 {
			out = out.flipH()
		}
		if sum == nil {
			sum = out
			continue
		}
		for j, v := range out.Pix {
			sum.Pix[j] += v
		}
	}
	for j := range sum.Pix {
		sum.Pix[j] /= float32(n)
	}
	return sum, nil
}
