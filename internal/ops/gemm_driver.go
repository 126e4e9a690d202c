package ops

import "sync"

// The BLIS loop nest behind Sgemm. For the block of C a thread owns:
//
//	for jc in steps of NC:              columns of C and B
//	  for pc in steps of KC:            the k dimension, always in this order
//	    pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers      (L3)
//	    for ic in steps of MC:          rows of C and A
//	      pack op(A)[ic:ic+mc, pc:pc+kc] into MR-tall slivers    (L2), or read A in place
//	      for jr in steps of NR:        one B sliver              (L1)
//	        for ir in steps of MR:
//	          micro-kernel: C[ir:ir+MR, jr:jr+NR] = alpha·A·B + beta'·C
//
// beta' is beta for the first k block and 1 after it. Edge tiles (fewer than
// MR rows or NR columns left) run the same kernel on a copy of C in a
// temporary tile (or its half-width twin, same arithmetic, when at most NR/2
// columns are left), so every element of C gets the same arithmetic wherever its
// tile falls: results do not depend on how C is split between threads, and
// the split is only ever over rows and columns of C, never over k.

// gemmSmallWork is the m·n·k below which the direct loop beats packing
// (about 4×4×4 on Zen 4; at 8×8×8 the packed path is already 3× faster).
const gemmSmallWork = 128

// gemmThreadWork is the least m·n·k worth a thread of its own: waking a
// worker and the scheduler's spinning cost tens of microseconds of CPU, so
// below about 40µs of work per thread (a 256×256×48 attention product, say)
// one thread is the better use of the cores; callers with many such
// products should run them in parallel themselves.
//
// A variable so that tests can split small products.
var gemmThreadWork = 1 << 22

// gemmCall holds one Sgemm call, shared by its threads.
type gemmCall struct {
	gemmArgs
	pending sync.WaitGroup // the threads other than the caller's
}

// gemmArgs are one Sgemm call's arguments and plan.
type gemmArgs struct {
	kern           *gemmKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	kcb            int  // k block: ≤ kern.kc, fixed by k alone
	packA          bool // pack A into slivers (otherwise the kernel reads it in place)
}

func sgemm(kern *gemmKernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if work := float64(m) * float64(n) * float64(k); work < gemmSmallWork || (m == 1 && n == 1) {
		sgemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}

	ws := getWorkspace()
	g := &ws.call
	g.gemmArgs = gemmArgs{
		kern: kern, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc,
		kcb: kBlock(k, kern.kc), packA: packA(transA, m, n, k, kern),
	}
	tm, tn := gemmSplit(kern, threads, transA, transB, m, n, k)
	if tm*tn > 1 {
		startWorkers(tm*tn - 1)
		g.pending.Add(tm*tn - 1)
		for t := 1; t < tm*tn; t++ {
			i0, i1 := splitRange(m, kern.mr, tm, t/tn)
			j0, j1 := splitRange(n, kern.nr, tn, t%tn)
			workQueue <- gemmTask{g, i0, i1, j0, j1}
		}
	}
	i0, i1 := splitRange(m, kern.mr, tm, 0)
	j0, j1 := splitRange(n, kern.nr, tn, 0)
	g.run(ws, i0, i1, j0, j1)
	if tm*tn > 1 {
		g.pending.Wait()
	}
	g.a, g.b, g.c = nil, nil, nil
	putWorkspace(ws)
}

// kBlock splits k into equal blocks of at most kc (rounded up to a multiple
// of 4, the kernels' unrolling). It depends on k alone, which fixes the
// order of summation.
func kBlock(k, kc int) int {
	nb := (k + kc - 1) / kc
	b := (k + nb - 1) / nb
	return min(kc, (b+3)&^3)
}

// packA reports whether A is worth packing. The kernels read A in place
// well when its rows are contiguous (!transA: MR row streams, each block of
// A stays in L2 across the B slivers), which also spares every thread a
// pass over A; a transposed A is packed when there are enough B slivers
// to repay it, since in place each k step would touch a new cache line.
// (Packing A always measured the same as this on Zen 5, within 0.5%.)
func packA(transA bool, m, n, k int, kern *gemmKernel) bool {
	return transA && n >= 4*kern.nr
}

