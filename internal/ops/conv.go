package ops

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
			im2col(cols, in, cin, h, w, k, y0, rows)
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
func im2col(cols, in []float32, cin, h, w, k, y0, rows int) {
	pad := k / 2
	hw := h * w
	n := rows * w
	r := 0
	for c := 0; c < cin; c++ {
		plane := in[c*hw : (c+1)*hw]
		for ky := 0; ky < k; ky++ {
			dy := ky - pad
			for kx := 0; kx < k; kx++ {
				dx := kx - pad
				dst := cols[r*n : (r+1)*n]
				r++
				// Columns x with 0 <= x+dx < w are copied; the rest are zero.
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
