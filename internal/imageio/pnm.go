package imageio

// Netpbm glue: binary PGM (P5), PPM (P6) and PAM (P7), 8 or 16 bits a
// sample, as ffmpeg's image2pipe writes them.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

type byteReader interface {
	io.Reader
	io.ByteReader
}

// maxPNMHeader bounds a header with its comments.
const maxPNMHeader = 64 << 10

// headerReader reads header bytes within a budget; end of input is a
// truncated image.
type headerReader struct {
	r    io.ByteReader
	left int
}

func (h *headerReader) byte() (byte, error) {
	if h.left == 0 {
		return 0, errors.New("PPM/PAM header too long")
	}
	h.left--
	c, err := h.r.ReadByte()
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errTruncated
	}
	return c, err
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// number reads a decimal field of a P5/P6 header, skipping whitespace and
// comments before it, and the one whitespace byte after it.
func (h *headerReader) number() (int, error) {
	c, err := h.byte()
	for err == nil && (isSpace(c) || c == '#') {
		if c == '#' {
			for err == nil && c != '\n' && c != '\r' {
				c, err = h.byte()
			}
			continue
		}
		c, err = h.byte()
	}
	if err != nil {
		return 0, err
	}
	if c < '0' || c > '9' {
		return 0, fmt.Errorf("PPM header: unexpected %q", c)
	}
	v := 0
	for ; c >= '0' && c <= '9'; c, err = h.byte() {
		if v = v*10 + int(c-'0'); v > 1<<30 {
			return 0, errors.New("PPM header: number too large")
		}
	}
	if err != nil {
		return 0, err
	}
	if !isSpace(c) {
		return 0, fmt.Errorf("PPM header: unexpected %q after a number", c)
	}
	return v, nil
}

func (h *headerReader) line() (string, error) {
	var b []byte
	for {
		c, err := h.byte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return strings.TrimSpace(string(b)), nil
		}
		b = append(b, c)
	}
}

// pamDepths are the PAM tuple types this package reads, by their depth.
var pamDepths = map[string]int{
	"GRAYSCALE": 1, "GRAYSCALE_ALPHA": 2, "RGB": 3, "RGB_ALPHA": 4,
	"BLACKANDWHITE": 1, "BLACKANDWHITE_ALPHA": 2,
}

