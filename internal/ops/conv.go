package ops

import (
	"fmt"
	"math"
	"sync"
)

// convScratchCap bounds the im2col buffer (in values, 16 MiB): larger
// convolutions run in bands of rows, which costs nothing measurable since each
// band is still a large GEMM.
const convScratchCap = 1 << 22

// Conv2dScratch returns the scratch length Conv2d needs for a k×k
// convolution of a cin×h×w input: the whole unrolled input, or as many rows
// of it as fit in convScratchCap (at least one).
func Conv2dScratch(cin, h, w, k int) int {
	if k == 1 {
		return 0
	}
	row := cin * k * k * w
	return row * max(1, min(h, convScratchCap/row))
}

// Conv2d computes a stride-1 k×k convolution with zero padding k/2 and bias,
// as PyTorch's nn.Conv2d(cin, cout, k, padding=k/2) does (k odd).
// in is [cin, h, w], weight [cout, cin, k, k], bias [cout] (or nil), out [cout, h, w].
// scratch (at least one unrolled row, cin·k·k·w values; Conv2dScratch gives
// a good size) is overwritten. out must not alias in.
//
// The input is unrolled (im2col) into a [cin·k·k, rows·w] matrix so each band
// of output rows is one GEMM: out[:, band] = weight · cols.
func Conv2d(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int, scratch []float32) {
	Exec{}.Conv2d(out, in, cin, h, w, weight, bias, cout, k, scratch)
}

// Conv2d is Conv2d on e's threads.
func (e Exec) Conv2d(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int, scratch []float32) {
	hw := h * w
	kk := cin * k * k
	if k == 1 {
		e.Sgemm(false, false, cout, hw, kk, 1, weight, kk, in, hw, 0, out, hw)
	} else {
		band := max(1, min(h, len(scratch)/(kk*w)))
		for y0 := 0; y0 < h; y0 += band {
			rows := min(band, h-y0)
			n := rows * w
			cols := scratch[:kk*n]
			e.im2col(cols, in, cin, h, w, k, y0, rows)
			e.Sgemm(false, false, cout, n, kk, 1, weight, kk, cols, n, 0, out[y0*w:], hw)
		}
	}
	if bias != nil {
		AddChannelBias(out[:cout*hw], bias, hw)
	}
}

// im2col writes row (c, ky, kx) of cols ([cin·k·k, rows·w]) as output rows
// y0..y0+rows of input plane c shifted by (ky-k/2, kx-k/2), zero where the
// shift leaves the image.
//
// The rows whose source row is inside the image are one stretch of the
// plane, so each (c, ky, kx) is one copy; the |dx| columns per row that the
// copy takes from the neighbouring row are then zeroed. (Copying row by row
// costs a call per 48-value row on the model's tiles, a quarter of a tiny
// model's training step.) The same values as im2colRows, the per-row form
// kept in the tests as its oracle.
func im2col(cols, in []float32, cin, h, w, k, y0, rows int) {
	pad := k / 2
	hw := h * w
	n := rows * w
	r := 0
	for c := 0; c < cin; c++ {
		plane := in[c*hw : (c+1)*hw]
		for ky := 0; ky < k; ky++ {
			dy := ky - pad
			// Output rows [ylo, yhi) read source rows y0+y+dy inside [0, h).
			ylo, yhi := max(0, -(y0+dy)), min(rows, h-(y0+dy))
			for kx := 0; kx < k; kx++ {
				dx := kx - pad
				dst := cols[r*n : (r+1)*n]
				r++
				x0, x1 := max(0, -dx), min(w, w-dx)
				if ylo >= yhi || x0 >= x1 {
					clear(dst)
					continue
				}
				clear(dst[:ylo*w+x0])
				sy := y0 + ylo + dy
				copy(dst[ylo*w+x0:(yhi-1)*w+x1], plane[sy*w+x0+dx:])
				for y := ylo; y < yhi-1; y++ { // the wrapped columns between rows
					clear(dst[y*w+x1 : (y+1)*w+x0])
				}
				clear(dst[(yhi-1)*w+x1:])
			}
		}
	}
}

// Conv2dRef is the direct seven-loop convolution, the oracle for Conv2d.
func Conv2dRef(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int) {
	pad := k / 2
	for o := 0; o < cout; o++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var s float64
				if bias != nil {
					s = float64(bias[o])
				}
				for c := 0; c < cin; c++ {
					for ky := 0; ky < k; ky++ {
						sy := y + ky - pad
						if sy < 0 || sy >= h {
							continue
						}
						for kx := 0; kx < k; kx++ {
							sx := x + kx - pad
							if sx < 0 || sx >= w {
								continue
							}
							s += float64(weight[((o*cin+c)*k+ky)*k+kx]) * float64(in[(c*h+sy)*w+sx])
						}
					}
				}
				out[(o*h+y)*w+x] = float32(s)
			}
		}
	}
}

// AddChannelBias adds bias[c] to every value of plane c of x ([len(bias), hw]).
func AddChannelBias(x, bias []float32, hw int) {
	for c, b := range bias {
		p := x[c*hw : (c+1)*hw]
		for i := range p {
			p[i] += b
		}
	}
}

