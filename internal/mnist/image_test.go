package mnist

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) *bytes.Reader {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b.Bytes())
}

// TestFromImageCentres: a dark blob drawn off-centre on a big light canvas comes out inverted, at most
// 20 pixels on its longer side, with its centre of mass in the middle of the 28×28 frame.
func TestFromImageCentres(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 400, 300))
	for i := range img.Pix {
		img.Pix[i] = 250
	}
	for y := 30; y < 130; y++ { // a 40×100 dark bar near the top left
		for x := 20; x < 60; x++ {
			img.SetGray(x, y, color.Gray{Y: 10})
		}
	}
	pix, inv, err := FromImage(encodePNG(t, img), InvertAuto)
	if err != nil || !inv || len(pix) != Pixels {
		t.Fatalf("FromImage = %d pixels, inverted %v, %v", len(pix), inv, err)
	}
	var mass, mx, my float64
	x0, x1, y0, y1 := Cols, -1, Rows, -1
	for y := range Rows {
		for x := range Cols {
			v := float64(pix[y*Cols+x])
			mass += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
			if v > inkLevel {
				x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
			}
		}
	}
	if cx, cy := mx/mass, my/mass; cx < 13 || cx > 15 || cy < 13 || cy > 15 {
		t.Errorf("centre of mass (%.1f, %.1f), want (14, 14) ± 1", cx, cy)
	}
	if h := y1 - y0 + 1; h < 19 || h > 20 {
		t.Errorf("digit is %d pixels tall, want 20", h)
	}
}

// TestPrepareFramedWhole: a garment-like shape (light on dark, off-centre on a 60×40 canvas, with a
// faint edge) comes out of FrameWhole filling the frame on its longer side and centred by its box,
// faint edge included; FrameDigit shrinks the same image to MNIST's 20-pixel box.
func TestPrepareFramedWhole(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 60, 40))
	for y := 5; y < 35; y++ { // a 20×30 body at x 10..29, with a faint column at x = 30
		for x := 10; x < 30; x++ {
			img.SetGray(x, y, color.Gray{Y: 200})
		}
		img.SetGray(30, y, color.Gray{Y: 30})
	}
	box := func(pix []uint8) (x0, x1, y0, y1 int) {
		x0, x1, y0, y1 = Cols, -1, Rows, -1
		for y := range Rows {
			for x := range Cols {
				if pix[y*Cols+x] > contentLevel {
					x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
				}
			}
		}
		return
	}
	d, err := PrepareFramed(encodePNG(t, img), InvertAuto, FrameWhole)
	if err != nil || d.Inverted || len(d.Pix) != Pixels {
		t.Fatalf("PrepareFramed(FrameWhole) = %d pixels, inverted %v, %v", len(d.Pix), d.Inverted, err)
	}
	x0, x1, y0, y1 := box(d.Pix)
	if y0 != 0 || y1 != Rows-1 {
		t.Errorf("FrameWhole: rows %d..%d, want the whole frame 0..27", y0, y1)
	}
	if w := x1 - x0 + 1; w < 19 || w > 21 || x0+x1 < 26 || x0+x1 > 28 {
		t.Errorf("FrameWhole: columns %d..%d, want about 20 of them, centred", x0, x1)
	}
	d, err = PrepareFramed(encodePNG(t, img), InvertAuto, FrameDigit)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, y0, y1 := box(d.Pix); y1-y0+1 > 21 {
		t.Errorf("FrameDigit: %d rows tall, want MNIST's 20-pixel box", y1-y0+1)
	}
	if ds, _ := Lookup("fashion-mnist"); ds.Framing != FrameWhole {
		t.Errorf("fashion-mnist frames its images as %v, want FrameWhole", ds.Framing)
	}
}

// TestFromImage28IsUntouched: a 28×28 image is taken as MNIST-formatted and only converted to gray.
func TestFromImage28IsUntouched(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 97)
	}
	pix, inv, err := FromImage(encodePNG(t, img), InvertAuto)
	if err != nil || inv || !bytes.Equal(pix, img.Pix) {
		t.Fatalf("FromImage(28×28) changed the pixels (inverted %v, %v)", inv, err)
	}
	pix, inv, _ = FromImage(encodePNG(t, img), InvertYes)
	if !inv || pix[5] != 255-img.Pix[5] {
		t.Fatalf("FromImage(InvertYes) did not invert")
	}
}

