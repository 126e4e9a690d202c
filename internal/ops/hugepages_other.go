//go:build !linux

package ops

// adviseHugePages does nothing outside Linux (see hugepages_linux.go).
func adviseHugePages([]float32) {}
