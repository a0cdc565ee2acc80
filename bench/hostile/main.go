// Command hostile writes the hostile inputs that bench/rss.sh feeds to dltrain to measure what each
// costs in memory: sparse multi-gigabyte checkpoints and envelopes, a legal 100 MB header, a header
// of too many tensors, images of extreme aspect ratio and of the most pixels allowed. It is a
// benchmark's fixture generator, not a test: the tests build their own, smaller, inputs.
//
//	go run ./bench/hostile DIR
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	must(os.MkdirAll(dir, 0o755))
	m, err := model.New(model.NewConfig([]int{128}, ops.ReLU, model.CrossEntropy), 1)
	must(err)
	ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}, TestAccuracy: -1}}
	good, err := checkpoint.Encode(ck)
	must(err)
	hl := binary.LittleEndian.Uint64(good)
	hdr, data := good[8:8+hl], good[8+hl:]
	key := bytes.Repeat([]byte{7}, checkpoint.KeySize)
	write(dir, "key", []byte(fmt.Sprintf("%x\n", key)), 0o600)
	write(dir, "good.bin", good, 0o644)

	// A real header and nothing but zeros after it: 3 GiB on disk as a sparse file.
	sparse(dir, "ck-sparse-3g.bin", good[:8+hl], 3<<30)
	// Zeros from the first byte: a header length of 0.
	sparse(dir, "ck-zeros-3g.bin", nil, 3<<30)
	// A legal checkpoint whose header is padded with 100 MB of spaces (under the 100,000,000 limit).
	pad := 99_000_000
	var b bytes.Buffer
	b.Write(binary.LittleEndian.AppendUint64(nil, hl+uint64(pad)))
	b.Write(hdr)
	b.Write(bytes.Repeat([]byte{' '}, pad))
	b.Write(data)
	write(dir, "ck-header-100m.bin", b.Bytes(), 0o644)
	// A 100 MB header of tensor entries: refused after the 1024th.
	var t strings.Builder
	t.WriteString("{")
	for i := 0; t.Len() < 99_000_000; i++ {
		fmt.Fprintf(&t, `"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`, i)
	}
	h := strings.TrimSuffix(t.String(), ",") + "}"
	write(dir, "ck-header-100m-tensors.bin", append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...), 0o644)
	// A sealed checkpoint at the head of a 3 GiB sparse file.
	sealed, err := checkpoint.Encrypt(key, good)
	must(err)
	sparse(dir, "env-sparse-3g.bin", sealed, 3<<30)

	// Images: extreme aspect ratios at 12 M pixels (36 MB to decode: allowed), 40 M pixels (refused
	// from the header), and the widest RGBA square under the decoding limit.
	writePNG(dir, "png-12000000x1.png", image.NewGray(image.Rect(0, 0, 12_000_000, 1)))
	writePNG(dir, "png-1x12000000.png", image.NewGray(image.Rect(0, 0, 1, 12_000_000)))
	writePNG(dir, "png-40000000x1.png", image.NewGray(image.Rect(0, 0, 40_000_000, 1)))
	writePNG(dir, "png-3400x3400-rgba.png", image.NewNRGBA(image.Rect(0, 0, 3400, 3400)))
	writePNG(dir, "png-28x28.png", image.NewGray(image.Rect(0, 0, 28, 28)))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

func write(dir, name string, b []byte, mode os.FileMode) {
	must(os.WriteFile(filepath.Join(dir, name), b, mode))
}

// sparse writes head and extends the file to size with a hole.
func sparse(dir, name string, head []byte, size int64) {
	p := filepath.Join(dir, name)
	write(dir, name, head, 0o644)
	must(os.Truncate(p, size))
}

func writePNG(dir, name string, img image.Image) {
	var b bytes.Buffer
	must(png.Encode(&b, img))
	write(dir, name, b.Bytes(), 0o644)
}
