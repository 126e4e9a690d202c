// Command _gen writes internal/asm/sgemm_amd64.s and its Go stubs with avo.
//
// It lives in its own module so that users of github.com/ipt-go/ipt never
// download avo (the go tool ignores directories starting with "_"). Run it
// through `go generate ./internal/asm` or check.sh, which also verifies that
// the committed output is up to date.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kernelSignature is shared by every micro-kernel.
const kernelSignature = "func(k int, a *float32, rsa, csa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)"

// isa describes one vector instruction set for the micro-kernel generator.
type isa struct {
	name  string // AVX2, AVX512
	mr    int    // rows of the micro-tile
	nv    int    // vectors per row of the micro-tile
	lanes int    // float32 lanes per vector
	vec   func(i int) VecPhysical
}

var (
	ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	zmm = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

	avx2   = isa{name: "AVX2", mr: 6, nv: 2, lanes: 8, vec: func(i int) VecPhysical { return ymm[i] }}
	avx512 = isa{name: "AVX512", mr: 12, nv: 2, lanes: 16, vec: func(i int) VecPhysical { return zmm[i] }}
)

// half is s's tile at half its width (one vector a row): the driver runs it
// on the last sliver of B when at most NR/2 of its columns are in C (the
// attention's 36-wide head products end in one, and on AVX-512 the 48-wide
// too), where the full tile would spend half or more of its FMAs on padding.
func half(s isa) isa {
	s.nv /= 2
	return s
}

