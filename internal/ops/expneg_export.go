package ops

// ExpNeg is expNeg, exported as the oracle of the CUDA softmax kernel
// (internal/cuda/kernels), which computes it bit for bit.
func ExpNeg(x float32) float32 { return expNeg(x) }
