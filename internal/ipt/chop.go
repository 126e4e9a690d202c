package ipt

import "context"

// canvas accumulates tile outputs for the authors' tiler: the plain sum of
// every tile, and separately the sum and count of each tile's central part,
// whose average replaces the sum where the tiler says so.
type canvas struct {
	h, w          int
	sum, avg, cnt []float32 // sum, avg: [3, h, w]; cnt: [h, w]
}

func newCanvas(h, w int) *canvas {
	return &canvas{h: h, w: w, sum: make([]float32, Colors*h*w), avg: make([]float32, Colors*h*w), cnt: make([]float32, h*w)}
}

// add puts tile ([3, n, n]) at (oy, ox): the whole of it into sum, and the
// part [cy0, cy1)×[cx0, cx1) (tile coordinates) into avg.
func (cv *canvas) add(tile []float32, n, oy, ox, cy0, cy1, cx0, cx1 int) {
	for c := 0; c < Colors; c++ {
		for y := 0; y < n; y++ {
			src := tile[(c*n+y)*n : (c*n+y+1)*n]
			row := (c*cv.h + oy + y) * cv.w
			dst := cv.sum[row+ox : row+ox+n]
			for x, v := range src {
				dst[x] += v
			}
			if y < cy0 || y >= cy1 {
				continue
			}
			avg := cv.avg[row+ox : row+ox+n]
			for x := cx0; x < cx1; x++ {
				avg[x] += src[x]
			}
			if c == 0 {
				cnt := cv.cnt[(oy+y)*cv.w+ox : (oy+y)*cv.w+ox+n]
				for x := cx0; x < cx1; x++ {
					cnt[x]++
				}
			}
		}
	}
}

// resolve overwrites sum with the average of the central parts in the
// region [y0, y1)×[x0, x1).
func (cv *canvas) resolve(y0, y1, x0, x1 int) {
	for c := 0; c < Colors; c++ {
		for y := y0; y < y1; y++ {
			row := (c*cv.h + y) * cv.w
			for x := x0; x < x1; x++ {
				cv.sum[row+x] = cv.avg[row+x] / cv.cnt[y*cv.w+x]
			}
		}
	}
}

// image returns the canvas' result as an image (sharing sum).
func (cv *canvas) image() *Image { return &Image{H: cv.h, W: cv.w, Pix: cv.sum} }

