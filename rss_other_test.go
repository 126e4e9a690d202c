//go:build !linux

package main

import "os"

// peakRSS is the peak resident set size of a finished child; measured on
// Linux only (other systems count it in other units, or not at all).
func peakRSS(*os.ProcessState) (int64, bool) { return 0, false }
