package ops

// Packing for the GEMM driver. A sliver is w consecutive rows (of A) or
// columns (of B) of the operand laid out k-major: element (p, i) of the
// sliver at p*w+i, so the micro-kernel reads it with unit stride. Slivers
// that run past the matrix are padded with zeros.

// packRows packs the block src[r0:r0+rows, c0:c0+cols] (row stride ld) so
// that each group of w rows becomes a sliver:
//
//	dst[s*cols*w + c*w + i] = src[(r0+s*w+i)*ld + c0+c]   (0 past row r0+rows)
//
// This is B when transB (rows are columns of op(B)) and A when !transA.
// t8, if not nil, transposes 8 full rows at a time (asm.Transpose8AVX).
func packRows(dst, src []float32, ld, r0, rows, c0, cols, w int, t8 func(dst []float32, ldd int, src []float32, lds, n int)) {
	for s := 0; s*w < rows; s++ {
		d := dst[s*cols*w : (s+1)*cols*w]
		h := min(w, rows-s*w)
		i := 0
		if t8 != nil && cols >= 8 {
			c8 := cols &^ 7
			for i < h {
				if i+8 > h {
					if h < 8 {
						break
					}
					// The last h-i < 8 rows: transpose the 8 rows that end
					// at h, rewriting rows already packed with the same values.
					i = h - 8
				}
				o := (r0+s*w+i)*ld + c0
				t8(d[i:], w, src[o:], ld, c8)
				for j := 0; j < 8; j++ {
					for c, v := range src[o+j*ld+c8 : o+j*ld+cols] {
						d[(c8+c)*w+i+j] = v
					}
				}
				i += 8
			}
		}
		for ; i+4 <= h; i += 4 {
			o := (r0+s*w+i)*ld + c0
			x0 := src[o : o+cols]
			x1 := src[o+ld : o+ld+cols]
			x2 := src[o+2*ld : o+2*ld+cols]
			x3 := src[o+3*ld : o+3*ld+cols]
			for c := range x0 {
				q := d[c*w+i : c*w+i+4 : c*w+i+4]
				q[0], q[1], q[2], q[3] = x0[c], x1[c], x2[c], x3[c]
			}
		}
		for ; i < h; i++ {
			o := (r0+s*w+i)*ld + c0
			for c, v := range src[o : o+cols] {
				d[c*w+i] = v
			}
		}
		if h < w {
			for c := 0; c < cols; c++ {
				clear(d[c*w+h : c*w+w])
			}
		}
	}
}

// packCols packs the block src[r0:r0+rows, c0:c0+cols] (row stride ld) so
// that each group of w columns becomes a sliver:
//
//	dst[s*rows*w + r*w + j] = src[(r0+r)*ld + c0+s*w+j]   (0 past column c0+cols)
//
// This is B when !transB and A when transA: each sliver row is a copy. The
// whole slivers are copied by slivers (copySliversGo if nil), the last,
// partial one here.
func packCols(dst, src []float32, ld, r0, rows, c0, cols, w int, slivers func(dst, src []float32, ld, rows, n, w int)) {
	if rows <= 0 {
		return
	}
	nfull := cols / w
	if slivers == nil {
		slivers = copySliversGo
	}
	if nfull > 0 {
		slivers(dst, src[r0*ld+c0:], ld, rows, nfull, w)
	}
	if rem := cols - nfull*w; rem > 0 {
		e := dst[nfull*rows*w:]
		for r := 0; r < rows; r++ {
			o := (r0+r)*ld + c0 + nfull*w
			copy(e[r*w:r*w+rem], src[o:o+rem])
			clear(e[r*w+rem : r*w+w])
		}
	}
}

// copySliversGo copies rows rows of n w-float pieces into slivers, the
// reference for the kernels' copySlivers:
//
//	dst[s*rows*w + r*w + j] = src[r*ld + s*w + j]   for j < w, s < n
//
// Fixed-size moves for the widths of the kernels' tiles.
func copySliversGo(dst, src []float32, ld, rows, n, w int) {
	for r := 0; r < rows; r++ {
		row := src[r*ld : r*ld+n*w]
		d := dst[r*w:]
		switch w {
		case 4:
			for s := 0; s < n; s++ {
				*(*[4]float32)(d[s*rows*4:]) = [4]float32(row[s*4:])
			}
		case 16:
			for s := 0; s < n; s++ {
				*(*[16]float32)(d[s*rows*16:]) = [16]float32(row[s*16:])
			}
		case 32:
			for s := 0; s < n; s++ {
				*(*[32]float32)(d[s*rows*32:]) = [32]float32(row[s*32:])
			}
		default:
			for s := 0; s < n; s++ {
				copy(d[s*rows*w:s*rows*w+w], row[s*w:s*w+w])
			}
		}
	}
}
