package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ipt-go/ipt/internal/ops"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = ""

type versionCmd struct{}

// Run prints the version, the Go toolchain and the compute kernel in use.
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
	return nil
}
