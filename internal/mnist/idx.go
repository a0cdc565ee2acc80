// Package mnist reads the MNIST data set from IDX files, raw or gzipped, and validates it strictly.
//
// Pixels stay uint8 in memory (47 MB for the training set); normalization happens when a batch is
// gathered, in the model package. This package never allocates from a header count it has not first
// checked against the size of the file that claims it.
package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Rows and Cols are the only image geometry dltrain accepts.
const (
	Rows   = 28
	Cols   = 28
	Pixels = Rows * Cols
)

const (
	magicImages = 0x00000803 // type 0x08 (uint8), 3 dimensions
	magicLabels = 0x00000801 // type 0x08 (uint8), 1 dimension

	// maxInflate bounds how much a gzip stream may expand: deflate cannot exceed about 1032:1, so a header
	// that claims more than this many bytes per compressed byte is lying.
	maxInflate = 1032
)

// kind says which IDX file is expected.
type kind int

const (
	images kind = iota
	labels
)

func (k kind) String() string {
	if k == images {
		return "images"
	}
	return "labels"
}

// ReadImages reads an IDX3 images file (raw or gzipped) and returns n·784 pixels, row-major.
func ReadImages(path string) (pix []uint8, n int, err error) {
	return readIDX(path, images)
}

// ReadLabels reads an IDX1 labels file (raw or gzipped) and returns n labels, each 0..9.
func ReadLabels(path string) ([]uint8, error) {
	lab, _, err := readIDX(path, labels)
	return lab, err
}

func readIDX(path string, want kind) ([]uint8, int, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w", name, unwrapPath(err))
	}
	body, n, err := decodeIDX(f, st.Size(), want)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w", name, err)
	}
	return body, n, nil
}

// unwrapPath drops the *PathError wrapper so that messages name the file once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Decode reads one IDX file of the given kind ("images" or "labels") from r, whose total size in bytes
// is size. It is the whole validating decoder, exposed for fuzzing and for readers that are not files.
func Decode(r io.Reader, size int64, wantImages bool) ([]uint8, int, error) {
	k := labels
	if wantImages {
		k = images
	}
	return decodeIDX(r, size, k)
}

func decodeIDX(r io.Reader, size int64, want kind) ([]uint8, int, error) {
	if size <= 0 {
		return nil, 0, errors.New("empty file")
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(2)
	gz := len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b
	var src io.Reader = br
	maxBody := size // the raw body can be no larger than the file
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("bad gzip header: %v", err)
		}
		zr.Multistream(false)
		src = zr
		if size > (1<<62)/maxInflate {
			return nil, 0, errors.New("file too large")
		}
		maxBody = size * maxInflate
	}

	hlen := 8
	if want == images {
		hlen = 16
	}
	var hdr [16]byte
	if _, err := io.ReadFull(src, hdr[:8]); err != nil {
		return nil, 0, fmt.Errorf("short header (%d bytes needed): %v", hlen, shortErr(err))
	}
	magic := binary.BigEndian.Uint32(hdr[0:4])
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, 0, fmt.Errorf("bad magic 0x%08x, not an IDX file", magic)
	}
	if hdr[2] != 0x08 {
		return nil, 0, fmt.Errorf("element type 0x%02x, want 0x08 (unsigned byte)", hdr[2])
	}
	wantMagic, wantDims := uint32(magicLabels), 1
	if want == images {
		wantMagic, wantDims = magicImages, 3
	}
	if magic != wantMagic {
		got := fmt.Sprintf("%d dimensions", hdr[3])
		switch magic {
		case magicImages:
			got = "an images file"
		case magicLabels:
			got = "a labels file"
		}
		return nil, 0, fmt.Errorf("bad magic 0x%08x (%s), want 0x%08x (%s, %d dimension(s))", magic, got, wantMagic, want, wantDims)
	}
	if _, err := io.ReadFull(src, hdr[8:hlen]); err != nil {
		return nil, 0, fmt.Errorf("short header (%d bytes needed): %v", hlen, shortErr(err))
	}
	count := int64(binary.BigEndian.Uint32(hdr[4:8]))
	per := int64(1)
	if want == images {
		rows, cols := binary.BigEndian.Uint32(hdr[8:12]), binary.BigEndian.Uint32(hdr[12:16])
		if rows != Rows || cols != Cols {
			return nil, 0, fmt.Errorf("images are %dx%d, want %dx%d", rows, cols, Rows, Cols)
		}
		per = Pixels
	}
	need := count * per // count < 2^32 and per ≤ 784: no overflow in int64
	if need > maxBody {
		return nil, 0, fmt.Errorf("header claims %d %s (%d bytes), more than a %d-byte file can hold", count, want, need, size)
	}
	if !gz && need+int64(hlen) != size {
		if need+int64(hlen) > size {
			return nil, 0, fmt.Errorf("body is %d bytes short: header claims %d %s", need+int64(hlen)-size, count, want)
		}
		return nil, 0, fmt.Errorf("body is %d bytes too long: header claims %d %s", size-need-int64(hlen), count, want)
	}

	// The count is now bounded by the file size, so this allocation is at most maxInflate·size.
	body := make([]uint8, need)
	if got, err := io.ReadFull(src, body); err != nil {
		if gz {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				return nil, 0, fmt.Errorf("corrupt gzip stream: %v", err)
			}
			return nil, 0, fmt.Errorf("truncated gzip stream: body is %d bytes short of %d %s", need-int64(got), count, want)
		}
		return nil, 0, fmt.Errorf("body is %d bytes short: header claims %d %s", need-int64(got), count, want)
	}
	// One byte more must be end of stream; for gzip this also verifies the CRC and length trailer.
	var extra [1]byte
	if m, err := io.ReadFull(src, extra[:]); m > 0 {
		rest, _ := io.Copy(io.Discard, io.LimitReader(src, 1<<20))
		return nil, 0, fmt.Errorf("body is too long: %d+ extra bytes after %d %s", 1+rest, count, want)
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, errors.New("truncated gzip stream: the trailer is missing")
	} else if err != io.EOF {
		return nil, 0, fmt.Errorf("corrupt gzip stream: %v", err)
	}
	if gz {
		// Trailing garbage after the gzip member.
		if b, _ := br.Peek(1); len(b) > 0 {
			return nil, 0, errors.New("trailing bytes after the gzip stream")
		}
	}
	if want == labels {
		for i, l := range body {
			if l > 9 {
				return nil, 0, fmt.Errorf("label %d at index %d, want 0..9", l, i)
			}
		}
	}
	return body, int(count), nil
}

func shortErr(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of file"
	}
	return err.Error()
}
