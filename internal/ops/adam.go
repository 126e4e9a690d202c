package ops

import "math"

// AdamCoefs are the float32 constants of one Adam update (see AdamUpdate):
// β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), ε and the step lr/(1−β1ᵗ), in the order
// the assembly kernels read them.
type AdamCoefs struct {
	B1, C1, B2, C2, BC2, Eps, Step float32
}

// AdamUpdate makes one Adam update of p from the gradients g and the moments
// m and v (all of len(p)), each operation rounded to float32 and none fused:
//
//	m[i] = β1·m[i] + (1−β1)·g[i]
//	v[i] = β2·v[i] + ((1−β2)·g[i])·g[i]
//	p[i] -= (step·m[i]) / (√v[i]/√(1−β2ᵗ) + ε)
//
// The vector kernels give the same bits as adamUpdateGo, the reference.
func AdamUpdate(p, g, m, v []float32, c AdamCoefs) { activeKernel.Load().adam(p, g, m, v, c) }

// adamUpdateGo is AdamUpdate in Go. The explicit conversions stop Go fusing
// a multiply and an add into one FMA (which it does on arm64). The square
// root is taken in float64 and rounded: for a float32 x that equals the
// correctly rounded float32 square root (53 ≥ 2·24+2 bits, so the double
// rounding is innocuous), which is what VSQRTPS computes.
func adamUpdateGo(p, g, m, v []float32, c AdamCoefs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gi := g[i]
		mi := float32(c.B1*m[i]) + float32(c.C1*gi)
		vi := float32(c.B2*v[i]) + float32(float32(c.C2*gi)*gi)
		m[i], v[i] = mi, vi
		denom := float32(float32(math.Sqrt(float64(vi)))/c.BC2) + c.Eps
		p[i] -= float32(float32(c.Step*mi) / denom)
	}
}
