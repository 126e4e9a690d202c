package asm

// SgemmGeneric is the Go micro-kernel and the specification of the
// assembly ones: it computes one mr×nr tile of C,
//
//	for i := 0; i < mr; i++ {
//		for j := 0; j < nr; j++ {
//			var sum float32
//			for p := 0; p < k; p++ {
//				sum += a[i*rsa+p*csa] * b[p*ldb+j]
//			}
//			if beta == 0 { // C is not read: NaNs in C do not propagate
//				c[i*ldc+j] = alpha * sum
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + alpha*sum
//			}
//		}
//	}
//
// A is read in place with row stride rsa and column stride csa (packed:
// rsa=1, csa=mr); B is k rows of nr floats with row stride ldb (packed:
// ldb=nr); C has row stride ldc. The assembly kernels fuse each multiply-add (one rounding),
// so they agree with this one to float32 rounding, not bit for bit.
func SgemmGeneric(mr, nr, k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if nr == 16 {
		sgemmGeneric16(mr, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)
		return
	}
	for i := 0; i < mr; i++ {
		crow := c[i*ldc : i*ldc+nr]
		for j := range crow {
			var sum float32
			for p := 0; p < k; p++ {
				sum += a[i*rsa+p*csa] * b[p*ldb+j]
			}
			store(&crow[j], sum, alpha, beta)
		}
	}
}

func store(c *float32, sum, alpha, beta float32) {
	if beta == 0 {
		*c = alpha * sum
	} else {
		*c = beta**c + alpha*sum
	}
}

// sgemmGeneric16 is SgemmGeneric for nr = 16 with the row's sums in
// registers: the same arithmetic in the same order, several times faster.
func sgemmGeneric16(mr, k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < mr; i++ {
		var s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 float32
		ai := i * rsa
		for p := 0; p < k; p++ {
			av := a[ai+p*csa]
			bp := b[p*ldb : p*ldb+16 : p*ldb+16]
			s0 += av * bp[0]
			s1 += av * bp[1]
			s2 += av * bp[2]
			s3 += av * bp[3]
			s4 += av * bp[4]
			s5 += av * bp[5]
			s6 += av * bp[6]
			s7 += av * bp[7]
			s8 += av * bp[8]
			s9 += av * bp[9]
			s10 += av * bp[10]
			s11 += av * bp[11]
			s12 += av * bp[12]
			s13 += av * bp[13]
			s14 += av * bp[14]
			s15 += av * bp[15]
		}
		cr := c[i*ldc : i*ldc+16 : i*ldc+16]
		for j, s := range [16]float32{s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15} {
			store(&cr[j], s, alpha, beta)
		}
	}
}
