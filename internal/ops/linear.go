package ops

import "math"

// Linear computes out = x·Wᵀ + b for m rows, as PyTorch's nn.Linear does.
// x is [m, in], weight [outDim, in], bias [outDim] (or nil), out [m, outDim].
func Linear(out, x []float32, m, in int, weight, bias []float32, outDim int) {
	Exec{}.Linear(out, x, m, in, weight, bias, outDim)
}

// Linear is Linear on e's threads.
func (e Exec) Linear(out, x []float32, m, in int, weight, bias []float32, outDim int) {
	e.Sgemm(false, true, m, outDim, in, 1, x, in, weight, in, 0, out, outDim)
	if bias != nil {
		AddRowBias(out[:m*outDim], bias)
	}
}

// LinearRef is the float64-accumulating oracle for Linear.
func LinearRef(out, x []float32, m, in int, weight, bias []float32, outDim int) {
	for i := 0; i < m; i++ {
		for o := 0; o < outDim; o++ {
			var s float64
			if bias != nil {
				s = float64(bias[o])
			}
			for j := 0; j < in; j++ {
				s += float64(x[i*in+j]) * float64(weight[o*in+j])
			}
			out[i*outDim+o] = float32(s)
		}
	}
}

// AddRowBias adds bias to every row of x ([len(x)/len(bias), len(bias)]).
func AddRowBias(x, bias []float32) {
	n := len(bias)
	for r := 0; r+n <= len(x); r += n {
		row := x[r : r+n]
		for j, b := range bias {
			row[j] += b
		}
	}
}

