package imageio

import (
	"image"

	"golang.org/x/image/draw"
)

// resizeAlpha resizes an h×w alpha plane to nh×nw with Catmull-Rom
// (x/image/draw.CatmullRom, pixel centres aligned, values clamped to
// 0..255). It goes through 16-bit grey so 16-bit alpha keeps its depth.
func resizeAlpha(a []float32, h, w, nh, nw int) []float32 {
	src := image.NewGray16(image.Rect(0, 0, w, h))
	for i, v := range a {
		q := quantize16(v)
		src.Pix[2*i], src.Pix[2*i+1] = byte(q>>8), byte(q)
	}
	dst := image.NewGray16(image.Rect(0, 0, nw, nh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	out := make([]float32, nh*nw)
	for i := range out {
		out[i] = float32(uint16(dst.Pix[2*i])<<8|uint16(dst.Pix[2*i+1])) / 257
	}
	return out
}
