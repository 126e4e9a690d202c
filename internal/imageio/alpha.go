package imageio

import (
	"math"

	"golang.org/x/image/draw"
)

// alphaScaler resizes an h×w alpha plane to nh×nw one output row at a time.
// It computes exactly what x/image/draw.CatmullRom.Scale computes from and
// to 16-bit grey images with draw.Src (pixel centres aligned, values clamped
// to 0..255): the plane quantized to 16 bits (so 16-bit alpha keeps its
// depth), a horizontal pass over each source row, a vertical pass over
// those, rounded to 16 bits; the same float64 operations in the same order,
// as the tests check against draw itself. Where Scale keeps the horizontal
// pass of the whole image (nw × h entries of 32 bytes, 8 to 16 bytes an
// output pixel for ×4 to ×2), this keeps only the source rows the current
// output row needs: 4 when enlarging.
type alphaScaler struct {
	src    func(y int) []float32 // row y of the [h, w] plane on 0..255
	w      int
	hd, vd distrib
	opaque []float64   // the horizontal pass of the (opaque) alpha channel of grey
	keep   []int32     // per output row, the first source row it or a later one needs
	rows   []scaledRow // consecutive source rows
	spare  [][]float64
	out    []float32
	y      int // next output row
}

// scaledRow is the horizontal pass of source row sy, nw values.
type scaledRow struct {
	sy int32
	v  []float64
}

// newAlphaScaler resizes the h×w plane whose rows src reads (each valid
// until the next call) to nh×nw.
func newAlphaScaler(src func(y int) []float32, h, w, nh, nw int) *alphaScaler {
	z := &alphaScaler{
		src: src, w: w,
		hd:  newDistrib(draw.CatmullRom, int32(nw), int32(w)),
		vd:  newDistrib(draw.CatmullRom, int32(nh), int32(h)),
		out: make([]float32, nw),
	}
	// A grey pixel reads as RGBA64 {v, v, v, 0xffff}: the colour channels
	// are equal, and the alpha channel is the same for every row.
	z.opaque = make([]float64, nw)
	for x, s := range z.hd.sources {
		var pa float64
		for _, c := range z.hd.contribs[s.i:s.j] {
			pa += float64(float64(0xffff) * c.weight)
		}
		z.opaque[x] = pa * s.invTotalWeightFFFF
	}
	// Weights that vanish are left out, so the first source row needed can
	// go back by one from an output row to the next.
	z.keep = make([]int32, nh)
	low := int32(h)
	for y := nh - 1; y >= 0; y-- {
		if s := z.vd.sources[y]; s.j > s.i {
			low = min(low, z.vd.contribs[s.i].coord)
		}
		z.keep[y] = low
	}
	return z
}

// row returns the next output row (rows come in order, 0 first), on 0..255:
// float32(v)/257 of the 16-bit result v. It is reused by the next call.
func (z *alphaScaler) row() []float32 {
	s := z.vd.sources[z.y]
	cs := z.vd.contribs[s.i:s.j]
	if len(cs) > 0 {
		z.load(cs[0].coord, cs[len(cs)-1].coord, z.keep[z.y])
	}
	z.y++
	for dx := range z.out {
		var pr, pa float64
		for _, c := range cs {
			pr += float64(z.scaled(c.coord)[dx] * c.weight)
			pa += float64(z.opaque[dx] * c.weight)
		}
		if pr > pa {
			pr = pa
		}
		z.out[dx] = float32(ftou(pr*s.invTotalWeight)) / 257
	}
	return z.out
}

// load makes z.rows hold the horizontal passes of source rows lo…hi,
// dropping those before keep.
func (z *alphaScaler) load(lo, hi, keep int32) {
	for len(z.rows) > 0 && (z.rows[0].sy < keep || z.rows[0].sy > lo) {
		z.spare = append(z.spare, z.rows[0].v)
		z.rows = z.rows[1:]
	}
	next := lo
	if n := len(z.rows); n > 0 {
		next = z.rows[n-1].sy + 1
	}
	for sy := next; sy <= hi; sy++ {
		var v []float64
		if n := len(z.spare); n > 0 {
			v, z.spare = z.spare[n-1], z.spare[:n-1]
		} else {
			v = make([]float64, len(z.out))
		}
		row := z.src(int(sy))
		for x, s := range z.hd.sources {
			var pr float64
			for _, c := range z.hd.contribs[s.i:s.j] {
				pr += float64(float64(quantize16(row[c.coord])) * c.weight)
			}
			v[x] = pr * s.invTotalWeightFFFF
		}
		z.rows = append(z.rows, scaledRow{sy, v})
	}
}

func (z *alphaScaler) scaled(sy int32) []float64 {
	return z.rows[sy-z.rows[0].sy].v
}

// distrib holds, for every destination index of one axis, the source
// indices a resampling kernel reads and their weights: sources[d] spans
// contribs[i:j]. It follows x/image/draw's resampling arithmetic step by
// step, so that a resize built on it gives draw's results to the bit.
type distrib struct {
	sources  []source
	contribs []contrib
}

// source is destination index d's span of contribs and the inverse of its
// total weight, also divided by 0xffff (draw's scale for 16-bit values).
type source struct {
	i, j               int32
	invTotalWeight     float64
	invTotalWeightFFFF float64
}

// contrib is one source index and its weight.
type contrib struct {
	coord  int32
	weight float64
}

// newDistrib spreads sw source indices over dw destination ones with kernel
// k, pixel centres aligned. Destination d samples the source at
// c = (d+½)·sw/dw − ½, reading indices within k.Support of c (widened by
// the ratio when shrinking, so that every source index is read), clipped
// to the source; each weighs k.At(|c − index|), and zero weights are left
// out.
func newDistrib(k *draw.Kernel, dw, sw int32) distrib {
	ratio := float64(sw) / float64(dw)
	reach, argScale := k.Support, 1.0
	if ratio > 1 {
		reach, argScale = k.Support*ratio, 1/ratio
	}
	var dist distrib
	dist.sources = make([]source, dw)
	for d := range dist.sources {
		c := float64((float64(d)+0.5)*ratio) - 0.5
		lo := max(int32(math.Floor(c-reach)), 0)
		hi := int32(math.Ceil(c + reach))
		if hi > sw {
			hi = max(sw, lo)
		}
		first := int32(len(dist.contribs))
		total := 0.0
		for at := lo; at < hi; at++ {
			t := math.Abs((c - float64(at)) * argScale)
			if t >= k.Support {
				continue
			}
			if w := k.At(t); w != 0 {
				total += w
				dist.contribs = append(dist.contribs, contrib{at, w})
			}
		}
		inv := 1 / total
		dist.sources[d] = source{first, int32(len(dist.contribs)), inv, inv / 0xffff}
	}
	return dist
}

// ftou rounds f·0xffff (f on 0..1) to the nearest 16-bit value, clamped,
// as draw stores a 16-bit result.
func ftou(f float64) uint16 {
	return uint16(min(max(int32(float64(0xffff*f)+0.5), 0), 0xffff))
}
