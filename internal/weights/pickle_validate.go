package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// gopickle trusts the pickle: length-prefixed opcodes (BINUNICODE, BINBYTES8,
// FRAME, ...) make([]byte, n) with n straight from the file, a LONG4 of a few
// megabytes takes quadratic time to decode, and every MARK allocates a fresh
// stack. So before gopickle sees a pickle, scanPickle walks its opcodes and
// refuses anything that could make it allocate far more than the pickle's own
// size, or that names a global outside the whitelist.

const (
	// maxPickleBytes caps the pickle held in memory. A state dict pickle takes
	// ~150 bytes per tensor, so this allows ~400k tensors.
	maxPickleBytes = 64 << 20
	// maxPickleCost caps a rough upper bound of what gopickle allocates while
	// running the pickle (see opInfo.cost).
	maxPickleCost = 256 << 20
	// maxMarkDepth caps MARKs open at once; a state dict needs about 3.
	maxMarkDepth = 1000
	// maxNumberLine caps the text of INT/LONG/FLOAT and the byte length of
	// LONG4, whose decoding is quadratic in gopickle.
	maxNumberLine = 256
	// maxNameLine caps the module and name lines of GLOBAL and INST.
	maxNameLine = 1024
)

var errPickleTruncated = errors.New("pickle truncated")

// argKind is the shape of an opcode's inline argument.
type argKind uint8

const (
	argNone   argKind = iota + 1
	argFixed          // opInfo.n bytes
	argNumber         // one decimal line (INT, LONG, FLOAT, GET, PUT)
	argLine           // one text line of any length (STRING, UNICODE, PERSID)
	argNames          // two text lines: module and name (GLOBAL, INST)
	argLen1           // 1-byte length, then that many bytes
	argLen4           // 4-byte unsigned length, then that many bytes
	argLen4s          // 4-byte signed length, then that many bytes
	argLen8           // 8-byte length, then that many bytes
	argLong4          // like argLen4s, but at most maxNumberLine bytes
	argFrame          // 8-byte length of the frame that follows
)

type opInfo struct {
	name string
	arg  argKind
	n    int // for argFixed
	// cost estimates what gopickle allocates for the opcode, in bytes, beyond
	// its argument (which adds twice its length: the read buffer and its
	// string). Against runtime.MemStats.TotalAlloc over a megabyte of one
	// opcode repeated (stack growth included), the estimate comes to 0.9–1.4
	// times the real figure, and about 1.8 times for a real state dict.
	cost int
}

