package cuda

import "testing"

func TestPickArch(t *testing.T) {
	nvrtc124 := []int{50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}
	for _, c := range []struct {
		arch      int
		supported []int
		want      string
	}{
		{70, nvrtc124, "--gpu-architecture=sm_70"},       // V100: a CUBIN
		{90, nvrtc124, "--gpu-architecture=sm_90"},       // H100/H200
		{100, nvrtc124, "--gpu-architecture=compute_90"}, // newer than this NVRTC: PTX the driver compiles
		{88, nvrtc124, "--gpu-architecture=compute_87"},  // unknown in between: the newest below
		{80, nil, "--gpu-architecture=sm_80"},            // NVRTC before 11.2 cannot list: try the real one
	} {
		got, err := pickArch(c.arch, c.supported)
		if err != nil || got.option() != c.want {
			t.Errorf("pickArch(%d) = %s, %v; want %s", c.arch, got.option(), err, c.want)
		}
	}
	_, err := pickArch(35, nvrtc124)
	if want := "it compiles for sm_50 to sm_90, not for this GPU's sm_35"; err == nil || err.Error() != want {
		t.Errorf("pickArch(35): %v, want %s", err, want)
	}
}
