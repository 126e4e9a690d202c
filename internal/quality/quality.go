// Package quality measures how close a restored image is to its reference:
// PSNR as the IPT paper reports it (RGB, and Y of the difference) and the
// usual Y-channel SSIM.
package quality

import (
	"math"

	"github.com/ipt-go/ipt/internal/ipt"
)

// PSNR returns the peak signal-to-noise ratio of a against b in dB, over
// all three channels (rgb) and on the luma of the difference (y), after
// shaving shave pixels off each border. y is the authors' calc_psnr (SPEC
// §3): Y = (65.738·R + 129.057·G + 25.064·B)/256 of (a − b)/255. Identical
// images give +Inf. Images of different sizes, or a shave that leaves no
// pixel, give NaN (callers check sizes first).
func PSNR(a, b *ipt.Image, shave int) (rgb, y float64) {
	if !comparable(a, b, shave) {
		return math.NaN(), math.NaN()
	}
	n := a.H * a.W
	var sumRGB, sumY float64
	for r := shave; r < a.H-shave; r++ {
		for x := shave; x < a.W-shave; x++ {
			i := r*a.W + x
			dr := float64(a.Pix[i]) - float64(b.Pix[i])
			dg := float64(a.Pix[n+i]) - float64(b.Pix[n+i])
			db := float64(a.Pix[2*n+i]) - float64(b.Pix[2*n+i])
			sumRGB += dr*dr + dg*dg + db*db
			dy := (65.738*dr + 129.057*dg + 25.064*db) / 256 / 255
			sumY += dy * dy
		}
	}
	count := float64((a.H - 2*shave) * (a.W - 2*shave))
	rgb = 10 * math.Log10(255*255/(sumRGB/(3*count)))
	y = -10 * math.Log10(sumY/count)
	return rgb, y
}

func comparable(a, b *ipt.Image, shave int) bool {
	return a.H == b.H && a.W == b.W && shave >= 0 && a.H > 2*shave && a.W > 2*shave &&
		len(a.Pix) == ipt.Colors*a.H*a.W && len(b.Pix) == len(a.Pix)
}

// luma is the Y that SSIM is measured on: MATLAB's rgb2ycbcr on 0..255,
// 16 + (65.481·R + 128.553·G + 24.966·B)/255, not rounded, for the h×w
// window at (y0, x0).
func luma(im *ipt.Image, y0, x0, h, w int) []float64 {
	n := im.H * im.W
	out := make([]float64, h*w)
	for r := range h {
		for c := range w {
			i := (y0+r)*im.W + x0 + c
			R, G, B := float64(im.Pix[i]), float64(im.Pix[n+i]), float64(im.Pix[2*n+i])
			out[r*w+c] = 16 + (65.481*R+128.553*G+24.966*B)/255
		}
	}
	return out
}

// SSIM returns the structural similarity of a and b (Wang et al. 2004, as
// their ssim_index.m computes it) on the luma of each (MATLAB's rgb2ycbcr
// Y, 16 + (65.481·R + 128.553·G + 24.966·B)/255, not rounded), after
// shaving shave pixels off each border: local statistics under an 11×11
// Gaussian window of σ 1.5, C1 = (0.01·255)², C2 = (0.03·255)², averaged
// over the windows that lie wholly inside the image. An image smaller
// than the window after the shave, or a size mismatch, gives NaN.
func SSIM(a, b *ipt.Image, shave int) float64 {
	if !comparable(a, b, shave) {
		return math.NaN()
	}
	h, w := a.H-2*shave, a.W-2*shave
	if h < window || w < window {
		return math.NaN()
	}
	x, y := luma(a, shave, shave, h, w), luma(b, shave, shave, h, w)
	xx, yy, xy := make([]float64, h*w), make([]float64, h*w), make([]float64, h*w)
	for i := range x {
		xx[i], yy[i], xy[i] = x[i]*x[i], y[i]*y[i], x[i]*y[i]
	}
	g := gaussian()
	mx, my := blur(x, h, w, g), blur(y, h, w, g)
	sxx, syy, sxy := blur(xx, h, w, g), blur(yy, h, w, g), blur(xy, h, w, g)
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	for i := range mx {
		mu1, mu2 := mx[i], my[i]
		v1, v2, cov := sxx[i]-mu1*mu1, syy[i]-mu2*mu2, sxy[i]-mu1*mu2
		sum += (2*mu1*mu2 + c1) * (2*cov + c2) / ((mu1*mu1 + mu2*mu2 + c1) * (v1 + v2 + c2))
	}
	return sum / float64(len(mx))
}

const window = 11

// gaussian is the normalised 1-D Gaussian of σ 1.5 over 11 taps; the 2-D
// window is its outer product (MATLAB's fspecial('gaussian', 11, 1.5)).
func gaussian() []float64 {
	g := make([]float64, window)
	var sum float64
	for i := range g {
		d := float64(i - window/2)
		g[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		sum += g[i]
	}
	for i := range g {
		g[i] /= sum
	}
	return g
}

// blur filters the h×w plane p with the separable window g, keeping only
// the positions where the window lies inside p ("valid"): the result is
// (h−10)×(w−10).
func blur(p []float64, h, w int, g []float64) []float64 {
	k := len(g)
	ow, oh := w-k+1, h-k+1
	rows := make([]float64, h*ow)
	for r := range h {
		for c := range ow {
			var s float64
			for j, gj := range g {
				s += gj * p[r*w+c+j]
			}
			rows[r*ow+c] = s
		}
	}
	out := make([]float64, oh*ow)
	for r := range oh {
		for c := range ow {
			var s float64
			for j, gj := range g {
				s += gj * rows[(r+j)*ow+c]
			}
			out[r*ow+c] = s
		}
	}
	return out
}
