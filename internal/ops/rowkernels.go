package ops

// The vector row kernels of internal/asm work on a multiple of their lane
// count; these wrap one into the whole op, the remainder in the Go
// reference. Shared by every instruction set (AVX2 8 lanes, NEON 4).

// vecSoftmax is softmaxUnnormalised with the multiple-of-lanes part of the
// row in the vector maximum and exp-and-sum kernels.
func vecSoftmax(lanes int, maxK func(x []float32) float32, expSumK func(x []float32, m float32) float32) func([]float32) float32 {
	return func(x []float32) float32 {
		nv := len(x) / lanes * lanes
		if nv == 0 {
			return softmaxUnnormalised(x)
		}
		m := maxK(x[:nv])
		for _, v := range x[nv:] {
			m = max(m, v)
		}
		s := expSumK(x[:nv], m)
		for i := nv; i < len(x); i++ {
			e := expNeg(x[i] - m)
			x[i] = e
			s += e
		}
		return s
	}
}

// vecAdd is Add with the multiple-of-lanes part in the vector kernel.
func vecAdd(lanes int, k func(dst, src []float32)) func(dst, src []float32) {
	return func(dst, src []float32) {
		src = src[:len(dst)]
		nv := len(dst) / lanes * lanes
		if nv > 0 {
			k(dst[:nv], src[:nv])
		}
		addGo(dst[nv:], src[nv:])
	}
}

// vecRowScalar is an op of a row and a scalar (Scale) with the
// multiple-of-lanes part in the vector kernel k and the rest in ref.
func vecRowScalar(lanes int, k, ref func(x []float32, s float32)) func(x []float32, s float32) {
	return func(x []float32, s float32) {
		nv := len(x) / lanes * lanes
		if nv > 0 {
			k(x[:nv], s)
		}
		ref(x[nv:], s)
	}
}

// vecRowPairScalar is vecRowScalar for an op of two rows and a scalar (the
// softmax backward), y at least as long as x.
func vecRowPairScalar(lanes int, k, ref func(x, y []float32, s float32)) func(x, y []float32, s float32) {
	return func(x, y []float32, s float32) {
		y = y[:len(x)]
		nv := len(x) / lanes * lanes
		if nv > 0 {
			k(x[:nv], y[:nv], s)
		}
		ref(x[nv:], y[nv:], s)
	}
}

// vecMap3 is an element-wise op of three equal-length slices (dst, a, b:
// AddTo, ReLUBackward, ReLUBackwardTo) with the multiple-of-lanes part in
// the vector kernel k and the rest in the Go reference ref.
func vecMap3(lanes int, k, ref func(dst, a, b []float32)) func(dst, a, b []float32) {
	return func(dst, a, b []float32) {
		a, b = a[:len(dst)], b[:len(dst)]
		nv := len(dst) / lanes * lanes
		if nv > 0 {
			k(dst[:nv], a[:nv], b[:nv])
		}
		ref(dst[nv:], a[nv:], b[nv:])
	}
}

// vecAddBiasReLU is AddBiasReLU in the vector kernel when the rows are a
// multiple of lanes wide (IPT's are 4·d = 2304) and x holds whole rows,
// else in Go.
func vecAddBiasReLU(lanes int, k func(x, bias []float32)) func(x, bias []float32) {
	return func(x, bias []float32) {
		if n := len(bias); n == 0 || n%lanes != 0 || len(x)%n != 0 {
			addBiasReLUGo(x, bias)
			return
		}
		k(x, bias)
	}
}

// vecLayerNormRow is one row of LayerNorm in the vector kernel when its
// length is a multiple of lanes (IPT's d = 576), else in Go.
func vecLayerNormRow(lanes int, k func(out, x, gamma, beta []float32, eps float64)) func(out, x, gamma, beta []float32, eps float64) {
	return func(out, x, gamma, beta []float32, eps float64) {
		d := len(x)
		if d == 0 || d%lanes != 0 {
			layerNormRowGo(out, x, gamma, beta, eps)
			return
		}
		k(out[:d], x, gamma[:d], beta[:d], eps)
	}
}