// Conv2dBackward is Conv2dBackward on the package's default threads (Exec{}).
func Conv2dBackward(dIn, dWeight, dBias, dOut, in []float32, cin, h, w int, weight []float32, cout, k int, scratch []float32) {
	Exec{}.Conv2dBackward(dIn, dWeight, dBias, dOut, in, cin, h, w, weight, cout, k, scratch)
}

// Conv2dBackward is the backward of Conv2d (out = Conv2d(in, weight, bias)):
// given dOut = ∂L/∂out ([cout, h, w]) it adds ∂L/∂in to dIn ([cin, h, w]),
// ∂L/∂weight to dWeight ([cout, cin, k, k]) and ∂L/∂bias to dBias ([cout]).
// A nil gradient output is skipped. None of them may alias the inputs or
// each other. scratch is as for Conv2d (Conv2dScratch, or at least one
// unrolled row; unused when k == 1) and is overwritten.
//
// Per band of rows (the whole image when scratch holds it), two GEMMs on
// the im2col matrix cols ([cin·k·k, n]) of the forward:
//
//	dWeightᵀ = cols · dOut[:, band]ᵀ       (k dimension n = rows·w), added into dWeight
//	dCols    = weightᵀ · dOut[:, band]     (into scratch), then col2im into dIn
//
// The results do not depend on e's threads; dWeight depends on the band
// height (its sum over the image is split at band edges), so a fixed
// scratch length gives fixed bits.
func (e Exec) Conv2dBackward(dIn, dWeight, dBias, dOut, in []float32, cin, h, w int, weight []float32, cout, k int, scratch []float32) {
	hw := h * w
	kk := cin * k * k
	if dBias != nil {
		SumChannels(dBias[:cout], dOut[:cout*hw], hw)
	}
	if dIn == nil && dWeight == nil || hw == 0 {
		return
	}
	if k == 1 {
		if dWeight != nil {
			e.Sgemm(false, true, cout, cin, hw, 1, dOut, hw, in, hw, 1, dWeight, cin)
		}
		if dIn != nil {
			e.Sgemm(true, false, cin, hw, cout, 1, weight, cin, dOut, hw, 1, dIn, hw)
		}
		return
	}
	if len(scratch) < kk*w {
		panic(fmt.Sprintf("ops.Conv2dBackward: scratch has %d values, want at least %d (one unrolled row of %d×%d×%d×%d)", len(scratch), kk*w, cin, k, k, w))
	}
	var dwt []float32 // dWeightᵀ of a band, [kk, cout]
	if dWeight != nil {
		p := transposePool.Get().(*[]float32)
		defer transposePool.Put(p)
		if cap(*p) < kk*cout {
			*p = make([]float32, kk*cout)
		}
		dwt = (*p)[:kk*cout]
	}
	band := min(h, len(scratch)/(kk*w))
	for y0 := 0; y0 < h; y0 += band {
		rows := min(band, h-y0)
		n := rows * w
		cols := scratch[:kk*n]
		if dWeight != nil {
			e.im2col(cols, in, cin, h, w, k, y0, rows)
			// As dWeightᵀ = cols · dOutᵀ: cols, the large operand, is read
			// in place rather than transposed into packed slivers.
			e.Sgemm(false, true, kk, cout, n, 1, cols, n, dOut[y0*w:], hw, 0, dwt, cout)
			addTransposed(dWeight, dwt, kk, cout)
		}
		if dIn != nil {
			e.Sgemm(true, false, kk, n, cout, 1, weight, kk, dOut[y0*w:], hw, 0, cols, n)
			e.col2im(dIn, cols, cin, h, w, k, y0, rows)
		}
	}
}

// transposePool holds Conv2dBackward's dWeightᵀ buffers.
var transposePool = sync.Pool{New: func() any { return new([]float32) }}

// addTransposed adds bᵀ to a: a[j, i] += b[i, j] for b [rows, cols].
func addTransposed(a, b []float32, rows, cols int) {
	a, b = a[:rows*cols], b[:rows*cols]
	for i := 0; i < rows; i++ {
		for j, v := range b[i*cols : (i+1)*cols] {
			a[j*rows+i] += v
		}
	}
}

