//go:build purego || !(amd64 || arm64)

package ops

import "runtime"

// platformKernels lists the assembly kernels, which this build lacks: they
// are reported as unusable so that IPT_CPU=avx2 says why it is ignored.
func platformKernels() []kernelChoice {
	why := "built with the purego tag"
	if runtime.GOARCH != "amd64" {
		why = "no assembly kernels for " + runtime.GOARCH
	}
	return []kernelChoice{
		{k: &gemmKernel{name: "avx2"}, missing: why},
		{k: &gemmKernel{name: "avx512"}, missing: why},
		{k: &gemmKernel{name: "neon"}, missing: why},
	}
}
