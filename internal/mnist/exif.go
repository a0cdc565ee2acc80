package mnist

// This file reads what predict needs from a JPEG's markers before decoding it: the EXIF orientation
// (a phone stores a photo as the sensor saw it and says in EXIF how to turn it), and whether the
// image is progressive and how many components it has (for the decoding-memory bound). It reads at
// most maxScan bytes and never more than the segments before the image data; it is not an EXIF
// library.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// maxScan bounds how much of a file scanJPEG reads.
const maxScan = 1 << 20

// jpegInfo is what scanJPEG found; the zero value means none of it (or not a JPEG).
type jpegInfo struct {
	orientation int // EXIF orientation 1…8, 0 when absent
	progressive bool
	components  int
}

// scanJPEG walks the marker segments of a JPEG up to the start of its image data.
func scanJPEG(r io.Reader) jpegInfo {
	var info jpegInfo
	br := bufio.NewReader(r)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xff, 0xd8} {
		return info
	}
	for {
		c, err := br.ReadByte()
		if err != nil || c != 0xff {
			return info
		}
		m, err := br.ReadByte()
		for err == nil && m == 0xff { // fill bytes
			m, err = br.ReadByte()
		}
		if err != nil {
			return info
		}
		switch {
		case m == 0xd9 || m == 0xda: // end of image, start of scan
			return info
		case m == 0x01 || m >= 0xd0 && m <= 0xd7: // no length
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return info
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return info
		}
		switch {
		case m == 0xe1 && info.orientation == 0: // APP1, perhaps EXIF
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return info
			}
			if tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok {
				info.orientation = exifOrientation(tiff)
			}
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc: // start of frame
			seg := make([]byte, n)
			if _, err := io.ReadFull(br, seg); err != nil {
				return info
			}
			info.progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
			if len(seg) >= 6 {
				info.components = int(seg[5])
			}
		default:
			if _, err := br.Discard(n); err != nil {
				return info
			}
		}
	}
}

// exifOrientation reads tag 0x0112 (Orientation, a SHORT) from the first IFD of a TIFF structure, the
// body of an EXIF segment; 0 when it is absent or out of range.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 0
	}
	off := uint64(bo.Uint32(tiff[4:]))
	if off+2 > uint64(len(tiff)) {
		return 0
	}
	count := uint64(bo.Uint16(tiff[off:]))
	for i := range count {
		e := off + 2 + 12*i
		if e+12 > uint64(len(tiff)) {
			return 0
		}
		if bo.Uint16(tiff[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(tiff[e+2:]) != 3 || bo.Uint32(tiff[e+4:]) != 1 { // one SHORT
			return 0
		}
		if o := int(bo.Uint16(tiff[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 0
	}
	return 0
}
