package imageio

// Colour profile glue: finding an embedded ICC profile in PNG, JPEG, TIFF
// and WebP files, and adding one to the PNG, JPEG and TIFF files the
// encoders write. A profile that is malformed is dropped, never an error:
// the pixels are still good.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"golang.org/x/image/riff"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngICC returns the profile of a PNG's iCCP chunk (name, 0, method 0,
// zlib data), nil if there is none before the image data.
func pngICC(data []byte) []byte {
	for p := len(pngSignature); p+12 <= len(data); {
		n := uint64(binary.BigEndian.Uint32(data[p:]))
		if n > uint64(len(data)-p-12) {
			return nil
		}
		body := data[p+8 : p+8+int(n)]
		switch string(data[p+4 : p+8]) {
		case "iCCP":
			name := bytes.IndexByte(body, 0)
			if name < 1 || name > 79 || name+2 > len(body) || body[name+1] != 0 {
				return nil
			}
			zr, err := zlib.NewReader(bytes.NewReader(body[name+2:]))
			if err != nil {
				return nil
			}
			icc, err := io.ReadAll(io.LimitReader(zr, maxICCBytes+1))
			if err != nil || len(icc) == 0 || len(icc) > maxICCBytes {
				return nil
			}
			return icc
		case "IDAT", "IEND":
			return nil
		}
		p += 12 + int(n)
	}
	return nil
}

// pngICCChunk is the iCCP chunk that embeds icc.
func pngICCChunk(icc []byte) []byte {
	var body bytes.Buffer
	body.WriteString("ICC profile\x00\x00") // name, separator, compression method 0
	zw := zlib.NewWriter(&body)
	zw.Write(icc)
	zw.Close()
	chunk := binary.BigEndian.AppendUint32(nil, uint32(body.Len()))
	chunk = append(chunk, "iCCP"...)
	chunk = append(chunk, body.Bytes()...)
	return binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
}

const jpegICCTag = "ICC_PROFILE\x00"

// jpegICC reassembles the profile from a JPEG's APP2 ICC_PROFILE segments
// (tag, sequence number from 1, count, data), nil if there is none or the
// sequence is incomplete.
func jpegICC(data []byte) []byte {
	if len(data) < 2 || data[0] != 0xff || data[1] != 0xd8 {
		return nil
	}
	var parts [][]byte
	for p := 2; p+4 <= len(data); {
		if data[p] != 0xff {
			return nil
		}
		m := data[p+1]
		switch {
		case m == 0xff: // fill byte
			p++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // markers without a length
			p += 2
			continue
		case m == 0xda || m == 0xd9: // start of scan, end of image: no more headers
			p = len(data)
			continue
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return nil
		}
		seg := data[p+4 : p+2+n]
		p += 2 + n
		if m != 0xe2 || len(seg) < len(jpegICCTag)+2 || string(seg[:len(jpegICCTag)]) != jpegICCTag {
			continue
		}
		seq, count := int(seg[len(jpegICCTag)]), int(seg[len(jpegICCTag)+1])
		if parts == nil {
			parts = make([][]byte, count)
		}
		if count != len(parts) || seq < 1 || seq > count || parts[seq-1] != nil {
			return nil
		}
		parts[seq-1] = seg[len(jpegICCTag)+2:]
	}
	for _, p := range parts {
		if p == nil {
			return nil
		}
	}
	if parts == nil {
		return nil
	}
	return bytes.Join(parts, nil)
}

// jpegICCSegments are the APP2 segments that embed icc.
func jpegICCSegments(icc []byte) ([]byte, error) {
	const most = 65535 - 2 - len(jpegICCTag) - 2 // data bytes in one segment
	count := (len(icc) + most - 1) / most
	if count > 255 {
		return nil, fmt.Errorf("colour profile of %d bytes is too large for JPEG", len(icc))
	}
	var out []byte
	for i := range count {
		part := icc[i*most : min((i+1)*most, len(icc))]
		out = append(out, 0xff, 0xe2)
		out = binary.BigEndian.AppendUint16(out, uint16(2+len(jpegICCTag)+2+len(part)))
		out = append(out, jpegICCTag...)
		out = append(out, byte(i+1), byte(count))
		out = append(out, part...)
	}
	return out, nil
}

const tiffICCTag = 34675 // InterColorProfile, type UNDEFINED

