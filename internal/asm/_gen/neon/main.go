// Command neon writes internal/asm/sgemm_arm64.s: the arm64 NEON (ASIMD)
// GEMM micro-kernel and row kernels. avo has no arm64 backend, and Go's
// arm64 assembler lacks most vector floating-point instructions (FADD,
// FMUL, FCVTL, FCVTZS, …), so those are emitted as WORDs, each with its
// mnemonic in a comment; the encodings follow the Arm ARM (A64, AdvSIMD).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// word emits one encoded instruction with its assembly form as comment.
func word(enc uint32, asm string, args ...any) {
	p("\tWORD $0x%08x // %s", enc, fmt.Sprintf(asm, args...))
}

func rrr(base uint32, d, n, m int) uint32 { return base | uint32(m)<<16 | uint32(n)<<5 | uint32(d) }

// Three-register vector ops, .4S (single) or .2D (double) arrangement.
func fadd(d, n, m int)  { word(rrr(0x4E20D400, d, n, m), "FADD V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fsub(d, n, m int)  { word(rrr(0x4EA0D400, d, n, m), "FSUB V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fmul(d, n, m int)  { word(rrr(0x6E20DC00, d, n, m), "FMUL V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fmla(d, n, m int)  { word(rrr(0x4E20CC00, d, n, m), "FMLA V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fmls(d, n, m int)  { word(rrr(0x4EA0CC00, d, n, m), "FMLS V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fmax(d, n, m int)  { word(rrr(0x4E20F400, d, n, m), "FMAX V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func fcmgt(d, n, m int) { word(rrr(0x6EA0E400, d, n, m), "FCMGT V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func addi(d, n, m int)  { word(rrr(0x4EA08400, d, n, m), "ADD V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func bic(d, n, m int)   { word(rrr(0x4E601C00, d, n, m), "BIC V%d.16B, V%d.16B, V%d.16B", d, n, m) }
func mov(d, n int)      { word(rrr(0x4EA01C00, d, n, n), "MOV V%d.16B, V%d.16B", d, n) }
func zero(d int)        { word(rrr(0x6E201C00, d, d, d), "EOR V%d.16B, V%d.16B, V%d.16B", d, d, d) }
func faddD(d, n, m int) { word(rrr(0x4E60D400, d, n, m), "FADD V%d.2D, V%d.2D, V%d.2D", d, n, m) }
func fsubD(d, n, m int) { word(rrr(0x4EE0D400, d, n, m), "FSUB V%d.2D, V%d.2D, V%d.2D", d, n, m) }
func fmulD(d, n, m int) { word(rrr(0x6E60DC00, d, n, m), "FMUL V%d.2D, V%d.2D, V%d.2D", d, n, m) }
func fmlaD(d, n, m int) { word(rrr(0x4E60CC00, d, n, m), "FMLA V%d.2D, V%d.2D, V%d.2D", d, n, m) }
func cmltz(d, n int)    { word(rrr(0x4EA0A800, d, n, 0), "CMLT V%d.4S, V%d.4S, #0", d, n) }
func fcvtzs(d, n int)   { word(rrr(0x4EA1B800, d, n, 0), "FCVTZS V%d.4S, V%d.4S", d, n) }
func scvtf(d, n int)    { word(rrr(0x4E21D800, d, n, 0), "SCVTF V%d.4S, V%d.4S", d, n) }
func shl23(d, n int)    { word(rrr(0x4F375400, d, n, 0), "SHL V%d.4S, V%d.4S, #23", d, n) }
func fcvtl(d, n int)    { word(rrr(0x0E617800, d, n, 0), "FCVTL V%d.2D, V%d.2S", d, n) }
func fcvtl2(d, n int)   { word(rrr(0x4E617800, d, n, 0), "FCVTL2 V%d.2D, V%d.4S", d, n) }
func fcvtn(d, n int)    { word(rrr(0x0E616800, d, n, 0), "FCVTN V%d.2S, V%d.2D", d, n) }
func fcvtn2(d, n int)   { word(rrr(0x4E616800, d, n, 0), "FCVTN2 V%d.4S, V%d.2D", d, n) }
func fmaxv(d, n int)    { word(rrr(0x6E30F800, d, n, 0), "FMAXV S%d, V%d.4S", d, n) }
func faddp(d, n, m int) { word(rrr(0x6E20D400, d, n, m), "FADDP V%d.4S, V%d.4S, V%d.4S", d, n, m) }
func faddpS(d, n int)   { word(rrr(0x7E30D800, d, n, 0), "FADDP S%d, V%d.2S", d, n) }
func faddpD(d, n int)   { word(rrr(0x7E70D800, d, n, 0), "FADDP D%d, V%d.2D", d, n) }
func dupW(d, r int)     { word(rrr(0x4E040C00, d, r, 0), "DUP V%d.4S, R%d", d, r) }
func dupS0(d, n int)    { word(rrr(0x4E040400, d, n, 0), "DUP V%d.4S, V%d.S[0]", d, n) }
func dupD0(d, n int)    { word(rrr(0x4E080400, d, n, 0), "DUP V%d.2D, V%d.D[0]", d, n) }
func ldrQ(t, n, off int) {
	word(0x3DC00000|uint32(off/16)<<10|uint32(n)<<5|uint32(t), "LDR Q%d, [R%d, #%d]", t, n, off)
}
func strQ(t, n, off int) {
	word(0x3D800000|uint32(off/16)<<10|uint32(n)<<5|uint32(t), "STR Q%d, [R%d, #%d]", t, n, off)
}

// Loads and stores of consecutive registers V(t)…, .4S.
func ld1(t, n int)    { word(rrr(0x4C407800, t, n, 0), "LD1 [V%d.4S], (R%d)", t, n) }
func ld1p(t, n int)   { word(rrr(0x4CDF7800, t, n, 0), "LD1.P 16(R%d), [V%d.4S]", n, t) }
func st1p(t, n int)   { word(rrr(0x4C9F7800, t, n, 0), "ST1.P [V%d.4S], 16(R%d)", t, n) }
func ld1x4(t, n int)  { word(rrr(0x4C402800, t, n, 0), "LD1 [V%d.4S-V%d.4S], (R%d)", t, t+3, n) }
func ld1x4p(t, n int) { word(rrr(0x4CDF2800, t, n, 0), "LD1.P 64(R%d), [V%d.4S-V%d.4S]", n, t, t+3) }
func st1x4p(t, n int) { word(rrr(0x4C9F2800, t, n, 0), "ST1.P [V%d.4S-V%d.4S], 64(R%d)", t, t+3, n) }
func ld1x3(t, n int)  { word(rrr(0x4C406800, t, n, 0), "LD1 [V%d.4S-V%d.4S], (R%d)", t, t+2, n) }
func ld1x3r(t, n, m int) {
	word(rrr(0x4CC06800, t, n, m), "LD1.P (R%d)(R%d), [V%d.4S-V%d.4S]", n, m, t, t+2)
}
func st1x3(t, n int) { word(rrr(0x4C006800, t, n, 0), "ST1 [V%d.4S-V%d.4S], (R%d)", t, t+2, n) }
func st1x3r(t, n, m int) {
	word(rrr(0x4C806800, t, n, m), "ST1.P [V%d.4S-V%d.4S], (R%d)(R%d)", t, t+2, n, m)
}
func ld1rr(t, n, m int) { word(rrr(0x4DC0C800, t, n, m), "LD1R.P (R%d)(R%d), [V%d.4S]", n, m, t) }

func text(name, sig string, frame string) {
	p("")
	p("// %s", sig)
	p("TEXT ·%s(SB), NOSPLIT, %s", name, frame)
}

// Sgemm8x12NEON: 24 accumulators V8–V31 (row i, columns 4j…4j+3 in
// V(8+3i+j)), B's three vectors in V0–V2, A's broadcasts rotating through
// V3–V7. A row pointers: R1, R8–R14.
func sgemm() {
	const mr = 8
	text("Sgemm8x12NEON", "func Sgemm8x12NEON(k int, a *float32, rsa int, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32, beta float32)", "$0-72")
	p("\tMOVD k+0(FP), R0")
	p("\tMOVD a+8(FP), R1")
	p("\tMOVD rsa+16(FP), R2")
	p("\tMOVD csa+24(FP), R3")
	p("\tMOVD b+32(FP), R4")
	p("\tMOVD ldb+40(FP), R5")
	p("\tMOVD c+48(FP), R6")
	p("\tMOVD ldc+56(FP), R7")
	p("\tLSL $2, R2")
	p("\tLSL $2, R3")
	p("\tLSL $2, R5")
	p("\tLSL $2, R7")
	row := []int{1, 8, 9, 10, 11, 12, 13, 14}
	p("\tADD R2, R1, R8")
	for i := 2; i < mr; i++ {
		p("\tADD R2, R%d, R%d", row[i-1], row[i])
	}
	for v := 8; v < 32; v++ {
		zero(v)
	}
	acc := func(i, j int) int { return 8 + 3*i + j }
	bc := func(i int) int { return 3 + i%5 }
	p("\tCBZ R0, scale")
	p("loop:")
	ld1x3r(0, 4, 5)
	for i := 0; i < 5; i++ {
		ld1rr(bc(i), row[i], 3)
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < 3; j++ {
			fmla(acc(i, j), j, bc(i))
		}
		if i+5 < mr {
			ld1rr(bc(i+5), row[i+5], 3)
		}
	}
	p("\tSUBS $1, R0")
	p("\tBNE loop")
	p("scale:")
	p("\t// alpha == 1 (bits 0x3f800000) needs no scaling.")
	p("\tMOVWU alpha+64(FP), R1")
	p("\tMOVW $0x3f800000, R8")
	p("\tCMPW R8, R1")
	p("\tBEQ store")
	dupW(0, 1)
	for v := 8; v < 32; v++ {
		fmul(v, v, 0)
	}
	p("store:")
	p("\t// beta == 0 (either sign): C is written without being read.")
	p("\tMOVWU beta+68(FP), R1")
	p("\tLSLW $1, R1, R8")
	p("\tCBZW R8, overwrite")
	dupW(0, 1)
	for i := 0; i < mr; i++ {
		ld1x3(1, 6)
		for j := 0; j < 3; j++ {
			fmla(acc(i, j), 0, 1+j)
		}
		st1x3r(acc(i, 0), 6, 7)
	}
	p("\tRET")
	p("overwrite:")
	for i := 0; i < mr; i++ {
		st1x3r(acc(i, 0), 6, 7)
	}
	p("\tRET")
}

func peak() {
	text("PeakFMANEON", "func PeakFMANEON(n int)", "$0-8")
	p("\tMOVD n+0(FP), R0")
	for v := 0; v < 32; v++ {
		zero(v)
	}
	p("\tCBZ R0, done")
	p("loop:")
	for v := 8; v < 32; v++ {
		fmla(v, 0, 1)
	}
	p("\tSUBS $1, R0")
	p("\tBNE loop")
	p("done:")
	p("\tRET")
}

func maxK() {
	text("MaxNEON", "func MaxNEON(x []float32) float32", "$0-28")
	p("\tMOVD x_base+0(FP), R0")
	p("\tMOVD x_len+8(FP), R1")
	p("\tLSR $2, R1")
	ld1(0, 0)
	for i := 1; i < 4; i++ {
		mov(i, 0)
	}
	p("loop4:")
	p("\tCMP $4, R1")
	p("\tBLT loop1")
	ld1x4p(4, 0)
	for i := 0; i < 4; i++ {
		fmax(i, i, 4+i)
	}
	p("\tSUB $4, R1")
	p("\tB loop4")
	p("loop1:")
	p("\tCBZ R1, reduce")
	ld1p(4, 0)
	fmax(0, 0, 4)
	p("\tSUB $1, R1")
	p("\tB loop1")
	p("reduce:")
	fmax(0, 0, 1)
	fmax(2, 2, 3)
	fmax(0, 0, 2)
	fmaxv(0, 0)
	p("\tFMOVS F0, ret+24(FP)")
	p("\tRET")
}

// expSubSum: constants in V16–V26, m in V27, partial sums in V28, V29; the
// two vectors of a trip use V0–V4 and V5–V9.
func expSubSum() {
	text("ExpSubSumNEON", "func ExpSubSumNEON(x []float32, m float32) float32", "$0-36")
	consts := []float32{
		1.4426950408889634, // V16 log2 e
		0.5,                // V17
		0.693359375,        // V18 ln2hi: 9 bits, so n·ln2hi is exact
		-2.12194440e-4,     // V19 ln2lo
		1.0 / 720,          // V20
		1.0 / 120,          // V21
		1.0 / 24,           // V22
		1.0 / 6,            // V23
		1,                  // V24
		-87,                // V25
	}
	for i, c := range consts {
		p("\tMOVW $0x%08x, R2 // %v", math.Float32bits(c), c)
		dupW(16+i, 2)
	}
	p("\tMOVD x_base+0(FP), R0")
	p("\tMOVD x_len+8(FP), R1")
	p("\tLSR $2, R1")
	p("\tMOVWU m+24(FP), R2")
	dupW(27, 2)
	zero(28)
	zero(29)
	exp := func(off, r0, sum int) {
		t, k, e, ok, q := r0, r0+1, r0+2, r0+3, r0+4
		ldrQ(t, 0, off)
		fsub(t, t, 27)
		fcmgt(ok, 25, t) // −87 > t; false for NaN, which stays NaN
		fmul(k, t, 16)
		fsub(k, k, 17)
		fcvtzs(k, k) // n = trunc(t·log2 e − ½)
		scvtf(e, k)
		fmls(t, e, 18) // f = t − n·ln2hi − n·ln2lo
		fmls(t, e, 19)
		cur, nxt := e, q
		mov(cur, 20)
		for _, c := range []int{21, 22, 23, 17, 24, 24} { // p = p·f + c
			mov(nxt, c)
			fmla(nxt, cur, t)
			cur, nxt = nxt, cur
		}
		shl23(k, k)
		addi(cur, cur, k) // 2^n into the exponent bits
		bic(cur, cur, ok)
		strQ(cur, 0, off)
		fadd(sum, sum, cur)
	}
	p("loop2:")
	p("\tCMP $2, R1")
	p("\tBLT tail")
	exp(0, 0, 28)
	exp(16, 5, 29)
	p("\tADD $32, R0")
	p("\tSUB $2, R1")
	p("\tB loop2")
	p("tail:")
	p("\tCBZ R1, reduce")
	exp(0, 0, 28)
	p("reduce:")
	fadd(28, 28, 29)
	faddp(28, 28, 28)
	faddpS(28, 28)
	p("\tFMOVS F28, ret+32(FP)")
	p("\tRET")
}

func add() {
	text("AddNEON", "func AddNEON(dst []float32, src []float32)", "$0-48")
	p("\tMOVD dst_base+0(FP), R0")
	p("\tMOVD dst_len+8(FP), R2")
	p("\tMOVD src_base+24(FP), R1")
	p("\tLSR $2, R2")
	p("loop4:")
	p("\tCMP $4, R2")
	p("\tBLT loop1")
	ld1x4(0, 0)
	ld1x4p(4, 1)
	for i := 0; i < 4; i++ {
		fadd(i, i, 4+i)
	}
	st1x4p(0, 0)
	p("\tSUB $4, R2")
	p("\tB loop4")
	p("loop1:")
	p("\tCBZ R2, done")
	ld1(0, 0)
	ld1p(1, 1)
	fadd(0, 0, 1)
	st1p(0, 0)
	p("\tSUB $1, R2")
	p("\tB loop1")
	p("done:")
	p("\tRET")
}

func addBiasReLU() {
	text("AddBiasReLUNEON", "func AddBiasReLUNEON(x []float32, bias []float32)", "$0-48")
	p("\tMOVD x_base+0(FP), R0")
	p("\tMOVD x_len+8(FP), R1")
	p("\tMOVD bias_base+24(FP), R2")
	p("\tMOVD bias_len+32(FP), R3")
	p("\tADD R1<<2, R0, R1 // one past x")
	p("\tLSR $2, R3")
	p("row:")
	p("\tCMP R1, R0")
	p("\tBHS done")
	p("\tMOVD R2, R4")
	p("\tMOVD R3, R5")
	p("col:")
	ld1(0, 0)
	ld1p(1, 4)
	fadd(0, 0, 1)
	cmltz(2, 0) // all ones where the sign bit is set
	bic(0, 0, 2)
	st1p(0, 0)
	p("\tSUBS $1, R5")
	p("\tBNE col")
	p("\tB row")
	p("done:")
	p("\tRET")
}

func layerNorm() {
	text("LayerNormRowNEON", "func LayerNormRowNEON(out []float32, x []float32, gamma []float32, beta []float32, eps float64)", "$0-104")
	p("\tMOVD x_base+24(FP), R0")
	p("\tMOVD x_len+32(FP), R2")
	// sumRow: a pass over x, 4 floats a trip widened to two float64
	// vectors folded into V0 and V1 by acc; the total ends in F0.
	sumRow := func(label string, acc func(t, s int)) {
		zero(0)
		zero(1)
		p("\tMOVD R0, R3")
		p("\tLSR $2, R2, R1")
		p("%s:", label)
		ld1p(2, 3)
		fcvtl(3, 2)
		fcvtl2(4, 2)
		acc(3, 0)
		acc(4, 1)
		p("\tSUBS $1, R1")
		p("\tBNE %s", label)
		faddD(0, 0, 1)
		faddpD(0, 0)
	}
	p("\t// Pass 1: the sum; mean in V6.")
	sumRow("sum", func(t, s int) { faddD(s, s, t) })
	p("\tSCVTFD R2, F5")
	p("\tFDIVD F5, F0, F6")
	dupD0(6, 6)
	p("\t// Pass 2: the sum of squared deviations; 1/sqrt(var+eps) in V7.")
	sumRow("sq", func(t, s int) {
		fsubD(t, t, 6)
		fmlaD(s, t, t)
	})
	p("\tFDIVD F5, F0, F0")
	p("\tFMOVD eps+96(FP), F7")
	p("\tFADDD F7, F0, F0")
	p("\tFSQRTD F0, F0")
	p("\tFMOVD $1.0, F7")
	p("\tFDIVD F0, F7, F7")
	dupD0(7, 7)
	p("\t// Pass 3: out = float32((x−mean)·inv)·gamma + beta.")
	p("\tMOVD R0, R3")
	p("\tMOVD gamma_base+48(FP), R4")
	p("\tMOVD beta_base+72(FP), R5")
	p("\tMOVD out_base+0(FP), R6")
	p("\tLSR $2, R2, R1")
	p("out:")
	ld1p(2, 3)
	fcvtl(3, 2)
	fcvtl2(4, 2)
	fsubD(3, 3, 6)
	fsubD(4, 4, 6)
	fmulD(3, 3, 7)
	fmulD(4, 4, 7)
	fcvtn(5, 3)
	fcvtn2(5, 4)
	ld1p(16, 4)
	ld1p(17, 5)
	fmla(17, 5, 16)
	st1p(17, 6)
	p("\tSUBS $1, R1")
	p("\tBNE out")
	p("\tRET")
}

func main() {
	outPath := flag.String("out", "sgemm_arm64.s", "assembly file to write")
	flag.Parse()
	p("// Code generated by command: go run ./neon -out %s. DO NOT EDIT.", "../sgemm_arm64.s")
	p("")
	p("//go:build !purego")
	p("")
	p("#include \"textflag.h\"")
	sgemm()
	peak()
	maxK()
	expSubSum()
	add()
	addBiasReLU()
	layerNorm()
	if err := os.WriteFile(*outPath, out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
