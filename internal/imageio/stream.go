package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"io"
)

// StreamReader reads a stream of concatenated images, as ffmpeg -f
// image2pipe writes them: PNG, or binary netpbm (P5/P6 PGM/PPM, P7 PAM with
// tuple type GRAYSCALE, GRAYSCALE_ALPHA, RGB or RGB_ALPHA, maxval up to
// 65535). The format is detected from the first bytes; every image must
// have the first one's format. It never reads a byte past the image Next
// returns, and holds one image at a time.
//
// The output stream is written by calling [Write] for each picture with
// [StreamReader.Format].
type StreamReader struct {
	r      *exactReader
	format string // of the first image
	n      int    // images returned
	err    error  // sticky
}

// NewStreamReader reads images from r.
func NewStreamReader(r io.Reader) *StreamReader {
	return &StreamReader{r: &exactReader{r: r}}
}

// Format is the stream's format, "png", "ppm" or "pam", once Next has
// returned an image; "" before.
func (s *StreamReader) Format() string { return s.format }

// Offset is how many bytes of the input have been read: the end of the last
// image returned.
func (s *StreamReader) Offset() int64 { return s.r.n }

// Next returns the next image as float planes, io.EOF after the last one,
// or ErrEmpty if the stream has no image at all. Whitespace between netpbm
// images is skipped. Errors name the image's position ("image 3: truncated
// image"); after one, Next returns it again.
func (s *StreamReader) Next() (*Picture, error) {
	p, err := s.NextCompact()
	if err != nil {
		return nil, err
	}
	return p.Floats(), nil
}

// NextCompact is Next, but keeps the picture's pixels compact, as
// [ReadCompact] does.
func (s *StreamReader) NextCompact() (*Picture, error) {
	if s.err != nil {
		return nil, s.err
	}
	p, err := s.next()
	switch {
	case err == io.EOF && s.n == 0:
		err = ErrEmpty
	case err == io.EOF:
	case err != nil:
		err = fmt.Errorf("image %d: %w", s.n+1, err)
	}
	if err != nil {
		s.err = err
		return nil, err
	}
	s.n++
	if s.format == "" {
		s.format = p.Format
	} else if p.Format != s.format {
		s.err = fmt.Errorf("image %d: %s image in a %s stream", s.n, p.Format, s.format)
		return nil, s.err
	}
	return p, nil
}

func (s *StreamReader) next() (*Picture, error) {
	c, err := s.r.ReadByte()
	for err == nil && isSpace(c) && s.format != "png" && s.n > 0 {
		c, err = s.r.ReadByte()
	}
	if err != nil {
		return nil, err // io.EOF: no more images
	}
	switch c {
	case pngSignature[0]:
		if s.format != "" && s.format != "png" {
			return nil, fmt.Errorf("png image in a %s stream", s.format)
		}
		data, err := readPNGChunks(s.r)
		if err != nil {
			return nil, err
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, describe(err)
		}
		return decodeBytes(data, cfg, "png")
	case 'P':
		if s.format == "png" {
			return nil, errors.New("netpbm image in a png stream")
		}
		magic, err := s.r.ReadByte()
		if err != nil {
			return nil, errTruncated
		}
		return readPNM(s.r, magic)
	}
	return nil, errors.New("not a PNG, PPM or PAM image")
}

// readPNGChunks reads one PNG file, whose first byte was read, chunk by
// chunk up to IEND and not beyond. It checks the dimensions in IHDR and
// stops at the size a file of those dimensions may have.
func readPNGChunks(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(pngSignature[0])
	read := func(n int64) error {
		if _, err := io.CopyN(&buf, r, n); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return errTruncated
			}
			return err
		}
		return nil
	}
	// Signature and the IHDR chunk.
	if err := read(int64(len(pngSignature)) - 1 + 8 + 13 + 4); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if string(b[:len(pngSignature)]) != pngSignature {
		return nil, errors.New("not a PNG, PPM or PAM image")
	}
	ihdr := b[len(pngSignature):]
	if binary.BigEndian.Uint32(ihdr) != 13 || string(ihdr[4:8]) != "IHDR" {
		return nil, errors.New("bad PNG: no IHDR chunk first")
	}
	w, h := binary.BigEndian.Uint32(ihdr[8:]), binary.BigEndian.Uint32(ihdr[12:])
	if err := checkSize(int64(w), int64(h)); err != nil {
		return nil, err
	}
	limit := inputLimit(int(w), int(h))
	for {
		at := buf.Len()
		if err := read(8); err != nil {
			return nil, err
		}
		hdr := buf.Bytes()[at:]
		n := int64(binary.BigEndian.Uint32(hdr))
		end := string(hdr[4:8]) == "IEND"
		if n > 1<<31-1 {
			return nil, errors.New("bad PNG: chunk length out of range")
		}
		if int64(buf.Len())+n+4 > limit {
			return nil, fmt.Errorf("png file larger than %d bytes, more than a %d×%d image can need", limit, w, h)
		}
		if err := read(n + 4); err != nil {
			return nil, err
		}
		if end {
			return buf.Bytes(), nil
		}
	}
}

// exactReader reads from r without reading ahead, counting the bytes.
type exactReader struct {
	r   io.Reader
	n   int64
	one [1]byte
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	return n, err
}

func (e *exactReader) ReadByte() (byte, error) {
	_, err := io.ReadFull(e, e.one[:])
	return e.one[0], err
}
