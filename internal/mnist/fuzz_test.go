package mnist

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// FuzzDecode: the IDX decoder never panics, never returns a body that disagrees with its count, and
// never allocates more than the bound the file size implies. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(idxImages(2, 28, 28, 0), true)
	f.Add(gz(idxImages(1, 28, 28, 0)), true)
	f.Add(idxLabels(1, 2, 3), false)
	f.Add(gz(idxLabels(9, 0)), false)
	f.Fuzz(func(t *testing.T, b []byte, images bool) {
		body, n, err := Decode(bytes.NewReader(b), int64(len(b)), images)
		if err != nil {
			return
		}
		per := 1
		if images {
			per = Pixels
		}
		if len(body) != n*per {
			t.Fatalf("Decode: %d bytes for %d items", len(body), n)
		}
		if int64(len(body)) > int64(len(b))*maxInflate {
			t.Fatalf("Decode: %d bytes from a %d-byte input", len(body), len(b))
		}
	})
}

// FuzzFromImage: image decoding for predict never panics and always yields 784 pixels.
func FuzzFromImage(f *testing.F) {
	img := image.NewGray(image.Rect(0, 0, 5, 9))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	var p, g, j bytes.Buffer
	png.Encode(&p, img)
	gif.Encode(&g, img, nil)
	jpeg.Encode(&j, img, nil)
	f.Add(p.Bytes())
	f.Add(g.Bytes())
	f.Add(j.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		pix, _, err := FromImage(bytes.NewReader(b), InvertAuto)
		if err == nil && len(pix) != Pixels {
			t.Fatalf("FromImage: %d pixels", len(pix))
		}
	})
}
