package imageio

import "encoding/binary"

// jpegOrientation returns the EXIF orientation (1 to 8) that a JPEG's
// headers declare, or 0 when they declare none or are malformed on the way.
// It looks where imaging's AutoOrientation looks, which the conversion this
// package replaced used: the first APP1 segment after SOI, which must hold
// "Exif", then the orientation entry (tag 0x0112) of the first IFD, read in
// the TIFF header's byte order. Segments before it are skipped by their
// lengths; anything else ends the search.
func jpegOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return 0
	}
	p := 2
	for {
		if p+4 > len(b) || b[p] != 0xff {
			return 0
		}
		if b[p+1] == 0xe1 {
			break
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 {
			return 0
		}
		p += 2 + n
	}
	// APP1 payload: "Exif", two bytes of padding, then a TIFF header:
	// byte order, 42, offset of the first IFD from the header's start.
	t := p + 4 + 6
	if t+8 > len(b) || string(b[p+4:p+8]) != "Exif" {
		return 0
	}
	var order binary.ByteOrder
	switch string(b[t : t+2]) {
	case "MM":
		order = binary.BigEndian
	case "II":
		order = binary.LittleEndian
	default:
		return 0
	}
	off := order.Uint32(b[t+4:])
	if off < 8 || uint64(t)+uint64(off)+2 > uint64(len(b)) {
		return 0
	}
	ifd := t + int(off)
	entries := int(order.Uint16(b[ifd:]))
	for e := ifd + 2; entries > 0; entries, e = entries-1, e+12 {
		if e+2 > len(b) {
			return 0
		}
		if order.Uint16(b[e:]) != 0x0112 {
			continue
		}
		// Entry: tag, type, count (4 bytes), then the SHORT value.
		if e+10 > len(b) {
			return 0
		}
		if v := order.Uint16(b[e+8:]); v >= 1 && v <= 8 {
			return int(v)
		}
		return 0
	}
	return 0
}
