package mnist

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"testing"
)

// FuzzDecode: the IDX decoder never panics, never returns a body that disagrees with its count, never
// allocates more than the bound the file size implies, and what it hashes on the way is exactly the
// decompressed file (so a digest check sees what was decoded). Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(idxImages(2, 28, 28, 0), true)
	f.Add(gz(idxImages(1, 28, 28, 0)), true)
	f.Add(idxLabels(1, 2, 3), false)
	f.Add(gz(idxLabels(9, 0)), false)
	f.Fuzz(func(t *testing.T, b []byte, wantImages bool) {
		k := labels
		if wantImages {
			k = images
		}
		h := sha256.New()
		body, n, err := decodeIDX(bytes.NewReader(b), int64(len(b)), k, decodeOpts{hash: h})
		if err != nil {
			return
		}
		per := 1
		if wantImages {
			per = Pixels
		}
		if len(body) != n*per {
			t.Fatalf("Decode: %d bytes for %d items", len(body), n)
		}
		if int64(len(body)) > int64(len(b))*maxInflate {
			t.Fatalf("Decode: %d bytes from a %d-byte input", len(body), len(b))
		}
		content := b
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Decode accepted a gzip stream gzip.NewReader refuses: %v", err)
			}
			zr.Multistream(false)
			if content, err = io.ReadAll(zr); err != nil {
				t.Fatalf("Decode accepted a gzip stream that does not gunzip: %v", err)
			}
		}
		if want := sha256.Sum256(content); !bytes.Equal(h.Sum(nil), want[:]) || !bytes.HasSuffix(content, body) {
			t.Fatalf("Decode: hashed bytes are not the decompressed file (%d bytes)", len(content))
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
		d, err := PrepareFramed(bytes.NewReader(b), InvertAuto, FrameWhole)
		if err == nil && len(d.Pix) != Pixels {
			t.Fatalf("PrepareFramed(FrameWhole): %d pixels", len(d.Pix))
		}
	})
}
