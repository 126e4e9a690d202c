package ops

// PixelShuffle rearranges in ([c·r², h, w]) into out ([c, h·r, w·r]):
// input channel c·r² + i·r + j goes to output pixel (c, y·r+i, x·r+j),
// as PyTorch's nn.PixelShuffle(r).
func PixelShuffle(out, in []float32, c, h, w, r int) {
	ow := w * r
	for ch := 0; ch < c; ch++ {
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				src := in[((ch*r+i)*r+j)*h*w:]
				for y := 0; y < h; y++ {
					dst := out[(ch*h*r+y*r+i)*ow+j:]
					row := src[y*w : (y+1)*w]
					for x, v := range row {
						dst[x*r] = v
					}
				}
			}
		}
	}
}

// Unfold cuts in ([c, h, w], h and w multiples of p) into non-overlapping
// p×p patches: token n runs row-major over the (h/p)×(w/p) grid and feature
// index is ch·p² + ky·p + kx. out is [(h/p)·(w/p), c·p·p].
func Unfold(out, in []float32, c, h, w, p int) {
	d := c * p * p
	gw := w / p
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			gy, ky := y/p, y%p
			row := in[(ch*h+y)*w : (ch*h+y+1)*w]
			for x, v := range row {
				out[(gy*gw+x/p)*d+ch*p*p+ky*p+x%p] = v
			}
		}
	}
}

// Fold is the inverse of Unfold: tokens ([(h/p)·(w/p), c·p·p]) back to [c, h, w].
func Fold(out, tokens []float32, c, h, w, p int) {
	d := c * p * p
	gw := w / p
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			gy, ky := y/p, y%p
			row := out[(ch*h+y)*w : (ch*h+y+1)*w]
			for x := range row {
				row[x] = tokens[(gy*gw+x/p)*d+ch*p*p+ky*p+x%p]
			}
		}
	}
}

// PixelShuffleBackward adds the inverse shuffle of dOut ([c, h·r, w·r]) to
// dIn ([c·r², h, w]): the backward of PixelShuffle, which only moves values.
func PixelShuffleBackward(dIn, dOut []float32, c, h, w, r int) {
	ow := w * r
	for ch := 0; ch < c; ch++ {
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				dst := dIn[((ch*r+i)*r+j)*h*w:]
				for y := 0; y < h; y++ {
					src := dOut[(ch*h*r+y*r+i)*ow+j:]
					row := dst[y*w : (y+1)*w]
					for x := range row {
						row[x] += src[x*r]
					}
				}
			}
		}
	}
}

// UnfoldBackward adds Fold(dTokens) to dIn: the backward of Unfold, a
// permutation. dTokens is [(h/p)·(w/p), c·p·p], dIn [c, h, w].
func UnfoldBackward(dIn, dTokens []float32, c, h, w, p int) {
	d := c * p * p
	gw := w / p
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			gy, ky := y/p, y%p
			row := dIn[(ch*h+y)*w : (ch*h+y+1)*w]
			for x := range row {
				row[x] += dTokens[(gy*gw+x/p)*d+ch*p*p+ky*p+x%p]
			}
		}
	}
}

// FoldBackward adds Unfold(dOut) to dTokens: the backward of Fold. dOut is
// [c, h, w], dTokens [(h/p)·(w/p), c·p·p].
func FoldBackward(dTokens, dOut []float32, c, h, w, p int) {
	d := c * p * p
	gw := w / p
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			gy, ky := y/p, y%p
			row := dOut[(ch*h+y)*w : (ch*h+y+1)*w]
			for x, v := range row {
				dTokens[(gy*gw+x/p)*d+ch*p*p+ky*p+x%p] += v
			}
		}
	}
}
