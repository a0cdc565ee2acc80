package filekind_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"slices"
	"testing"

	"github.com/dltrain/dltrain/internal/checkpoint"
	"github.com/dltrain/dltrain/internal/export"
	"github.com/dltrain/dltrain/internal/filekind"
	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// samples returns a file of every kind Detect names, made the way real ones are made.
func samples(t testing.TB) map[string][]byte {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	var p, j, g bytes.Buffer
	png.Encode(&p, img)
	jpeg.Encode(&j, img, nil)
	gif.Encode(&g, img, nil)
	m, err := model.New(model.NewConfig([]int{8}, ops.ReLU, model.CrossEntropy), 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := checkpoint.Checkpoint{Model: m, Meta: checkpoint.Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}}}
	st, _ := checkpoint.Encode(ck)
	sealed, _ := checkpoint.Encrypt(bytes.Repeat([]byte{1}, checkpoint.KeySize), st)
	ox, err := export.ONNX(ck)
	if err != nil {
		t.Fatal(err)
	}
	weights, _ := export.Safetensors(ck)
	gzImages, err := os.ReadFile("../../testdata/mnist-subset/test1000-images-idx3-ubyte.gz")
	if err != nil {
		t.Fatal(err)
	}
	gzLabels, _ := os.ReadFile("../../testdata/mnist-subset/test1000-labels-idx1-ubyte.gz")
	raw, _ := gzip.NewReader(bytes.NewReader(gzLabels))
	var labels bytes.Buffer
	labels.ReadFrom(raw)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("archive/data.pkl")
	w.Write([]byte("\x80\x02}q\x00."))
	zw.Close()
	var other bytes.Buffer
	gw := gzip.NewWriter(&other)
	gw.Write([]byte("hello"))
	gw.Close()
	exe, _ := os.ReadFile("/proc/self/exe")
	return map[string][]byte{
		filekind.Empty:       nil,
		filekind.Checkpoint:  st,
		filekind.Encrypted:   sealed,
		filekind.PNG:         p.Bytes(),
		filekind.JPEG:        j.Bytes(),
		filekind.GIF:         g.Bytes(),
		filekind.IDXImagesGz: gzImages,
		filekind.IDXLabelsGz: gzLabels,
		filekind.IDXLabels:   labels.Bytes(),
		filekind.IDXImages:   {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28},
		filekind.Gzip:        other.Bytes(),
		filekind.ONNX:        ox,
		filekind.Zip:         zb.Bytes(),
		filekind.Pickle:      []byte("\x80\x04\x95\x10\x00\x00\x00"),
		filekind.JSONLines:   []byte(`{"epoch":1,"train_loss":0.3}` + "\n" + `{"epoch":2,"train_loss":0.2}` + "\n"),
		filekind.JSON:        []byte(`{"accuracy": 0.97, "loss": 0.1}`),
		filekind.Text:        []byte("not a model at all\n"),
		filekind.ELF:         exe,
		"weights export":     weights,
	}
}

func TestDetect(t *testing.T) {
	for want, b := range samples(t) {
		if want == "weights export" {
			want = filekind.Checkpoint
		}
		if got := filekind.Detect(b); got != want {
			t.Errorf("Detect(%q…) = %q, want %q", b[:min(len(b), 16)], got, want)
		}
	}
	for _, b := range [][]byte{
		{0x00, 0xc2, 0xeb, 0x0b, 0, 0, 0, 0},             // a safetensors length of 200 MB and nothing else
		{0x88, 0x13, 0, 0, 0, 0, 0, 0, '{'},              // a length over the file
		{0x08, 0x07, 0x99, 0x01, 0x00},                   // not ModelProto's fields
		bytes.Repeat([]byte{0xfe, 0x01, 0x00, 0x7f}, 40), // binary
	} {
		if got := filekind.Detect(b); got != filekind.Unrecognized {
			t.Errorf("Detect(%x) = %q, want Unrecognized", b, got)
		}
	}
}

// FuzzDetect: Detect never panics, reads no more than Head bytes, and names only its own kinds.
func FuzzDetect(f *testing.F) {
	kinds := []string{filekind.Unrecognized}
	for k, b := range samples(f) {
		if k != "weights export" {
			kinds = append(kinds, k)
		}
		f.Add(b[:min(len(b), filekind.Head+8)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := filekind.Detect(b)
		if !slices.Contains(kinds, k) {
			t.Fatalf("Detect = %q, not one of its kinds", k)
		}
		if len(b) > filekind.Head {
			if k2 := filekind.Detect(b[:filekind.Head]); k2 != k {
				t.Fatalf("Detect looked past Head: %q with the whole input, %q with its head", k, k2)
			}
		}
	})
}