// zero clears v: VXORPS for ymm, VPXORD for zmm (VXORPS on zmm would need
// AVX512DQ).
func (s isa) zero(v Op) {
	if s.lanes == 16 {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

const unroll = 4 // k iterations per trip of the main loop

func main() {
	ConstraintExpr("!purego")
	for _, s := range []isa{avx2, avx512} {
		kernel(s)
		kernel(half(s))
	}
	transpose8()
	for _, w := range []int{6, 12, 16, 32} {
		copySlivers(w)
	}
	for _, s := range []softmaxISA{softmaxAVX2, softmaxAVX512} {
		maxKernel(s)
		expSubSumKernel(s)
	}
	addAVX2()
	addBiasReLUAVX2()
	layerNormRowAVX2()
	adamAVX2()
	addToAVX2()
	scaleAVX2()
	softmaxBackwardAVX2()
	lnNormaliseAVX2()
	lnAccumulateAVX2()
	lnDxAVX2()
	reluMaskAVX2()
	reluBackwardAddAVX2()
	reluBackwardToAVX2()
	peak(avx2, 12)
	peak(avx512, 24)
	Generate()
}

func paramAddr(name string) Mem {
	p, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return p.Addr
}

// kernel emits Sgemm{MR}x{NR}{ISA}: one MR×NR tile of C from A read with
// arbitrary strides and B packed into an NR-wide sliver.
func kernel(s isa) {
	nr := s.nv * s.lanes
	name := fmt.Sprintf("Sgemm%dx%d%s", s.mr, nr, s.name)
	TEXT(name, NOSPLIT, kernelSignature)
	Pragma("noescape")
	requires := "AVX2 and FMA3"
	if s.name == "AVX512" {
		requires = "AVX-512F"
	}
	Doc(
		fmt.Sprintf("%s computes one %d×%d tile of C (needs %s):", name, s.mr, nr, requires),
		"",
		fmt.Sprintf("\tfor i := 0; i < %d; i++ {", s.mr),
		fmt.Sprintf("\t\tfor j := 0; j < %d; j++ {", nr),
		"\t\t\tvar sum float32",
		"\t\t\tfor p := 0; p < k; p++ {",
		"\t\t\t\tsum = fma(a[i*rsa+p*csa], b[p*ldb+j], sum)",
		"\t\t\t}",
		"\t\t\tif beta == 0 { // C is not read: NaNs in C do not propagate",
		"\t\t\t\tc[i*ldc+j] = alpha * sum",
		"\t\t\t} else {",
		"\t\t\t\tc[i*ldc+j] = fma(beta, c[i*ldc+j], alpha*sum)",
		"\t\t\t}",
		"\t\t}",
		"\t}",
		"",
		"where fma(x, y, z) is x·y+z rounded once. A is read in place with",
		"row stride rsa and column stride csa (in elements), so it may be packed",
		fmt.Sprintf("(rsa=1, csa=%d) or not; B is k rows of %d floats with row stride", s.mr, nr),
		fmt.Sprintf("ldb (a packed sliver has ldb=%d); C has row stride ldc. k ≥ 0. alpha", nr),
		"== 1 skips the scaling multiply, which does not change the result.",
		"SgemmGeneric is the Go version.",
	)

	k := Load(Param("k"), GP64())
	a0 := Load(Param("a"), GP64())
	rs := Load(Param("rsa"), GP64())
	cs := Load(Param("csa"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	SHLQ(U8(2), rs)
	SHLQ(U8(2), cs)

	// Row base pointers: row i of the tile is base[i/3] + (i%3)*rs.
	nbase := s.mr / 3
	base := []Register{a0}
	for i := 1; i < nbase; i++ {
		r := GP64()
		LEAQ(Mem{Base: base[i-1], Index: rs, Scale: 2}, r)
		ADDQ(rs, r)
		base = append(base, r)
	}
	rowAddr := func(i int) Mem {
		m := Mem{Base: base[i/3]}
		if i%3 != 0 {
			m.Index = rs
			m.Scale = uint8(i % 3)
		}
		return m
	}

	acc := func(i, j int) VecPhysical { return s.vec(i*s.nv + j) }
	nacc := s.mr * s.nv
	bv := func(j int) VecPhysical { return s.vec(nacc + j) }
	// Each A value is broadcast once into a register and used by nv FMAs.
	// Embedded-broadcast FMAs (VFMADD231PS.BCST m32) would save the
	// registers but load each A value nv times: 26 loads per 24 FMAs for
	// 12×32, against 14 here; on Zen 5 the kernel ran at about 80% of the
	// FMA peak that way and at about 95% this way (results/2026-11-29-avx512-zen5.log).
	bc := func(i int) VecPhysical { return s.vec(nacc + s.nv + i%2) }

	Comment("Prefetch the C tile, which is read or written after the loop.")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	pf := GP64()
	MOVQ(c, pf)
	for i := 0; i < s.mr; i++ {
		PREFETCHT0(Mem{Base: pf})
		PREFETCHT0(Mem{Base: pf, Disp: 4*nr - 1})
		if i < s.mr-1 {
			ADDQ(ldc, pf)
		}
	}

	Comment("Zero the accumulators.")
	for i := 0; i < nacc; i++ {
		s.zero(s.vec(i))
	}

	step := func() {
		for j := 0; j < s.nv; j++ {
			VMOVUPS(Mem{Base: b, Disp: 4 * s.lanes * j}, bv(j))
		}
		ADDQ(ldb, b)
		for i := 0; i < s.mr; i++ {
			VBROADCASTSS(rowAddr(i), bc(i))
			for j := 0; j < s.nv; j++ {
				VFMADD231PS(bv(j), bc(i), acc(i, j))
			}
		}
		for _, r := range base {
			ADDQ(cs, r)
		}
	}

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef("tail"))
	Label("loop")
	for u := 0; u < unroll; u++ {
		step()
	}
	DECQ(n)
	JNZ(LabelRef("loop"))

	Label("tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef("scale"))
	Label("tailloop")
	step()
	DECQ(k)
	JNZ(LabelRef("tailloop"))

	Label("scale")
	Comment("alpha == 1 (bit pattern 0x3f800000) needs no scaling.")
	t := GP32()
	MOVL(paramAddr("alpha"), t)
	CMPL(t, U32(0x3f800000))
	JE(LabelRef("store"))
	sc := bv(0)
	VBROADCASTSS(paramAddr("alpha"), sc)
	for i := 0; i < nacc; i++ {
		VMULPS(sc, s.vec(i), s.vec(i))
	}

	Label("store")
	Comment("beta == 0 (either sign): C is written without being read.")
	MOVL(paramAddr("beta"), t)
	SHLL(U8(1), t)
	JZ(LabelRef("overwrite"))
	VBROADCASTSS(paramAddr("beta"), sc)
	for i := 0; i < s.mr; i++ {
		for j := 0; j < s.nv; j++ {
			m := Mem{Base: c, Disp: 4 * s.lanes * j}
			VFMADD231PS(m, sc, acc(i, j))
			VMOVUPS(acc(i, j), m)
		}
		if i < s.mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label("overwrite")
	for i := 0; i < s.mr; i++ {
		for j := 0; j < s.nv; j++ {
			VMOVUPS(acc(i, j), Mem{Base: c, Disp: 4 * s.lanes * j})
		}
		if i < s.mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// peak emits PeakFMA{ISA}: n trips of nacc independent vector FMAs, for
// measuring the core's FMA throughput.
func peak(s isa, nacc int) {
	name := "PeakFMA" + s.name
	flops := nacc * s.lanes * 2
	TEXT(name, NOSPLIT, "func(n int)")
	requires := "AVX2 and FMA3"
	if s.name == "AVX512" {
		requires = "AVX-512F"
	}
	Doc(
		fmt.Sprintf("%s runs n trips of a loop of %d independent %d-lane FMAs", name, nacc, s.lanes),
		fmt.Sprintf("(%d floating-point operations per trip) on zeros and returns; it", flops),
		fmt.Sprintf("measures the FMA throughput of one core. Needs %s.", requires),
	)
	n := Load(Param("n"), GP64())
	for i := 0; i < nacc+2; i++ {
		s.zero(s.vec(i))
	}
	TESTQ(n, n)
	JLE(LabelRef("done"))
	Label("loop")
	for i := 0; i < nacc; i++ {
		VFMADD231PS(s.vec(nacc+(i%2)), s.vec(nacc+1-(i%2)), s.vec(i))
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// transpose8 emits Transpose8AVX: an 8-row block transposed 8×8 at a time,
// for packing B slivers from a transposed B (and A slivers from A).
func transpose8() {
	TEXT("Transpose8AVX", NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, n int)")
	Pragma("noescape")
	Doc(
		"Transpose8AVX writes the transpose of the 8×n block at src (row stride",
		"lds) to dst (row stride ldd); n must be a multiple of 8. Needs AVX.",
		"",
		"\tfor c := 0; c < n; c++ {",
		"\t\tfor i := 0; i < 8; i++ {",
		"\t\t\tdst[c*ldd+i] = src[i*lds+c]",
		"\t\t}",
		"\t}",
	)
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	n := Load(Param("n"), GP64())
	SHLQ(U8(2), ldd)
	SHLQ(U8(2), lds)
	// Rows 0-3 at src4 = src, rows 4-7 at src4 = src + 4·lds, each row i%4
	// at (base)(lds*{0,1,2}) or base + 3·lds.
	s3 := GP64()
	LEAQ(Mem{Base: src, Index: lds, Scale: 2}, s3)
	ADDQ(lds, s3)
	s4 := GP64()
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, s4)
	s7 := GP64()
	LEAQ(Mem{Base: s3, Index: lds, Scale: 4}, s7)
	d3 := GP64()
	SHRQ(U8(3), n)
	JZ(LabelRef("done"))
	Label("loop")
	r := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	t := []VecPhysical{Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	rowMem := []Mem{
		{Base: src}, {Base: src, Index: lds, Scale: 1}, {Base: src, Index: lds, Scale: 2}, {Base: s3},
		{Base: s4}, {Base: s4, Index: lds, Scale: 1}, {Base: s4, Index: lds, Scale: 2}, {Base: s7},
	}
	for i := 0; i < 8; i++ {
		VMOVUPS(rowMem[i], r[i])
	}
	// t: interleave pairs of rows.
	for i := 0; i < 8; i += 2 {
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	// r: groups of four within each 128-bit lane.
	for _, q := range [][3]int{{0, 0, 2}, {4, 4, 6}} {
		base, a, b := q[0], q[1], q[2]
		VSHUFPS(U8(0x44), t[b], t[a], r[base+0])
		VSHUFPS(U8(0xEE), t[b], t[a], r[base+1])
		VSHUFPS(U8(0x44), t[b+1], t[a+1], r[base+2])
		VSHUFPS(U8(0xEE), t[b+1], t[a+1], r[base+3])
	}
	// Columns c..c+3 from the low lanes, c+4..c+7 from the high lanes.
	for j := 0; j < 4; j++ {
		VPERM2F128(U8(0x20), r[4+j], r[j], t[j])
		VPERM2F128(U8(0x31), r[4+j], r[j], t[4+j])
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 2}, d3)
	ADDQ(ldd, d3)
	colMem := []Mem{{Base: dst}, {Base: dst, Index: ldd, Scale: 1}, {Base: dst, Index: ldd, Scale: 2}, {Base: d3}}
	for j := 0; j < 4; j++ {
		VMOVUPS(t[j], colMem[j])
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, dst)
	LEAQ(Mem{Base: d3, Index: ldd, Scale: 4}, d3)
	colMem = []Mem{{Base: dst}, {Base: dst, Index: ldd, Scale: 1}, {Base: dst, Index: ldd, Scale: 2}, {Base: d3}}
	for j := 0; j < 4; j++ {
		VMOVUPS(t[4+j], colMem[j])
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, dst)
	for _, p := range []Register{src, s3, s4, s7} {
		ADDQ(U8(32), p)
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copySlivers emits CopySlivers{w}AVX, the copying of GEMM packing
// (ops.packCols): rows rows of n w-float pieces each, piece s of row r going
// to the sliver at dst + s·rows·w. In Go each piece is a runtime.memmove call
// (every move over 16 bytes is), which costs more than moving 24 to 128
// bytes; here a piece is two to four vector moves.
func copySlivers(w int) {
	name := fmt.Sprintf("CopySlivers%dAVX", w)
	TEXT(name, NOSPLIT, "func(dst *float32, src *float32, ld int, rows int, n int)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s copies rows rows of n %d-float pieces from src (row", name, w),
		"stride ld) into slivers; rows and n must be positive. Needs AVX.",
		"",
		"\tfor r := 0; r < rows; r++ {",
		"\t\tfor s := 0; s < n; s++ {",
		fmt.Sprintf("\t\t\tcopy(dst[s*rows*%d+r*%d:][:%d], src[r*ld+s*%d:][:%d])", w, w, w, w, w),
		"\t\t}",
		"\t}",
	)
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	step := GP64() // bytes from one sliver to the next: rows·w floats
	IMUL3Q(U32(4*w), rows, step)
	SHLQ(U8(2), ld)
	// A piece's moves: 32 bytes while they fit, then 16, then 8.
	var sizes []int
	for left := 4 * w; left > 0; {
		size := 32
		for size > left {
			size /= 2
		}
		if size < 8 {
			panic(fmt.Sprintf("copySlivers: %d floats is not a multiple of 2", w))
		}
		sizes = append(sizes, size)
		left -= size
	}
	regs := make([]VecVirtual, len(sizes))
	for i, size := range sizes {
		regs[i] = XMM()
		if size == 32 {
			regs[i] = YMM()
		}
	}
	d, sp, k := GP64(), GP64(), GP64()
	Label("row")
	MOVQ(dst, d)
	MOVQ(src, sp)
	MOVQ(n, k)
	Label("piece")
	for pass := range 2 { // loads, then stores
		off := 0
		for i, size := range sizes {
			from, to := Op(Mem{Base: sp, Disp: off}), Op(regs[i])
			if pass == 1 {
				from, to = regs[i], Mem{Base: d, Disp: off}
			}
			if size == 8 {
				VMOVSD(from, to)
			} else {
				VMOVUPS(from, to)
			}
			off += size
		}
	}
	ADDQ(U8(4*w), sp)
	ADDQ(step, d)
	DECQ(k)
	JNZ(LabelRef("piece"))
	ADDQ(ld, src)
	ADDQ(U8(4*w), dst)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// vecConst emits a read-only table holding each value of vals repeated over
// 8 float32 lanes, and returns a function giving the ymm operand of the i-th.
func vecConst(name string, vals []float32) func(i int) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, v := range vals {
		for l := 0; l < 8; l++ {
			DATA(32*i+4*l, U32(math.Float32bits(v))) // bits: exact, unlike a decimal F32
		}
	}
	return func(i int) Mem { return m.Offset(32 * i) }
}

// softmaxISA is a vector width of the softmax row kernels: AVX2's 8 lanes
// or AVX-512's 16.
type softmaxISA struct {
	isa                                // its name and lanes; zero clears a vector
	needMax, needExp string            // the CPU features, for the doc comments
	alloc            func() VecVirtual // a fresh vector register
}

var (
	softmaxAVX2   = softmaxISA{avx2, "AVX", "AVX2 and FMA3", YMM}
	softmaxAVX512 = softmaxISA{avx512, "AVX-512F", "AVX-512F", ZMM}
)

// bytes is the size of one vector.
func (s softmaxISA) bytes() int { return 4 * s.lanes }

// shift is log2 of the lanes: a length in floats to one in vectors.
func (s softmaxISA) shift() uint8 {
	if s.lanes == 16 {
		return 4
	}
	return 3
}

// reduce leaves the reduction of v's lanes in its lowest lane: vop
// (VADDPS, VMAXPS) folds halves, sop its scalar form the last pair. A zmm
// is first folded onto its lower ymm, which is returned.
func (s softmaxISA) reduce(v VecVirtual, vop, sop func(...Op)) VecVirtual {
	if s.lanes == 16 {
		h := YMM()
		VEXTRACTF64X4(U8(1), v, h)
		v = v.AsY().(VecVirtual)
		vop(h, v, v)
	}
	hreducePS(v, vop, sop)
	return v
}

// addq adds the constant v to the pointer p (the assembler picks the
// encoding from the value).
func addq(v int, p Register) {
	if v < 256 {
		ADDQ(U8(v), p)
	} else {
		ADDQ(U32(v), p)
	}
}

// maxKernel emits Max{ISA}: the largest element of a slice whose length is
// a positive multiple of the lanes, with four independent VMAXPS chains.
func maxKernel(s softmaxISA) {
	name := "Max" + s.name
	TEXT(name, NOSPLIT, "func(x []float32) float32")
	Pragma("noescape")
	Doc(
		name+" returns the largest element of x; len(x) must be a positive",
		fmt.Sprintf("multiple of %d. Needs %s. NaNs are not handled: they are", s.lanes, s.needMax),
		"skipped or returned depending on their position (VMAXPS semantics).",
	)
	p := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	SHRQ(U8(s.shift()), n)
	acc := []VecVirtual{s.alloc(), s.alloc(), s.alloc(), s.alloc()}
	VMOVUPS(Mem{Base: p}, acc[0])
	for i := 1; i < 4; i++ {
		VMOVAPS(acc[0], acc[i])
	}
	Comment("Four vectors per trip, then one at a time.")
	Label("loop4")
	CMPQ(n, U8(4))
	JL(LabelRef("loop1"))
	for i := 0; i < 4; i++ {
		VMAXPS(Mem{Base: p, Disp: s.bytes() * i}, acc[i], acc[i])
	}
	addq(4*s.bytes(), p)
	SUBQ(U8(4), n)
	JMP(LabelRef("loop4"))
	Label("loop1")
	TESTQ(n, n)
	JZ(LabelRef("reduce"))
	VMAXPS(Mem{Base: p}, acc[0], acc[0])
	ADDQ(U8(s.bytes()), p)
	DECQ(n)
	JMP(LabelRef("loop1"))
	Label("reduce")
	VMAXPS(acc[1], acc[0], acc[0])
	VMAXPS(acc[3], acc[2], acc[2])
	VMAXPS(acc[2], acc[0], acc[0])
	m := s.reduce(acc[0], VMAXPS, VMAXSS)
	VZEROUPPER()
	Store(m.AsX(), ReturnIndex(0))
	RET()
}

// expConsts returns the constants of the exp kernels: one table, made on
// first use, each entry filling a ymm (AVX-512 broadcasts them).
func expConsts() func(i int) Mem {
	if expConstTable == nil {
		expConstTable = vecConst("expconst", []float32{
			1.4426950408889634, // 0: log2 e
			0.5,                // 1
			0.693359375,        // 2: ln2hi, exact in 9 bits so n·ln2hi is exact
			-2.12194440e-4,     // 3: ln2lo
			1.0 / 720,          // 4
			1.0 / 120,          // 5
			1.0 / 24,           // 6
			1.0 / 6,            // 7
			1,                  // 8
			-87,                // 9
		})
	}
	return expConstTable
}

var expConstTable func(i int) Mem

// expSubSumKernel emits ExpSubSum{ISA}, the vector form of ops.expNeg
// applied to x[i]-m, with the sum of the results: two vectors per trip,
// each with its own partial sum. AVX2 reads the constants from memory and
// zeroes the lanes below −87 with a vector mask; AVX-512 broadcasts the
// constants into registers once and zeroes through a mask register. Each
// element gets the same operations at either width, so the same bits.
func expSubSumKernel(s softmaxISA) {
	name := "ExpSubSum" + s.name
	TEXT(name, NOSPLIT, "func(x []float32, m float32) float32")
	Pragma("noescape")
	Doc(
		name+" replaces each x[i] by e^(x[i]-m) and returns the sum of",
		fmt.Sprintf("the results; len(x) must be a multiple of %d, and m at least every x[i]", s.lanes),
		fmt.Sprintf("(so the exponents are ≤ 0). Needs %s.", s.needExp),
		"",
		"e^t = 2^n · e^f with n = trunc(t·log2 e − ½) and f = t − n·ln 2",
		"(Cody–Waite, ln 2 in two parts), e^f from its degree-6 Taylor",
		"polynomial, 2^n added to the exponent bits: the algorithm of the Go",
		"ops.expNeg, with fused multiply-adds, so results may differ from it",
		"in the last bit. t < −87 gives 0; NaN stays NaN.",
	)
	mem := expConsts()
	p := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	m := s.alloc()
	VBROADCASTSS(paramAddr("m"), m)
	c := func(i int) Op { return mem(i) }
	if s.lanes == 16 {
		regs := make([]Op, 10)
		for i := range regs {
			r := s.alloc()
			VBROADCASTSS(mem(i), r)
			regs[i] = r
		}
		c = func(i int) Op { return regs[i] }
	}
	SHRQ(U8(s.shift()), n)
	sums := []VecVirtual{s.alloc(), s.alloc()}
	for _, v := range sums {
		s.zero(v)
	}
	exp := func(off int, sum VecVirtual) {
		t, k, e := s.alloc(), s.alloc(), s.alloc()
		var ok Op = s.alloc()
		if s.lanes == 16 {
			ok = K()
		}
		VMOVUPS(Mem{Base: p, Disp: off}, t)
		VSUBPS(m, t, t)
		VCMPPS(U8(5), c(9), t, ok) // not (t < −87): keeps NaN
		VMULPS(c(0), t, k)
		VSUBPS(c(1), k, k)
		VCVTTPS2DQ(k, k)
		VCVTDQ2PS(k, e)
		VFNMADD231PS(c(2), e, t) // t −= n·ln2hi (exact)
		VFNMADD231PS(c(3), e, t) // t −= n·ln2lo: now f, |f| ≤ ln2/2
		VMOVUPS(c(4), e)
		for _, i := range []int{5, 6, 7, 1, 8, 8} {
			VFMADD213PS(c(i), t, e) // e = e·f + c
		}
		VPSLLD(U8(23), k, k)
		VPADDD(k, e, e)
		if s.lanes == 16 {
			VMOVAPS_Z(e, ok, e)
		} else {
			VANDPS(ok, e, e)
		}
		VMOVUPS(e, Mem{Base: p, Disp: off})
		VADDPS(e, sum, sum)
	}
	Label("loop2")
	CMPQ(n, U8(2))
	JL(LabelRef("tail"))
	exp(0, sums[0])
	exp(s.bytes(), sums[1])
	addq(2*s.bytes(), p)
	SUBQ(U8(2), n)
	JMP(LabelRef("loop2"))
	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("reduce"))
	exp(0, sums[0])
	Label("reduce")
	VADDPS(sums[1], sums[0], sums[0])
	sum := s.reduce(sums[0], VADDPS, VADDSS)
	VZEROUPPER()
	Store(sum.AsX(), ReturnIndex(0))
	RET()
}

// addAVX2 emits AddAVX2: dst += src, 32 floats per trip, then 8.
func addAVX2() {
	TEXT("AddAVX2", NOSPLIT, "func(dst, src []float32)")
	Pragma("noescape")
	Doc(
		"AddAVX2 adds src[i] to dst[i] for i < len(dst); len(dst) must be a",
		"multiple of 8 and len(src) at least len(dst). Needs AVX.",
	)
	d := Load(Param("dst").Base(), GP64())
	sp := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(U8(3), n)
	v := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	Label("loop4")
	CMPQ(n, U8(4))
	JL(LabelRef("loop1"))
	for i := range v {
		VMOVUPS(Mem{Base: d, Disp: 32 * i}, v[i])
		VADDPS(Mem{Base: sp, Disp: 32 * i}, v[i], v[i])
		VMOVUPS(v[i], Mem{Base: d, Disp: 32 * i})
	}
	ADDQ(U8(128), d)
	ADDQ(U8(128), sp)
	SUBQ(U8(4), n)
	JMP(LabelRef("loop4"))
	Label("loop1")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	VMOVUPS(Mem{Base: d}, v[0])
	VADDPS(Mem{Base: sp}, v[0], v[0])
	VMOVUPS(v[0], Mem{Base: d})
	ADDQ(U8(32), d)
	ADDQ(U8(32), sp)
	DECQ(n)
	JMP(LabelRef("loop1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// addBiasReLUAVX2 emits AddBiasReLUAVX2: x = relu(x + bias) row by row, the
// bias added and the negatives cleared in one pass over x.
func addBiasReLUAVX2() {
	TEXT("AddBiasReLUAVX2", NOSPLIT, "func(x, bias []float32)")
	Pragma("noescape")
	Doc(
		"AddBiasReLUAVX2 adds bias to every row of x ([len(x)/len(bias),",
		"len(bias)]) and then clears every value whose sign bit is set, as",
		"ops.AddRowBias followed by ops.ReLU do. len(bias) must be a positive",
		"multiple of 8 and len(x) a multiple of len(bias). Needs AVX2.",
	)
	xp := Load(Param("x").Base(), GP64())
	end := Load(Param("x").Len(), GP64())
	b0 := Load(Param("bias").Base(), GP64())
	nb := Load(Param("bias").Len(), GP64())
	LEAQ(Mem{Base: xp, Index: end, Scale: 4}, end) // one past x
	SHRQ(U8(3), nb)
	v, m := YMM(), YMM()
	b, j := GP64(), GP64()
	Label("row")
	CMPQ(xp, end)
	JAE(LabelRef("done"))
	MOVQ(b0, b)
	MOVQ(nb, j)
	Label("col")
	VMOVUPS(Mem{Base: xp}, v)
	VADDPS(Mem{Base: b}, v, v)
	VPSRAD(U8(31), v, m) // all ones where the sign bit is set
	VPANDN(v, m, v)      // v &^ m
	VMOVUPS(v, Mem{Base: xp})
	ADDQ(U8(32), xp)
	ADDQ(U8(32), b)
	DECQ(j)
	JNZ(LabelRef("col"))
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// layerNormRowAVX2 emits LayerNormRowAVX2: one row of ops.LayerNorm, with
// the mean and variance accumulated in float64 lanes.
func layerNormRowAVX2() {
	TEXT("LayerNormRowAVX2", NOSPLIT, "func(out, x, gamma, beta []float32, eps float64)")
	Pragma("noescape")
	Doc(
		"LayerNormRowAVX2 normalises the row x and writes",
		"out[j] = float32((x[j]−mean)·inv)·gamma[j] + beta[j], inv =",
		"1/sqrt(var+eps), as ops.LayerNorm does for one row: mean and (biased)",
		"variance are summed in float64, four lanes at a time, so they may",
		"differ from the Go loop's in the last bits of a float64. len(x) must be",
		"a positive multiple of 8; out, gamma and beta at least as long. out",
		"may be x. Needs AVX2 and FMA3.",
	)
	op := Load(Param("out").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	gp := Load(Param("gamma").Base(), GP64())
	bp := Load(Param("beta").Base(), GP64())
	d := Load(Param("x").Len(), GP64())
	n, p := GP64(), GP64()

	s0, s1, t0, t1 := YMM(), YMM(), YMM(), YMM()
	// sumRow emits a loop over x, 8 floats a trip widened to two float64
	// vectors, folded into the accumulators s0 and s1 by acc; the total is
	// left in s0's lowest lane.
	sumRow := func(label string, acc func(t, s VecVirtual)) {
		VXORPD(s0, s0, s0)
		VXORPD(s1, s1, s1)
		MOVQ(d, n)
		SHRQ(U8(3), n)
		MOVQ(xp, p)
		Label(label)
		VCVTPS2PD(Mem{Base: p}, t0)
		VCVTPS2PD(Mem{Base: p, Disp: 16}, t1)
		acc(t0, s0)
		acc(t1, s1)
		ADDQ(U8(32), p)
		DECQ(n)
		JNZ(LabelRef(label))
		VADDPD(s1, s0, s0)
		hsumPD(s0)
	}

	Comment("Pass 1: the sum.")
	sumRow("sum", func(t, s VecVirtual) { VADDPD(t, s, s) })
	// mean = sum / d, broadcast.
	dd := XMM()
	CVTSQ2SD(d, dd)
	mean := YMM()
	VDIVSD(dd, s0.AsX(), mean.AsX())
	VBROADCASTSD(mean.AsX(), mean)

	Comment("Pass 2: the sum of squared deviations.")
	sumRow("sq", func(t, s VecVirtual) {
		VSUBPD(mean, t, t)
		VFMADD231PD(t, t, s)
	})
	// inv = 1 / sqrt(ss/d + eps), broadcast.
	inv := YMM()
	VDIVSD(dd, s0.AsX(), s0.AsX())
	VADDSD(paramAddr("eps"), s0.AsX(), s0.AsX())
	VSQRTSD(s0.AsX(), s0.AsX(), s0.AsX())
	one := GP64()
	MOVQ(U64(math.Float64bits(1)), one)
	MOVQ(one, inv.AsX())
	VDIVSD(s0.AsX(), inv.AsX(), inv.AsX())
	VBROADCASTSD(inv.AsX(), inv)

	Comment("Pass 3: out = float32((x−mean)·inv)·gamma + beta, unfused as in Go.")
	MOVQ(d, n)
	SHRQ(U8(3), n)
	lo, hi := XMM(), XMM()
	y := YMM()
	Label("out")
	VCVTPS2PD(Mem{Base: xp}, t0)
	VCVTPS2PD(Mem{Base: xp, Disp: 16}, t1)
	VSUBPD(mean, t0, t0)
	VSUBPD(mean, t1, t1)
	VMULPD(inv, t0, t0)
	VMULPD(inv, t1, t1)
	VCVTPD2PSY(t0, lo)
	VCVTPD2PSY(t1, hi)
	VINSERTF128(U8(1), hi, lo.AsY(), y)
	VMULPS(Mem{Base: gp}, y, y)
	VADDPS(Mem{Base: bp}, y, y)
	VMOVUPS(y, Mem{Base: op})
	for _, r := range []Register{xp, gp, bp, op} {
		ADDQ(U8(32), r)
	}
	DECQ(n)
	JNZ(LabelRef("out"))
	VZEROUPPER()
	RET()
}

// hsumPD leaves the sum of v's four float64 lanes in its lowest lane.
func hsumPD(v VecVirtual) {
	h := XMM()
	VEXTRACTF128(U8(1), v, h)
	VADDPD(h, v.AsX(), v.AsX())
	VUNPCKHPD(v.AsX(), v.AsX(), h)
	VADDSD(h, v.AsX(), v.AsX())
}

// hreducePS leaves the reduction of v's eight float32 lanes in its lowest
// lane: vop (VADDPS, VMAXPS) folds halves, sop its scalar form the last pair.
func hreducePS(v VecVirtual, vop, sop func(...Op)) {
	h := XMM()
	lo := v.AsX()
	VEXTRACTF128(U8(1), v, h)
	vop(h, lo, lo)
	VMOVHLPS(lo, lo, h)
	vop(h, lo, lo)
	VMOVSHDUP(lo, h)
	sop(h, lo, lo)
}

// adamAVX2 emits AdamAVX2: one Adam update of 8 parameters a trip, each
// operation of train's Go loop in the same order and unfused, so the bits
// are the same: VSQRTPS and VDIVPS are correctly rounded like Go's float32
// operations.
func adamAVX2() {
	TEXT("AdamAVX2", NOSPLIT, "func(p, g, m, v []float32, c *[7]float32)")
	Pragma("noescape")
	Doc(
		"AdamAVX2 makes one Adam update of p from the gradients g and the",
		"moments m and v, with c = {β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), ε, step}:",
		"",
		"\tm[i] = β1·m[i] + (1−β1)·g[i]",
		"\tv[i] = β2·v[i] + ((1−β2)·g[i])·g[i]",
		"\tp[i] -= (step·m[i]) / (√v[i]/√(1−β2ᵗ) + ε)",
		"",
		"each operation rounded to float32 (no FMA), as the Go loop in",
		"ops.AdamUpdate does, so the results are the same bits. len(p) must be a",
		"multiple of 8; g, m and v at least as long. Needs AVX.",
	)
	pp := Load(Param("p").Base(), GP64())
	gp := Load(Param("g").Base(), GP64())
	mp := Load(Param("m").Base(), GP64())
	vp := Load(Param("v").Base(), GP64())
	n := Load(Param("p").Len(), GP64())
	cp := Load(Param("c"), GP64())
	k := make([]VecVirtual, 7) // β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), ε, step
	for i := range k {
		k[i] = YMM()
		VBROADCASTSS(Mem{Base: cp, Disp: 4 * i}, k[i])
	}
	b1, c1, b2, c2, bc2, eps, step := k[0], k[1], k[2], k[3], k[4], k[5], k[6]
	SHRQ(U8(3), n)
	JZ(LabelRef("done"))
	g, m, v, t, u := YMM(), YMM(), YMM(), YMM(), YMM()
	Label("loop")
	// Where two NaNs meet, x86 returns the first source's (in Plan 9
	// order, the second operand's); the operands are ordered as Go 1.26
	// compiles ops.adamUpdateGo, so NaN payloads match too.
	VMOVUPS(Mem{Base: gp}, g)
	VMULPS(Mem{Base: mp}, b1, m) // β1·m
	VMULPS(g, c1, t)             // (1−β1)·g
	VADDPS(m, t, m)              // (1−β1)·g + β1·m
	VMULPS(Mem{Base: vp}, b2, v) // β2·v
	VMULPS(g, c2, t)             // (1−β2)·g
	VMULPS(t, g, t)              // g·((1−β2)·g)
	VADDPS(v, t, v)              // that + β2·v
	VMOVUPS(m, Mem{Base: mp})
	VMOVUPS(v, Mem{Base: vp})
	VSQRTPS(v, t)
	VDIVPS(bc2, t, t)  // √v / √(1−β2ᵗ)
	VADDPS(t, eps, t)  // ε + that
	VMULPS(m, step, u) // step·m
	VDIVPS(t, u, u)
	VMOVUPS(Mem{Base: pp}, t)
	VSUBPS(u, t, t) // p − update
	VMOVUPS(t, Mem{Base: pp})
	for _, r := range []Register{pp, gp, mp, vp} {
		ADDQ(U8(32), r)
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// trips turns n, a length, into trips of 2^shift elements and jumps to
// "done" when there are none; loop then emits the trips.
func trips(n Register, shift uint8) {
	SHRQ(U8(shift), n)
	JZ(LabelRef("done"))
}

// step advances a pointer by bytes after each trip.
type step struct {
	r     Register
	bytes int
}

// loop emits the loop of a one-vector-a-trip kernel, n trips of body, each
// followed by the steps, and the kernel's end ("done", where trips jumps).
func loop(n Register, body func(), steps ...step) {
	Label("loop")
	body()
	for _, s := range steps {
		ADDQ(U8(s.bytes), s.r)
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// addToAVX2 emits AddToAVX2: dst = a + b, 8 floats a trip.
func addToAVX2() {
	TEXT("AddToAVX2", NOSPLIT, "func(dst, a, b []float32)")
	Pragma("noescape")
	Doc(
		"AddToAVX2 sets dst[i] = a[i] + b[i] for i < len(dst); len(dst) must",
		"be a multiple of 8, a and b at least as long. Needs AVX.",
	)
	d := Load(Param("dst").Base(), GP64())
	ap := Load(Param("a").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	trips(n, 3)
	x := YMM()
	loop(n, func() {
		VMOVUPS(Mem{Base: ap}, x)
		VADDPS(Mem{Base: bp}, x, x)
		VMOVUPS(x, Mem{Base: d})
	}, step{d, 32}, step{ap, 32}, step{bp, 32})
}

// scaleAVX2 emits ScaleAVX2: x *= s, 8 floats a trip (the normalising of
// attention rows by 1/sum).
func scaleAVX2() {
	TEXT("ScaleAVX2", NOSPLIT, "func(x []float32, s float32)")
	Pragma("noescape")
	Doc(
		"ScaleAVX2 sets x[i] *= s for i < len(x); len(x) must be a multiple of",
		"8. Needs AVX.",
	)
	xp := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	trips(n, 3)
	sv, v := YMM(), YMM()
	VBROADCASTSS(paramAddr("s"), sv)
	loop(n, func() {
		VMULPS(Mem{Base: xp}, sv, v)
		VMOVUPS(v, Mem{Base: xp})
	}, step{xp, 32})
}

// softmaxBackwardAVX2 emits SoftmaxBackwardAVX2: dy = p·(dy − s), the
// softmax backward of one row given s = Σ dy·p, rounded after the
// subtraction and after the product as in Go.
func softmaxBackwardAVX2() {
	TEXT("SoftmaxBackwardAVX2", NOSPLIT, "func(dy, p []float32, s float32)")
	Pragma("noescape")
	Doc(
		"SoftmaxBackwardAVX2 sets dy[i] = p[i] * (dy[i] - s) for i < len(dy);",
		"len(dy) must be a multiple of 8, p at least as long. Needs AVX.",
	)
	dp := Load(Param("dy").Base(), GP64())
	pp := Load(Param("p").Base(), GP64())
	n := Load(Param("dy").Len(), GP64())
	trips(n, 3)
	sv, v := YMM(), YMM()
	VBROADCASTSS(paramAddr("s"), sv)
	loop(n, func() {
		VMOVUPS(Mem{Base: dp}, v)
		VSUBPS(sv, v, v)
		VMULPS(Mem{Base: pp}, v, v)
		VMOVUPS(v, Mem{Base: dp})
	}, step{dp, 32}, step{pp, 32})
}

// The element-wise passes of the layer-norm backward over one row, in
// float64 on 4 lanes: each lane does the Go loop's operations in its order
// (no FMA), so the bits are the Go reference's. The row's reductions stay in
// Go, where their order is fixed.

// lnNormaliseAVX2 emits LayerNormNormaliseAVX2: h = (float64(x) − mean)·inv.
func lnNormaliseAVX2() {
	TEXT("LayerNormNormaliseAVX2", NOSPLIT, "func(h []float64, x []float32, mean, inv float64)")
	Pragma("noescape")
	Doc(
		"LayerNormNormaliseAVX2 sets h[i] = (float64(x[i]) - mean) * inv for",
		"i < len(h); len(h) must be a multiple of 4, x at least as long. Needs",
		"AVX.",
	)
	hp := Load(Param("h").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	n := Load(Param("h").Len(), GP64())
	trips(n, 2)
	mean, inv, v := YMM(), YMM(), YMM()
	VBROADCASTSD(paramAddr("mean"), mean)
	VBROADCASTSD(paramAddr("inv"), inv)
	loop(n, func() {
		VCVTPS2PD(Mem{Base: xp}, v)
		VSUBPD(mean, v, v)
		VMULPD(inv, v, v)
		VMOVUPD(v, Mem{Base: hp})
	}, step{xp, 16}, step{hp, 32})
}

// lnAccumulateAVX2 emits LayerNormAccumulateAVX2: sb += dy, sg += dy·h.
func lnAccumulateAVX2() {
	TEXT("LayerNormAccumulateAVX2", NOSPLIT, "func(sb, sg, h []float64, dy []float32)")
	Pragma("noescape")
	Doc(
		"LayerNormAccumulateAVX2 adds float64(dy[i]) to sb[i] and",
		"float64(dy[i]) * h[i] to sg[i] for i < len(sb); len(sb) must be a",
		"multiple of 4, sg, h and dy at least as long. Needs AVX.",
	)
	bp := Load(Param("sb").Base(), GP64())
	gp := Load(Param("sg").Base(), GP64())
	hp := Load(Param("h").Base(), GP64())
	yp := Load(Param("dy").Base(), GP64())
	n := Load(Param("sb").Len(), GP64())
	trips(n, 2)
	y, s, p := YMM(), YMM(), YMM()
	loop(n, func() {
		VCVTPS2PD(Mem{Base: yp}, y)
		VADDPD(Mem{Base: bp}, y, s)
		VMOVUPD(s, Mem{Base: bp})
		VMULPD(Mem{Base: hp}, y, p)
		VADDPD(Mem{Base: gp}, p, p)
		VMOVUPD(p, Mem{Base: gp})
	}, step{yp, 16}, step{bp, 32}, step{gp, 32}, step{hp, 32})
}

// lnDxAVX2 emits LayerNormDxAVX2: dx += float32((dy·gamma − m1 − h·m2)·inv).
func lnDxAVX2() {
	TEXT("LayerNormDxAVX2", NOSPLIT, "func(dx, dy, gamma []float32, h []float64, m1, m2, inv float64)")
	Pragma("noescape")
	Doc(
		"LayerNormDxAVX2 adds float32((float64(dy[i])*float64(gamma[i]) - m1 -",
		"h[i]*m2) * inv) to dx[i] for i < len(dx); len(dx) must be a multiple",
		"of 4, dy, gamma and h at least as long. Needs AVX.",
	)
	xp := Load(Param("dx").Base(), GP64())
	yp := Load(Param("dy").Base(), GP64())
	gp := Load(Param("gamma").Base(), GP64())
	hp := Load(Param("h").Base(), GP64())
	n := Load(Param("dx").Len(), GP64())
	trips(n, 2)
	m1, m2, inv := YMM(), YMM(), YMM()
	VBROADCASTSD(paramAddr("m1"), m1)
	VBROADCASTSD(paramAddr("m2"), m2)
	VBROADCASTSD(paramAddr("inv"), inv)
	t, g, u := YMM(), YMM(), YMM()
	loop(n, func() {
		VCVTPS2PD(Mem{Base: yp}, t)
		VCVTPS2PD(Mem{Base: gp}, g)
		VMULPD(g, t, t)
		VSUBPD(m1, t, t)
		VMULPD(Mem{Base: hp}, m2, u)
		VSUBPD(u, t, t)
		VMULPD(inv, t, t)
		VCVTPD2PSY(t, t.AsX())
		VADDPS(Mem{Base: xp}, t.AsX(), t.AsX())
		VMOVUPS(t.AsX(), Mem{Base: xp})
	}, step{xp, 16}, step{yp, 16}, step{gp, 16}, step{hp, 32})
}

// reluMaskAVX2 emits ReLUMaskAVX2: the in-place ReLU backward, dx kept
// where y > 0 (ordered: a NaN y clears) and +0 elsewhere.
func reluMaskAVX2() {
	TEXT("ReLUMaskAVX2", NOSPLIT, "func(dx, y []float32)")
	Pragma("noescape")
	Doc(
		"ReLUMaskAVX2 sets dx[i] = 0 where !(y[i] > 0), for i < len(dx): the",
		"backward of ReLU in place. len(dx) must be a multiple of 8, y at",
		"least as long. Needs AVX.",
	)
	d := Load(Param("dx").Base(), GP64())
	yp := Load(Param("y").Base(), GP64())
	n := Load(Param("dx").Len(), GP64())
	trips(n, 3)
	zero, mask := YMM(), YMM()
	VXORPS(zero, zero, zero)
	loop(n, func() {
		VCMPPS(U8(0x11), Mem{Base: yp}, zero, mask) // 0 < y, LT_OQ: false for NaN
		VANDPS(Mem{Base: d}, mask, mask)
		VMOVUPS(mask, Mem{Base: d})
	}, step{d, 32}, step{yp, 32})
}

// reluBackwardAddAVX2 emits ReLUBackwardAddAVX2: dx += dout where y > 0,
// dx left as it is elsewhere (a blend, not an added zero, which would turn
// −0 into +0).
func reluBackwardAddAVX2() {
	TEXT("ReLUBackwardAddAVX2", NOSPLIT, "func(dx, dout, y []float32)")
	Pragma("noescape")
	Doc(
		"ReLUBackwardAddAVX2 adds dout[i] to dx[i] where y[i] > 0 (false for",
		"NaN) and leaves dx[i] unchanged elsewhere, for i < len(dx): the",
		"backward of ReLU. len(dx) must be a multiple of 8, dout and y at",
		"least as long. Needs AVX.",
	)
	d := Load(Param("dx").Base(), GP64())
	op := Load(Param("dout").Base(), GP64())
	yp := Load(Param("y").Base(), GP64())
	n := Load(Param("dx").Len(), GP64())
	trips(n, 3)
	zero, mask, x, s := YMM(), YMM(), YMM(), YMM()
	VXORPS(zero, zero, zero)
	loop(n, func() {
		VCMPPS(U8(0x11), Mem{Base: yp}, zero, mask) // 0 < y, LT_OQ: false for NaN
		VMOVUPS(Mem{Base: d}, x)
		VADDPS(Mem{Base: op}, x, s)
		VBLENDVPS(mask, s, x, x) // x = mask ? s : x
		VMOVUPS(x, Mem{Base: d})
	}, step{d, 32}, step{op, 32}, step{yp, 32})
}

// reluBackwardToAVX2 emits ReLUBackwardToAVX2: dst = (dout where y > 0,
// else +0) + 0, the bits of adding into a cleared dst without the clearing
// pass (the added +0 turns −0 into +0 as that addition does).
func reluBackwardToAVX2() {
	TEXT("ReLUBackwardToAVX2", NOSPLIT, "func(dst, dout, y []float32)")
	Pragma("noescape")
	Doc(
		"ReLUBackwardToAVX2 sets dst[i] = 0 + dout[i] where y[i] > 0 (false",
		"for NaN) and dst[i] = 0 elsewhere, for i < len(dst): what clearing",
		"dst and ReLUBackwardAddAVX2 give. len(dst) must be a multiple of 8,",
		"dout and y at least as long. Needs AVX.",
	)
	d := Load(Param("dst").Base(), GP64())
	op := Load(Param("dout").Base(), GP64())
	yp := Load(Param("y").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	trips(n, 3)
	zero, mask := YMM(), YMM()
	VXORPS(zero, zero, zero)
	loop(n, func() {
		VCMPPS(U8(0x11), Mem{Base: yp}, zero, mask) // 0 < y, LT_OQ: false for NaN
		VANDPS(Mem{Base: op}, mask, mask)
		VADDPS(mask, zero, mask) // +0 + that
		VMOVUPS(mask, Mem{Base: d})
	}, step{d, 32}, step{op, 32}, step{yp, 32})
}
