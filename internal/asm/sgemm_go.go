package asm

import "unsafe"

// Sgemm2x4Go is SgemmGeneric(2, 4, …) with the eight sums in registers: the
// same operations in the same order per element, so the same bits (tested),
// about 2.5× faster than the row-at-a-time Go loop on amd64. It is the tile
// of the plain-Go path (riscv64, ppc64le, 32-bit, IPT_CPU=generic).
//
// Why this shape: amd64 has 16 scalar float registers (one reserved by Go's
// ABI), and without FMA each update needs a product register, so 8
// accumulators, 2 values of A and 4 of B fill them. Why unsafe: a bounds
// check splits the loop body into blocks, and across blocks Go's scheduler
// computes every product before the first add, which spills; with the
// extents checked once below the body is one block and the compiler
// interleaves products and adds. Strides must be ≥ 0.
func Sgemm2x4Go(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if rsa < 0 || csa < 0 || ldb < 0 {
		panic("asm.Sgemm2x4Go: negative stride")
	}
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	if k > 0 {
		// Every load below is within these two elements' slices.
		_ = a[rsa+(k-1)*csa]
		_ = b[(k-1)*ldb+3]
		pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
		sa, sr, sb := uintptr(csa)*4, uintptr(rsa)*4, uintptr(ldb)*4
		var oa, ob uintptr // byte offsets of A[0][p] and B[p][0]
		p := 0
		for ; p+4 <= k; p += 4 {
			{
				a0, a1 := *(*float32)(unsafe.Add(pa, oa)), *(*float32)(unsafe.Add(pa, oa+sr))
				bp := (*[4]float32)(unsafe.Add(pb, ob))
				c00 += a0 * bp[0]
				c01 += a0 * bp[1]
				c02 += a0 * bp[2]
				c03 += a0 * bp[3]
				c10 += a1 * bp[0]
				c11 += a1 * bp[1]
				c12 += a1 * bp[2]
				c13 += a1 * bp[3]
				oa, ob = oa+sa, ob+sb
			}
			{
				a0, a1 := *(*float32)(unsafe.Add(pa, oa)), *(*float32)(unsafe.Add(pa, oa+sr))
				bp := (*[4]float32)(unsafe.Add(pb, ob))
				c00 += a0 * bp[0]
				c01 += a0 * bp[1]
				c02 += a0 * bp[2]
				c03 += a0 * bp[3]
				c10 += a1 * bp[0]
				c11 += a1 * bp[1]
				c12 += a1 * bp[2]
				c13 += a1 * bp[3]
				oa, ob = oa+sa, ob+sb
			}
			{
				a0, a1 := *(*float32)(unsafe.Add(pa, oa)), *(*float32)(unsafe.Add(pa, oa+sr))
				bp := (*[4]float32)(unsafe.Add(pb, ob))
				c00 += a0 * bp[0]
				c01 += a0 * bp[1]
				c02 += a0 * bp[2]
				c03 += a0 * bp[3]
				c10 += a1 * bp[0]
				c11 += a1 * bp[1]
				c12 += a1 * bp[2]
				c13 += a1 * bp[3]
				oa, ob = oa+sa, ob+sb
			}
			{
				a0, a1 := *(*float32)(unsafe.Add(pa, oa)), *(*float32)(unsafe.Add(pa, oa+sr))
				bp := (*[4]float32)(unsafe.Add(pb, ob))
				c00 += a0 * bp[0]
				c01 += a0 * bp[1]
				c02 += a0 * bp[2]
				c03 += a0 * bp[3]
				c10 += a1 * bp[0]
				c11 += a1 * bp[1]
				c12 += a1 * bp[2]
				c13 += a1 * bp[3]
				oa, ob = oa+sa, ob+sb
			}
		}
		for ; p < k; p++ {
			{
				a0, a1 := *(*float32)(unsafe.Add(pa, oa)), *(*float32)(unsafe.Add(pa, oa+sr))
				bp := (*[4]float32)(unsafe.Add(pb, ob))
				c00 += a0 * bp[0]
				c01 += a0 * bp[1]
				c02 += a0 * bp[2]
				c03 += a0 * bp[3]
				c10 += a1 * bp[0]
				c11 += a1 * bp[1]
				c12 += a1 * bp[2]
				c13 += a1 * bp[3]
				oa, ob = oa+sa, ob+sb
			}
		}
	}
	c0 := c[0:4:4]
	c1 := c[ldc : ldc+4 : ldc+4]
	store(&c0[0], c00, alpha, beta)
	store(&c0[1], c01, alpha, beta)
	store(&c0[2], c02, alpha, beta)
	store(&c0[3], c03, alpha, beta)
	store(&c1[0], c10, alpha, beta)
	store(&c1[1], c11, alpha, beta)
	store(&c1[2], c12, alpha, beta)
	store(&c1[3], c13, alpha, beta)
}
