package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// gemmKernels returns every GEMM path this machine can run, each also in a
// variant with tiny cache blocks so that the tests cross every MC, KC and
// NC boundary on small matrices. It logs what it covered and fails when a
// path named in IPT_TEST_REQUIRE (e.g. "avx2,avx512") cannot run here.
func gemmKernels(t *testing.T) []*gemmKernel {
	t.Helper()
	var ks []*gemmKernel
	var covered, skipped []string
	for _, c := range kernelTable {
		if c.missing != "" {
			skipped = append(skipped, c.k.name+" ("+c.missing+")")
			continue
		}
		covered = append(covered, c.k.name)
		tiny := *c.k
		tiny.name += "-tinyblocks"
		tiny.mc, tiny.kc, tiny.nc = 2*c.k.mr, 12, 3*c.k.nr
		ks = append(ks, c.k, &tiny)
	}
	t.Logf("GEMM paths covered: %s; skipped: %s", strings.Join(covered, ", "), strings.Join(skipped, ", "))
	for _, want := range strings.Split(os.Getenv("IPT_TEST_REQUIRE"), ",") {
		want = strings.TrimSpace(strings.ToLower(want))
		if want == "" {
			continue
		}
		found := false
		for _, name := range covered {
			found = found || name == want
		}
		if !found {
			t.Errorf("IPT_TEST_REQUIRE=%s: path %s cannot be tested here", os.Getenv("IPT_TEST_REQUIRE"), want)
		}
	}
	return ks
}

// gemmCase is one Sgemm problem with its storage: operands start at odd
// offsets inside their slices, leading dimensions may exceed the rows, and
// everything around C holds canaries.
type gemmCase struct {
	transA, transB   bool
	m, n, k          int
	alpha, beta      float32
	lda, ldb, ldc    int
	aoff, boff, coff int
	a, b, c          []float32
}

const gemmCanary = float32(-7777.25)

func newGemmCase(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	g.lda, g.ldb, g.ldc = max(ac, 1)+pad, max(bc, 1)+pad, n+pad
	g.aoff, g.boff, g.coff = pad%5, 2*pad%7, 3
	fill := func(s []float32) {
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
	}
	g.a = make([]float32, g.aoff+ar*g.lda)
	g.b = make([]float32, g.boff+br*g.ldb)
	fill(g.a)
	fill(g.b)
	g.c = make([]float32, g.coff+m*g.ldc+5)
	for i := range g.c {
		g.c[i] = gemmCanary
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if beta == 0 {
				g.c[g.coff+i*g.ldc+j] = float32(math.NaN()) // must be overwritten, never read
			} else {
				g.c[g.coff+i*g.ldc+j] = rng.Float32()*2 - 1
			}
		}
	}
	return g
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.lda, g.ldb, g.ldc)
}

// run computes the case with the given kernel and thread count on a copy of C.
func (g *gemmCase) run(kern *gemmKernel, threads int) []float32 {
	c := append([]float32(nil), g.c...)
	sgemm(kern, threads, g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a[g.aoff:], g.lda, g.b[g.boff:], g.ldb, g.beta, c[g.coff:], g.ldc)
	return c
}

