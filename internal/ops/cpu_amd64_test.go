//go:build !purego

package ops

import (
	"testing"

	"github.com/klauspost/cpuid/v2"
)

func TestTuneAVX512(t *testing.T) {
	cases := []struct {
		name         string
		vendor       cpuid.Vendor
		family       int
		l1d, l2      int
		mc, kc, nc   int
		tuningPrefix string
	}{
		{"zen5", cpuid.AMD, 0x1a, 48 << 10, 1 << 20, zen5Tuning.mc, zen5Tuning.kc, zen5Tuning.nc, "Zen 5"},
		{"zen5 caches unknown", cpuid.AMD, 0x1a, -1, 0, zen5Tuning.mc, zen5Tuning.kc, zen5Tuning.nc, "Zen 5"},
		{"zen5 small L1D", cpuid.AMD, 0x1a, 32 << 10, 1 << 20, zen5Tuning.mc, zen5Tuning.kc * 2 / 3 &^ 15, zen5Tuning.nc, "Zen 5, KC cut"},
		{"zen5 small L2", cpuid.AMD, 0x1a, 48 << 10, 512 << 10, zen5Tuning.mc / 2 / 12 * 12, zen5Tuning.kc, zen5Tuning.nc, "Zen 5, MC cut"},
		{"zen4", cpuid.AMD, 0x19, 32 << 10, 1 << 20, zen4Tuning.mc, zen4Tuning.kc, zen4Tuning.nc, "Zen 4"},
		{"intel", cpuid.Intel, 6, 48 << 10, 2 << 20, intelTuning.mc, intelTuning.kc, intelTuning.nc, "Intel"},
		{"unknown", cpuid.VIA, 6, 16 << 10, 256 << 10, 144, 256, 4096, ""},
	}
	for _, c := range cases {
		k := *avx512Kernel
		k.mc, k.kc, k.nc, k.tuning = 144, 256, 4096, ""
		tuneAVX512(&k, c.vendor, c.family, c.l1d, c.l2)
		if k.mc != c.mc || k.kc != c.kc || k.nc != c.nc || k.tuning[:len(c.tuningPrefix)] != c.tuningPrefix {
			t.Errorf("%s: got mc %d kc %d nc %d (%s), want %d %d %d (%s…)",
				c.name, k.mc, k.kc, k.nc, k.tuning, c.mc, c.kc, c.nc, c.tuningPrefix)
		}
		if k.mc%k.mr != 0 || k.kc%4 != 0 || k.nc%k.nr != 0 {
			t.Errorf("%s: mc %d kc %d nc %d not multiples of mr %d, 4, nr %d", c.name, k.mc, k.kc, k.nc, k.mr, k.nr)
		}
	}
	t.Logf("this CPU: %s family %#x, L1D %d, L2 %d: avx512 mc %d kc %d nc %d (%s)",
		cpuid.CPU.VendorID, cpuid.CPU.Family, cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2,
		avx512Kernel.mc, avx512Kernel.kc, avx512Kernel.nc, avx512Kernel.tuning)
}
