package imageio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // registers GIF with image.Decode
	_ "image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// ErrEmpty is returned for an input (or a stream) with no image at all.
var ErrEmpty = errors.New("empty input")

var errTruncated = errors.New("truncated image")

// maxInputBytes bounds what Read takes in before it knows the dimensions
// (a TIFF may put its header at the end of the file).
const maxInputBytes = min(16*MaxPixels+32<<20, math.MaxInt>>1)

// inputLimit is the most bytes a w×h image file is allowed: twice 8 bytes a
// pixel (16-bit RGBA, stored uncompressed) and 32 MiB for metadata.
func inputLimit(w, h int) int64 {
	return min(16*int64(w)*int64(h)+32<<20, maxInputBytes)
}

// Read decodes one whole image file: PNG, JPEG, GIF (first frame), BMP,
// TIFF, WebP, PPM/PGM (P6/P5) or PAM (P7), into float planes (Color and
// Alpha). It applies a JPEG's EXIF orientation and keeps the embedded
// colour profile of PNG, JPEG, TIFF and WebP files. Bytes after the image
// are not read or are ignored.
func Read(r io.Reader) (*Picture, error) {
	p, err := ReadCompact(r)
	if err != nil {
		return nil, err
	}
	return p.Floats(), nil
}

// ReadCompact reads an image as Read does, but keeps the decoded pixels as
// the decoder gave them (Pixels; Color and Alpha are nil): 1 to 8 bytes a
// pixel instead of 12 to 16 as float planes, with the float values of any
// crop made on demand, the same as Read's. PNG, JPEG, GIF, BMP and netpbm
// files are decoded as they are read; TIFF and WebP files are read whole
// first.
func ReadCompact(r io.Reader) (*Picture, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(4)
	switch {
	case len(head) == 0 && err == io.EOF:
		return nil, ErrEmpty
	case len(head) == 0:
		return nil, err
	case len(head) >= 2 && head[0] == 'P' && '5' <= head[1] && head[1] <= '7':
		br.Discard(2)
		return readPNM(br, head[1])
	case string(head) == "II*\x00" || string(head) == "MM\x00*":
		data, cfg, err := readTIFF(br)
		if err != nil {
			return nil, err
		}
		return decodeBytes(data, cfg, "tiff")
	}
	// The header, for its dimensions: kept to be read again.
	var buf bytes.Buffer
	lr := &io.LimitedReader{R: br, N: maxInputBytes}
	cfg, format, err := image.DecodeConfig(io.TeeReader(lr, &buf))
	if err != nil {
		return nil, describe(err)
	}
	if err := checkSize(int64(cfg.Width), int64(cfg.Height)); err != nil {
		return nil, err
	}
	// Decoders stop at the end of their image (a GIF's first frame, a
	// PNG's IEND): they get at most one byte more than the limit, and a
	// failure there is reported as an oversized file.
	limit := inputLimit(cfg.Width, cfg.Height)
	in := &countingReader{r: io.LimitReader(io.MultiReader(&buf, lr), limit+1)}
	if format == "webp" {
		data, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		return decodeBytes(data, cfg, format)
	}
	return decodeStream(in, cfg, format, limit)
}

// readTIFF reads a whole TIFF file, checking the dimensions its header
// claims: a TIFF's header may be anywhere (often at the end) and
// x/image/tiff reads an io.Reader up to it in 10 MB steps, so it gets
// random access to all of it (image.DecodeConfig would hide that).
func readTIFF(r io.Reader) ([]byte, image.Config, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, maxInputBytes)); err != nil {
		return nil, image.Config{}, err
	}
	cfg, err := tiff.DecodeConfig(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, cfg, describe(err)
	}
	if err := checkSize(int64(cfg.Width), int64(cfg.Height)); err != nil {
		return nil, cfg, err
	}
	data := buf.Bytes()
	if limit := inputLimit(cfg.Width, cfg.Height); int64(len(data)) > limit {
		data = data[:limit+1] // decodeBytes reports an oversized file if the prefix fails
	}
	return data, cfg, nil
}

// decodeStream decodes a PNG, JPEG, GIF or BMP file from in, which holds
// at most limit+1 bytes, without keeping it: only the headers before the
// image data (PNG chunks before IDAT, JPEG segments before the scan) are
// kept, for the colour type and profile.
func decodeStream(in *countingReader, cfg image.Config, format string, limit int64) (*Picture, error) {
	var meta []byte
	var r io.Reader = in
	switch format {
	case "png":
		meta, r = pngHeaders(in)
	case "jpeg":
		meta, r = jpegHeaders(in)
	}
	m, err := decodeImage(r, format)
	if err != nil {
		io.Copy(io.Discard, in) // how long the file is, up to the limit
		if in.n > limit {
			return nil, tooLarge(cfg, format, limit)
		}
		return nil, describe(err)
	}
	return newPicture(m, cfg, format, meta)
}

// decodeBytes decodes a whole image file whose header was already checked.
func decodeBytes(data []byte, cfg image.Config, format string) (*Picture, error) {
	m, err := decodeImage(bytes.NewReader(data), format) // tiff: an io.ReaderAt, not copied
	if err != nil {
		if limit := inputLimit(cfg.Width, cfg.Height); int64(len(data)) > limit {
			return nil, tooLarge(cfg, format, limit)
		}
		return nil, describe(err)
	}
	return newPicture(m, cfg, format, data)
}

