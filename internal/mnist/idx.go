// Package mnist reads data sets in MNIST's format (MNIST itself, Fashion-MNIST, or any four IDX files
// of 28×28 images in ten classes) from IDX files, raw or gzipped, validates them strictly, and checks
// the named sets' content against their SHA-256 digests.
//
// Pixels stay uint8 in memory (47 MB for the training set); normalization happens when a batch is
// gathered, in the model package. It does not download anything; registry.go says where each set
// comes from.
//
// Bounds, for a data file of s bytes (see decodeIDX): a header count is checked against s before any
// allocation (raw: exact size; gzip: at most 1032 decompressed bytes per byte of s); a raw body costs
// exactly its size, once; a gzip body costs at most max(8·s, 64 KiB) until decompressed bytes really
// arrive, then at most about 3× what it really inflates to at once. Digests are computed in the same
// pass, over bytes that already passed the size checks. Only regular files are read: a FIFO, a device
// or a directory is refused by its mode, without blocking.
package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// ReadImages reads an IDX3 images file (raw or gzipped) and returns n·784 pixels, row-major. It checks
// structure only: digests belong to a data set (see Dataset.Load).
func ReadImages(path string) (pix []uint8, n int, err error) {
	return readIDX(path, images)
}

// ReadLabels reads an IDX1 labels file (raw or gzipped) and returns n labels, each 0..9. It checks
// structure only.
func ReadLabels(path string) ([]uint8, error) {
	lab, _, err := readIDX(path, labels)
	return lab, err
}

func readIDX(path string, want kind) ([]uint8, int, error) {
	name := filepath.Base(path)
	f, size, err := openRegular(path)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w", name, err)
	}
	defer f.Close()
	body, n, err := decodeIDX(f, size, want, decodeOpts{})
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w", name, err)
	}
	return body, n, nil
}

// Decode reads one IDX file of the given kind ("images" or "labels") from r, whose total size in bytes
// is size. It is the whole validating decoder, exposed for fuzzing and for readers that are not files.
func Decode(r io.Reader, size int64, wantImages bool) ([]uint8, int, error) {
	k := labels
	if wantImages {
		k = images
	}
	return decodeIDX(r, size, k, decodeOpts{})
}

// decodeOpts are what a data-set load adds to the plain decoder.
type decodeOpts struct {
	// hash receives every decompressed byte, header included, in order, as the decoder reads it, so a
	// digest costs no second read. Only bytes that passed the size checks are ever read.
	hash io.Writer
	// count vets the header's item count before any of the body is read; nil accepts any count that
	// fits the file.
	count func(n int64) error
}

// decodeIDX is the decoder. Its order of work is what bounds its cost (s is the file's size in bytes):
//   - the header (8 or 16 bytes) is read and checked first: magic, geometry, and the count against s
//     (raw: exactly 16+n·784 or 8+n bytes; gzip: at most maxInflate·s decompressed bytes), then
//     against opts.count;
//   - only then is the body read. A raw body is allocated once, n bytes of a file that holds exactly
//     n. A gzip body is allocated for at most max(gzipFirstAlloc·s, 64 KiB) bytes and grows by
//     doubling only as decompressed bytes really arrive, so a stream that claims more than it holds
//     holds at most about 3× what it really inflates to at once (plus that first allocation), never
//     what its header claims;
//   - after the body, at most 1 MiB more is read to report trailing bytes.
func decodeIDX(r io.Reader, size int64, want kind, opts decodeOpts) ([]uint8, int, error) {
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
	if opts.hash != nil {
		src = io.TeeReader(src, opts.hash)
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
	if opts.count != nil {
		if err := opts.count(count); err != nil {
			return nil, 0, err
		}
	}

	first := need // raw: the file holds exactly this much
	if gz {
		first = min(need, max(gzipFirstAlloc*size, 64<<10))
	}
	body, got, err := readGrowing(src, need, first)
	if err != nil {
		if gz {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				return nil, 0, fmt.Errorf("corrupt gzip stream: %v", err)
			}
			return nil, 0, fmt.Errorf("truncated gzip stream: body is %d bytes short of %d %s", need-got, count, want)
		}
		return nil, 0, fmt.Errorf("body is %d bytes short: header claims %d %s", need-got, count, want)
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

// gzipFirstAlloc is how many bytes per compressed byte the gzip body is first given: MNIST inflates
// about 4.7:1 and Fashion-MNIST 1.8:1, so the real files are allocated once, and a stream that lies
// about its size costs no more than this multiple of its own size before its data runs out.
const gzipFirstAlloc = 8

// readGrowing reads exactly need bytes from r into a buffer that starts at first bytes and doubles
// (capped at need) each time it fills, so memory follows the bytes that really arrive. When r ends
// early it returns no body, how many bytes it did read, and io.ErrUnexpectedEOF (or r's error).
func readGrowing(r io.Reader, need, first int64) ([]uint8, int64, error) {
	buf := make([]uint8, first)
	n := int64(0)
	for {
		m, err := io.ReadFull(r, buf[n:])
		n += int64(m)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, n, err
		}
		if n == need {
			return buf, n, nil
		}
		grown := make([]uint8, min(need, 2*int64(len(buf))))
		copy(grown, buf[:n])
		buf = grown
	}
}

func shortErr(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of file"
	}
	return err.Error()
}
