package cuda

// The types both builds share, so code that only reports on the GPU (ipt
// version, the --device check) compiles without the cuda tag.

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Index        int
	Name         string
	Major, Minor int    // compute capability
	Memory       uint64 // bytes
	SMs          int    // streaming multiprocessors
}

// Arch is the device's real architecture as NVRTC names it: sm_90.
func (d DeviceInfo) Arch() string { return fmt.Sprintf("sm_%d%d", d.Major, d.Minor) }

func (d DeviceInfo) String() string {
	return fmt.Sprintf("%d: %s (%s, %s, %d SMs)", d.Index, d.Name, d.Arch(), humanize.IBytes(d.Memory), d.SMs)
}

// Math is the arithmetic of the GEMMs.
type Math int

const (
	// FP32 is plain single precision (CUBLAS_DEFAULT_MATH, which never
	// rounds fp32 inputs to TF32): the results the CPU path is checked against.
	FP32 Math = iota
	// TF32 lets cuBLAS round the inputs to TF32 on tensor cores
	// (CUBLAS_TF32_TENSOR_OP_MATH); sums stay in fp32.
	TF32
	// BF16 lets cuBLAS round the inputs to bfloat16 on tensor cores
	// (cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF); fp32 in and out.
	BF16
)

var mathNames = [...]string{FP32: "fp32", TF32: "tf32", BF16: "bf16"}

func (m Math) String() string {
	if m < 0 || int(m) >= len(mathNames) {
		return fmt.Sprintf("Math(%d)", int(m))
	}
	return mathNames[m]
}

// ParseMath reads fp32, tf32 or bf16.
func ParseMath(s string) (Math, error) {
	for i, n := range mathNames {
		if s == n {
			return Math(i), nil
		}
	}
	return 0, fmt.Errorf("%q: want fp32, tf32 or bf16", s)
}

// Options say what Open prepares besides the context.
type Options struct {
	Source string   // CUDA C compiled with NVRTC for the device ("": none); its kernels are Context.Function's
	Name   string   // the source's name in NVRTC's messages (default "ipt.cu")
	Flags  []string // NVRTC options added to ipt's (such as "--fmad=false")
	Math   Math     // the GEMMs' arithmetic
}

// LibraryInfo is a library as ipt version reports it: where it was found
// and its version, or why it is not there.
type LibraryInfo struct {
	Library Library
	Path    string
	Version string // the file's (FileVersion), and the API's own where it was loaded
	Err     error
}

// DevicePtr is an address in device memory (CUdeviceptr, cuda.h: an
// unsigned long long on 64-bit Linux).
type DevicePtr uint64

// UniqueID identifies an NCCL communicator (nccl.h's ncclUniqueId, 128
// bytes): made by one rank, sent to the others over the rendezvous.
type UniqueID [128]byte