// pamHeader reads a P7 header after the magic: KEY value lines up to ENDHDR.
func (h *headerReader) pamHeader() (w, ht, depth, maxval int, err error) {
	if rest, err := h.line(); err != nil || rest != "" {
		return 0, 0, 0, 0, cmpErr(err, errors.New("PAM header: junk after P7"))
	}
	fields := map[string]int{"WIDTH": -1, "HEIGHT": -1, "DEPTH": -1, "MAXVAL": -1}
	tuple := ""
	for {
		l, err := h.line()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if l == "" || l[0] == '#' {
			continue
		}
		key, val, _ := strings.Cut(l, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "ENDHDR":
			for _, k := range []string{"WIDTH", "HEIGHT", "DEPTH", "MAXVAL"} { // a fixed order: the same message every time
				if fields[k] < 0 {
					return 0, 0, 0, 0, fmt.Errorf("PAM header: no %s", k)
				}
			}
			depth = fields["DEPTH"]
			if tuple != "" && pamDepths[tuple] != depth {
				return 0, 0, 0, 0, fmt.Errorf("PAM header: TUPLTYPE %s with DEPTH %d not supported", tuple, depth)
			}
			return fields["WIDTH"], fields["HEIGHT"], depth, fields["MAXVAL"], nil
		case "TUPLTYPE":
			tuple = val
		case "WIDTH", "HEIGHT", "DEPTH", "MAXVAL":
			v, err := strconv.Atoi(val)
			if err != nil || v < 0 || v > 1<<30 {
				return 0, 0, 0, 0, fmt.Errorf("PAM header: bad %s %q", key, val)
			}
			fields[key] = v
		default:
			return 0, 0, 0, 0, fmt.Errorf("PAM header: unknown field %q", key)
		}
	}
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// readPNM reads one P5, P6 or P7 image from r, positioned after the magic
// ("P" and the digit), reading no byte past the image.
func readPNM(r byteReader, magic byte) (*Picture, error) {
	w, h, depth, maxval, format, err := pnmHeader(r, magic)
	if err != nil {
		return nil, err
	}
	return readRaster(r, w, h, depth, maxval, format)
}

// pnmHeader reads and checks the header of a P5, P6 or P7 image.
func pnmHeader(r io.ByteReader, magic byte) (w, ht, depth, maxval int, format string, err error) {
	h := &headerReader{r: r, left: maxPNMHeader}
	format = "ppm"
	switch magic {
	case '5', '6':
		depth = 1
		if magic == '6' {
			depth = 3
		}
		if w, err = h.number(); err == nil {
			if ht, err = h.number(); err == nil {
				maxval, err = h.number()
			}
		}
	case '7':
		format = "pam"
		w, ht, depth, maxval, err = h.pamHeader()
	default:
		return 0, 0, 0, 0, "", fmt.Errorf("netpbm P%c images are not supported (only P5, P6, P7)", magic)
	}
	if err != nil {
		return 0, 0, 0, 0, "", err
	}
	if err := checkSize(int64(w), int64(ht)); err != nil {
		return 0, 0, 0, 0, "", err
	}
	if maxval < 1 || maxval > 65535 {
		return 0, 0, 0, 0, "", fmt.Errorf("%s maxval %d out of range 1..65535", strings.ToUpper(format), maxval)
	}
	if depth < 1 || depth > 4 {
		return 0, 0, 0, 0, "", fmt.Errorf("PAM depth %d not supported (1 to 4)", depth)
	}
	return w, ht, depth, maxval, format, nil
}

// readRaster reads the samples of a w×h netpbm image as they are (Pixels
// scales them to 0..255).
func readRaster(r io.Reader, w, h, depth, maxval int, format string) (*Picture, error) {
	bps := 1
	if maxval > 255 {
		bps = 2
	}
	pix := make([]byte, w*h*depth*bps)
	if _, err := io.ReadFull(r, pix); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errTruncated
		}
		return nil, err
	}
	px := &pnmSamples{pix: pix, h: h, w: w, depth: depth, bps: bps, maxval: float32(maxval)}
	return &Picture{Pixels: newPixels(px, 0), Grey: depth <= 2, Deep: maxval > 255, Format: format}, nil
}

// writePNM writes o as P5/P6 (alpha dropped) or, when pam, as P7 with the
// matching tuple type; 16 bits a sample when o is deep.
func writePNM(w io.Writer, o *Output, pam bool) error {
	rows := o.rows(pam)
	defer rows.stop()
	depth := o.planeCount(pam)
	maxval, bps := 255, 1
	if o.Deep {
		maxval, bps = 65535, 2
	}
	bw := bufio.NewWriter(w)
	if pam {
		tuple := [...]string{1: "GRAYSCALE", 2: "GRAYSCALE_ALPHA", 3: "RGB", 4: "RGB_ALPHA"}[depth]
		fmt.Fprintf(bw, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL %d\nTUPLTYPE %s\nENDHDR\n",
			o.W, o.H, depth, maxval, tuple)
	} else {
		magic := 6
		if depth == 1 {
			magic = 5
		}
		fmt.Fprintf(bw, "P%d\n%d %d\n%d\n", magic, o.W, o.H, maxval)
	}
	line := make([]byte, o.W*depth*bps)
	for range o.H {
		planes, err := rows.read()
		if err != nil {
			return err
		}
		for k, pl := range planes {
			for x, v := range pl {
				i := (x*depth + k) * bps
				if o.Deep {
					q := quantize16(v)
					line[i], line[i+1] = byte(q>>8), byte(q)
				} else {
					line[i] = Quantize(v)
				}
			}
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	if err := rows.finish(); err != nil {
		return err
	}
	return bw.Flush()
}
