package synth

import (
	"math"
	"math/rand/v2"

	"github.com/ipt-go/ipt/internal/ipt"
)

// The rain generator's ranges. The angle, the streak length, the density,
// the brightness and the width are drawn once per image; each drop then
// draws its own strength and width around them. They are calibrated so
// that rainy-vs-clean PSNR (Y) over Rain100L's clean images averages what
// the dataset's own pairs give (26.90 dB; see TestRainCalibration for the
// figure this generator gives).
const (
	rainMaxAngle   = 30 * math.Pi / 180 // streaks within ±30° of vertical
	rainMinLength  = 20                 // streak length (the motion blur's), in pixels
	rainMaxLength  = 60                 //
	rainMinDensity = 0.0030             // drops per pixel
	rainMaxDensity = 0.0075             //
	rainMinBright  = 56                 // a full-strength streak's peak on 0..255
	rainMaxBright  = 130                //
	rainMinWidth   = 0.3                // σ of a streak's cross profile, in pixels
	rainMaxWidth   = 0.9                //
	rainThreshold  = 0.25               // levels: the part of a streak's peak cut away
)

// AddRain returns img with synthetic rain streaks added and the sum clipped
// to 255, in the spirit of the Photoshop-style synthesis of Rain100L: drops
// at random positions, each motion-blurred along a common random angle (±30°
// from vertical) and length into a streak, then a levels cut that keeps
// only what is brighter than a quarter of the image's brightness. Each drop
// draws its own strength and width, so after the cut faint drops are short
// and thin and strong ones long and wide, as in real rain. A drop is spread
// along its segment with a sine profile (bright in the middle, fading at the
// ends) and across it with a Gaussian profile. The same streak layer,
// slightly bluish white, is added to every channel, so rain only ever
// brightens. All draws come from rng, so a seeded rng gives the same rain
// every time.
func AddRain(img *ipt.Image, rng *rand.Rand) *ipt.Image {
	h, w := img.H, img.W
	between := func(lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }
	angle := (2*rng.Float64() - 1) * rainMaxAngle
	length := between(rainMinLength, rainMaxLength)
	density := between(rainMinDensity, rainMaxDensity)
	bright := between(rainMinBright, rainMaxBright)
	width := between(rainMinWidth, rainMaxWidth)
	dx, dy := math.Sin(angle), math.Cos(angle) // along the streak
	ax, ay := dy, -dx                          // across it

	// Drops are placed over the image grown by the streak's reach, so
	// streaks enter across the borders as in a real photograph.
	reachX, reachY := length/2*math.Abs(dx)+3*rainMaxWidth, length/2*dy+3*rainMaxWidth
	areaW, areaH := float64(w)+2*reachX, float64(h)+2*reachY
	n := int(math.Round(density * areaW * areaH))
	layer := make([]float64, h*w)
	splat := func(x, y, v float64) { // bilinear
		x0, y0 := math.Floor(x), math.Floor(y)
		fx, fy := x-x0, y-y0
		ix, iy := int(x0), int(y0)
		for _, p := range [4]struct {
			x, y int
			w    float64
		}{{ix, iy, (1 - fx) * (1 - fy)}, {ix + 1, iy, fx * (1 - fy)}, {ix, iy + 1, (1 - fx) * fy}, {ix + 1, iy + 1, fx * fy}} {
			if p.x >= 0 && p.x < w && p.y >= 0 && p.y < h {
				layer[p.y*w+p.x] += v * p.w
			}
		}
	}
	const step = 0.5 // along and across the streak, in pixels
	steps := int(length / step)
	var across []float64
	for range n {
		cx := rng.Float64()*areaW - reachX
		cy := rng.Float64()*areaH - reachY
		v := bright * (0.3 + 0.7*rng.Float64())
		sigma := width * (0.6 + 0.8*rng.Float64())
		// The cross profile peaks at 1, so a wider drop is a heavier one.
		k := int(math.Ceil(2.5 * sigma / step))
		across = across[:0]
		for j := -k; j <= k; j++ {
			o := float64(j) * step
			across = append(across, math.Exp(-o*o/(2*sigma*sigma))*step)
		}
		for s := 0; s <= steps; s++ {
			t := float64(s)/float64(steps) - 0.5    // −½..½ along the streak
			along := v * math.Cos(math.Pi*t) * step // the drop's motion blur: fades at the ends
			px, py := cx+t*length*dx, cy+t*length*dy
			for j, g := range across {
				o := float64(j-k) * step
				splat(px+o*ax, py+o*ay, along*g)
			}
		}
	}
	cut := rainThreshold * bright
	gain := bright / (bright - cut) // the strongest drop keeps its peak
	for i, v := range layer {
		layer[i] = max(v-cut, 0) * gain
	}
	tint := [3]float64{0.96, 0.98, 1} // rain catches the sky's light
	out := ipt.NewImage(h, w)
	for c := range ipt.Colors {
		for i, v := range img.Pix[c*h*w : (c+1)*h*w] {
			out.Pix[c*h*w+i] = float32(min(float64(v)+tint[c]*layer[i], 255))
		}
	}
	return out
}
