package ipt

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Runner restores whole images, one at a time, with one task of a model: it cuts them into
// P×P tiles, runs the tiles through the model in batches, several batches at
// once, and stitches the outputs. Results do not depend on Threads: batches
// are formed the same way whatever the thread count, and their outputs are
// stitched in tile order.
type Runner struct {
	Model   *Model
	Task    int
	Threads int // batches run at once; 0 means GOMAXPROCS
	Batch   int // tiles per forward pass; 0 means 8
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

func (r *Runner) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return 8
}

func (r *Runner) threads() int {
	if r.Threads > 0 {
		return r.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// workspace hands out a workspace from the runner's free list.
func (r *Runner) workspace() *Workspace {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.workspaces); n > 0 {
		ws := r.workspaces[n-1]
		r.workspaces = r.workspaces[:n-1]
		return ws
	}
	return r.Model.NewWorkspace(r.batch())
}

func (r *Runner) release(ws *Workspace) {
	r.mu.Lock()
	r.workspaces = append(r.workspaces, ws)
	r.mu.Unlock()
}

// point is the top-left corner of a P×P tile in input pixels.
type point struct{ y, x int }

// runTiles runs the model on the P×P crops of img at pos and calls emit for
// every tile, in the order of pos, with its output ([3, P·s, P·s], reused
// after emit returns).
func (r *Runner) runTiles(ctx context.Context, img *Image, pos []point, emit func(i int, out []float32)) error {
	c := r.Model.Config
	P, s := c.PatchSize, r.Scale()
	B, W := r.batch(), r.threads()
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
					img.crop(sl.in[(i-lo)*inPlane:(i-lo+1)*inPlane], pos[i].y, pos[i].x, P, P)
				}
				ws := r.workspace()
				defer r.release(ws)
				return r.Model.Forward(r.Task, sl.in, hi-lo, sl.out, ws)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		done := min(start+B*W, len(pos))
		for i := start; i < done; i++ {
			w, k := (i-start)/B, (i-start)%B
			emit(i, slots[w].out[k*outPlane:(k+1)*outPlane])
		}
		if r.Progress != nil {
			r.Progress(r.pass*len(pos)+done, max(1, r.passes)*len(pos))
		}
	}
	return nil
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

// Restore runs the task on a whole image of any size (≥ 1×1) and returns the
// float output, unclamped. Images smaller than a tile are mirror-padded to
// P×P and the output cropped back.
func (r *Runner) Restore(ctx context.Context, img *Image, tiling Tiling, ensemble bool) (*Image, error) {
	if img.H < 1 || img.W < 1 {
		return nil, fmt.Errorf("empty image (%d×%d)", img.W, img.H)
	}
	if !ensemble {
		r.pass, r.passes = 0, 1
		return r.restoreOnce(ctx, img, tiling)
	}
	r.pass, r.passes = 0, 8
	return r.selfEnsemble(ctx, img, tiling)
}

func (r *Runner) restoreOnce(ctx context.Context, img *Image, tiling Tiling) (*Image, error) {
	P, s := r.Model.Config.PatchSize, r.Scale()
	padded := img.padTo(P, P)
	var out *Image
	var err error
	switch tiling {
	case TilingOfficial:
		out, err = r.chop(ctx, padded)
	case TilingBlend, "":
		out, err = r.blend(ctx, padded, blendOverlap(P))
	default:
		return nil, fmt.Errorf("unknown tiling %q (want official or blend)", tiling)
	}
	if err != nil {
		return nil, err
	}
	return out.cropOut(img.H*s, img.W*s), nil
}

// selfEnsemble is the authors' forward_x8 (SPEC §3): the 8 flips and
// transposes of the input, each restored and mapped back, then averaged.
func (r *Runner) selfEnsemble(ctx context.Context, img *Image, tiling Tiling) (*Image, error) {
	v := img.flipH()
	inputs := []*Image{img, v, img.flipV(), v.flipV()}
	for i := 0; i < 4; i++ {
		inputs = append(inputs, inputs[i].transpose())
	}
	var sum *Image
	for i, in := range inputs {
		r.pass = i
		out, err := r.restoreOnce(ctx, in, tiling)
		if err != nil {
			return nil, err
		}
		if i > 3 {
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
		sum.Pix[j] /= 8
	}
	return sum, nil
}
