package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/ipt-go/ipt/internal/cuda"
	"github.com/ipt-go/ipt/internal/ops"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = ""

type versionCmd struct{}

// Run prints the version, the Go toolchain, the compute kernel in use and
// the GPUs.
func (versionCmd) Run() error {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	fmt.Printf("ipt %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("kernel: %s (available: %v; IPT_CPU forces one)\n", ops.Kernel(), ops.Kernels())
	fmt.Printf("blocking: %s\n", ops.KernelBlocking())
	printGPU(os.Stdout)
	return nil
}

// printGPU lists the GPU build's libraries (where, which version) and
// GPUs, or why there are none; the default build says it has no GPU code.
func printGPU(w io.Writer) {
	if !cuda.Built {
		fmt.Fprintln(w, "GPU: not in this build (go build -tags cuda)")
		return
	}
	for _, l := range cuda.Libraries() {
		switch {
		case l.Path == "":
			fmt.Fprintf(w, "GPU library: %s\n", l.Err)
		case l.Err != nil:
			fmt.Fprintf(w, "GPU library: %s %s: %v\n", l.Library.Name, l.Path, l.Err)
		default:
			fmt.Fprintf(w, "GPU library: %s %s (%s)\n", l.Library.Name, l.Path, l.Version)
		}
	}
	devs, err := cuda.Devices()
	if err != nil {
		fmt.Fprintf(w, "GPU: none: %v\n", err)
		return
	}
	for _, d := range devs {
		fmt.Fprintf(w, "GPU %s\n", d)
	}
}
