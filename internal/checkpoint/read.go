package checkpoint

// This file is the checkpoint reader. It reads a file in one pass and in the order that bounds its
// cost by the file's real content: the size first, then the 8-byte header length, then the header
// (streamed, parsed once: header.go), then the metadata and the list of tensors are checked against
// the architecture they claim and against the file's size, and only then is the tensor data read,
// straight into the model's parameters, hashed on the way. Memory is the model itself plus small
// buffers; an encrypted file costs its own size once more, since GCM authenticates the whole of it
// before any byte may be used.

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/dltrain/dltrain/internal/filekind"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/safefile"
)

// maxStates bounds the optimizer state copies a checkpoint of this format may hold per parameter.
const maxStates = 3

// MaxFile bounds the size of a checkpoint Load will read: the largest file a writer of this build
// can produce (model.MaxParams parameters, each with up to maxStates optimizer states, the largest
// header, the envelope's overhead).
const MaxFile = 8 + maxHeader + 4*(1+maxStates)*model.MaxParams + envHeaderLen + 16

// ErrNotCheckpoint is returned (wrapped) when a file is not a dltrain checkpoint at all: another kind
// of file, or a safetensors file without dltrain's metadata.
var ErrNotCheckpoint = errors.New("not a dltrain checkpoint")

// Load reads and validates a checkpoint file. An encrypted file needs its key; with a key, a plain
// file is refused, since it carries no authentication. A named pipe or device is refused without
// blocking, and a file of another kind (an image, ONNX, MNIST data) is named as such.
func Load(path string, key []byte) (Checkpoint, error) {
	name := path // as given: the base name alone may name another file
	f, st, err := safefile.OpenRegular(path)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %s: %w", name, safefile.Cause(err))
	}
	defer f.Close()
	size := st.Size()
	if size > MaxFile {
		return Checkpoint{}, fmt.Errorf("checkpoint: %s: %d bytes, larger than the %d-byte limit", name, size, int64(MaxFile))
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(int(min(size, filekind.Head)))
	var c Checkpoint
	switch enc := IsEncrypted(head); {
	case enc && key == nil:
		return Checkpoint{}, fmt.Errorf("checkpoint: %s: %w", name, ErrEncrypted)
	case enc:
		c, err = open(f, size, key)
	case key != nil:
		if filekind.Detect(head) != filekind.Checkpoint {
			// Not a checkpoint at all: say what it is rather than that it is not encrypted.
			if _, err = decode(br, size); err != nil {
				break
			}
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %s: not encrypted, but a key was given (refusing an unauthenticated file)", name)
	default:
		c, err = decode(br, size)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %s: %w", name, err)
	}
	return c, nil
}

// Decode parses and validates safetensors bytes as a dltrain checkpoint. Errors are one line and carry
// no file name; Load adds it.
func Decode(b []byte) (Checkpoint, error) {
	return decode(bufio.NewReader(bytes.NewReader(b)), int64(len(b)))
}

// decode reads a plain checkpoint of size bytes from r.
func decode(r *bufio.Reader, size int64) (Checkpoint, error) {
	h, hl, err := readHeader(r, size)
	if err != nil {
		return Checkpoint{}, err
	}
	return h.read(r, uint64(size-8-hl))
}

// readHeader reads the header length and the header of a plain checkpoint of size bytes, and checks
// that its tensors tile the rest of the file.
func readHeader(r *bufio.Reader, size int64) (*header, int64, error) {
	if size < 8 {
		if k := filekind.Detect(peek(r, size)); k != filekind.Unrecognized && k != filekind.Empty {
			return nil, 0, fmt.Errorf("%s, %w", k, ErrNotCheckpoint)
		}
		return nil, 0, fmt.Errorf("%d bytes, too short for a safetensors header", size)
	}
	head := peek(r, size)
	hl := binary.LittleEndian.Uint64(head)
	if hl > maxHeader || hl > uint64(size-8) {
		if k := filekind.Detect(head); k != filekind.Unrecognized && k != filekind.Checkpoint {
			return nil, 0, fmt.Errorf("%s, %w", k, ErrNotCheckpoint)
		}
		if hl > maxHeader {
			return nil, 0, fmt.Errorf("header length %d exceeds the %d-byte limit", hl, maxHeader)
		}
		return nil, 0, fmt.Errorf("header length %d exceeds the file's %d bytes", hl, size)
	}
	r.Discard(8)
	h, err := parseHeader(r, int64(hl), uint64(size-8)-hl)
	if err != nil {
		return nil, 0, err
	}
	return h, int64(hl), nil
}

// peek returns the first bytes of r, at most filekind.Head of them.
func peek(r *bufio.Reader, size int64) []byte {
	b, _ := r.Peek(int(min(size, filekind.Head)))
	return b
}

// read checks the metadata and the tensors against the architecture they claim, then reads the
// dataLen bytes of tensor data from r into a new Model, checking its SHA-256 and that every value is
// finite.
func (h *header) read(r io.Reader, dataLen uint64) (Checkpoint, error) {
	c, want, err := fromMetadata(h.meta)
	if err != nil {
		return Checkpoint{}, err
	}
	cfg := c.Config
	specs := tensorSpecs(cfg, c.Hyper.Optimizer)
	byName := make(map[string]tensorSpec, len(specs))
	for _, t := range specs {
		byName[t.name] = t
	}
	have := make(map[string]bool, len(h.tensors))
	for _, t := range h.tensors {
		have[t.name] = true
	}
	for _, t := range specs {
		if !have[t.name] {
			return Checkpoint{}, fmt.Errorf("missing tensor %s for architecture %s", t.name, cfg.Arch())
		}
	}
	for _, t := range h.tensors {
		spec, ok := byName[t.name]
		switch {
		case !ok:
			return Checkpoint{}, fmt.Errorf("unexpected tensor %q for architecture %s", t.name, cfg.Arch())
		case t.dtype != "F32":
			return Checkpoint{}, fmt.Errorf("tensor %s has dtype %s, want F32", t.name, t.dtype)
		case !equalShape(t.shape, spec.shape):
			return Checkpoint{}, fmt.Errorf("tensor %s has shape %v, want %v for architecture %s", t.name, t.shape, spec.shape, cfg.Arch())
		}
	}
	// The header's tensors are exactly the specs, each F32 of its shape, and tile the data section:
	// the allocation below is the file's tensor bytes, no more.
	P := cfg.NumParams()
	// Only the vectors the file holds (Params, and SGD's momentum or Adam's two moments).
	c.Params = make([]float32, P)
	if c.Hyper.Optimizer.IsAdam() {
		c.ExpAvg, c.ExpAvgSq = make([]float32, P), make([]float32, P)
	} else {
		c.Velocity = make([]float32, P)
	}
	hash := sha256.New()
	buf := make([]byte, min(dataLen, 256<<10))
	bad := ""
	for _, t := range h.tensors {
		spec := byName[t.name]
		v := vector(c.Model, spec.in)[spec.off : spec.off+spec.n]
		for i := 0; i < len(v); {
			chunk := buf[:min(len(buf), 4*(len(v)-i))]
			if _, err := io.ReadFull(r, chunk); err != nil {
				return Checkpoint{}, fmt.Errorf("reading tensor %s: %v", t.name, err)
			}
			hash.Write(chunk)
			for k := 0; k < len(chunk); k += 4 {
				x := math.Float32frombits(binary.LittleEndian.Uint32(chunk[k:]))
				if bad == "" && (math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)) {
					bad = fmt.Sprintf("tensor %s holds %v at index %d", t.name, x, i)
				}
				v[i] = x
				i++
			}
		}
	}
	if sum := hash.Sum(nil); !bytes.Equal(sum, want) {
		return Checkpoint{}, fmt.Errorf("tensor data SHA-256 %x does not match the header's %x: the file is corrupt or was modified", sum[:8], want[:8])
	}
	if bad != "" {
		return Checkpoint{}, errors.New(bad)
	}
	return c, nil
}

