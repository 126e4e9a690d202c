//go:build cuda

package main

// The GPU build's backend for train and finetune (gpu_nocuda.go is the
// default build's stand-in).

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipt-go/ipt/internal/cuda"
	"github.com/ipt-go/ipt/internal/ops"
)

// gpuBackend opens device ("cuda:N") as a backend whose GEMMs compute in
// precision (fp32, tf32, bf16), with the GPU's name and the function that
// closes it. Opening it registers it for data-parallel training (dist.Join
// joins NCCL on its stream).
func gpuBackend(device, precision string) (ops.Backend, string, func(), error) {
	m, err := cuda.ParseMath(precision)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--precision %v", err)
	}
	i, err := strconv.Atoi(strings.TrimPrefix(device, "cuda:"))
	if err != nil || !strings.HasPrefix(device, "cuda:") {
		return nil, "", nil, fmt.Errorf("%q is not a GPU", device)
	}
	be, err := cuda.NewBackend(i, m)
	if err != nil {
		return nil, "", nil, err
	}
	return be, be.Context().Device.Name, func() { be.Close() }, nil
}
