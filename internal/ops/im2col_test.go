package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// im2colRows is im2col row by row, the form it had before it copied a
// stretch of the plane at a time: the oracle for im2col's values.
func im2colRows(cols, in []float32, cin, h, w, k, y0, rows int) {
	pad := k / 2
	hw := h * w
	n := rows * w
	r := 0
	for c := 0; c < cin; c++ {
		plane := in[c*hw : (c+1)*hw]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				dy, dx := ky-pad, kx-pad
				dst := cols[r*n : (r+1)*n]
				r++
				x0, x1 := max(0, -dx), min(w, w-dx)
				for y := 0; y < rows; y++ {
					d := dst[y*w : (y+1)*w]
					sy := y0 + y + dy
					if sy < 0 || sy >= h || x0 >= x1 {
						clear(d)
						continue
					}
					clear(d[:x0])
					copy(d[x0:x1], plane[sy*w+x0+dx:sy*w+x1+dx])
					clear(d[x1:])
				}
			}
		}
	}
}

// col2imRows is col2im row by row, in plain float32 adds: the oracle for
// col2im's sums (each value of dIn gets its terms in (ky, kx) order).
func col2imRows(dIn, cols []float32, cin, h, w, k, y0, rows int) {
	pad := k / 2
	hw := h * w
	n := rows * w
	r := 0
	for c := 0; c < cin; c++ {
		plane := dIn[c*hw : (c+1)*hw]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				dy, dx := ky-pad, kx-pad
				src := cols[r*n : (r+1)*n]
				r++
				x0, x1 := max(0, -dx), min(w, w-dx)
				for y := 0; y < rows; y++ {
					sy := y0 + y + dy
					if sy < 0 || sy >= h || x0 >= x1 {
						continue
					}
					for x := x0; x < x1; x++ {
						plane[sy*w+x+dx] += src[y*w+x]
					}
				}
			}
		}
	}
}

// TestIm2colCol2imMatchRows checks that im2col and col2im give the very
// bits of their row-by-row forms, on every kernel path, for bands at the
// top, middle and bottom, images narrower and shorter than the kernel, and
// values that are −0, infinite or NaN (the −0 that col2im adds must leave
// each of them as it was).
func TestIm2colCol2imMatchRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	special := []float32{float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	withKernels(t, func(t *testing.T, kern *gemmKernel) {
		{
			for _, tc := range []struct{ cin, h, w, k, y0, rows int }{
				{1, 1, 1, 3, 0, 1}, {2, 5, 7, 3, 0, 5}, {3, 7, 5, 5, 2, 3}, {3, 7, 5, 5, 6, 1},
				{2, 4, 1, 5, 1, 2}, {1, 9, 2, 7, 0, 9}, {4, 6, 6, 1, 1, 4}, {2, 48, 48, 5, 0, 48},
				{3, 20, 33, 3, 7, 9}, {1, 2, 2, 7, 0, 2}, {2, 3, 9, 5, 1, 1},
			} {
				n := tc.cin * tc.k * tc.k * tc.rows * tc.w
				x := randSlice(rng, tc.cin*tc.h*tc.w)
				for i := range x {
					if rng.IntN(8) == 0 {
						x[i] = special[rng.IntN(len(special))]
					}
				}
				got, want := randSlice(rng, n), randSlice(rng, n) // stale values must all be overwritten
				im2col(got, x, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
				im2colRows(want, x, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
				sameBits(t, fmt.Sprintf("im2col %+v", tc), 0, got, want) // copies: every bit

				y := randSlice(rng, n)
				for i := range y {
					if rng.IntN(8) == 0 {
						y[i] = special[rng.IntN(len(special))]
					}
				}
				gotIn := randSlice(rng, len(x))
				for i := range gotIn {
					if rng.IntN(8) == 0 {
						gotIn[i] = special[rng.IntN(len(special))]
					}
				}
				wantIn := slices.Clone(gotIn)
				col2im(gotIn, slices.Clone(y), tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
				col2imRows(wantIn, y, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
				sameBits(t, fmt.Sprintf("col2im %+v", tc), len(wantIn), gotIn, wantIn)

				// All −0, where a +0 added anywhere would show.
				negZero := float32(math.Copysign(0, -1))
				for i := range y {
					y[i] = negZero
				}
				for i := range gotIn {
					gotIn[i] = negZero
				}
				col2im(gotIn, y, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
				sameBits(t, fmt.Sprintf("col2im of −0 %+v", tc), 0, gotIn, slices.Repeat([]float32{negZero}, len(gotIn)))
			}
		}
	})
}