func TestFromImageBlank(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 50, 50))
	pix, _, err := FromImage(encodePNG(t, img), InvertNo)
	if err != nil || len(pix) != Pixels || bytes.Count(pix, []byte{0}) != Pixels {
		t.Fatalf("blank image: %v, %d pixels", err, len(pix))
	}
}

// withEXIF inserts an APP1 EXIF segment holding orientation o right after a JPEG's SOI marker, in
// little- or big-endian TIFF order.
func withEXIF(jpg []byte, o int, big bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II")
	if big {
		bo, tiff = binary.BigEndian, []byte("MM")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2) // two entries: an unrelated tag first
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, 'a', 'c', 'm', 0)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, uint16(o))
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(len(seg)+2))
	out := append([]byte{0xff, 0xd8}, app1...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// digitL draws a dark "L" (asymmetric under every turn and mirroring) on a light w×h canvas.
func digitL(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 240
	}
	for y := h / 5; y < h*4/5; y++ {
		for x := w / 3; x < w/3+w/10; x++ {
			img.SetGray(x, y, color.Gray{Y: 15})
		}
	}
	for y := h*4/5 - h/10; y < h*4/5; y++ {
		for x := w / 3; x < w*2/3; x++ {
			img.SetGray(x, y, color.Gray{Y: 15})
		}
	}
	return img
}

// stored is what a camera stores for the upright picture up when it writes EXIF orientation o: the
// inverse of the turn orient applies.
func stored(up *image.Gray, o int) *image.Gray {
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	return orient(up, inverse[o])
}

func meanAbsDiff(a, b []uint8) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

// TestPrepareEXIFOrientation: a JPEG stored turned or mirrored, with the EXIF orientation that says
// so, is read as the upright picture, in both TIFF byte orders; without the tag it would not be.
func TestPrepareEXIFOrientation(t *testing.T) {
	up := digitL(120, 90)
	want, err := Prepare(encodeJPEG(t, up, nil), InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	for o := 1; o <= 8; o++ {
		for _, big := range []bool{false, true} {
			raw := encodeJPEG(t, stored(up, o), nil)
			d, err := Prepare(bytes.NewReader(withEXIF(readAll(raw), o, big)), InvertAuto)
			if err != nil || d.Orientation != o {
				t.Fatalf("Prepare(orientation %d) = %v, orientation %d", o, err, d.Orientation)
			}
			if diff := meanAbsDiff(d.Pix, want.Pix); diff > 4 {
				t.Errorf("orientation %d (big-endian %v): mean difference %.1f from the upright digit, want ≤ 4", o, big, diff)
			}
			if o != 1 {
				plain, _ := Prepare(raw, InvertAuto)
				if diff := meanAbsDiff(plain.Pix, want.Pix); diff < 8 {
					t.Errorf("orientation %d without its tag: mean difference only %.1f; the test shape is too symmetric", o, diff)
				}
			}
		}
	}
}

func encodeJPEG(t *testing.T, img image.Image, o *jpeg.Options) *bytes.Reader {
	t.Helper()
	if o == nil {
		o = &jpeg.Options{Quality: 95}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, o); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b.Bytes())
}

func readAll(r *bytes.Reader) []byte {
	b := make([]byte, r.Len())
	r.ReadAt(b, 0)
	return b
}

