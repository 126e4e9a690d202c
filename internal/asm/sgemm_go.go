package asm

import "unsafe"

// Sgemm1x6Go is SgemmGeneric(1, 6, …), the tile of the plain-Go path
// (riscv64, ppc64le, 32-bit, IPT_CPU=generic); see Sgemm1x6RowsGo.
func Sgemm1x6Go(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	Sgemm1x6RowsGo(1, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)
}

// Sgemm1x6RowsGo is SgemmGeneric(m, 6, …): m rows of C, each a 1×6 tile
// whose six sums stay in registers, with the same operations in the same
// order per element, so the same bits (tested). One call covers a column
// of tiles, which matters when k is short (attention's 48). Strides must
// be ≥ 0.
func Sgemm1x6RowsGo(m, k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if rsa < 0 || csa < 0 || ldb < 0 {
		panic("asm.Sgemm1x6RowsGo: negative stride")
	}
	if m <= 0 {
		return
	}
	var pa, pb unsafe.Pointer // nil when k == 0: nothing is read
	if k > 0 {
		// Every load of dot1x6 is within these two elements' slices.
		_ = a[(m-1)*rsa+(k-1)*csa]
		_ = b[(k-1)*ldb+5]
		pa, pb = unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	}
	for i := range m {
		var s0, s1, s2, s3, s4, s5 float32
		if k > 0 {
			s0, s1, s2, s3, s4, s5 = dot1x6(k, unsafe.Add(pa, i*rsa*4), pb, uintptr(csa)*4, uintptr(ldb)*4)
		}
		cr := c[i*ldc : i*ldc+6 : i*ldc+6]
		store(&cr[0], s0, alpha, beta)
		store(&cr[1], s1, alpha, beta)
		store(&cr[2], s2, alpha, beta)
		store(&cr[3], s3, alpha, beta)
		store(&cr[4], s4, alpha, beta)
		store(&cr[5], s5, alpha, beta)
	}
}

// dot1x6 returns the six sums Σp A[p]·B[p][j] of one 1×6 tile, in p order:
// A's elements are sa bytes apart and B's rows sb bytes, from pa and pb;
// the caller has checked that k steps stay within A and B. A function of
// its own so that its loops have every general register.
//
// Why 1×6: amd64 has 15 scalar float registers for Go code (X15 is the
// ABI's zero), and without FMA each product needs a register of its own
// before it is added. Go's scheduler puts first the values that have uses
// in their block, so in the last step of the loop body every product is
// computed before any sum is updated (the new sums are used only by the
// next iteration): the sums, one step's products and A's value must fit,
// 6+6+1 here. A 2×4 tile needs 8+8+2 and spills in that step.
//
// Why unsafe: a bounds check splits the loop body into blocks, and each
// block would end that way; with the extents checked by the caller the
// unrolled body is one block.
func dot1x6(k int, pa, pb unsafe.Pointer, sa, sb uintptr) (c0, c1, c2, c3, c4, c5 float32) {
	var oa, ob uintptr // byte offsets of A[p] and B[p][0]
	p := 0
	if sa == 4 && sb == 6*4 {
		// The driver's layout (a row of A, a packed sliver of B): constant
		// offsets, no address arithmetic between the steps.
		for ; p+4 <= k; p += 4 {
			ap := (*[4]float32)(unsafe.Add(pa, oa))
			bp := (*[24]float32)(unsafe.Add(pb, ob))
			a0 := ap[0]
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			a1 := ap[1]
			c0 += a1 * bp[6]
			c1 += a1 * bp[7]
			c2 += a1 * bp[8]
			c3 += a1 * bp[9]
			c4 += a1 * bp[10]
			c5 += a1 * bp[11]
			a2 := ap[2]
			c0 += a2 * bp[12]
			c1 += a2 * bp[13]
			c2 += a2 * bp[14]
			c3 += a2 * bp[15]
			c4 += a2 * bp[16]
			c5 += a2 * bp[17]
			a3 := ap[3]
			c0 += a3 * bp[18]
			c1 += a3 * bp[19]
			c2 += a3 * bp[20]
			c3 += a3 * bp[21]
			c4 += a3 * bp[22]
			c5 += a3 * bp[23]
			oa, ob = oa+4*4, ob+24*4
		}
	}
	for ; p+4 <= k; p += 4 {
		{
			a0 := *(*float32)(unsafe.Add(pa, oa))
			bp := (*[6]float32)(unsafe.Add(pb, ob))
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			oa, ob = oa+sa, ob+sb
		}
		{
			a0 := *(*float32)(unsafe.Add(pa, oa))
			bp := (*[6]float32)(unsafe.Add(pb, ob))
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			oa, ob = oa+sa, ob+sb
		}
		{
			a0 := *(*float32)(unsafe.Add(pa, oa))
			bp := (*[6]float32)(unsafe.Add(pb, ob))
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			oa, ob = oa+sa, ob+sb
		}
		{
			a0 := *(*float32)(unsafe.Add(pa, oa))
			bp := (*[6]float32)(unsafe.Add(pb, ob))
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			oa, ob = oa+sa, ob+sb
		}
	}
	for ; p < k; p++ {
		{
			a0 := *(*float32)(unsafe.Add(pa, oa))
			bp := (*[6]float32)(unsafe.Add(pb, ob))
			c0 += a0 * bp[0]
			c1 += a0 * bp[1]
			c2 += a0 * bp[2]
			c3 += a0 * bp[3]
			c4 += a0 * bp[4]
			c5 += a0 * bp[5]
			oa, ob = oa+sa, ob+sb
		}
	}
	return c0, c1, c2, c3, c4, c5
}
