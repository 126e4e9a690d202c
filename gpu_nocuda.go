//go:build !cuda

package main

import (
	"github.com/ipt-go/ipt/internal/cuda"
	"github.com/ipt-go/ipt/internal/ops"
)

// gpuBackend is unreachable in the default build (device.check refuses a
// GPU first, with how to build one); it says the same.
func gpuBackend(device, precision string) (ops.Backend, string, func(), error) {
	return nil, "", nil, cuda.Available()
}
