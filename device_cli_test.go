package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/cuda"
)

// --device on every command that computes: parsed in one place, and a GPU
// asked of a binary without GPU code is one line saying how to build one;
// the GPU build opens the device (here pointed at an empty library path,
// so the driver is missing, unless the system's folders hold one): train
// and finetune to run there, the others (until their backend is wired) to
// say they do not run there. --precision other than fp32 needs the GPU.
func TestDeviceFlag(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "in.png")
	writePNG(t, img, 8, 8, false)
	data := trainImages(t, 2, 30, 30)
	ckpt := filepath.Join(dir, "a.safetensors")
	commands := map[string][]string{
		"sr":       {"sr", "-x", "2", img},
		"denoise":  {"denoise", "--sigma", "30", img},
		"derain":   {"derain", img},
		"eval":     {"eval", "--task", "sr2", "--data", dir},
		"bench":    {"bench"},
		"train":    {"train", "--data", data, "-o", ckpt},
		"finetune": {"finetune", "--data", data, "--task", "sr2", "--weights", "builtin", "-o", ckpt},
	}
	env := []string{"LD_LIBRARY_PATH=" + t.TempDir()}
	for name, args := range commands {
		for _, gpu := range [][]string{{"--device", "cuda"}, {"--device", "cuda:1"}, {"--tag", "cuda"}} {
			if gpu[0] == "--tag" && name != "train" && name != "finetune" {
				continue
			}
			r := runIPT(t, nil, env, append(args, gpu...)...)
			msg := strings.TrimSpace(string(r.stderr))
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "ipt: ") {
				t.Errorf("ipt %s %s: not one line:\n%s", name, strings.Join(gpu, " "), msg)
			}
			switch {
			case !cuda.Built:
				if r.code != 2 || msg != `ipt: ipt was built without GPU support: rebuild with "go build -tags cuda" to use --device cuda` {
					t.Errorf("ipt %s %s: exit %d, %s", name, strings.Join(gpu, " "), r.code, msg)
				}
			case r.code != 1 || !(strings.Contains(msg, "not found") || strings.Contains(msg, "cannot load") || strings.Contains(msg, "does not run on the GPU yet") || strings.Contains(msg, "cuInit")):
				t.Errorf("ipt %s %s: exit %d, %s", name, strings.Join(gpu, " "), r.code, msg)
			}
		}
	}
	for _, prec := range []string{"tf32", "bf16"} {
		r := runIPT(t, nil, nil, append(commands["train"], "--precision", prec)...)
		if want := "ipt: --precision " + prec + " needs --device cuda: the CPU computes in fp32"; r.code != 2 || strings.TrimSpace(string(r.stderr)) != want {
			t.Errorf("train --precision %s on the CPU: exit %d, %s", prec, r.code, r.stderr)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:x", "CPU"} {
		r := runIPT(t, nil, nil, "sr", "-x", "2", img, "--device", bad)
		if r.code != 2 || !strings.Contains(string(r.stderr), "want cpu, cuda or cuda:N") {
			t.Errorf("--device %s: exit %d, %s", bad, r.code, r.stderr)
		}
	}
}

func TestVersionGPULine(t *testing.T) {
	r := runIPT(t, nil, []string{"LD_LIBRARY_PATH=" + t.TempDir()}, "version")
	out := string(r.stdout)
	if r.code != 0 {
		t.Fatalf("ipt version: exit %d %s", r.code, r.stderr)
	}
	if !cuda.Built && !strings.Contains(out, "\nGPU: not in this build (go build -tags cuda)\n") {
		t.Errorf("ipt version:\n%s", out)
	}
	if cuda.Built && (!strings.Contains(out, "GPU library: ") || !strings.Contains(out, "\nGPU")) {
		t.Errorf("ipt version:\n%s", out)
	}
}

// The default build has no GPU code: purego (and with it the dynamic
// loader) only comes with -tags cuda, so the default binary stays static.
func TestDefaultBuildHasNoPurego(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=") // no -tags from the environment
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	if strings.Contains(string(out), "github.com/ebitengine/purego") {
		t.Error("the default build imports purego; only the cuda build may")
	}
	cmd = exec.Command("go", "list", "-deps", "-tags", "cuda", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err = cmd.Output(); err != nil || !strings.Contains(string(out), "github.com/ebitengine/purego") {
		t.Errorf("the cuda build does not import purego (%v)", err)
	}
}