// Every opcode gopickle implements except the ones that need hooks we do not
// give (EXT1/2/4, NEXT_BUFFER). Anything else is refused.
var pickleOps = [256]opInfo{
	'(':  {"MARK", argNone, 0, 320}, // a new 16-slot stack plus a meta-stack slot
	'.':  {"STOP", argNone, 0, 0},
	'0':  {"POP", argNone, 0, 0},
	'1':  {"POP_MARK", argNone, 0, 0},
	'2':  {"DUP", argNone, 0, 96},
	'F':  {"FLOAT", argNumber, 0, 96},
	'I':  {"INT", argNumber, 0, 96},
	'J':  {"BININT", argFixed, 4, 96},
	'K':  {"BININT1", argFixed, 1, 96},
	'L':  {"LONG", argNumber, 0, 96},
	'M':  {"BININT2", argFixed, 2, 96},
	'N':  {"NONE", argNone, 0, 96},
	'P':  {"PERSID", argLine, 0, 128},
	'Q':  {"BINPERSID", argNone, 0, 128},
	'R':  {"REDUCE", argNone, 0, 256},
	'S':  {"STRING", argLine, 0, 96},
	'T':  {"BINSTRING", argLen4s, 0, 96},
	'U':  {"SHORT_BINSTRING", argLen1, 0, 96},
	'V':  {"UNICODE", argLine, 0, 96},
	'X':  {"BINUNICODE", argLen4, 0, 96},
	'a':  {"APPEND", argNone, 0, 96},
	'b':  {"BUILD", argNone, 0, 128},
	'c':  {"GLOBAL", argNames, 0, 128},
	'd':  {"DICT", argNone, 0, 256},
	'}':  {"EMPTY_DICT", argNone, 0, 256},
	'e':  {"APPENDS", argNone, 0, 96},
	'g':  {"GET", argNumber, 0, 96},
	'h':  {"BINGET", argFixed, 1, 96},
	'i':  {"INST", argNames, 0, 256},
	'j':  {"LONG_BINGET", argFixed, 4, 96},
	'l':  {"LIST", argNone, 0, 192},
	']':  {"EMPTY_LIST", argNone, 0, 192},
	'o':  {"OBJ", argNone, 0, 256},
	'p':  {"PUT", argNumber, 0, 96},
	'q':  {"BINPUT", argFixed, 1, 96},
	'r':  {"LONG_BINPUT", argFixed, 4, 96},
	's':  {"SETITEM", argNone, 0, 96},
	't':  {"TUPLE", argNone, 0, 96},
	')':  {"EMPTY_TUPLE", argNone, 0, 96},
	'u':  {"SETITEMS", argNone, 0, 96},
	'G':  {"BINFLOAT", argFixed, 8, 96},
	0x80: {"PROTO", argFixed, 1, 0},
	0x81: {"NEWOBJ", argNone, 0, 256},
	0x85: {"TUPLE1", argNone, 0, 96},
	0x86: {"TUPLE2", argNone, 0, 96},
	0x87: {"TUPLE3", argNone, 0, 96},
	0x88: {"NEWTRUE", argNone, 0, 96},
	0x89: {"NEWFALSE", argNone, 0, 96},
	0x8a: {"LONG1", argLen1, 0, 96},
	0x8b: {"LONG4", argLong4, 0, 96},
	'B':  {"BINBYTES", argLen4, 0, 96},
	'C':  {"SHORT_BINBYTES", argLen1, 0, 96},
	0x8c: {"SHORT_BINUNICODE", argLen1, 0, 96},
	0x8d: {"BINUNICODE8", argLen8, 0, 96},
	0x8e: {"BINBYTES8", argLen8, 0, 96},
	0x8f: {"EMPTY_SET", argNone, 0, 192},
	0x90: {"ADDITEMS", argNone, 0, 96},
	0x91: {"FROZENSET", argNone, 0, 192},
	0x92: {"NEWOBJ_EX", argNone, 0, 256},
	0x93: {"STACK_GLOBAL", argNone, 0, 128},
	0x94: {"MEMOIZE", argNone, 0, 128},
	0x95: {"FRAME", argFrame, 0, 0},
	0x96: {"BYTEARRAY8", argLen8, 0, 96},
	0x98: {"READONLY_BUFFER", argNone, 0, 0},
}

// closesMark lists the opcodes that pop the stack back to the last MARK.
var closesMark = [256]bool{'1': true, 't': true, 'l': true, 'd': true, 'u': true, 'e': true,
	'o': true, 'i': true, 0x90: true, 0x91: true}