// col2im is the adjoint of im2col: it adds row (c, ky, kx) of cols
// ([cin·k·k, rows·w]) into input plane c of dIn shifted back by
// (ky-k/2, kx-k/2), dropping what falls outside the image. Each value of
// dIn gets its k·k terms in (ky, kx) order.
//
// As in im2col, each (c, ky, kx) is one add over a stretch of the plane:
// the entries of cols whose shift leaves the image sideways would land on
// the neighbouring row, so they are first set to −0, which adding leaves
// every value as it was (−0 included). cols is overwritten there; the
// sums are those of col2imRows, the per-row form kept in the tests.
func col2im(dIn, cols []float32, cin, h, w, k, y0, rows int) {
	pad := k / 2
	hw := h * w
	n := rows * w
	add := activeKernel.Load().add // exact, so any path gives the same bits
	negZero := float32(math.Copysign(0, -1))
	r := 0
	for c := 0; c < cin; c++ {
		plane := dIn[c*hw : (c+1)*hw]
		for ky := 0; ky < k; ky++ {
			dy := ky - pad
			ylo, yhi := max(0, -(y0+dy)), min(rows, h-(y0+dy))
			for kx := 0; kx < k; kx++ {
				dx := kx - pad
				src := cols[r*n : (r+1)*n]
				r++
				x0, x1 := max(0, -dx), min(w, w-dx)
				if ylo >= yhi || x0 >= x1 {
					continue
				}
				for y := ylo; y < yhi-1; y++ {
					for i := y*w + x1; i < (y+1)*w+x0; i++ {
						src[i] = negZero
					}
				}
				sy := y0 + ylo + dy
				lo, hi := ylo*w+x0, (yhi-1)*w+x1
				add(plane[sy*w+x0+dx:sy*w+x0+dx+hi-lo], src[lo:hi])
			}
		}
	}
}

// im2col and col2im on e's threads: channels are independent (each owns
// k·k rows of cols and one plane of the image), so they are split by
// channel, which changes no arithmetic.
func (e Exec) im2col(cols, in []float32, cin, h, w, k, y0, rows int) {
	e.byChannel(cin, h*w, k*k*rows*w, func(c0, c1 int) {
		n := rows * w
		im2col(cols[c0*k*k*n:c1*k*k*n], in[c0*h*w:c1*h*w], c1-c0, h, w, k, y0, rows)
	})
}

func (e Exec) col2im(dIn, cols []float32, cin, h, w, k, y0, rows int) {
	e.byChannel(cin, h*w, k*k*rows*w, func(c0, c1 int) {
		n := rows * w
		col2im(dIn[c0*h*w:c1*h*w], cols[c0*k*k*n:c1*k*k*n], c1-c0, h, w, k, y0, rows)
	})
}

// byChannelWork is the least number of values worth a goroutine of
// im2col or col2im (about 30µs of copying). A variable so that tests can
// split small images.
var byChannelWork = 1 << 16

// byChannel runs f over [0, cin) cut into contiguous channel ranges, one per
// goroutine, as many as e's threads and the work (per channel: perChan
// values) allow.
func (e Exec) byChannel(cin, hw, perChan int, f func(c0, c1 int)) {
	t := min(e.threads(), cin, max(1, cin*perChan/byChannelWork))
	if t <= 1 {
		f(0, cin)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < t; i++ {
		wg.Go(func() { f(cin*i/t, cin*(i+1)/t) })
	}
	f(0, cin/t)
	wg.Wait()
}

// Conv2dBackwardRef is the direct oracle for Conv2dBackward: each gradient
// value is its defining sum, accumulated in float64 and added once.
func Conv2dBackwardRef(dIn, dWeight, dBias, dOut, in []float32, cin, h, w int, weight []float32, cout, k int) {
	pad := k / 2
	if dBias != nil {
		for o := 0; o < cout; o++ {
			var s float64
			for _, v := range dOut[o*h*w : (o+1)*h*w] {
				s += float64(v)
			}
			dBias[o] += float32(s)
		}
	}
	if dWeight != nil {
		// ∂out[o,y,x]/∂weight[o,c,ky,kx] = in[c, y+ky-pad, x+kx-pad].
		for o := 0; o < cout; o++ {
			for c := 0; c < cin; c++ {
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						var s float64
						for y := 0; y < h; y++ {
							sy := y + ky - pad
							if sy < 0 || sy >= h {
								continue
							}
							for x := 0; x < w; x++ {
								sx := x + kx - pad
								if sx < 0 || sx >= w {
									continue
								}
								s += float64(dOut[(o*h+y)*w+x]) * float64(in[(c*h+sy)*w+sx])
							}
						}
						dWeight[((o*cin+c)*k+ky)*k+kx] += float32(s)
					}
				}
			}
		}
	}
	if dIn != nil {
		// in[c,sy,sx] reaches out[o, sy-ky+pad, sx-kx+pad] through weight[o,c,ky,kx].
		for c := 0; c < cin; c++ {
			for sy := 0; sy < h; sy++ {
				for sx := 0; sx < w; sx++ {
					var s float64
					for o := 0; o < cout; o++ {
						for ky := 0; ky < k; ky++ {
							y := sy - ky + pad
							if y < 0 || y >= h {
								continue
							}
							for kx := 0; kx < k; kx++ {
								x := sx - kx + pad
								if x < 0 || x >= w {
									continue
								}
								s += float64(dOut[(o*h+y)*w+x]) * float64(weight[((o*cin+c)*k+ky)*k+kx])
							}
						}
					}
					dIn[(c*h+sy)*w+sx] += float32(s)
				}
			}
		}
	}
}

// SumChannels adds the sum of plane c of x ([len(dBias), hw]) to dBias[c]:
// the backward of AddChannelBias. Sums are taken in float64.
func SumChannels(dBias, x []float32, hw int) {
	for c := range dBias {
		var s float64
		for _, v := range x[c*hw : (c+1)*hw] {
			s += float64(v)
		}
		dBias[c] += float32(s)
	}
}
