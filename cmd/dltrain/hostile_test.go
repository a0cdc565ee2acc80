package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// craft re-serializes a safetensors file from a header map and a data section, optionally
// recomputing tensors_sha256 so that the check under test is the one that fires.
func craft(t *testing.T, hdr map[string]any, data []byte, fixSHA bool) []byte {
	t.Helper()
	if fixSHA {
		meta := hdr["__metadata__"].(map[string]any)
		meta["tensors_sha256"] = sha256Hex(data)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	return rawSafetensors(h, data)
}

func rawSafetensors(h, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), data...)
}

// validCheckpoint is a small real checkpoint (784-10, no hidden layer) split into header and data.
func validCheckpoint(t *testing.T) (map[string]any, []byte, []byte) {
	t.Helper()
	m, err := model.New(model.NewConfig(nil, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Encode(checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}}})
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]any
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr, append([]byte(nil), b[8+n:]...), b
}

// clone deep-copies a JSON header so each case edits its own.
func clone(h map[string]any) map[string]any {
	b, _ := json.Marshal(h)
	var c map[string]any
	json.Unmarshal(b, &c)
	return c
}

func entry(h map[string]any, name string) map[string]any { return h[name].(map[string]any) }

func offsets(h map[string]any, name string) []any { return entry(h, name)["data_offsets"].([]any) }