// scanPickle walks the pickle at the start of p and returns its length, STOP
// included. It returns errPickleTruncated if p ends first.
func scanPickle(p []byte) (int, error) {
	pos, cost, depth := 0, 0, 0
	for {
		if pos >= len(p) {
			return 0, errPickleTruncated
		}
		at, op := pos, p[pos]
		pos++
		info := &pickleOps[op]
		if info.name == "" {
			return 0, fmt.Errorf("pickle: byte %d: opcode 0x%02x is not allowed", at, op)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("pickle: byte %d: %s: %s", at, info.name, fmt.Sprintf(format, args...))
		}
		cost += info.cost
		switch info.arg {
		case argNone:
		case argFixed:
			if len(p)-pos < info.n {
				return 0, errPickleTruncated
			}
			if op == 0x80 && p[pos] > 5 {
				return 0, fail("unsupported protocol %d", p[pos])
			}
			pos += info.n
		case argNumber, argLine, argNames:
			lines, limit := 1, -1
			switch info.arg {
			case argNumber:
				limit = maxNumberLine
			case argNames:
				lines, limit = 2, maxNameLine
			}
			var names [2]string
			for i := range lines {
				nl := bytes.IndexByte(p[pos:], '\n')
				if nl < 0 {
					if limit >= 0 && len(p)-pos > limit {
						return 0, fail("line longer than %d bytes", limit)
					}
					return 0, errPickleTruncated
				}
				if limit >= 0 && nl > limit {
					return 0, fail("line longer than %d bytes", limit)
				}
				names[i] = string(p[pos : pos+nl])
				cost += 2 * nl
				pos += nl + 1
			}
			if info.arg == argNames && !allowedGlobal(names[0], names[1]) {
				return 0, fail("refusing %s.%s: not a tensor or storage rebuild function", names[0], names[1])
			}
		case argLen1, argLen4, argLen4s, argLen8, argLong4, argFrame:
			var n uint64
			var w int
			switch info.arg {
			case argLen1:
				w = 1
			case argLen4, argLen4s, argLong4:
				w = 4
			default:
				w = 8
			}
			if len(p)-pos < w {
				return 0, errPickleTruncated
			}
			switch w {
			case 1:
				n = uint64(p[pos])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(p[pos:]))
				if info.arg != argLen4 && n >= 1<<31 {
					return 0, fail("negative length")
				}
			case 8:
				n = binary.LittleEndian.Uint64(p[pos:])
			}
			pos += w
			if (op == 0x8a || op == 0x8b) && n == 0 {
				// Python never writes this, and gopickle would index an empty slice.
				return 0, fail("empty long")
			}
			if info.arg == argLong4 && n > maxNumberLine {
				return 0, fail("%d-byte integer is longer than %d bytes", n, maxNumberLine)
			}
			if n > uint64(len(p)-pos) {
				// Whether the bytes are missing or the length is a lie, the caller
				// reads more only up to maxPickleBytes and the file's end.
				if n > maxPickleBytes {
					return 0, fail("length %d is more than the %d-byte pickle limit", n, maxPickleBytes)
				}
				return 0, errPickleTruncated
			}
			if info.arg == argFrame {
				// The frame's content is the opcodes that follow: keep walking them.
				cost += int(n)
			} else {
				cost += 2 * int(n)
				pos += int(n)
			}
		}
		switch {
		case op == '(':
			if depth++; depth > maxMarkDepth {
				return 0, fail("more than %d MARKs open", maxMarkDepth)
			}
		case closesMark[op] && depth > 0:
			depth--
		case op == '.':
			return pos, nil
		}
		if cost > maxPickleCost {
			return 0, fmt.Errorf("pickle: byte %d: unpickling it would allocate more than %d MiB", at, maxPickleCost>>20)
		}
	}
}

// readPickle returns the pickle that starts at byte off of r (size bytes in
// all), reading in doubling chunks so that a small pickle at the head of a
// large file costs little.
func readPickle(r io.ReaderAt, off, size int64) ([]byte, error) {
	avail := size - off
	if avail <= 0 {
		return nil, errors.New("file ends where a pickle should start")
	}
	n := min(avail, 64<<10, maxPickleBytes)
	for {
		buf := make([]byte, n)
		if m, err := r.ReadAt(buf, off); m < len(buf) {
			return nil, fmt.Errorf("reading pickle at byte %d: %w", off, err)
		}
		end, err := scanPickle(buf)
		switch {
		case err == nil:
			return buf[:end], nil
		case !errors.Is(err, errPickleTruncated):
			return nil, err
		case n == avail:
			return nil, fmt.Errorf("pickle at byte %d: file ends before the pickle does", off)
		case n == maxPickleBytes:
			return nil, fmt.Errorf("pickle at byte %d: longer than the %d MiB limit", off, maxPickleBytes>>20)
		}
		n = min(2*n, avail, maxPickleBytes)
	}
}
