// Package filekind names the kind of a file from its first bytes, so that a file given in the wrong
// place ("dltrain eval model.onnx", the arguments of predict swapped) is refused with what it is
// rather than with what a parser choked on.
//
// It is a best guess from magic numbers and the shape of the first bytes, for error messages only:
// nothing is ever accepted or decoded because of what it says.
package filekind

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"unicode/utf8"
)

// Head is how many leading bytes Detect looks at; more are ignored.
const Head = 512

// The kinds Detect returns, each phrased to follow "is": "model.onnx is an ONNX model".
const (
	Empty        = "an empty file"
	Checkpoint   = "a safetensors file (a dltrain checkpoint or export)"
	Encrypted    = "an encrypted dltrain checkpoint"
	PNG          = "a PNG image"
	JPEG         = "a JPEG image"
	GIF          = "a GIF image"
	IDXImages    = "an IDX images file (MNIST data)"
	IDXLabels    = "an IDX labels file (MNIST data)"
	IDXImagesGz  = "a gzipped IDX images file (MNIST data)"
	IDXLabelsGz  = "a gzipped IDX labels file (MNIST data)"
	Gzip         = "a gzip file"
	ONNX         = "an ONNX model"
	Zip          = "a ZIP archive (a PyTorch .pt file is one)"
	Pickle       = "a Python pickle (a PyTorch file?)"
	JSONLines    = "JSON lines (a --metrics file?)"
	JSON         = "a JSON document"
	Text         = "a text file"
	ELF          = "an executable (ELF)"
	Unrecognized = ""
)

// Detect names the kind of file whose first bytes are head (at most Head of them are read), or
// returns Unrecognized.
func Detect(head []byte) string {
	if len(head) > Head {
		head = head[:Head]
	}
	switch {
	case len(head) == 0:
		return Empty
	case bytes.HasPrefix(head, []byte("DLTRAINE")):
		return Encrypted
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return JPEG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return GIF
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return gzipKind(head)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return ELF
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return Pickle
	}
	if k := idxKind(head); k != Unrecognized {
		return k
	}
	if safetensors(head) {
		return Checkpoint
	}
	if onnx(head) {
		return ONNX
	}
	return textKind(head)
}

// idxKind recognizes an IDX header of unsigned bytes: 0, 0, 0x08, then 1 or 3 dimensions.
func idxKind(head []byte) string {
	if len(head) < 4 || head[0] != 0 || head[1] != 0 || head[2] != 0x08 {
		return Unrecognized
	}
	switch head[3] {
	case 3:
		return IDXImages
	case 1:
		return IDXLabels
	}
	return Unrecognized
}

// gzipKind looks inside a gzip stream for an IDX header: the first bytes of a stream inflate from
// its first compressed bytes alone.
func gzipKind(head []byte) string {
	zr, err := gzip.NewReader(bytes.NewReader(head))
	if err != nil {
		return Gzip
	}
	var b [4]byte
	if _, err := io.ReadFull(zr, b[:]); err != nil {
		return Gzip
	}
	switch idxKind(b[:]) {
	case IDXImages:
		return IDXImagesGz
	case IDXLabels:
		return IDXLabelsGz
	}
	return Gzip
}

// safetensors recognizes an 8-byte little-endian header length followed by '{'.
func safetensors(head []byte) bool {
	if len(head) < 10 || head[8] != '{' {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= 100_000_000
}

// onnx recognizes the start of an ONNX ModelProto as protobuf writes it: field 1 (ir_version) as a
// small varint, then fields of ModelProto with their proper wire types, as far as head goes.
func onnx(head []byte) bool {
	if len(head) < 4 || head[0] != 0x08 || head[1] < 1 || head[1] > 20 {
		return false
	}
	// ModelProto's fields and wire types (0 varint, 2 length-delimited).
	wire := map[uint64]uint64{1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
	b := head[2:]
	fields := 1
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			break // cut off by the end of head
		}
		b = b[n:]
		w, ok := wire[tag>>3]
		if !ok || tag&7 != w {
			return false
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			break
		}
		b = b[n:]
		fields++
		if w == 2 {
			if v > uint64(len(b)) {
				break // the field runs past head
			}
			b = b[v:]
		}
	}
	return fields >= 2
}

// textKind recognizes JSON, JSON lines and other text: valid UTF-8 without control characters other
// than tab, newline and carriage return.
func textKind(head []byte) string {
	// A multi-byte character may be cut by the end of head.
	valid := head
	for i := 0; i < utf8.UTFMax && len(valid) > 0 && !utf8.Valid(valid); i++ {
		valid = valid[:len(valid)-1]
	}
	if len(valid) == 0 || !utf8.Valid(valid) {
		return Unrecognized
	}
	for _, c := range valid {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return Unrecognized
		}
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(valid, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if bytes.HasPrefix(t, []byte(`{"epoch":`)) || bytes.Contains(t, []byte("}\n{")) || bytes.Contains(t, []byte("}\r\n{")) {
			return JSONLines
		}
		return JSON
	}
	return Text
}