// TestPrepareTransparentCanvas: black strokes on a transparent canvas (what an HTML canvas saves)
// read as the same strokes on white, not as black on black.
func TestPrepareTransparentCanvas(t *testing.T) {
	opaque := digitL(200, 200)
	clear := image.NewNRGBA(opaque.Rect)
	for i, p := range opaque.Pix {
		if p < 128 {
			clear.Pix[4*i+3] = 255 // black, opaque
		} else {
			clear.Pix[4*i], clear.Pix[4*i+1], clear.Pix[4*i+2] = 0, 0, 0 // transparent black
		}
	}
	for i := range opaque.Pix {
		if opaque.Pix[i] >= 128 {
			opaque.Pix[i] = 255
		} else {
			opaque.Pix[i] = 0
		}
	}
	want, err := Prepare(encodePNG(t, opaque), InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Prepare(encodePNG(t, clear), InvertAuto)
	if err != nil || got.Blank || !got.Inverted || !bytes.Equal(got.Pix, want.Pix) {
		t.Fatalf("transparent canvas: %v, blank %v, inverted %v, same pixels as on white %v; want the same digit, inverted",
			err, got.Blank, got.Inverted, bytes.Equal(got.Pix, want.Pix))
	}
}

// TestPrepareBlank: an image with no ink (white, black, transparent, one gray) is marked Blank; a
// faint but real stroke is not.
func TestPrepareBlank(t *testing.T) {
	uniform := func(v uint8) image.Image {
		img := image.NewGray(image.Rect(0, 0, 60, 40))
		for i := range img.Pix {
			img.Pix[i] = v
		}
		return img
	}
	faint := uniform(200).(*image.Gray)
	for y := 10; y < 30; y++ {
		faint.SetGray(30, y, color.Gray{Y: 150})
	}
	for _, c := range []struct {
		name  string
		img   image.Image
		blank bool
	}{
		{"white", uniform(255), true},
		{"black", uniform(0), true},
		{"gray", uniform(128), true},
		{"transparent", image.NewNRGBA(image.Rect(0, 0, 300, 150)), true},
		{"faint stroke", faint, false},
		{"digit", digitL(50, 50), false},
	} {
		d, err := Prepare(encodePNG(t, c.img), InvertAuto)
		if err != nil || d.Blank != c.blank {
			t.Errorf("Prepare(%s) = blank %v, %v; want blank %v", c.name, d.Blank, err, c.blank)
		}
	}
}

// TestPrepareExtremeAspect: a 10,000,000×1 image (under the pixel limit) costs what decoding it takes
// (the image and the PNG decoder's two rows, 30 MB) and little more, not gigabytes of scaling tables.
func TestPrepareExtremeAspect(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 10_000_000, 1))
	for x := 4_000_000; x < 6_000_000; x++ {
		img.Pix[x] = 255
	}
	r := encodePNG(t, img)
	img = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := Prepare(r, InvertNo)
	runtime.ReadMemStats(&after)
	if err != nil || len(d.Pix) != Pixels || d.Blank {
		t.Fatalf("Prepare(10000000x1) = %v, %d pixels, blank %v", err, len(d.Pix), d.Blank)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 34<<20 {
		t.Errorf("Prepare(10000000x1 gray) allocated %d MB; want the 30 MB decoding takes and under 4 MB more", alloc>>20)
	}
}

// TestPrepareDecodedBytesLimit: an image under the pixel limit whose decoding would take more than
// MaxImageBytes is refused from its header.
func TestPrepareDecodedBytesLimit(t *testing.T) {
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, 1, 1)))
	p := b.Bytes()
	binary.BigEndian.PutUint32(p[16:], 4000) // IHDR width
	binary.BigEndian.PutUint32(p[20:], 4000) // IHDR height
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	_, err := Prepare(bytes.NewReader(p), InvertAuto)
	if err == nil || !strings.Contains(err.Error(), "png image is 4000x4000 and takes 61 MB to decode, more than the 48 MB limit") {
		t.Fatalf("Prepare(4000x4000 RGBA) = %v, want the decoding-memory limit", err)
	}
}

func TestExifOrientation(t *testing.T) {
	jpg := readAll(encodeJPEG(t, digitL(16, 16), nil))
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"little-endian 6", withEXIF(jpg, 6, false), 6},
		{"big-endian 8", withEXIF(jpg, 8, true), 8},
		{"out of range", withEXIF(jpg, 9, false), 0},
		{"none", jpg, 0},
		{"not a JPEG", []byte("GIF89a"), 0},
		{"truncated segment", withEXIF(jpg, 3, false)[:20], 0},
	} {
		if got := scanJPEG(bytes.NewReader(c.b)).orientation; got != c.want {
			t.Errorf("scanJPEG(%s).orientation = %d, want %d", c.name, got, c.want)
		}
	}
	var prog bytes.Buffer
	jpeg.Encode(&prog, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil)
	if info := scanJPEG(bytes.NewReader(prog.Bytes())); info.progressive || info.components != 3 {
		t.Errorf("scanJPEG(baseline colour JPEG) = %+v, want 3 components, not progressive", info)
	}
}

// FuzzScanJPEG: the marker scan never panics and returns an orientation in 0…8.
func FuzzScanJPEG(f *testing.F) {
	var b bytes.Buffer
	jpeg.Encode(&b, digitL(16, 16), nil)
	f.Add(withEXIF(b.Bytes(), 6, false))
	f.Add(withEXIF(b.Bytes(), 3, true))
	f.Add(b.Bytes()[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := scanJPEG(bytes.NewReader(b)).orientation; o < 0 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
