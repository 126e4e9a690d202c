// Package emu runs the CUDA kernels of internal/cuda/kernels on the CPU,
// for tests on machines without a GPU: cuda_emu.h defines just enough of
// CUDA C for kernels.cu to compile as C++, and emu_main.cpp runs one kernel
// launch per process on buffers passed as files. Build needs g++ (C++20).
package emu

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed src/cuda_emu.h
var header string

//go:embed src/emu_main.cpp
var mainSource string

// Flags are the compiler flags of the emulator: no FMA contraction and no
// fast-math, so every float operation rounds on its own, as the kernels'
// __f*_rn intrinsics do on the GPU; no _FORTIFY_SOURCE, whose longjmp
// check rejects the emulator's jumps between stacks.
var Flags = []string{"-std=c++20", "-O1", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wno-unused-function", "-U_FORTIFY_SOURCE"}

// Emulator is a built emulator binary.
type Emulator struct {
	bin, dir string
	runs     int
}

// Build writes source (the kernels' CUDA C), the emulator and a registry of
// the kernels named into dir and compiles them with the g++ at gxx.
func Build(gxx, dir, source string, kernels []string) (*Emulator, error) {
	var reg strings.Builder
	for _, k := range kernels {
		fmt.Fprintf(&reg, "KERNEL(%s)\n", k)
	}
	files := map[string]string{"cuda_emu.h": header, "emu_main.cpp": mainSource, "kernels.cu": source, "registry.inc": reg.String()}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	bin := filepath.Join(dir, "emu")
	args := append(append([]string{}, Flags...), "-o", bin, filepath.Join(dir, "emu_main.cpp"))
	if out, err := exec.Command(gxx, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("emu: %s %s: %v\n%s", gxx, strings.Join(args, " "), err, out)
	}
	return &Emulator{bin: bin, dir: dir}, nil
}

// SyntaxCheck compiles source as C++ through the emulator header without
// building anything (g++ -fsyntax-only), the closest check to NVRTC's that
// needs no CUDA toolkit.
func SyntaxCheck(gxx, dir, source string) error {
	h, cu := filepath.Join(dir, "cuda_emu.h"), filepath.Join(dir, "syntax.cu")
	if err := os.WriteFile(h, []byte(header), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(cu, []byte(source), 0o644); err != nil {
		return err
	}
	args := append(append([]string{}, Flags...), "-Wextra", "-Werror", "-fsyntax-only", "-include", h, "-x", "c++", cu)
	if out, err := exec.Command(gxx, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("emu: %s %s: %v\n%s", gxx, strings.Join(args, " "), err, out)
	}
	return nil
}

// Run launches kernel with grid blocks of block threads on args; with
// checkGrid > 0 it also runs it on copies of the buffers on checkGrid
// blocks, each block's threads in reverse order, and fails unless every
// buffer comes out the same (see emu_main.cpp). The args are in the kernel's parameter order:
// []float32 and []float64 are device buffers, copied in and, after the
// launch, copied back into the same slices (a nil slice is a null
// pointer, and a slice passed twice is one buffer); int64 is an i64, float32 a float, float64 a double.
func (e *Emulator) Run(kernel string, grid, block, checkGrid int64, args ...any) error {
	e.runs++
	cmd := []string{kernel, strconv.FormatInt(grid, 10), strconv.FormatInt(block, 10), strconv.FormatInt(checkGrid, 10)}
	paths := make([]string, len(args))
	for i, a := range args {
		path := filepath.Join(e.dir, fmt.Sprintf("arg%d.bin", i))
		var spec string
		var err error
		if j := sameBuffer(args[:i], a); j >= 0 {
			cmd = append(cmd, fmt.Sprintf("alias:%d", j))
			continue
		}
		switch v := a.(type) {
		case []float32:
			if v == nil {
				spec = "null"
				break
			}
			spec, paths[i] = "f32:"+path, path
			err = writeBuf(path, v)
		case []float64:
			if v == nil {
				spec = "null"
				break
			}
			spec, paths[i] = "f64:"+path, path
			err = writeBuf(path, v)
		case int64:
			spec = "i64:" + strconv.FormatInt(v, 10)
		case float32:
			spec = "f32v:" + strconv.FormatUint(uint64(math.Float32bits(v)), 16)
		case float64:
			spec = "f64v:" + strconv.FormatUint(math.Float64bits(v), 16)
		default:
			return fmt.Errorf("emu: %s argument %d is %T, want []float32, []float64, int64, float32 or float64", kernel, i, a)
		}
		if err != nil {
			return err
		}
		cmd = append(cmd, spec)
	}
	var stderr bytes.Buffer
	c := exec.Command(e.bin, cmd...)
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("emu: %s: %v: %s", strings.Join(cmd, " "), err, strings.TrimSpace(stderr.String()))
	}
	for i, a := range args {
		if paths[i] == "" {
			continue
		}
		var err error
		switch v := a.(type) {
		case []float32:
			err = readBuf(paths[i], v)
		case []float64:
			err = readBuf(paths[i], v)
		}
		if err != nil {
			return fmt.Errorf("emu: %s argument %d: %v", kernel, i, err)
		}
	}
	return nil
}

// sameBuffer returns the index of the argument in prev that is the same
// non-empty slice as a, or -1.
func sameBuffer(prev []any, a any) int {
	for j, p := range prev {
		switch v := a.(type) {
		case []float32:
			if w, ok := p.([]float32); ok && len(v) > 0 && len(v) == len(w) && &v[0] == &w[0] {
				return j
			}
		case []float64:
			if w, ok := p.([]float64); ok && len(v) > 0 && len(v) == len(w) && &v[0] == &w[0] {
				return j
			}
		}
	}
	return -1
}

// Runs is the number of launches made.
func (e *Emulator) Runs() int { return e.runs }

func writeBuf[T float32 | float64](path string, v []T) error {
	var b bytes.Buffer
	b.Grow(len(v) * 8)
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readBuf[T float32 | float64](path string, v []T) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var t T
	if want := len(v) * binary.Size(t); len(raw) != want {
		return fmt.Errorf("%d bytes back, want %d", len(raw), want)
	}
	return binary.Read(bytes.NewReader(raw), binary.LittleEndian, v)
}
