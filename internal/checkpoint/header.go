package checkpoint

// This file is the checkpoint reader's safetensors header parser: one pass over the JSON header as it
// streams from the file, holding only what it keeps (tensor names, shapes, offsets, metadata), each
// string bounded, so a header costs a few kilobytes of memory whatever its length (up to maxHeader
// bytes of whitespace are legal). It is strict where a general JSON reader is lenient: duplicate
// keys, invalid UTF-8, unknown fields and non-integer numbers are errors.
//
// It checks the header's own consistency (dtypes, shapes, contiguous offsets covering the data
// section); whether the tensors are the ones a dltrain checkpoint holds is read.go's business.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// tensorInfo is one tensor entry of a safetensors header: data_offsets are relative to the start of
// the data section.
type tensorInfo struct {
	name       string
	dtype      string
	shape      []uint64
	begin, end uint64
}

// header is a parsed safetensors header: its tensors (sorted by offset once checked) and its
// __metadata__.
type header struct {
	tensors []tensorInfo
	meta    map[string]string
}

// Bounds on what a header may hold. A dltrain checkpoint has 4 tensors per layer (more with an
// optimizer that keeps more state), at most 65 layers, short names and about twenty metadata keys.
const (
	maxTensors  = 1024
	maxMetaKeys = 256
	maxKeyLen   = 256      // tensor names, metadata keys, field names
	maxValueLen = 64 << 10 // metadata values
	maxRank     = 8
)

// dtypeSizes are safetensors' dtypes and their element sizes in bytes.
var dtypeSizes = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// scanner reads the n header bytes from r, one at a time.
type scanner struct {
	r   *bufio.Reader
	n   int64 // header length
	pos int64 // bytes read so far
}

var errEnd = errors.New("unexpected end of header")

func (s *scanner) syntax(format string, a ...any) error {
	return fmt.Errorf("header is not valid JSON: %s at byte %d", fmt.Sprintf(format, a...), 8+s.pos)
}

func (s *scanner) next() (byte, error) {
	if s.pos >= s.n {
		return 0, s.syntax("%v", errEnd)
	}
	c, err := s.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, s.syntax("%v", errEnd)
		}
		return 0, fmt.Errorf("reading the header: %w", err)
	}
	s.pos++
	return c, nil
}

func (s *scanner) back() {
	s.r.UnreadByte()
	s.pos--
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// token returns the next byte that is not whitespace.
func (s *scanner) token() (byte, error) {
	s.skipSpace()
	return s.next()
}

// skipSpace skips whitespace a buffer at a time (a legal header may be mostly padding).
func (s *scanner) skipSpace() {
	for s.pos < s.n {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return
			}
		}
		buf, _ := s.r.Peek(int(min(int64(s.r.Buffered()), s.n-s.pos)))
		i := 0
		for i < len(buf) && isSpace(buf[i]) {
			i++
		}
		s.r.Discard(i)
		s.pos += int64(i)
		if i < len(buf) {
			return
		}
	}
}

func (s *scanner) expect(want byte) error {
	c, err := s.token()
	if err != nil {
		return err
	}
	if c != want {
		return s.syntax("%q where %q was expected", c, want)
	}
	return nil
}

// str reads a string whose opening quote has been read, refusing one longer than limit bytes.
func (s *scanner) str(limit int, what string) (string, error) {
	var b []byte
	for {
		c, err := s.next()
		if err != nil {
			return "", err
		}
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				return "", fmt.Errorf("header is not valid UTF-8 (a string ending at byte %d)", 8+s.pos)
			}
			return string(b), nil
		case c == '\\':
			r, err := s.escape()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
		case c < 0x20:
			return "", s.syntax("control character %#x in a string", c)
		default:
			b = append(b, c)
		}
		if len(b) > limit {
			return "", fmt.Errorf("header: %s longer than %d bytes at byte %d", what, limit, 8+s.pos)
		}
	}
}