// check compares got with a float64 reference, element by element, relative
// to the magnitude of the terms summed, and checks the canaries.
func (g *gemmCase) check(t *testing.T, name string, got []float32) {
	t.Helper()
	opA := func(i, p int) float64 {
		if g.transA {
			return float64(g.a[g.aoff+p*g.lda+i])
		}
		return float64(g.a[g.aoff+i*g.lda+p])
	}
	opB := func(p, j int) float64 {
		if g.transB {
			return float64(g.b[g.boff+j*g.ldb+p])
		}
		return float64(g.b[g.boff+p*g.ldb+j])
	}
	tol := 2 * float64(g.k+3) * 0x1p-24
	bad := 0
	ldc := max(g.ldc, 1)
	for idx, v := range got {
		r, col := (idx-g.coff)/ldc, (idx-g.coff)%ldc
		if idx < g.coff || r >= g.m || col >= g.n {
			if v != gemmCanary {
				t.Fatalf("%s: %v: element %d outside C overwritten: %g", name, g, idx, v)
			}
			continue
		}
		var sum, mag float64
		for p := 0; p < g.k; p++ {
			x := opA(r, p) * opB(p, col)
			sum += x
			mag += math.Abs(x)
		}
		want := float64(g.alpha) * sum
		mag *= math.Abs(float64(g.alpha))
		if g.beta != 0 {
			cv := float64(g.c[idx])
			want += float64(g.beta) * cv
			mag += math.Abs(float64(g.beta) * cv)
		}
		if d := math.Abs(float64(v) - want); !(d <= tol*mag+1e-30) {
			if bad++; bad <= 3 {
				t.Errorf("%s: %v: C[%d][%d] = %g, want %g (error %.3g, allowed %.3g)", name, g, r, col, v, want, d, tol*mag)
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %v: %d elements wrong", name, g, bad)
	}
}

// gemmSizes returns sizes around every block boundary of kern.
func gemmSizes(kern *gemmKernel) (ms, ns, ks []int) {
	ms = []int{1, 7, 8, 9, kern.mr - 1, kern.mr, kern.mr + 1, 2*kern.mr + 1, kern.mc - 1, kern.mc, kern.mc + 1, 127}
	ns = []int{1, 15, 16, 17, kern.nr - 1, kern.nr, kern.nr + 1, 2*kern.nr + 3, 255, 257}
	ks = []int{1, 7, 8, 9, 17, kern.kc - 1, kern.kc, kern.kc + 1, 2*kern.kc + 3}
	if kern.nc < 1000 {
		ns = append(ns, kern.nc-1, kern.nc, kern.nc+1, 2*kern.nc+5)
	}
	return ms, ns, ks
}

var gemmTransposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// TestSgemmPaths runs the same cases against every path the machine has.
func TestSgemmPaths(t *testing.T) {
	defer func(w int) { gemmThreadWork = w }(gemmThreadWork)
	gemmThreadWork = 1 << 12 // let the thread split meet the edge cases
	rng := rand.New(rand.NewPCG(7, 11))
	for _, kern := range gemmKernels(t) {
		t.Run(kern.name, func(t *testing.T) {
			ms, ns, ks := gemmSizes(kern)
			cases := 0
			// Every m against a few n and k, every n against a few m and k,
			// every k against a few m and n: each boundary in each dimension,
			// in all four transpose combinations.
			var shapes [][3]int
			for _, m := range ms {
				shapes = append(shapes, [3]int{m, ns[rng.IntN(len(ns))], ks[rng.IntN(len(ks))]}, [3]int{m, 33, 19})
			}
			for _, n := range ns {
				shapes = append(shapes, [3]int{ms[rng.IntN(len(ms))], n, ks[rng.IntN(len(ks))]}, [3]int{13, n, 21})
			}
			for _, k := range ks {
				shapes = append(shapes, [3]int{ms[rng.IntN(len(ms))], ns[rng.IntN(len(ns))], k}, [3]int{kern.mr + 1, kern.nr + 1, k})
			}
			shapes = append(shapes, [3]int{0, 5, 5}, [3]int{5, 0, 5}, [3]int{5, 5, 0}, [3]int{0, 0, 0}, [3]int{255, 257, 127})
			ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 0}, {1.5, -2}, {0.25, 0.5}}
			for si, s := range shapes {
				for _, tr := range gemmTransposes {
					alpha, beta := ab[(si+cases)%len(ab)][0], ab[(si+cases)%len(ab)][1]
					g := newGemmCase(rng, tr[0], tr[1], s[0], s[1], s[2], alpha, beta, (si+cases)%4)
					g.check(t, kern.name, g.run(kern, 1+cases%3))
					cases++
				}
			}
			// alpha == 0 and k == 0 leave beta·C, without reading A or B.
			for _, beta := range []float32{0, 1, -3} {
				g := newGemmCase(rng, false, true, 9, 17, 5, 0, beta, 1)
				g.check(t, kern.name, g.run(kern, 2))
				cases++
			}
			t.Logf("%d cases", cases)
		})
	}
}

// TestSgemmThreadInvariance: the result is bit for bit the same for any
// number of threads.
func TestSgemmThreadInvariance(t *testing.T) {
	defer func(w int) { gemmThreadWork = w }(gemmThreadWork)
	gemmThreadWork = 1 // split even these small products
	rng := rand.New(rand.NewPCG(3, 5))
	shapes := [][3]int{{300, 200, 70}, {64, 576, 300}, {97, 1000, 33}, {250, 48, 256}, {1, 4000, 300}, {2000, 3, 200}}
	for _, kern := range gemmKernels(t) {
		for _, s := range shapes {
			for _, tr := range gemmTransposes {
				g := newGemmCase(rng, tr[0], tr[1], s[0], s[1], s[2], 0.75, 0.5, 3)
				ref := g.run(kern, 1)
				for _, threads := range []int{2, 3, 4, 7} {
					got := g.run(kern, threads)
					for i := range ref {
						if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("%s: %v: %d threads: element %d = %g, 1 thread gave %g", kern.name, g, threads, i, got[i], ref[i])
						}
					}
				}
			}
		}
	}
}

