// Package cuda is ipt's CUDA runtime layer: it finds the NVIDIA libraries
// (the driver, cuBLAS, NVRTC and, for several GPUs, NCCL), loads them at run
// time and binds the calls the GPU backend needs.
//
// Nothing of CUDA is needed to build ipt. With the cuda build tag the
// libraries are opened with dlopen through github.com/ebitengine/purego, so
// the binary still builds with CGO_ENABLED=0 and one binary serves every
// GPU from sm_70 to sm_90: the backend's kernels are compiled by NVRTC for
// the GPU found. Without the tag (the default build) the same entry points
// exist and report that the binary was built without GPU support; the
// default build does not import purego at all.
//
// The library search (lookup.go) is plain Go, built in both, so its order
// and its error messages are tested on machines without a GPU.
//
// Files by job:
//
//	lookup.go            where each library is searched for, and the not-found error
//	api.go               the types both builds share (DeviceInfo, Options, Math, LibraryInfo)
//	stub.go              the default build: every entry point says how to get a GPU build
//	arch.go              which architecture NVRTC compiles for (CUBIN, or PTX for a newer GPU)
//	gemmargs.go          the row-major GEMM as cuBLAS's column-major call, argument checks
//	launchargs.go        kernel arguments and launch shapes
//	dl_cuda.go           dlopen and symbol binding
//	unsafe_cuda.go       the pointer conversions, in one place
//	driver_cuda.go       the driver API's functions and its errors
//	device_cuda.go       Devices, Open, Context, Libraries
//	memory_cuda.go       device and managed memory, copies, fills
//	launch_cuda.go       modules, functions and kernel launches
//	nvrtc_cuda.go        compiling CUDA C for the device, with a cache
//	cublas_cuda.go       row-major SGEMM (plain and strided-batched) through cuBLAS
//	nccl_cuda.go         NCCL communicators and the float32 all-reduce
//	backend_cuda.go      Backend: ops.Backend as kernel launches and GEMMs on one stream
//	backend_device_cuda.go  the Backend's device on a Context (the tests use the kernels' emulator)
//	dist_cuda.go         dist.Join: data-parallel training over NCCL on a Backend's stream
package cuda
