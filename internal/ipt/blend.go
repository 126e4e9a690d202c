package ipt

import "context"

// blendOverlap is the default overlap of neighbouring tiles for the blend
// tiler: P/6 (8 pixels at P = 48), enough for a seamless cross-fade while
// costing only ≈ 1.4× the tile passes of no overlap at all.
func blendOverlap(P int) int { return max(1, P/6) }

// tileStarts lays tiles of size P with at least overlap o along a side of n
// ≥ P pixels: stride P−o from 0, the last tile flush with the end.
func tileStarts(n, P, o int) []int {
	starts := []int{0}
	for last := 0; last+P < n; {
		last = min(last+P-o, n-P)
		starts = append(starts, last)
	}
	return starts
}

// rampWeights gives the blend weight of each of the n = P·s output pixels of
// a tile along one axis: 1 inside, a linear ramp over the os pixels that face
// a neighbouring tile (fadeIn at the start, fadeOut at the end).
func rampWeights(n, os int, fadeIn, fadeOut bool) []float32 {
	wt := make([]float32, n)
	for i := range wt {
		v := float32(1)
		if fadeIn && i < os {
			v = min(v, float32(i+1)/float32(os+1))
		}
		if fadeOut && n-1-i < os {
			v = min(v, float32(n-i)/float32(os+1))
		}
		wt[i] = v
	}
	return wt
}

// blend restores img (at least P×P) with overlapping tiles whose outputs are
// cross-faded by weights that ramp linearly across each overlap, and hands
// the top-left oh×ow part of the output to yield in bands of whole rows, top
// to bottom, as the tiles run.
//
// Tile rows run top to bottom; once tile row i is done, output rows
// [ys[i]·s, ys[i+1]·s) can change no more, since every later tile row starts
// at or below ys[i+1]. So only the P·s rows the current tile row touches are
// held (sums and weights), and each finished band is normalised and handed
// on. Every output value gets the same float additions in the same order as
// on a whole-image canvas (tiles in row-major order), so the result does not
// depend on how the output is cut into bands.
func (r *Runner) blend(ctx context.Context, img Source, overlap, oh, ow int, yield func(band *Image) error) error {
	P, s := r.Model.Config.PatchSize, r.Scale()
	Ps, os := P*s, overlap*s
	H, W := img.Size()
	ys, xs := tileStarts(H, P, overlap), tileStarts(W, P, overlap)
	pos := make([]point, 0, len(ys)*len(xs))
	for _, y := range ys {
		for _, x := range xs {
			pos = append(pos, point{y, x})
		}
	}
	cw := W * s                          // canvas width
	sum := make([]float32, Colors*Ps*cw) // [3, Ps, cw]: output rows top … top+Ps
	wsum := make([]float32, Ps*cw)       // [Ps, cw]
	band := NewImage(Ps, ow)
	top := 0 // the output row at the canvas' first row
	return r.runTiles(ctx, img, pos, func(i int, tile []float32) error {
		p := pos[i]
		wy := rampWeights(Ps, os, p.y > 0, p.y+P < H)
		wx := rampWeights(Ps, os, p.x > 0, p.x+P < W)
		oy, ox := p.y*s-top, p.x*s
		for y := 0; y < Ps; y++ {
			wrow := wsum[(oy+y)*cw+ox : (oy+y)*cw+ox+Ps]
			for x := range wrow {
				wrow[x] += wy[y] * wx[x]
			}
			for c := 0; c < Colors; c++ {
				src := tile[(c*Ps+y)*Ps : (c*Ps+y+1)*Ps]
				dst := sum[(c*Ps+oy+y)*cw+ox : (c*Ps+oy+y)*cw+ox+Ps]
				for x, v := range src {
					dst[x] += wy[y] * wx[x] * v
				}
			}
		}
		if (i+1)%len(xs) != 0 {
			return nil
		}
		// The last tile of tile row k: rows top … next are final.
		k := i / len(xs)
		next := H * s
		if k+1 < len(ys) {
			next = ys[k+1] * s
		}
		if n := min(next, oh) - top; n > 0 { // the rest is padding
			b := &Image{H: n, W: ow, Pix: band.Pix[:Colors*n*ow]}
			for c := 0; c < Colors; c++ {
				for y := 0; y < n; y++ {
					src := sum[(c*Ps+y)*cw:][:ow]
					wrow := wsum[y*cw:][:ow]
					dst := b.Pix[(c*n+y)*ow:][:ow]
					for x, v := range src {
						dst[x] = v / wrow[x]
					}
				}
			}
			if err := yield(b); err != nil {
				return err
			}
		}
		// Move the rows below next up to the canvas' top, clear the rest.
		keep := top + Ps - next
		for c := 0; c < Colors; c++ {
			plane := sum[c*Ps*cw : (c+1)*Ps*cw]
			copy(plane, plane[(next-top)*cw:])
			clear(plane[keep*cw:])
		}
		copy(wsum, wsum[(next-top)*cw:])
		clear(wsum[keep*cw:])
		top = next
		return nil
	})
}