// errAuth is the one error for every envelope that does not authenticate: a wrong key and a modified
// file cannot be told apart, by design.
var errAuth = errors.New("decryption failed: wrong key, or the file was modified")

// open reads an encrypted checkpoint of size bytes from ra. Before reading the whole envelope, it
// decrypts the plaintext's header alone (AES-CTR with GCM's counter, unauthenticated) and checks that
// it describes a checkpoint of exactly the envelope's size, so that neither a wrong key nor a
// hostile file costs more than its header; only an envelope that passes is read whole and
// authenticated, and only authenticated bytes become the model.
func open(ra io.ReaderAt, size int64, key []byte) (Checkpoint, error) {
	var hdr [envHeaderLen]byte
	if size < int64(len(hdr))+16 {
		return Checkpoint{}, fmt.Errorf("encrypted file truncated (%d bytes)", size)
	}
	if _, err := ra.ReadAt(hdr[:], 0); err != nil {
		return Checkpoint{}, err
	}
	if err := checkEnvelope(hdr[:]); err != nil {
		return Checkpoint{}, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return Checkpoint{}, err
	}
	plainLen := size - envHeaderLen - int64(gcm.Overhead())

	// GCM encrypts with AES-CTR from the counter block nonce‖2 (nonce‖1 masks the tag).
	blk, _ := aes.NewCipher(key)
	iv := make([]byte, aes.BlockSize)
	copy(iv, hdr[10:envHeaderLen])
	iv[15] = 2
	peekR := bufio.NewReaderSize(cipher.StreamReader{S: cipher.NewCTR(blk, iv), R: io.NewSectionReader(ra, envHeaderLen, plainLen)}, 64<<10)
	h, hl, err := readHeader(peekR, plainLen)
	if err != nil {
		return Checkpoint{}, errAuth
	}

	env := make([]byte, size)
	if _, err := ra.ReadAt(env, 0); err != nil {
		return Checkpoint{}, err
	}
	plain, err := gcm.Open(env[envHeaderLen:envHeaderLen], env[10:envHeaderLen], env[envHeaderLen:], env[:envHeaderLen])
	if err != nil {
		return Checkpoint{}, errAuth
	}
	// The plaintext is authentic, and its header is the one parsed above: CTR decryption is the same
	// both times.
	return h.read(bytes.NewReader(plain[8+hl:]), uint64(plainLen-8-hl))
}
