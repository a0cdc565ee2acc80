package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

func small(t testing.TB) Checkpoint {
	m, err := model.New(model.NewConfig([]int{8}, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{Model: m, Meta: Meta{Hyper: model.Hyper{Epochs: 2, BatchSize: 100, LR: 0.01, Momentum: 0.9}, TestAccuracy: -1}}
}

// split returns an encoded checkpoint's header JSON and data section.
func split(b []byte) ([]byte, []byte) {
	n := binary.LittleEndian.Uint64(b)
	return b[8 : 8+n], b[8+n:]
}

func join(hdr, data []byte) []byte {
	return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...), data...)
}

// TestParseHeader: the streaming parser takes what JSON allows where safetensors allows it, and
// refuses the rest with a message that says what and where.
func TestParseHeader(t *testing.T) {
	const tensor = `"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	for _, c := range []struct {
		hdr  string
		want string // "" means accepted
	}{
		{`{` + tensor + `}`, ""},
		{"{ \n\t" + tensor + " ,\r\n \"__metadata__\" : { \"a\" : \"b\" } }" + strings.Repeat(" ", 1000), ""},
		{`{"t":{"data_offsets":[0,8],"shape":[2],"dtype":"F32"}}`, ""},
		{`{"__metadata__":{"k":"\u00e9\ud83d\ude00\n\"\\\/"}, ` + tensor + `}`, ""},
		{`{"\u0074":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, ""},
		{` {` + tensor + `}`, "does not start with '{'"},
		{`{` + tensor + `}x`, `'x' after the header object`},
		{`{` + tensor + `,}`, `where '"' was expected`},
		{`{` + tensor + `,` + tensor + `}`, `duplicate key "t" in header`},
		{`{"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, `duplicate key "dtype" in tensor "t"`},
		{`{"__metadata__":{"a":"1","a":"2"},` + tensor + `}`, `duplicate key "a" in __metadata__`},
		{`{"__metadata__":{"a":1},` + tensor + `}`, `metadata "a" is not a string`},
		{`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, `unknown field "x"`},
		{`{"t":{"dtype":"F32","shape":[2]}}`, "no data_offsets pair"},
		{`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, "more than 2 entries"},
		{`{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, "is not an integer"},
		{`{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, "not a non-negative integer"},
		{`{"t":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}`, "leading zero"},
		{`{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, "does not fit in 64 bits"},
		{`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`, "unexpected end of header"},
		{`{"t":"x"}`, `tensor "t" is not an object`},
		{"{\"t\x01\":1}", "control character"},
		{`{"\x":1}`, `bad escape`},
		{`{"` + strings.Repeat("a", maxKeyLen+1) + `":1}`, "longer than 256 bytes"},
		{`{"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,8]}}`, "more than 8 entries"},
	} {
		hdr := []byte(c.hdr)
		_, err := parseHeader(bufio.NewReader(bytes.NewReader(hdr)), int64(len(hdr)), 8)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("parseHeader(%.60q) = %v, want it accepted", c.hdr, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("parseHeader(%.60q) = %v, want an error with %q", c.hdr, err, c.want)
		}
	}
}

// FuzzHeader: whatever the streaming parser accepts, encoding/json reads as a valid JSON object with
// the same metadata, and the parser never panics.
func FuzzHeader(f *testing.F) {
	b, _ := Encode(small(f))
	hdr, _ := split(b)
	f.Add(hdr)
	f.Add([]byte(`{"__metadata__":{"a":"\ud83d\ude00\ud800x"},"t":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`))
	f.Add([]byte(`{"t":{"dtype":"F32","shape":[2, 0],"data_offsets":[0,0]}}  `))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		var dataLen uint64
		if len(hdr) > 0 {
			dataLen = uint64(hdr[len(hdr)-1]) // any data length, to reach the offset checks
		}
		h, err := parseHeader(bufio.NewReader(bytes.NewReader(hdr)), int64(len(hdr)), dataLen)
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(hdr, &top); err != nil {
			t.Fatalf("parseHeader accepted what encoding/json refuses (%v): %q", err, hdr)
		}
		var meta map[string]string
		if raw, ok := top["__metadata__"]; ok {
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatalf("metadata encoding/json refuses (%v): %q", err, hdr)
			}
		}
		if len(meta) != len(h.meta) {
			t.Fatalf("metadata %q, encoding/json reads %q", h.meta, meta)
		}
		for k, v := range meta {
			if h.meta[k] != v {
				t.Fatalf("metadata %q = %q, encoding/json reads %q", k, h.meta[k], v)
			}
		}
		var end uint64
		for _, tn := range h.tensors {
			if tn.begin != end {
				t.Fatalf("tensors not contiguous: %+v", h.tensors)
			}
			end = tn.end
		}
		if end != dataLen {
			t.Fatalf("tensors cover %d bytes of %d", end, dataLen)
		}
	})
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zeros is an endless source of zero bytes that allocates nothing (a sparse file's body).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestDecodeReadsInProportion: a header that does not describe the file's size is refused after
// reading the header alone, however big the file claims to be; a legal header of 20 MB (whitespace)
// costs no memory in proportion to it; the tensor data is read once, into the model.
func TestDecodeReadsInProportion(t *testing.T) {
	b, err := Encode(small(t))
	if err != nil {
		t.Fatal(err)
	}
	hdr, data := split(b)

	// A 3 GiB "sparse file": a real header, then zeros.
	const huge = 3 << 30
	c := &counter{r: io.MultiReader(bytes.NewReader(b[:8+len(hdr)]), zeros{})}
	_, err = decode(bufio.NewReader(c), huge)
	if err == nil || !strings.Contains(err.Error(), "incomplete buffer") || c.n > 1<<20 {
		t.Fatalf("decode(3 GiB file, 784-8-10 header) = %v after reading %d bytes; want incomplete buffer, the header alone read", err, c.n)
	}

	// A legal header padded with 20 MB of spaces, streamed from a reader that allocates nothing.
	const pad = 20 << 20
	big := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)+pad))
	r := io.MultiReader(bytes.NewReader(big), bytes.NewReader(hdr), io.LimitReader(spaces{}, pad), bytes.NewReader(data))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := decode(bufio.NewReaderSize(r, 64<<10), int64(len(b)+pad))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("decode(legal header + 20 MB of spaces) = %v", err)
	}
	model := int64(8 * got.Config.NumParams())
	if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > model+1<<20 {
		t.Errorf("decode of a %d-byte file allocated %d bytes; want the model's %d + less than 1 MiB", len(b)+pad, alloc, model)
	}
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// countingAt counts the bytes read through ReadAt.
type countingAt struct {
	ra io.ReaderAt
	n  int64
}

