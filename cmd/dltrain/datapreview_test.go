package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/mnist"
)

func TestDataPreviewFlags(t *testing.T) {
	for _, c := range []struct {
		args  string
		check func(o *DataPreviewOptions) bool
	}{
		{"-o g.png", func(o *DataPreviewOptions) bool {
			return o.Out == "g.png" && o.Dataset == "mnist" && o.N == 16 && o.Variants == 3 && o.Start == 0 && o.Seed == 1 && !o.Force &&
				o.Augment == "elastic" && o.Rotate == 15 && o.ElasticSigma == 6 && o.ElasticAlpha == 36
		}},
		{"--augment affine --rotate 30 --images 64 --variants 5 --start 100 --seed 7 --force --output x.png --data d --dataset fashion-mnist", func(o *DataPreviewOptions) bool {
			return o.Augment == "affine" && o.Rotate == 30 && o.N == 64 && o.Variants == 5 && o.Start == 100 && o.Seed == 7 &&
				o.Force && o.Out == "x.png" && o.Data == "d" && o.Dataset == "fashion-mnist"
		}},
	} {
		f, _, _ := testFactory()
		var got *DataPreviewOptions
		cmd := NewCmdDataPreview(f, func(o *DataPreviewOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(c.args))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("data preview %s: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("data preview %s parsed to %+v", c.args, *got)
		}
	}
}

// TestDataPreview: the PNG decodes and is a near-square grid (the tiles' content is previewTiles',
// checked below; the drawing is internal/figure's); the same flags give the same bytes, another seed
// or mode other bytes. An existing file is refused without
// --force and replaced with it; bad flags are usage errors.
func TestDataPreview(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "grid.png")
	code, stdout, e := run(t, "data", "preview", "-n", "8", "-o", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out+": 8 MNIST training images (from #0), each with 3 deformations (elastic)") {
		t.Fatalf("exit %d, %q, %q", code, stdout, e)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	// 32 tiles of 28×28 at zoom 3 in 2 groups of 4 per row (8 columns, 4 rows): wider than high,
	// and over 8 tiles of 84 pixels across.
	if b := img.Bounds(); b.Dx() < 8*84 || b.Dy() < 4*84 || b.Dx() > 2*b.Dy() {
		t.Fatalf("grid is %v, want about 8×4 tiles of 84 pixels", b)
	}

	code, _, e = run(t, "data", "preview", "-n", "8", "-o", out)
	if code != exitError || !strings.Contains(e, "grid.png already exists; nothing was written") || !strings.Contains(e, "--force") {
		t.Fatalf("existing output: exit %d, %q", code, e)
	}
	for _, c := range []struct {
		args []string
		same bool
	}{
		{[]string{"-n", "8"}, true},
		{[]string{"-n", "8", "--seed", "2"}, false},
		{[]string{"-n", "8", "--augment", "affine"}, false},
	} {
		if code, _, e := run(t, append([]string{"data", "preview", "--force", "-o", out}, c.args...)...); code != 0 {
			t.Fatal(e)
		}
		b, _ := os.ReadFile(out)
		if bytes.Equal(b, first) != c.same {
			t.Errorf("data preview %v: same bytes as the default = %v, want %v", c.args, !c.same, c.same)
		}
	}

	for _, c := range []struct{ args, want string }{
		{"", "needs -o FILE.png"},
		{"-n 0 -o x.png", "-n 0 out of range 1..256"},
		{"--variants 16 -o x.png", "--variants 16 out of range 1..15"},
		{"-n 256 --variants 15 -o x.png", "makes 4096 tiles, at most 1024"},
		{"--augment none -o x.png", "nothing to preview"},
		{"--augment affine --elastic-alpha 3 -o x.png", "--elastic-alpha applies only with --augment elastic"},
		{"--start 2995 -n 10 -o x.png", "goes past the 3000 training images"},
		{"--start -1 -o x.png", "--start -1"},
	} {
		code, _, e := run(t, append([]string{"data", "preview"}, strings.Fields(strings.ReplaceAll(c.args, "x.png", filepath.Join(dir, "x.png")))...)...)
		if code != exitUsage || !strings.Contains(e, c.want) {
			t.Errorf("data preview %s: exit %d, %q; want exit 2 and %q", c.args, code, e, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Fatal("a refused preview wrote its file")
	}
}

// TestPreviewTiles: each image's tile is its pixels over 255, and its deformations are
// augment.Gather's of epochs 1..K under the seed, mapped back from (x − 0.5)/0.5.
func TestPreviewTiles(t *testing.T) {
	train, _, err := mnist.Load(mnist.SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := augment.NewPlan(augment.Default(augment.Elastic))
	ds, _ := mnist.Lookup(mnist.DefaultDataset)
	tiles := previewTiles(train, ds, 10, 2, 2, pl, 9)
	if len(tiles) != 6 {
		t.Fatalf("%d tiles, want 6", len(tiles))
	}
	want := make([]float32, 784)
	for b := range 2 {
		i := 10 + b
		if got := tiles[3*b].Pix[300]; got != float32(train.Images[i*784+300])/255 {
			t.Fatalf("tile of image %d: pixel 300 = %v, want %v", i, got, float32(train.Images[i*784+300])/255)
		}
		for e := 1; e <= 2; e++ {
			augment.Gather(want, train.Images, []int32{int32(i)}, 0, 1, pl, 9, e)
			for p, w := range want {
				if got := tiles[3*b+e].Pix[p]; got != (w+1)/2 {
					t.Fatalf("image %d epoch %d: pixel %d = %v, want %v", i, e, p, got, (w+1)/2)
				}
			}
		}
	}
}