// TestSgemmHalfTileSameBits: the half-width tile that takes a last sliver
// of at most nr/2 columns gives the bits the full tile gives there, for every
// shape of edge (rows, columns, both), transpose and beta.
func TestSgemmHalfTileSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	tested := 0
	for _, kern := range gemmKernels(t) {
		if kern.half == nil {
			continue
		}
		full := *kern
		full.half = nil
		h := kern.nr / 2
		for _, n := range []int{1, h - 1, h, kern.nr + 1, kern.nr + h, 48, 36, 2*kern.nr + h - 3} {
			for _, m := range []int{1, kern.mr, kern.mr + 5, 256} {
				for _, tr := range gemmTransposes {
					for _, beta := range []float32{0, 1, -0.5} {
						g := newGemmCase(rng, tr[0], tr[1], m, n, 37+tested%3*100, 1.25, beta, tested%4)
						want, got := g.run(&full, 1), g.run(kern, 1+tested%2)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s: %v: element %d = %g, the full tile gives %g", kern.name, g, i, got[i], want[i])
							}
						}
						tested++
					}
				}
			}
		}
	}
	if tested == 0 {
		t.Skip("no path here has a half-width tile")
	}
}

// TestSgemmPublic checks the exported entry point, SetThreads and SetKernel.
func TestSgemmPublic(t *testing.T) {
	defer SetThreads(0)
	defer SetKernel(Kernel())
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range Kernels() {
		if err := SetKernel(name); err != nil {
			t.Fatal(err)
		}
		if Kernel() != name {
			t.Fatalf("Kernel() = %q after SetKernel(%q)", Kernel(), name)
		}
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			g := newGemmCase(rng, false, true, 130, 150, 90, 1, 0, 2)
			c := append([]float32(nil), g.c...)
			Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a[g.aoff:], g.lda, g.b[g.boff:], g.ldb, g.beta, c[g.coff:], g.ldc)
			g.check(t, name, c)
		}
	}
	if SetThreads(0); Threads() != runtime.GOMAXPROCS(0) {
		t.Errorf("Threads() = %d after SetThreads(0), want GOMAXPROCS %d", Threads(), runtime.GOMAXPROCS(0))
	}
	if err := SetKernel("sse9"); err == nil || !strings.Contains(err.Error(), "sse9") {
		t.Errorf("SetKernel(sse9) = %v, want an error naming it", err)
	}
	for _, c := range kernelTable {
		if c.missing != "" {
			before := Kernel()
			if err := SetKernel(c.k.name); err == nil || Kernel() != before {
				t.Errorf("SetKernel(%s) on a machine without it: err %v, kernel %s", c.k.name, err, Kernel())
			}
		}
	}
}

// TestSgemmConcurrent runs Sgemm from several goroutines at once.
func TestSgemmConcurrent(t *testing.T) {
	kern := activeKernel.Load()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 3 {
				g := newGemmCase(rng, i%2 == 0, w%2 == 0, 150+w, 170+i, 80, 1, 0.5, 1)
				g.check(t, kern.name, g.run(kern, 2))
			}
		}()
	}
	wg.Wait()
}

func TestSgemmNoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const m, n, k = 200, 300, 150
	a, b, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	for _, threads := range []int{1, 2} {
		Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) // warm the buffers and the pool
		allocs := testing.AllocsPerRun(20, func() {
			sgemm(activeKernel.Load(), threads, false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		})
		if allocs != 0 {
			t.Errorf("%d threads: %.1f allocations per Sgemm, want 0", threads, allocs)
		}
	}
}

func TestSgemmBadArgs(t *testing.T) {
	for _, tc := range []struct {
		want string
		call func()
	}{
		{"negative dimension", func() { Sgemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) }},
		{"leading dimension of A", func() {
			Sgemm(false, false, 2, 2, 3, 1, make([]float32, 6), 2, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}},
		{"B has 5 elements", func() {
			Sgemm(false, true, 2, 2, 3, 1, make([]float32, 6), 3, make([]float32, 5), 3, 0, make([]float32, 4), 2)
		}},
		{"C has 3 elements", func() {
			Sgemm(false, false, 2, 2, 3, 1, make([]float32, 6), 3, make([]float32, 6), 2, 0, make([]float32, 3), 2)
		}},
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.call()
		}()
	}
}

// packer is one kernel's packing helpers (nil: the Go ones).
type packer struct {
	name    string
	t8      func(dst []float32, ldd int, src []float32, lds, n int)
	slivers func(dst, src []float32, ld, rows, n, w int)
}

func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const ld = 141
	src := make([]float32, 60*ld)
	for i := range src {
		src[i] = rng.Float32()
	}
	packers := []packer{{name: "go"}}
	for _, c := range kernelTable {
		if c.missing == "" && (c.k.transpose8 != nil || c.k.copySlivers != nil) {
			packers = append(packers, packer{c.k.name, c.k.transpose8, c.k.copySlivers})
		}
	}
	for _, p := range packers {
		for _, w := range []int{4, 6, 8, 12, 16, 32} {
			testPackW(t, src, ld, w, p)
		}
	}
}