// TestHostileInputs is the table of hostile files across the four readers: IDX data (through train),
// checkpoints (through eval), encrypted envelopes (through eval with a key) and images (through
// predict). Each must fail with its exit code and a one-line error naming the file, never a panic.
func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	hdr, data, valid := validCheckpoint(t)
	good := filepath.Join(dir, "good.bin")
	os.WriteFile(good, valid, 0o644)
	keyPath := filepath.Join(dir, "key")
	os.WriteFile(keyPath, bytes.Repeat([]byte{7}, 32), 0o600)
	sealed, _ := checkpoint.Encrypt(bytes.Repeat([]byte{7}, 32), valid)

	// The tensors sort by name in the data section: fc1.bias, fc1.bias.momentum, fc1.weight, …
	ckCases := []struct {
		name string
		make func() []byte
		want string
	}{
		{"empty", func() []byte { return nil }, "too short"},
		{"header over 100MB", func() []byte { return binary.LittleEndian.AppendUint64(nil, 200_000_000) }, "exceeds the 100000000-byte limit"},
		{"header over file size", func() []byte { return append(binary.LittleEndian.AppendUint64(nil, 5000), '{') }, "exceeds the file's"},
		{"header not json object", func() []byte { return rawSafetensors([]byte(`["x"]`), nil) }, "does not start with '{'"},
		{"header not utf8", func() []byte { return rawSafetensors([]byte("{\"\xff\xfe\":1}"), nil) }, "not valid UTF-8"},
		{"header bad json", func() []byte { return rawSafetensors([]byte(`{"a":`), nil) }, "not valid JSON"},
		{"duplicate tensor", func() []byte {
			h, _ := json.Marshal(entry(hdr, "fc1.bias"))
			j, _ := json.Marshal(hdr)
			j = append(append(append(j[:len(j)-1], `,"fc1.bias":`...), h...), '}')
			return rawSafetensors(j, data)
		}, `duplicate key "fc1.bias"`},
		{"first offset not 0", func() []byte {
			h := clone(hdr)
			offsets(h, "fc1.bias")[0] = 4.0
			return craft(t, h, data, true)
		}, "invalid metadata offset"},
		{"overlapping offsets", func() []byte {
			h := clone(hdr)
			offsets(h, "fc1.bias.momentum")[0] = 20.0
			return craft(t, h, data, true)
		}, "invalid metadata offset"},
		{"end before begin", func() []byte {
			h := clone(hdr)
			offsets(h, "fc1.bias")[1] = 0.0
			offsets(h, "fc1.bias")[0] = 40.0
			return craft(t, h, data, true)
		}, "invalid metadata offset"},
		{"shape product overflows", func() []byte {
			h := clone(hdr)
			entry(h, "fc1.bias")["shape"] = []any{4294967296.0, 4294967296.0, 16.0}
			return craft(t, h, data, true)
		}, "num elements"},
		{"bytes not shape×4", func() []byte {
			h := clone(hdr)
			entry(h, "fc1.bias")["shape"] = []any{9.0}
			return craft(t, h, data, true)
		}, "offsets mismatch"},
		{"trailing bytes", func() []byte { return craft(t, clone(hdr), append(append([]byte(nil), data...), 0, 0, 0, 0), false) }, "incomplete buffer"},
		{"missing bytes", func() []byte { return valid[:len(valid)-4] }, "incomplete buffer"},
		{"unknown dtype", func() []byte {
			h := clone(hdr)
			entry(h, "fc1.bias")["dtype"] = "F128"
			return craft(t, h, data, true)
		}, "F128"},
		{"dtype not F32", func() []byte {
			h := clone(hdr)
			entry(h, "fc1.bias")["dtype"] = "I32"
			return craft(t, h, data, true)
		}, "dtype I32, want F32"},
		{"missing tensor", func() []byte {
			h := clone(hdr)
			// Drop the last tensor in data order, fc1.weight.momentum, and its bytes.
			end := int(offsets(h, "fc1.weight.momentum")[0].(float64))
			delete(h, "fc1.weight.momentum")
			return craft(t, h, data[:end], true)
		}, "missing tensor fc1.weight.momentum"},
		{"extra tensor", func() []byte {
			h := clone(hdr)
			h["zzz"] = map[string]any{"dtype": "F32", "shape": []any{1.0}, "data_offsets": []any{float64(len(data)), float64(len(data) + 4)}}
			return craft(t, h, append(append([]byte(nil), data...), 0, 0, 0, 0), true)
		}, `unexpected tensor "zzz"`},
		{"shape does not match architecture", func() []byte {
			h := clone(hdr)
			entry(h, "fc1.weight")["shape"] = []any{784.0, 10.0}
			return craft(t, h, data, true)
		}, "shape [784 10], want [10 784]"},
		{"architecture not mnist", func() []byte {
			h := clone(hdr)
			entry(h, "__metadata__")["arch"] = "100-10"
			return craft(t, h, data, true)
		}, "must start at 784"},
		{"not a dltrain file", func() []byte {
			h := clone(hdr)
			entry(h, "__metadata__")["format"] = "pt"
			return craft(t, h, data, true)
		}, "not a dltrain checkpoint"},
		{"sha256 mismatch", func() []byte {
			d := append([]byte(nil), data...)
			d[100] ^= 1
			return craft(t, clone(hdr), d, false)
		}, "SHA-256"},
		{"NaN weight", func() []byte {
			d := append([]byte(nil), data...)
			off := int(offsets(hdr, "fc1.weight")[0].(float64))
			binary.LittleEndian.PutUint32(d[off+8:], math.Float32bits(float32(math.NaN())))
			return craft(t, clone(hdr), d, true)
		}, "fc1.weight holds NaN at index 2"},
		{"Inf bias", func() []byte {
			d := append([]byte(nil), data...)
			binary.LittleEndian.PutUint32(d[4:], math.Float32bits(float32(math.Inf(1))))
			return craft(t, clone(hdr), d, true)
		}, "fc1.bias holds +Inf at index 1"},
	}
	envCases := []struct {
		name string
		b    []byte
		want string
	}{
		{"envelope truncated", sealed[:30], "truncated"},
		{"envelope bad version", append([]byte("DLTRAINE\x09"), sealed[9:]...), "envelope version 9"},
		{"envelope bad algorithm", append([]byte("DLTRAINE\x01\x07"), sealed[10:]...), "algorithm 7"},
		{"envelope tampered nonce", func() []byte { b := append([]byte(nil), sealed...); b[12] ^= 1; return b }(), "wrong key, or the file was modified"},
		{"envelope tampered tag", func() []byte { b := append([]byte(nil), sealed...); b[len(b)-1] ^= 1; return b }(), "wrong key, or the file was modified"},
	}

	var idxHeader bytes.Buffer
	binary.Write(&idxHeader, binary.BigEndian, []uint32{0x803, 1, 28, 28})
	idxCases := []struct {
		name string
		b    []byte
		want string
	}{
		{"idx empty", nil, "empty file"},
		{"idx wrong magic", []byte{0, 0, 8, 1, 0, 0, 0, 1, 5}, "a labels file"},
		{"idx body short", append(idxHeader.Bytes(), make([]byte, 783)...), "1 bytes short"},
		{"idx gzip truncated", func() []byte {
			var z bytes.Buffer
			w := gzip.NewWriter(&z)
			w.Write(append(idxHeader.Bytes(), make([]byte, 784)...))
			w.Close()
			return z.Bytes()[:z.Len()-10]
		}(), "truncated gzip stream"},
		{"idx huge count", func() []byte {
			b := append([]byte(nil), idxHeader.Bytes()...)
			binary.BigEndian.PutUint32(b[4:], 0xffffffff)
			return append(b, make([]byte, 784)...)
		}(), "more than a"},
	}

	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 10, 10)))
	hugePNG := append([]byte(nil), pngBuf.Bytes()...)
	binary.BigEndian.PutUint32(hugePNG[16:], 100000) // IHDR width
	binary.BigEndian.PutUint32(hugePNG[20:], 100000) // IHDR height
	binary.BigEndian.PutUint32(hugePNG[29:], crc32.ChecksumIEEE(hugePNG[12:29]))
	zeroPNG := append([]byte(nil), pngBuf.Bytes()...)
	binary.BigEndian.PutUint32(zeroPNG[16:], 0)
	binary.BigEndian.PutUint32(zeroPNG[29:], crc32.ChecksumIEEE(zeroPNG[12:29]))
	imgCases := []struct {
		name string
		b    []byte
		want string
	}{
		{"image not an image", []byte("hello, I am text"), "not a PNG, JPEG or GIF"},
		{"image empty", nil, "not a PNG, JPEG or GIF"},
		{"image huge dimensions", hugePNG, "more than 40000000 pixels"},
		{"image zero size", zeroPNG, "bad image header"},
		{"image truncated", pngBuf.Bytes()[:pngBuf.Len()-20], "bad png image"},
	}

	check := func(name, file string, wantCode int, want string, code int, stderr string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		first := lines[0]
		if code != wantCode || !strings.HasPrefix(first, "dltrain: ") || !strings.Contains(first, filepath.Base(file)) ||
			!strings.Contains(first, want) || strings.Contains(stderr, "panic") || len(lines) > 2 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line naming %s with %q", name, code, stderr, wantCode, filepath.Base(file), want)
		}
	}
	count := 0
	for _, c := range ckCases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".bin")
		os.WriteFile(p, c.make(), 0o644)
		code, _, e := run(t, "eval", p)
		check(c.name, p, exitModel, c.want, code, e)
		count++
	}
	for _, c := range envCases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".bin")
		os.WriteFile(p, c.b, 0o644)
		code, _, e := run(t, "eval", p, "--key-file", keyPath)
		check(c.name, p, exitModel, c.want, code, e)
		count++
	}
	sub := mnist.SubsetFiles("../../testdata/mnist-subset")
	for _, c := range idxCases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".idx")
		os.WriteFile(p, c.b, 0o644)
		f, _, errb := testFactory()
		files := sub
		files.TrainImages = p
		ds, _ := mnist.Lookup(mnist.DefaultDataset)
		f.LoadData = func(mnist.Dataset, string) (*mnist.Set, *mnist.Set, error) { return loadFiles(ds, files) }
		code := Main([]string{"train", "--device", "cpu", "-o", filepath.Join(dir, "never.bin")}, f)
		check(c.name, p, exitData, c.want, code, errb.String())
		count++
	}
	for _, c := range imgCases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".png")
		os.WriteFile(p, c.b, 0o644)
		code, _, e := run(t, "predict", good, p)
		check(c.name, p, exitData, c.want, code, e)
		count++
	}
	if count < 25 {
		t.Fatalf("only %d hostile inputs", count)
	}
	t.Logf("%d hostile inputs rejected", count)
}

// digitPNG encodes 28×28 MNIST pixels as a PNG, inverted if asked.
func digitPNG(pix []uint8, invert bool) []byte {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i, p := range pix {
		if invert {
			p = 255 - p
		}
		img.SetGray(i%28, i/28, color.Gray{Y: p})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
