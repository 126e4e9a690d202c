package synth

import (
	"math/rand/v2"

	"github.com/ipt-go/ipt/internal/ipt"
)

// AddNoise returns img plus white Gaussian noise of standard deviation
// sigma (on 0..255), clipped to [0, 255] and not rounded, as the denoising
// benchmarks make their inputs (SPEC §3). The values are drawn from rng in
// the order of img.Pix (plane by plane, row by row).
func AddNoise(img *ipt.Image, sigma float64, rng *rand.Rand) *ipt.Image {
	out := ipt.NewImage(img.H, img.W)
	for i, v := range img.Pix {
		out.Pix[i] = float32(min(max(float64(v)+sigma*rng.NormFloat64(), 0), 255))
	}
	return out
}