func testPackW(t *testing.T, src []float32, ld, w int, p packer) {
	for _, rows := range []int{1, 5, 7, 8, 10, 11, 12, 13, 16, 17, 21, 23, 33} {
		for _, cols := range []int{1, 3, 8, 16, 19, 27, 32, 48, 70, 96} {
			r0, c0 := 11, 7
			sl := (rows + w - 1) / w
			dst := make([]float32, sl*w*cols)
			for i := range dst {
				dst[i] = -1
			}
			packRows(dst, src, ld, r0, rows, c0, cols, w, p.t8)
			for s := 0; s < sl; s++ {
				for c := 0; c < cols; c++ {
					for i := 0; i < w; i++ {
						want := float32(0)
						if s*w+i < rows {
							want = src[(r0+s*w+i)*ld+c0+c]
						}
						if got := dst[s*cols*w+c*w+i]; got != want {
							t.Fatalf("packRows(%s) w=%d rows=%d cols=%d: sliver %d (%d,%d) = %g, want %g", p.name, w, rows, cols, s, c, i, got, want)
						}
					}
				}
			}
			// packCols with the roles swapped: slivers of w columns.
			cl := (cols + w - 1) / w
			dst = make([]float32, cl*w*rows)
			for i := range dst {
				dst[i] = -1
			}
			packCols(dst, src, ld, r0, rows, c0, cols, w, p.slivers)
			for s := 0; s < cl; s++ {
				for r := 0; r < rows; r++ {
					for j := 0; j < w; j++ {
						want := float32(0)
						if s*w+j < cols {
							want = src[(r0+r)*ld+c0+s*w+j]
						}
						if got := dst[s*rows*w+r*w+j]; got != want {
							t.Fatalf("packCols(%s) w=%d rows=%d cols=%d: sliver %d (%d,%d) = %g, want %g", p.name, w, rows, cols, s, r, j, got, want)
						}
					}
				}
			}
		}
	}
}

func TestGemmSplit(t *testing.T) {
	defer func(w int) { gemmThreadWork = w }(gemmThreadWork)
	for _, kern := range gemmKernels(t) {
		for i, s := range [][3]int{{2048, 2304, 576}, {64, 2304, 1600}, {256, 256, 48}, {256, 48, 256}, {5, 5, 5}, {6, 16, 1 << 20}} {
			gemmThreadWork = 1 << (i % 3 * 10) // 1, 1K, 1M
			for threads := 1; threads <= 8; threads++ {
				tm, tn := gemmSplit(kern, threads, false, true, s[0], s[1], s[2])
				if tm < 1 || tn < 1 || tm*tn > threads {
					t.Fatalf("%s: gemmSplit(%d threads, %v) = %d×%d", kern.name, threads, s, tm, tn)
				}
				// The parts tile C exactly.
				covered := 0
				for i := 0; i < tm; i++ {
					for j := 0; j < tn; j++ {
						i0, i1 := splitRange(s[0], kern.mr, tm, i)
						j0, j1 := splitRange(s[1], kern.nr, tn, j)
						if i0%kern.mr != 0 || j0%kern.nr != 0 {
							t.Fatalf("%s: part (%d,%d) of %v starts off the tile grid: %d, %d", kern.name, i, j, s, i0, j0)
						}
						covered += (i1 - i0) * (j1 - j0)
					}
				}
				if covered != s[0]*s[1] {
					t.Fatalf("%s: %d×%d split of %v covers %d elements", kern.name, tm, tn, s, covered)
				}
			}
		}
	}
}

func TestKernelEnv(t *testing.T) {
	defer SetKernel(Kernel())
	if err := applyKernelEnv(""); err != nil {
		t.Errorf("IPT_CPU unset: %v", err)
	}
	if err := applyKernelEnv("generic"); err != nil || Kernel() != "generic" {
		t.Errorf("IPT_CPU=generic: err %v, kernel %s", err, Kernel())
	}
	err := applyKernelEnv("avx9000")
	if err == nil || !strings.Contains(err.Error(), "IPT_CPU=avx9000") || Kernel() != "generic" {
		t.Errorf("IPT_CPU=avx9000: err %v, kernel %s (want an error and generic kept)", err, Kernel())
	}
	if err := applyKernelEnv("AUTO"); err != nil || Kernel() != defaultKernel().name {
		t.Errorf("IPT_CPU=AUTO: err %v, kernel %s", err, Kernel())
	}
	t.Logf("default path %s; usable %v; KernelError at start-up: %v", defaultKernel().name, Kernels(), KernelError())
}