func (c *countingAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ra.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestOpenReadsHeaderFirst: an envelope whose plaintext header does not describe its size (a wrong
// key, a tampered or padded file) is refused after decrypting the header alone; a good one opens.
func TestOpenReadsHeaderFirst(t *testing.T) {
	key, wrong := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	b, _ := Encode(small(t))
	sealed, err := Encrypt(key, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(bytes.NewReader(sealed), int64(len(sealed)), key); err != nil {
		t.Fatalf("open(good envelope) = %v", err)
	}
	// The same envelope as the head of a 3 GiB sparse file, and with the wrong key.
	const huge = 3 << 30
	for _, c := range []struct {
		name string
		size int64
		key  []byte
	}{{"3 GiB file", huge, key}, {"wrong key", int64(len(sealed)), wrong}} {
		at := &countingAt{ra: headThenZeros(sealed)}
		_, err := open(at, c.size, c.key)
		if !errors.Is(err, errAuth) || at.n > 1<<20 {
			t.Errorf("open(%s) = %v after reading %d bytes; want %v with the header alone read", c.name, err, at.n, errAuth)
		}
	}
}

// headThenZeros is a ReaderAt over b followed by zeros.
func headThenZeros(b []byte) io.ReaderAt {
	return readerAtFunc(func(p []byte, off int64) (int, error) {
		clear(p)
		if off < int64(len(b)) {
			copy(p, b[off:])
		}
		return len(p), nil
	})
}

type readerAtFunc func(p []byte, off int64) (int, error)

func (f readerAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// TestWriterAndReaderAgree: Save refuses what Load would refuse (an epoch count beyond MaxEpochs, a
// NaN learning rate), and creates the file as other files are created, 0600 when encrypted.
func TestWriterAndReaderAgree(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		edit func(*Checkpoint)
		want string
	}{
		{"epochs beyond MaxEpochs", func(c *Checkpoint) { c.Hyper.Epochs = 3_000_000_000_000 }, "epochs 3000000000000"},
		{"NaN learning rate", func(c *Checkpoint) { c.Hyper.LR = nanF() }, "learning rate NaN"},
		{"step before epoch step", func(c *Checkpoint) { c.EpochStep = 5 }, "epoch step 5"},
		{"accuracy over 1", func(c *Checkpoint) { c.TestAccuracy = 2 }, "test accuracy 2"},
		{"a frozen layer it does not have", func(c *Checkpoint) { c.Hyper.Freeze.Add(6) }, "cannot freeze fc7"},
		{"every layer frozen", func(c *Checkpoint) { c.Hyper.Freeze.Add(0); c.Hyper.Freeze.Add(1) }, "every layer"},
	} {
		ck := small(t)
		c.edit(&ck)
		p := filepath.Join(dir, "x.bin")
		if err := Save(p, ck, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Save(%s) = %v, want a refusal naming %s with %q", c.name, err, p, c.want)
		}
		// The reader refuses the same checkpoint written without the check.
		b, err := Encode(ck)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s) = %v, want %q", c.name, err, c.want)
		}
	}

	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	for _, c := range []struct {
		key  []byte
		mode os.FileMode
	}{{nil, 0o664}, {bytes.Repeat([]byte{3}, KeySize), 0o600}} {
		p := filepath.Join(dir, "m.bin")
		os.Remove(p)
		if err := Save(p, small(t), c.key); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != c.mode {
			t.Errorf("Save(key %v) under umask 002 made mode %04o, want %04o", c.key != nil, st.Mode().Perm(), c.mode)
		}
	}
}

func nanF() float64 { return math.NaN() }

// TestParseHeaderEscapesAsJSON: strings decode as encoding/json decodes them, unpaired surrogates
// included.
func TestParseHeaderEscapesAsJSON(t *testing.T) {
	for _, v := range []string{`\ud800\u0041`, `\udc00`, `\ud800\n`, `\ud83d\ude00`, `\ud800\ud800\udc00`, `a\u00e9\/\b\f\t`, `\ud800`} {
		hdr := []byte(`{"__metadata__":{"k":"` + v + `"}}`)
		h, err := parseHeader(bufio.NewReader(bytes.NewReader(hdr)), int64(len(hdr)), 0)
		if err != nil {
			t.Errorf("parseHeader(%s) = %v", v, err)
			continue
		}
		var want map[string]map[string]string
		json.Unmarshal(hdr, &want)
		if h.meta["k"] != want["__metadata__"]["k"] {
			t.Errorf("parseHeader(%s) = %q, encoding/json reads %q", v, h.meta["k"], want["__metadata__"]["k"])
		}
	}
}