// tiffICC returns the profile in the first IFD of a TIFF, nil if none.
func tiffICC(data []byte) []byte {
	if len(data) < 8 {
		return nil
	}
	var bo binary.ByteOrder
	switch string(data[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil
	}
	ifd := uint64(bo.Uint32(data[4:]))
	if ifd+2 > uint64(len(data)) {
		return nil
	}
	n := uint64(bo.Uint16(data[ifd:]))
	if ifd+2+12*n > uint64(len(data)) {
		return nil
	}
	for i := range n {
		e := data[ifd+2+12*i:][:12]
		if bo.Uint16(e) != tiffICCTag {
			continue
		}
		if typ := bo.Uint16(e[2:]); typ != 7 && typ != 1 { // UNDEFINED or BYTE
			return nil
		}
		count := uint64(bo.Uint32(e[4:]))
		if count <= 4 {
			return slices.Clone(e[8 : 8+count])
		}
		off := uint64(bo.Uint32(e[8:]))
		if count > maxICCBytes || off+count > uint64(len(data)) {
			return nil
		}
		return slices.Clone(data[off : off+count])
	}
	return nil
}

// addTIFFICC adds the profile to a TIFF written by x/image/tiff (little
// endian, one IFD): the profile and a copy of the IFD with the profile's
// entry are appended and the header pointed at the new IFD. The old IFD
// stays as unused bytes; the values it points to are shared.
func addTIFFICC(b, icc []byte) ([]byte, error) {
	le := binary.LittleEndian
	bad := errors.New("tiff: cannot add the colour profile to the encoder's output")
	if len(b) < 8 || string(b[:4]) != "II*\x00" {
		return nil, bad
	}
	ifd := uint64(le.Uint32(b[4:]))
	if ifd+2 > uint64(len(b)) {
		return nil, bad
	}
	n := uint64(le.Uint16(b[ifd:]))
	if ifd+2+12*n+4 > uint64(len(b)) || n == 0 || le.Uint16(b[ifd+2+12*(n-1):]) >= tiffICCTag {
		return nil, bad
	}
	entries := slices.Clone(b[ifd+2 : ifd+2+12*n])
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	at := len(b)
	b = append(b, icc...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	if uint64(len(b))+2+12*(n+1)+4 > 1<<32-1 {
		return nil, errors.New("tiff: file too large for a colour profile")
	}
	newIFD := len(b)
	b = le.AppendUint16(b, uint16(n+1))
	b = append(b, entries...) // tags ascending; the profile's is the largest
	b = le.AppendUint16(b, tiffICCTag)
	b = le.AppendUint16(b, 7)
	b = le.AppendUint32(b, uint32(len(icc)))
	b = le.AppendUint32(b, uint32(at))
	b = le.AppendUint32(b, 0) // no next IFD
	le.PutUint32(b[4:], uint32(newIFD))
	return b, nil
}

// webpICC returns the ICCP chunk of an extended WebP file, nil if none.
func webpICC(data []byte) []byte {
	form, r, err := riff.NewReader(bytes.NewReader(data))
	if err != nil || form != (riff.FourCC{'W', 'E', 'B', 'P'}) {
		return nil
	}
	for {
		id, n, chunk, err := r.Next()
		if err != nil {
			return nil
		}
		switch id {
		case riff.FourCC{'I', 'C', 'C', 'P'}:
			if n == 0 || n > maxICCBytes {
				return nil
			}
			icc, err := io.ReadAll(chunk)
			if err != nil {
				return nil
			}
			return icc
		case riff.FourCC{'V', 'P', '8', ' '}, riff.FourCC{'V', 'P', '8', 'L'}:
			return nil // the profile comes before the image data
		}
	}
}

// inserter passes writes through to w, writing extra once the first at
// bytes have gone through.
type inserter struct {
	w     io.Writer
	at    int
	extra []byte
}

func (s *inserter) Write(b []byte) (int, error) {
	if s.extra == nil {
		return s.w.Write(b)
	}
	if len(b) < s.at {
		n, err := s.w.Write(b)
		s.at -= n
		return n, err
	}
	n, err := s.w.Write(b[:s.at])
	if err != nil {
		return n, err
	}
	if _, err := s.w.Write(s.extra); err != nil {
		return n, err
	}
	s.extra = nil
	m, err := s.w.Write(b[n:])
	return n + m, err
}
