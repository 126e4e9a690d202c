//go:build cuda

package cuda

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/cuda/kernels"
)

// TestNVRTCKernels compiles the backend's kernels with the NVRTC found,
// for the architectures ipt runs on, with the backend's own options. NVRTC
// needs no GPU, so this runs wherever the library is (the toolkit, the
// nvidia-cuda-nvrtc wheel, Debian's libnvrtc11.2), and a kernel that NVRTC
// rejects fails here rather than on a user's GPU. It skips where no NVRTC
// is found, unless IPT_TEST_REQUIRE names nvrtc or cuda (CI, the GPU host).
func TestNVRTCKernels(t *testing.T) {
	if err := loadNVRTC(); err != nil {
		var nf *NotFoundError
		required := slices.ContainsFunc(strings.Split(os.Getenv("IPT_TEST_REQUIRE"), ","), func(s string) bool { return s == "nvrtc" || s == "cuda" })
		if errors.As(err, &nf) && !required {
			t.Skipf("no NVRTC here: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("NVRTC %s, architectures %v", nvrtcVersion(), supportedArchs())
	for _, cc := range [][2]int{{7, 0}, {8, 0}, {8, 6}, {9, 0}} {
		arch := cc[0]*10 + cc[1]
		if s := supportedArchs(); s != nil && arch < s[0] {
			continue // dropped by this NVRTC (CUDA 13 starts at sm_75)
		}
		img, err := compile(kernels.Source, "kernels.cu", cc[0], cc[1], kernelFlags())
		if err != nil {
			t.Errorf("sm_%d: %v", arch, err)
			continue
		}
		t.Logf("sm_%d: %d bytes", arch, len(img))
	}
}
