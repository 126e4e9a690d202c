package synth

import (
	"math"

	"github.com/ipt-go/ipt/internal/ipt"
)

// Downscale shrinks img by the integer factor s as MATLAB's
// imresize(img, 1/s, 'bicubic') does on a uint8 image, bit for bit (SPEC
// §3): what the SR benchmarks' LR_bicubic images are. img is first cropped
// to a multiple of s on both sides (as the benchmarks crop HR), and its
// values are taken as uint8 (rounded half away from zero, clamped to
// 0..255). The result is (H/s)×(W/s) with integer values; an image smaller
// than s on a side gives an empty image. s < 1 is taken as 1.
func Downscale(img *ipt.Image, s int) *ipt.Image {
	s = max(s, 1)
	img = ModCrop(img, s)
	return resize(img, img.H/s, img.W/s, 1/float64(s))
}

// Upscale enlarges img by the integer factor s as MATLAB's imresize(img, s,
// 'bicubic') does on a uint8 image: the "bicubic" baseline of the SR
// tables. Values are taken as uint8 as in Downscale.
func Upscale(img *ipt.Image, s int) *ipt.Image {
	s = max(s, 1)
	return resize(img, img.H*s, img.W*s, float64(s))
}

// ModCrop returns the top-left part of img whose sides are multiples of s
// (img itself when they already are): the HR image that pairs with
// Downscale(img, s).
func ModCrop(img *ipt.Image, s int) *ipt.Image {
	s = max(s, 1)
	h, w := img.H/s*s, img.W/s*s
	if h == img.H && w == img.W {
		return img
	}
	return Crop(img, 0, 0, h, w)
}

// resize is MATLAB's imresize for one scale factor on both axes: the rows
// (the first dimension) are resized first, then the columns, and, as the
// input is uint8, the intermediate image is rounded to uint8 between the
// passes.
func resize(img *ipt.Image, oh, ow int, scale float64) *ipt.Image {
	out := ipt.NewImage(oh, ow)
	if oh == 0 || ow == 0 {
		return out
	}
	ch := contributions(img.H, oh, scale)
	cw := contributions(img.W, ow, scale)
	in := make([]float64, img.H*img.W)
	mid := make([]float64, oh*img.W)
	for c := range ipt.Colors {
		for i, v := range img.Pix[c*img.H*img.W : (c+1)*img.H*img.W] {
			in[i] = toUint8(float64(v))
		}
		// Vertical pass: mid[y][x] = Σ_k w(y,k)·in[idx(y,k)][x].
		for y := range oh {
			wts, idx := ch.at(y)
			row := mid[y*img.W : (y+1)*img.W]
			for x := range row {
				var sum float64
				for k, wk := range wts {
					sum += float64(wk * in[idx[k]*img.W+x])
				}
				row[x] = toUint8(sum)
			}
		}
		// Horizontal pass.
		dst := out.Pix[c*oh*ow : (c+1)*oh*ow]
		for y := range oh {
			row := mid[y*img.W : (y+1)*img.W]
			for x := range ow {
				wts, idx := cw.at(x)
				var sum float64
				for k, wk := range wts {
					sum += float64(wk * row[idx[k]])
				}
				dst[y*ow+x] = float32(toUint8(sum))
			}
		}
	}
	return out
}

// toUint8 is MATLAB's conversion of a double to uint8: rounded half away
// from zero and saturated (NaN gives 0).
func toUint8(v float64) float64 {
	if v != v {
		return 0
	}
	return math.Round(min(max(v, 0), 255))
}

// cubic is Keys' cubic kernel with a = -0.5, written as MATLAB's imresize
// writes it (the float64 conversions keep Go from fusing into FMAs, which
// would round differently).
func cubic(x float64) float64 {
	ax := math.Abs(x)
	ax2 := float64(ax * ax)
	ax3 := float64(ax2 * ax)
	switch {
	case ax <= 1:
		return float64(1.5*ax3) - float64(2.5*ax2) + 1
	case ax <= 2:
		return float64(-0.5*ax3) + float64(2.5*ax2) - float64(4*ax) + 2
	}
	return 0
}

// weights holds, for each output index along one axis, the normalised
// weights of the n input samples it mixes and their (0-based, already
// mirrored) input indices.
type weights struct {
	n   int
	w   []float64
	idx []int
}

func (c *weights) at(i int) ([]float64, []int) {
	return c.w[i*c.n : (i+1)*c.n], c.idx[i*c.n : (i+1)*c.n]
}

// contributions is imresize's function of the same name for the cubic
// kernel, antialiased when shrinking: output x (1-based) samples the input
// at u = x/scale + 0.5·(1 − 1/scale) with the kernel widened by 1/scale
// (weights scale·cubic(scale·d)), normalised to sum 1; indices outside the
// input are mirrored (symmetric padding, the edge sample repeated).
func contributions(inLen, outLen int, scale float64) *weights {
	kernel := cubic
	width := 4.0
	if scale < 1 {
		kernel = func(x float64) float64 { return scale * cubic(float64(scale*x)) }
		width = 4 / scale
	}
	n := int(math.Ceil(width)) + 2
	c := &weights{n: n, w: make([]float64, outLen*n), idx: make([]int, outLen*n)}
	for x := range outLen {
		u := float64(float64(x+1)/scale) + float64(0.5*(1-1/scale))
		left := math.Floor(u - width/2)
		wts, idx := c.at(x)
		var sum float64
		for k := range n {
			j := left + float64(k) // 1-based input index
			wts[k] = kernel(u - j)
			sum += wts[k]
			idx[k] = ipt.Reflect(int(j)-1, inLen)
		}
		for k := range wts {
			wts[k] /= sum
		}
	}
	return c
}