// gemmSplit chooses a grid of tm×tn threads over C for up to threads
// threads: each thread gets at least gemmThreadWork of m·n·k, and the grid
// minimises the largest thread's time: its tiles (about 16 FMAs a cycle)
// plus the packing it does (a pass over its columns of B unless B is read
// in place; over its rows of A when A is packed). Ties go to splitting
// columns, which duplicates no packing.
func gemmSplit(kern *gemmKernel, threads int, transA, transB bool, m, n, k int) (tm, tn int) {
	t := min(threads, max(1, int(float64(m)*float64(n)*float64(k)/float64(gemmThreadWork))))
	if t <= 1 {
		return 1, 1
	}
	mt := (m + kern.mr - 1) / kern.mr
	nt := (n + kern.nr - 1) / kern.nr
	tm, tn = 1, 1
	best := -1.0
	for u := t; u >= 1 && best < 0; u-- { // u threads; prefer all t of them
		for a := u; a >= 1; a-- { // a threads over rows, u/a over columns
			if u%a != 0 || a > mt || u/a > nt {
				continue
			}
			rows := (mt + a - 1) / a * kern.mr
			cols := (nt + u/a - 1) / (u / a) * kern.nr
			cost := float64(rows) * float64(cols) / 16
			if !bInPlace(kern, transB, rows) {
				cost += float64(cols)
			}
			if packA(transA, rows, cols, k, kern) {
				cost += float64(rows)
			}
			if best < 0 || cost <= best {
				best, tm, tn = cost, a, u/a
			}
		}
	}
	return tm, tn
}

// splitRange returns part i of [0, n) cut into parts pieces along a grid of
// step (every piece but the last starts and ends on a multiple of step).
func splitRange(n, step, parts, i int) (lo, hi int) {
	units := (n + step - 1) / step
	lo = min(n, units*i/parts*step)
	hi = min(n, units*(i+1)/parts*step)
	return lo, hi
}