// ReLU replaces negative values of x by zero in place. It clears values
// whose sign bit is set instead of branching: the signs of activations are
// unpredictable, and a mispredicted branch per value cost 8% of a forward.
func ReLU(x []float32) {
	for i, v := range x {
		b := math.Float32bits(v)
		x[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
	}
}

// Add computes dst[i] += src[i].
func Add(dst, src []float32) { activeKernel.Load().add(dst, src) }

// AddBiasReLU adds bias to every row of x ([len(x)/len(bias), len(bias)])
// and applies ReLU: the bias and activation of a linear layer in one pass.
func AddBiasReLU(x, bias []float32) { activeKernel.Load().addBiasReLU(x, bias) }

func addBiasReLUGo(x, bias []float32) {
	AddRowBias(x, bias)
	ReLU(x)
}

func addGo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// AddTo computes dst[i] = a[i] + b[i].
func AddTo(dst, a, b []float32) { activeKernel.Load().addTo(dst, a, b) }

func addToGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// LinearBackward is LinearBackward on the package's default threads (Exec{}).
func LinearBackward(dX, dWeight, dBias, dOut, x []float32, m, in int, weight []float32, outDim int) {
	Exec{}.LinearBackward(dX, dWeight, dBias, dOut, x, m, in, weight, outDim)
}

// LinearBackward is the backward of Linear (out = x·Wᵀ + b): given dOut =
// ∂L/∂out ([m, outDim]) it adds
//
//	dX      += dOut·W        [m, in]
//	dWeight += dOutᵀ·x       [outDim, in]
//	dBias   += Σ rows of dOut [outDim]
//
// skipping nil outputs. None of them may alias the inputs or each other.
// The results do not depend on e's threads.
func (e Exec) LinearBackward(dX, dWeight, dBias, dOut, x []float32, m, in int, weight []float32, outDim int) {
	if dX != nil {
		e.Sgemm(false, false, m, in, outDim, 1, dOut, outDim, weight, in, 1, dX, in)
	}
	if dWeight != nil {
		e.Sgemm(true, false, outDim, in, m, 1, dOut, outDim, x, in, 1, dWeight, in)
	}
	if dBias != nil {
		SumRows(dBias[:outDim], dOut[:m*outDim])
	}
}

// LinearBackwardRef is the float64-accumulating oracle for LinearBackward:
// each gradient value is its defining sum, added once. (A row of sums at a
// time, so the loops run along rows.)
func LinearBackwardRef(dX, dWeight, dBias, dOut, x []float32, m, in int, weight []float32, outDim int) {
	acc := make([]float64, max(in, outDim))
	if dX != nil {
		// dX[i, :] = Σ_o dOut[i, o]·weight[o, :]
		for i := 0; i < m; i++ {
			a := acc[:in]
			clear(a)
			for o := 0; o < outDim; o++ {
				g := float64(dOut[i*outDim+o])
				for j, v := range weight[o*in : (o+1)*in] {
					a[j] += g * float64(v)
				}
			}
			for j, s := range a {
				dX[i*in+j] += float32(s)
			}
		}
	}
	if dWeight != nil {
		// dWeight[o, :] = Σ_i dOut[i, o]·x[i, :]
		for o := 0; o < outDim; o++ {
			a := acc[:in]
			clear(a)
			for i := 0; i < m; i++ {
				g := float64(dOut[i*outDim+o])
				for j, v := range x[i*in : (i+1)*in] {
					a[j] += g * float64(v)
				}
			}
			for j, s := range a {
				dWeight[o*in+j] += float32(s)
			}
		}
	}
	if dBias != nil {
		// dBias = Σ_i dOut[i, :]
		a := acc[:outDim]
		clear(a)
		for i := 0; i < m; i++ {
			for o, v := range dOut[i*outDim : (i+1)*outDim] {
				a[o] += float64(v)
			}
		}
		for o, s := range a {
			dBias[o] += float32(s)
		}
	}
}

// ReLUBackward adds dOut[i] to dX[i] where y[i] > 0, y being the ReLU's
// output: the backward of ReLU (and of the ReLU in AddBiasReLU). dX may be
// dOut itself (the same slice), and then the gradient is masked in place:
// dX[i] = 0 where y[i] ≤ 0, unchanged elsewhere (adding dOut to itself
// would double it). Any other overlap is not allowed.
func ReLUBackward(dX, dOut, y []float32) { activeKernel.Load().reluBackward(dX, dOut, y) }

// ReLUBackwardTo sets dst to the gradient through a ReLU of output y:
// dst[i] = 0 + dOut[i] where y[i] > 0 and 0 elsewhere, the same bits as
// clearing dst and calling ReLUBackward(dst, dOut, y), in one pass. dst
// may be dOut; no other overlap.
func ReLUBackwardTo(dst, dOut, y []float32) { activeKernel.Load().reluBackwardTo(dst, dOut, y) }

// reluBackwardToGo is ReLUBackwardTo in Go.
func reluBackwardToGo(dst, dOut, y []float32) {
	dOut, y = dOut[:len(dst)], y[:len(dst)]
	var zero float32 // a variable: 0 + x is not x for x = −0
	for i, v := range y {
		if v > 0 {
			dst[i] = zero + dOut[i]
		} else {
			dst[i] = 0
		}
	}
}

// reluBackwardGo is ReLUBackward in Go, the reference of the vector kernels.
func reluBackwardGo(dX, dOut, y []float32) {
	dOut, y = dOut[:len(dX)], y[:len(dX)]
	if len(dX) > 0 && &dX[0] == &dOut[0] {
		for i, v := range y {
			if !(v > 0) {
				dX[i] = 0
			}
		}
		return
	}
	for i, v := range y {
		if v > 0 {
			dX[i] += dOut[i]
		}
	}
}

// SumRows adds the column sums of x ([len(x)/len(dBias), len(dBias)]) to
// dBias: the backward of AddRowBias. Each block of columns sums groups of
// sumRowsGroup rows in float32 with the vector Add, and the groups' sums in
// float64: the error stays that of a 16-term float32 sum, at the speed of
// the vector loop.
func SumRows(dBias, x []float32) {
	n := len(dBias)
	if n == 0 {
		return
	}
	rows := len(x) / n
	add := activeKernel.Load().add // exact, so any path gives the same bits
	const block = 512
	var acc [block]float64
	var part [block]float32
	for j0 := 0; j0 < n; j0 += block {
		j1 := min(n, j0+block)
		a, p := acc[:j1-j0], part[:j1-j0]
		clear(a)
		for r0 := 0; r0 < rows; r0 += sumRowsGroup {
			copy(p, x[r0*n+j0:r0*n+j1])
			for r := r0 + 1; r < min(rows, r0+sumRowsGroup); r++ {
				add(p, x[r*n+j0:r*n+j1])
			}
			for j, v := range p {
				a[j] += float64(v)
			}
		}
		for j, s := range a {
			dBias[j0+j] += float32(s)
		}
	}
}

// sumRowsGroup is how many rows SumRows adds in float32 before float64.
const sumRowsGroup = 16
