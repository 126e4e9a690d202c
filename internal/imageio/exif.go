package imageio

import (
	"encoding/binary"
	"image"
	"io"
)

// decodeOriented decodes a JPEG from r and reads its EXIF orientation from
// the same bytes as the decoder reads them, as imaging.Decode with
// AutoOrientation does; the orientation is returned, not applied (see
// Pixels).
func decodeOriented(r io.Reader) (image.Image, int, error) {
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		o := readOrientation(pr)
		io.Copy(io.Discard, pr)
		done <- o
	}()
	m, _, err := image.Decode(io.TeeReader(r, pw))
	pw.Close()
	o := <-done
	return m, o, err
}

// readOrientation is imaging's (github.com/disintegration/imaging v1.6.2,
// MIT licence), copied because it is not exported: the orientation flag
// (1 to 8) of the first APP1 segment's EXIF data, 0 when there is none or
// anything is wrong on the way to it.
func readOrientation(r io.Reader) int {
	const (
		markerSOI      = 0xffd8
		markerAPP1     = 0xffe1
		exifHeader     = 0x45786966
		byteOrderBE    = 0x4d4d
		byteOrderLE    = 0x4949
		orientationTag = 0x0112
	)
	var soi uint16
	if err := binary.Read(r, binary.BigEndian, &soi); err != nil || soi != markerSOI {
		return 0
	}
	// Find the APP1 marker.
	for {
		var marker, size uint16
		if err := binary.Read(r, binary.BigEndian, &marker); err != nil {
			return 0
		}
		if err := binary.Read(r, binary.BigEndian, &size); err != nil {
			return 0
		}
		if marker>>8 != 0xff {
			return 0
		}
		if marker == markerAPP1 {
			break
		}
		if size < 2 {
			return 0
		}
		if _, err := io.CopyN(io.Discard, r, int64(size-2)); err != nil {
			return 0
		}
	}
	var header uint32
	if err := binary.Read(r, binary.BigEndian, &header); err != nil || header != exifHeader {
		return 0
	}
	if _, err := io.CopyN(io.Discard, r, 2); err != nil {
		return 0
	}
	var byteOrderTag uint16
	var byteOrder binary.ByteOrder
	if err := binary.Read(r, binary.BigEndian, &byteOrderTag); err != nil {
		return 0
	}
	switch byteOrderTag {
	case byteOrderBE:
		byteOrder = binary.BigEndian
	case byteOrderLE:
		byteOrder = binary.LittleEndian
	default:
		return 0
	}
	if _, err := io.CopyN(io.Discard, r, 2); err != nil {
		return 0
	}
	var offset uint32
	if err := binary.Read(r, byteOrder, &offset); err != nil || offset < 8 {
		return 0
	}
	if _, err := io.CopyN(io.Discard, r, int64(offset-8)); err != nil {
		return 0
	}
	var numTags uint16
	if err := binary.Read(r, byteOrder, &numTags); err != nil {
		return 0
	}
	for range int(numTags) {
		var tag uint16
		if err := binary.Read(r, byteOrder, &tag); err != nil {
			return 0
		}
		if tag != orientationTag {
			if _, err := io.CopyN(io.Discard, r, 10); err != nil {
				return 0
			}
			continue
		}
		if _, err := io.CopyN(io.Discard, r, 6); err != nil {
			return 0
		}
		var val uint16
		if err := binary.Read(r, byteOrder, &val); err != nil || val < 1 || val > 8 {
			return 0
		}
		return int(val)
	}
	return 0
}