func tooLarge(cfg image.Config, format string, limit int64) error {
	return fmt.Errorf("%s file larger than %d bytes, more than a %d×%d image can need", format, limit, cfg.Width, cfg.Height)
}

// decodeImage decodes an image of the given format.
func decodeImage(r io.Reader, format string) (image.Image, error) {
	if format == "tiff" {
		return tiff.Decode(r)
	}
	m, _, err := image.Decode(r)
	return m, err
}

// newPicture keeps the decoded image m with what the output needs to look
// like the input; meta holds the file's headers (or all of it), where a
// JPEG's EXIF orientation is found (Pixels applies it).
func newPicture(m image.Image, cfg image.Config, format string, meta []byte) (*Picture, error) {
	orient := 0
	if format == "jpeg" {
		orient = jpegOrientation(meta)
	}
	if format == "gif" && m.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
		// A first frame smaller than the screen sits on a transparent canvas.
		canvas := image.NewNRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
		draw.Draw(canvas, m.Bounds(), m, m.Bounds().Min, draw.Src)
		m = canvas
	}
	if b := m.Bounds(); checkSize(int64(b.Dx()), int64(b.Dy())) != nil {
		return nil, fmt.Errorf("%s decoder returned a %d×%d image", format, b.Dx(), b.Dy())
	}
	p := &Picture{Format: format, Deep: isDeep(m), Grey: isGrey(m), Pixels: newPixels(newDecoded(m), orient)}
	switch format {
	case "png":
		if len(meta) > 25 && (meta[25] == 0 || meta[25] == 4) { // IHDR colour type grey, grey+alpha
			p.Grey = true
		}
		p.ICC = pngICC(meta)
	case "jpeg":
		p.Grey = cfg.ColorModel == color.GrayModel
		p.ICC = jpegICC(meta)
	case "tiff":
		p.ICC = tiffICC(meta)
	case "webp":
		p.ICC = webpICC(meta)
	}
	return p, nil
}

// pngHeaders reads the chunks of a PNG file from r up to the first IDAT
// (or IEND) chunk's header, all that pngICC reads of a file, and returns
// them and a reader of the whole file again.
func pngHeaders(r io.Reader) ([]byte, io.Reader) {
	var b bytes.Buffer
	ok := copyN(&b, r, int64(len(pngSignature)))
	for ok {
		at := b.Len()
		if ok = copyN(&b, r, 8); !ok {
			break
		}
		hdr := b.Bytes()[at:]
		if typ := string(hdr[4:8]); typ == "IDAT" || typ == "IEND" {
			break
		}
		ok = copyN(&b, r, int64(binary.BigEndian.Uint32(hdr))+4)
	}
	return b.Bytes(), io.MultiReader(bytes.NewReader(b.Bytes()), r)
}

// jpegHeaders reads the segments of a JPEG file from r up to the start of
// the scan, walking them as jpegICC does, so that it finds in them what it
// would find in the whole file; it returns them and a reader of the whole
// file again.
func jpegHeaders(r io.Reader) ([]byte, io.Reader) {
	var b bytes.Buffer
	has := func(n int) bool { return n <= b.Len() || copyN(&b, r, int64(n-b.Len())) }
walk:
	for p := 2; has(p + 4); {
		d := b.Bytes()
		if d[p] != 0xff {
			break
		}
		switch m := d[p+1]; {
		case m == 0xff: // fill byte
			p++
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // markers without a length
			p += 2
		case m == 0xda || m == 0xd9: // start of scan, end of image
			break walk
		default:
			n := int(binary.BigEndian.Uint16(d[p+2:]))
			if n < 2 || !has(p+2+n) {
				break walk
			}
			p += 2 + n
		}
	}
	return b.Bytes(), io.MultiReader(bytes.NewReader(b.Bytes()), r)
}

// copyN appends n bytes of r to b, reporting whether all of them came.
func copyN(b *bytes.Buffer, r io.Reader, n int64) bool {
	_, err := io.CopyN(b, r, n)
	return err == nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// describe turns decoder errors into short messages about the input.
func describe(err error) error {
	switch {
	case errors.Is(err, image.ErrFormat):
		return errors.New("not an image in a supported format")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errTruncated
	}
	// Some decoders format the error instead of wrapping it, or say the
	// data ended in their own words.
	for _, s := range truncationMessages {
		if strings.HasSuffix(err.Error(), s) {
			return errTruncated
		}
	}
	var fe png.FormatError
	if errors.As(err, &fe) {
		return fmt.Errorf("bad PNG: %s", string(fe))
	}
	return err
}

var truncationMessages = []string{
	io.ErrUnexpectedEOF.Error(), io.EOF.Error(),
	"not enough pixel data",    // image/png: the IDAT data ended
	"short Huffman data",       // image/jpeg: the scan ended
	"not enough image data",    // image/gif
	"riff: short chunk header", // webp
	"riff: short chunk data",
}

func isDeep(m image.Image) bool {
	switch m.(type) {
	case *image.RGBA64, *image.NRGBA64, *image.Gray16:
		return true
	}
	return false
}

// isGrey says whether m's colour model has no colour: grey images and
// palettes of greys only.
func isGrey(m image.Image) bool {
	switch m := m.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
			if n.R != n.G || n.G != n.B {
				return false
			}
		}
		return true
	}
	return false
}
