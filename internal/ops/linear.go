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
func AddTo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}