// run computes rows [i0, i1) × columns [j0, j1) of C with workspace ws.
func (g *gemmCall) run(ws *workspace, i0, i1, j0, j1 int) {
	if i0 >= i1 || j0 >= j1 {
		return
	}
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	ws.reserve(kern, g.kcb, min(kern.nc, roundUp(j1-j0, nr)), min(kern.mc, roundUp(i1-i0, mr)))
	inPlaceB := bInPlace(kern, g.transB, i1-i0)
	for jc := j0; jc < j1; jc += kern.nc {
		nc := min(kern.nc, j1-jc)
		for pc := 0; pc < g.k; pc += g.kcb {
			kc := min(g.kcb, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			if !inPlaceB {
				g.packB(ws.b, pc, kc, jc, nc, nr)
			} else if rem := nc % nr; rem != 0 {
				// The last, partial sliver is packed (zero columns past n),
				// so the kernel never reads past B.
				g.packB(ws.bedge, pc, kc, jc+nc-rem, rem, nr)
			}
			for ic := i0; ic < i1; ic += kern.mc {
				mc := min(kern.mc, i1-ic)
				g.macro(ws, ic, mc, jc, nc, pc, kc, beta, inPlaceB)
			}
		}
	}
}

// bInPlace reports whether a thread with rows rows of C reads B in place
// rather than packing it: when B is not transposed and each panel meets a
// single block of A, packing would cost a pass over B for only mc/mr uses
// of each sliver. Never for a kernel that asks for packed B.
func bInPlace(kern *gemmKernel, transB bool, rows int) bool {
	return !transB && rows <= kern.mc && !kern.packB
}

// macro runs the micro-kernel over the mc×nc block of C at (ic, jc) for the
// k block [pc, pc+kc), with B packed in ws.b or, if inPlaceB, read from g.b
// (its last partial sliver packed in ws.bedge).
func (g *gemmCall) macro(ws *workspace, ic, mc, jc, nc, pc, kc int, beta float32, inPlaceB bool) {
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	tile := kern.tile
	alpha, c, ldc := g.alpha, g.c, g.ldc

	// A for the tile at row ic+ir: slice, row and column strides.
	var apack []float32
	if g.packA {
		apack = ws.a
		g.packAblock(apack, ic, mc, pc, kc, mr)
	} else if rem := mc % mr; rem != 0 {
		// The last, partial sliver is packed (zero rows below m), so the
		// kernel never reads past A.
		g.packAblock(ws.aedge, ic+mc-rem, rem, pc, kc, mr)
	}
	aTile := func(ir int) ([]float32, int, int) {
		switch {
		case g.packA:
			return apack[ir/mr*kc*mr:], 1, mr
		case ir+mr > mc:
			return ws.aedge, 1, mr
		case g.transA:
			return g.a[pc*g.lda+ic+ir:], 1, g.lda
		default:
			return g.a[(ic+ir)*g.lda+pc:], g.lda, 1
		}
	}

	for jr := 0; jr < nc; jr += nr {
		nrr := min(nr, nc-jr)
		var bp []float32
		ldb := nr
		switch {
		case !inPlaceB:
			bp = ws.b[jr/nr*kc*nr : (jr/nr+1)*kc*nr]
		case nrr < nr:
			bp = ws.bedge
		default:
			bp, ldb = g.b[pc*g.ldb+jc+jr:], g.ldb
		}
		if kern.rows != nil {
			// One row per tile (mr = 1): the column of tiles in one call.
			var ap []float32
			var rsa, csa int
			switch {
			case g.packA:
				ap, rsa, csa = apack, kc, 1
			case g.transA:
				ap, rsa, csa = g.a[pc*g.lda+ic:], 1, g.lda
			default:
				ap, rsa, csa = g.a[ic*g.lda+pc:], g.lda, 1
			}
			off := ic*ldc + jc + jr
			if nrr == nr {
				kern.rows(mc, kc, ap, rsa, csa, bp, ldb, c[off:], ldc, alpha, beta)
				continue
			}
			// The last, partial sliver: on a copy of C's columns, as below.
			tmp := ws.tmp[:mc*nr]
			if beta != 0 {
				for i := 0; i < mc; i++ {
					copy(tmp[i*nr:i*nr+nrr], c[off+i*ldc:off+i*ldc+nrr])
				}
			}
			kern.rows(mc, kc, ap, rsa, csa, bp, ldb, tmp, nr, alpha, beta)
			for i := 0; i < mc; i++ {
				copy(c[off+i*ldc:off+i*ldc+nrr], tmp[i*nr:i*nr+nrr])
			}
			continue
		}
		// A last sliver of at most nr/2 columns runs the half-width tile.
		t, width := tile, nr
		if kern.half != nil && nrr <= nr/2 {
			t, width = kern.half, nr/2
		}
		for ir := 0; ir < mc; ir += mr {
			mrr := min(mr, mc-ir)
			ap, rsa, csa := aTile(ir)
			off := (ic+ir)*ldc + jc + jr
			if mrr == mr && nrr == width {
				t(kc, ap, rsa, csa, bp, ldb, c[off:], ldc, alpha, beta)
				continue
			}
			// Edge tile: the same kernel on a copy of C's corner.
			tmp := ws.tmp[:mr*nr]
			if beta != 0 {
				for i := 0; i < mrr; i++ {
					copy(tmp[i*nr:i*nr+nrr], c[off+i*ldc:off+i*ldc+nrr])
				}
			}
			t(kc, ap, rsa, csa, bp, ldb, tmp, nr, alpha, beta)
			for i := 0; i < mrr; i++ {
				copy(c[off+i*ldc:off+i*ldc+nrr], tmp[i*nr:i*nr+nrr])
			}
		}
	}
}

// packB packs op(B)[pc:pc+kc, jc:jc+nc] into ceil(nc/nr) slivers of kc×nr.
func (g *gemmCall) packB(dst []float32, pc, kc, jc, nc, nr int) {
	if g.transB { // B is n×k: sliver columns are rows of B
		packRows(dst, g.b, g.ldb, jc, nc, pc, kc, nr, g.kern.transpose8)
	} else {
		packCols(dst, g.b, g.ldb, pc, kc, jc, nc, nr, g.kern.copySlivers)
	}
}

// packAblock packs op(A)[ic:ic+mc, pc:pc+kc] into ceil(mc/mr) slivers of kc×mr.
func (g *gemmCall) packAblock(dst []float32, ic, mc, pc, kc, mr int) {
	if g.transA { // A is k×m: sliver rows are columns of A
		packCols(dst, g.a, g.lda, pc, kc, ic, mc, mr, g.kern.copySlivers)
	} else {
		packRows(dst, g.a, g.lda, ic, mc, pc, kc, mr, g.kern.transpose8)
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
