package main

import "github.com/klauspost/cpuid/v2"

// cpuName is the processor's brand string, for benchmark reports.
func cpuName() string { return cpuid.CPU.BrandName }
