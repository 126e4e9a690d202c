package synth

import (
	"math"
	"math/rand/v2"

	"github.com/ipt-go/ipt/internal/ipt"
)

// The rain generator's ranges, each drawn once per image. They are
// calibrated so that rainy-vs-clean PSNR (Y) over Rain100L's clean images
// averages what the dataset's own pairs give (26.90 dB; see
// TestRainCalibration for the figure this generator gives).
const (
	rainMaxAngle   = 30 * math.Pi / 180 // streaks within ±30° of vertical
	rainMinLength  = 20                 // streak length in pixels
	rainMaxLength  = 60                 //
	rainMinDensity = 0.0020             // streaks per pixel
	rainMaxDensity = 0.0050             //
	rainMinBright  = 66                 // a streak's peak on 0..255
	rainMaxBright  = 146                //
)

// AddRain returns img with synthetic rain streaks added and the sum clipped
// to 255, in the spirit of the JORDER/Rain100L synthesis: drops at random
// positions, each motion-blurred along a common random angle (±30° from
// vertical) into a thin streak of a common random length, with a random
// density and brightness per image and a random strength per drop. A drop
// is spread along its segment with a sine profile (bright in the middle,
// fading at the ends) and softened across it by a 3-tap blur. The same
// streak layer, slightly bluish white, is added to every channel, so rain
// only ever brightens. All draws come from rng, so a seeded rng gives the
// same rain every time.
func AddRain(img *ipt.Image, rng *rand.Rand) *ipt.Image {
	h, w := img.H, img.W
	angle := (2*rng.Float64() - 1) * rainMaxAngle
	length := rainMinLength + rng.Float64()*(rainMaxLength-rainMinLength)
	density := rainMinDensity + rng.Float64()*(rainMaxDensity-rainMinDensity)
	bright := rainMinBright + rng.Float64()*(rainMaxBright-rainMinBright)
	dx, dy := math.Sin(angle), math.Cos(angle)

	// Drops are placed over the image grown by the streak's reach, so
	// streaks enter across the borders as in a real photograph.
	reachX, reachY := length/2*math.Abs(dx), length/2*dy
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
	const step = 0.5 // along the streak, in pixels
	steps := int(length / step)
	for range n {
		cx := rng.Float64()*areaW - reachX
		cy := rng.Float64()*areaH - reachY
		v := bright * (0.5 + 0.5*rng.Float64())
		for s := 0; s <= steps; s++ {
			t := float64(s)/float64(steps) - 0.5 // −½..½ along the streak
			profile := math.Cos(math.Pi * t)     // the drop's motion blur: fades at the ends
			splat(cx+t*length*dx, cy+t*length*dy, v*profile*step)
		}
	}
	// Soften across the streaks (they are near vertical: across is
	// horizontal), keeping them about two pixels wide.
	soft := make([]float64, h*w)
	for y := range h {
		row := layer[y*w : (y+1)*w]
		for x := range row {
			s := 0.7 * row[x]
			s += 0.15 * row[max(x-1, 0)]
			s += 0.15 * row[min(x+1, w-1)]
			soft[y*w+x] = s
		}
	}
	tint := [3]float64{0.96, 0.98, 1} // rain catches the sky's light
	out := ipt.NewImage(h, w)
	for c := range ipt.Colors {
		for i, v := range img.Pix[c*h*w : (c+1)*h*w] {
			out.Pix[c*h*w+i] = float32(min(float64(v)+tint[c]*soft[i], 255))
		}
	}
	return out
}