// chop is the authors' test-time tiler (forward_chop), reproduced step by
// step from SPEC §3. img must be at least P×P.
func (r *Runner) chop(ctx context.Context, img *Image) (*Image, error) {
	P, s := r.Model.Config.PatchSize, r.Scale()
	t := P / 4
	h, w := img.H, img.W
	hc, wc := (h-P)%t, (w-P)%t
	H, W := h-hc, w-wc
	ni, nj := (h-P)/t+1, (w-P)/t+1
	Ps, ts := P*s, t*s

	// Every group of tiles the tiler runs, each with its canvas, where its
	// tiles land on it and which part of each tile is averaged.
	type group struct {
		cv                 *canvas
		pos, at            []point // input corner, canvas corner (output pixels)
		cy0, cy1, cx0, cx1 int
	}
	grid := &group{cv: newCanvas(H*s, W*s), cy0: ts, cy1: Ps - ts, cx0: ts, cx1: Ps - ts}
	top := &group{cv: newCanvas(Ps, W*s), cy0: 0, cy1: Ps, cx0: ts, cx1: Ps - ts}
	bottom := &group{cv: newCanvas(Ps, W*s), cy0: 0, cy1: Ps, cx0: ts, cx1: Ps - ts}
	left := &group{cv: newCanvas(H*s, Ps), cy0: ts, cy1: Ps - ts, cx0: 0, cx1: Ps}
	right := &group{cv: newCanvas(H*s, Ps), cy0: ts, cy1: Ps - ts, cx0: 0, cx1: Ps}
	corner := &group{cv: newCanvas(Ps, Ps), cy0: 0, cy1: 0}
	for i := 0; i < ni; i++ {
		for j := 0; j < nj; j++ {
			grid.pos = append(grid.pos, point{i * t, j * t})
			grid.at = append(grid.at, point{i * ts, j * ts})
		}
	}
	for j := 0; j < nj; j++ {
		top.pos = append(top.pos, point{0, j * t})
		bottom.pos = append(bottom.pos, point{h - P, j * t})
		top.at = append(top.at, point{0, j * ts})
		bottom.at = append(bottom.at, point{0, j * ts})
	}
	for i := 0; i < ni; i++ {
		left.pos = append(left.pos, point{i * t, 0})
		right.pos = append(right.pos, point{i * t, w - P})
		left.at = append(left.at, point{i * ts, 0})
		right.at = append(right.at, point{i * ts, 0})
	}
	corner.pos = []point{{h - P, w - P}}
	corner.at = []point{{0, 0}}

	groups := []*group{grid, top, bottom, left, right, corner}
	var all []point
	var owner []*group
	var index []int
	for _, g := range groups {
		for k, p := range g.pos {
			all = append(all, p)
			owner = append(owner, g)
			index = append(index, k)
		}
	}
	err := r.runTiles(ctx, img, all, func(i int, out []float32) error {
		g, k := owner[i], index[i]
		g.cv.add(out, Ps, g.at[k].y, g.at[k].x, g.cy0, g.cy1, g.cx0, g.cx1)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Strips: the averaged central bands replace the sums along the strip.
	top.cv.resolve(0, Ps, ts, W*s-ts)
	bottom.cv.resolve(0, Ps, ts, W*s-ts)
	left.cv.resolve(ts, H*s-ts, 0, Ps)
	right.cv.resolve(ts, H*s-ts, 0, Ps)
	// Grid: top strip over the first P·s rows, left strip over the first
	// P·s columns, then the averaged centre crops over the interior.
	y := grid.cv
	for c := 0; c < Colors; c++ {
		for row := 0; row < Ps; row++ {
			copy(y.sum[(c*y.h+row)*y.w:][:y.w], top.cv.sum[(c*Ps+row)*top.cv.w:][:y.w])
		}
		for row := 0; row < y.h; row++ {
			copy(y.sum[(c*y.h+row)*y.w:][:Ps], left.cv.sum[(c*y.h+row)*Ps:][:Ps])
		}
	}
	y.resolve(ts, H*s-ts, ts, W*s-ts)

	// Stitch the bottom strip under y and the right strip (with the corner
	// under it) beside it, dropping the overlap half from each side.
	a, b := (P-hc)*s/2, ((P-hc)*s+1)/2
	a2, b2 := (P-wc)*s/2, ((P-wc)*s+1)/2
	outH, outW := h*s, w*s
	out := NewImage(outH, outW)
	leftW := W*s - a2 // columns taken from y / bottom
	for c := 0; c < Colors; c++ {
		for row := 0; row < outH; row++ {
			dst := out.Pix[(c*outH+row)*outW : (c*outH+row+1)*outW]
			// Left part: y rows, then bottom-strip rows.
			if row < H*s-a {
				copy(dst[:leftW], y.sum[(c*y.h+row)*y.w:])
			} else {
				br := row - (H*s - a) + b
				copy(dst[:leftW], bottom.cv.sum[(c*Ps+br)*bottom.cv.w:])
			}
			// Right part: right-strip rows, then corner rows.
			if row < H*s-a {
				copy(dst[leftW:], right.cv.sum[(c*right.cv.h+row)*Ps+b2:][:Ps-b2])
			} else {
				br := row - (H*s - a) + b
				copy(dst[leftW:], corner.cv.sum[(c*Ps+br)*Ps+b2:][:Ps-b2])
			}
		}
	}
	return out, nil
}
