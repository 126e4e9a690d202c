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
// cross-faded by weights that ramp linearly across each overlap.
func (r *Runner) blend(ctx context.Context, img *Image, overlap int) (*Image, error) {
	P, s := r.Model.Config.PatchSize, r.Scale()
	Ps, os := P*s, overlap*s
	ys, xs := tileStarts(img.H, P, overlap), tileStarts(img.W, P, overlap)
	var pos []point
	for _, y := range ys {
		for _, x := range xs {
			pos = append(pos, point{y, x})
		}
	}
	oh, ow := img.H*s, img.W*s
	out := NewImage(oh, ow)
	wsum := make([]float32, oh*ow)
	err := r.runTiles(ctx, img, pos, func(i int, tile []float32) {
		p := pos[i]
		wy := rampWeights(Ps, os, p.y > 0, p.y+P < img.H)
		wx := rampWeights(Ps, os, p.x > 0, p.x+P < img.W)
		oy, ox := p.y*s, p.x*s
		for y := 0; y < Ps; y++ {
			wrow := wsum[(oy+y)*ow+ox : (oy+y)*ow+ox+Ps]
			for x := range wrow {
				wrow[x] += wy[y] * wx[x]
			}
			for c := 0; c < Colors; c++ {
				src := tile[(c*Ps+y)*Ps : (c*Ps+y+1)*Ps]
				dst := out.Pix[(c*oh+oy+y)*ow+ox : (c*oh+oy+y)*ow+ox+Ps]
				for x, v := range src {
					dst[x] += wy[y] * wx[x] * v
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for c := 0; c < Colors; c++ {
		plane := out.Pix[c*oh*ow : (c+1)*oh*ow]
		for i := range plane {
			plane[i] /= wsum[i]
		}
	}
	return out, nil
}
