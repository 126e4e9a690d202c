//go:build purego || !(amd64 || arm64)

package asm

// HaveAsm reports whether the assembly kernels are built (amd64 or arm64
// without the purego tag). Whether the CPU can run them is for the caller to check.
const HaveAsm = false