// escape reads the escape sequence after a backslash. Surrogates are decoded as encoding/json does:
// a valid pair becomes its character, any other surrogate U+FFFD, and what follows an unpaired one
// is read on its own.
func (s *scanner) escape() (rune, error) {
	c, err := s.next()
	if err != nil {
		return 0, err
	}
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := s.hex4()
		if err != nil || !utf16.IsSurrogate(r) {
			return r, err
		}
		if s.n-s.pos >= 6 {
			if p, err := s.r.Peek(6); err == nil && p[0] == '\\' && p[1] == 'u' {
				if r2, ok := parseHex4(p[2:]); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						s.r.Discard(6)
						s.pos += 6
						return dec, nil
					}
				}
			}
		}
		return utf8.RuneError, nil
	}
	return 0, s.syntax("bad escape \\%c", c)
}

func parseHex4(p []byte) (rune, bool) {
	var r rune
	for _, c := range p[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (s *scanner) hex4() (rune, error) {
	var p [4]byte
	for i := range p {
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		p[i] = c
	}
	r, ok := parseHex4(p[:])
	if !ok {
		return 0, s.syntax("bad \\u escape")
	}
	return r, nil
}

// uint reads a JSON number that must be a non-negative integer that fits in a uint64.
func (s *scanner) uint(what string) (uint64, error) {
	c, err := s.token()
	if err != nil {
		return 0, err
	}
	if c < '0' || c > '9' {
		return 0, s.syntax("%s is not a non-negative integer", what)
	}
	v := uint64(c - '0')
	for digits := 1; ; digits++ {
		c, err = s.next()
		if err != nil {
			return 0, err
		}
		if c < '0' || c > '9' {
			break
		}
		if v == 0 {
			return 0, s.syntax("%s has a leading zero", what)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("header: %s does not fit in 64 bits at byte %d", what, 8+s.pos)
		}
		v = v*10 + d
	}
	if c == '.' || c == 'e' || c == 'E' {
		return 0, s.syntax("%s is not an integer", what)
	}
	s.back()
	return v, nil
}

// object reads the members of an object whose '{' has been read, calling member for each key (the
// scanner then stands before the value, which member must read). Duplicate keys are errors.
func (s *scanner) object(where string, member func(key string) error) error {
	c, err := s.token()
	if err != nil {
		return err
	}
	if c == '}' {
		return nil
	}
	s.back()
	seen := map[string]bool{}
	for {
		if err := s.expect('"'); err != nil {
			return err
		}
		key, err := s.str(maxKeyLen, "a key")
		if err != nil {
			return err
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %q in %s", key, where)
		}
		seen[key] = true
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		c, err := s.token()
		if err != nil {
			return err
		}
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return s.syntax("%q where ',' or '}' was expected", c)
		}
	}
}

// array reads a JSON array of non-negative integers, at most limit of them.
func (s *scanner) array(what string, limit int) ([]uint64, error) {
	if err := s.expect('['); err != nil {
		return nil, err
	}
	var out []uint64
	c, err := s.token()
	if err != nil {
		return nil, err
	}
	if c == ']' {
		return out, nil
	}
	s.back()
	for {
		if len(out) == limit {
			return nil, fmt.Errorf("header: %s has more than %d entries", what, limit)
		}
		v, err := s.uint(what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		c, err := s.token()
		if err != nil {
			return nil, err
		}
		switch c {
		case ',':
		case ']':
			return out, nil
		default:
			return nil, s.syntax("%q where ',' or ']' was expected", c)
		}
	}
}

// parseHeader parses the n-byte JSON header at the start of r and checks its entries against each
// other and against the dataLen bytes of data that follow it.
func parseHeader(r *bufio.Reader, n int64, dataLen uint64) (*header, error) {
	s := &scanner{r: r, n: n}
	c, err := s.next()
	if err != nil || c != '{' {
		return nil, errors.New("header is not a JSON object (does not start with '{')")
	}
	h := &header{}
	err = s.object("header", func(key string) error {
		if key == "__metadata__" {
			return s.metadata(h)
		}
		if len(h.tensors) == maxTensors {
			return fmt.Errorf("header: more than %d tensors", maxTensors)
		}
		t, err := s.tensor(key)
		h.tensors = append(h.tensors, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.skipSpace(); s.pos < n { // only whitespace (safetensors pads with spaces) may follow the object
		c, err := s.next()
		if err != nil {
			return nil, err
		}
		return nil, s.syntax("%q after the header object", c)
	}
	return h, h.check(dataLen)
}

func (s *scanner) metadata(h *header) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	h.meta = map[string]string{}
	return s.object("__metadata__", func(key string) error {
		if len(h.meta) == maxMetaKeys {
			return fmt.Errorf("header: more than %d metadata keys", maxMetaKeys)
		}
		if c, err := s.token(); err != nil || c != '"' {
			if err != nil {
				return err
			}
			return fmt.Errorf("header: metadata %q is not a string", key)
		}
		v, err := s.str(maxValueLen, fmt.Sprintf("metadata %q", key))
		h.meta[key] = v
		return err
	})
}

func (s *scanner) tensor(name string) (tensorInfo, error) {
	t := tensorInfo{name: name}
	if c, err := s.token(); err != nil || c != '{' {
		if err != nil {
			return t, err
		}
		return t, fmt.Errorf("header: tensor %q is not an object", name)
	}
	var offsets []uint64
	err := s.object(fmt.Sprintf("tensor %q", name), func(key string) error {
		var err error
		switch key {
		case "dtype":
			if err = s.expect('"'); err == nil {
				t.dtype, err = s.str(16, "a dtype")
			}
		case "shape":
			t.shape, err = s.array(fmt.Sprintf("shape of tensor %q", name), maxRank)
		case "data_offsets":
			offsets, err = s.array(fmt.Sprintf("data_offsets of tensor %q", name), 2)
		default:
			err = fmt.Errorf("header: tensor %q has an unknown field %q", name, key)
		}
		return err
	})
	if err != nil {
		return t, err
	}
	switch {
	case t.dtype == "":
		return t, fmt.Errorf("header: tensor %q has no dtype", name)
	case t.shape == nil:
		return t, fmt.Errorf("header: tensor %q has no shape", name)
	case len(offsets) != 2:
		return t, fmt.Errorf("header: tensor %q has no data_offsets pair", name)
	}
	t.begin, t.end = offsets[0], offsets[1]
	return t, nil
}

// check validates the tensors against each other: known dtypes, shapes whose byte size fits, and
// offsets that tile the dataLen-byte data section exactly, in any order of the entries, each holding
// its shape's bytes. It sorts the tensors by offset.
func (h *header) check(dataLen uint64) error {
	sizes := make(map[string]uint64, len(h.tensors))
	for _, t := range h.tensors {
		size, ok := dtypeSizes[t.dtype]
		if !ok {
			return fmt.Errorf("tensor %q: unknown dtype %q", t.name, t.dtype)
		}
		for _, d := range t.shape {
			if d != 0 && size > (1<<64-1)/d {
				return fmt.Errorf("tensor %q: shape %v: num elements overflow", t.name, t.shape)
			}
			size *= d
		}
		sizes[t.name] = size
	}
	sort.SliceStable(h.tensors, func(i, j int) bool {
		a, b := h.tensors[i], h.tensors[j]
		return a.begin < b.begin || a.begin == b.begin && a.end < b.end
	})
	var at uint64
	for _, t := range h.tensors {
		if t.begin != at || t.end < t.begin {
			return fmt.Errorf("invalid metadata offset for tensor %q: data_offsets [%d %d], the previous tensor ends at %d", t.name, t.begin, t.end, at)
		}
		if n := sizes[t.name]; t.end-t.begin != n {
			return fmt.Errorf("tensor %q: data_offsets [%d %d] hold %d bytes, its shape %v of %s needs %d (offsets mismatch)",
				t.name, t.begin, t.end, t.end-t.begin, t.shape, t.dtype, n)
		}
		at = t.end
	}
	if at != dataLen {
		return fmt.Errorf("incomplete buffer: the tensors cover %d bytes, the data section holds %d", at, dataLen)
	}
	return nil
}
