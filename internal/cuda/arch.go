package cuda

// Which architecture NVRTC compiles for, decided in plain Go (both builds)
// so the rule is tested without a GPU.

import "fmt"

// archTarget is an NVRTC target: a real architecture (sm_XY, compiled to a
// CUBIN) or a virtual one (compute_XY, compiled to PTX that the driver
// compiles for the GPU when the module loads).
type archTarget struct {
	arch  int // major*10 + minor: 70, 86, 90, 100
	cubin bool
}

func (t archTarget) name() string {
	if t.cubin {
		return fmt.Sprintf("sm_%d", t.arch)
	}
	return fmt.Sprintf("compute_%d", t.arch)
}

func (t archTarget) option() string { return "--gpu-architecture=" + t.name() }

// pickArch chooses the target for a GPU of architecture arch, given the
// real architectures NVRTC supports (ascending; nil when it cannot list
// them, and then sm_XY is tried): the GPU's own when NVRTC knows it, else
// PTX for the newest below it, which serves a GPU newer than this NVRTC.
func pickArch(arch int, supported []int) (archTarget, error) {
	if len(supported) == 0 {
		return archTarget{arch: arch, cubin: true}, nil
	}
	best := -1
	for _, a := range supported {
		if a == arch {
			return archTarget{arch: arch, cubin: true}, nil
		}
		if a < arch {
			best = a
		}
	}
	if best < 0 {
		return archTarget{}, fmt.Errorf("it compiles for sm_%d to sm_%d, not for this GPU's sm_%d", supported[0], supported[len(supported)-1], arch)
	}
	return archTarget{arch: best, cubin: false}, nil
}
