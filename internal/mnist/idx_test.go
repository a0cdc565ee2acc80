package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxImages builds an images file with n images of the given geometry and extra body bytes (negative trims).
func idxImages(n, rows, cols, extra int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{magicImages, uint32(n), uint32(rows), uint32(cols)})
	body := make([]byte, n*rows*cols+extra)
	for i := range body {
		body[i] = uint8(i * 7)
	}
	b.Write(body)
	return b.Bytes()
}

func idxLabels(labels ...uint8) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{magicLabels, uint32(len(labels))})
	b.Write(labels)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func withCount(b []byte, n uint32) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[4:8], n)
	return c
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadImagesRawAndGzip(t *testing.T) {
	dir := t.TempDir()
	raw := idxImages(3, 28, 28, 0)
	for _, name := range []string{"a.idx", "a.idx.gz"} {
		b := raw
		if strings.HasSuffix(name, ".gz") {
			b = gz(raw)
		}
		pix, n, err := ReadImages(write(t, dir, name, b))
		if err != nil {
			t.Fatalf("ReadImages(%s): %v", name, err)
		}
		if n != 3 || !bytes.Equal(pix, raw[16:]) {
			t.Fatalf("ReadImages(%s) = %d images, body equal %v; want 3, true", name, n, bytes.Equal(pix, raw[16:]))
		}
	}
	lab, err := ReadLabels(write(t, dir, "l.gz", gz(idxLabels(0, 9, 3))))
	if err != nil || !bytes.Equal(lab, []byte{0, 9, 3}) {
		t.Fatalf("ReadLabels = %v, %v; want [0 9 3]", lab, err)
	}
}

// TestRejections is the table of every malformed input the reader must refuse with a one-line error
// naming the file.
func TestRejections(t *testing.T) {
	good := idxImages(2, 28, 28, 0)
	badType := append([]byte(nil), good...)
	badType[2] = 0x09
	zgood := gz(good)
	flipped := append([]byte(nil), zgood...)
	flipped[len(flipped)-6] ^= 0xff // inside the CRC trailer
	cases := []struct {
		name   string
		data   []byte
		labels bool
		want   string
	}{
		{"empty", nil, false, "empty file"},
		{"short header", good[:10], false, "short header"},
		{"short labels header", idxLabels(1)[:5], true, "short header"},
		{"truncated gzip", zgood[:len(zgood)/2], false, "truncated gzip stream"},
		{"gzip crc", flipped, false, "corrupt gzip stream"},
		{"gzip trailing", append(append([]byte(nil), zgood...), 'x'), false, "trailing bytes"},
		{"labels where images expected", idxLabels(1, 2), false, "a labels file"},
		{"images where labels expected", good, true, "an images file"},
		{"not idx", []byte("hello, world, this is text"), false, "bad magic"},
		{"type byte", badType, false, "element type 0x09"},
		{"dims 2", withMagic(good, 0x00000802), false, "2 dimensions"},
		{"rows 27", idxImages(1, 27, 28, 0), false, "images are 27x28"},
		{"cols 29", idxImages(1, 28, 29, 0), false, "images are 28x29"},
		{"one byte short", idxImages(2, 28, 28, -1), false, "1 bytes short"},
		{"one byte long", idxImages(2, 28, 28, 1), false, "1 bytes too long"},
		{"gzip one byte short", gz(idxImages(2, 28, 28, -1)), false, "1 bytes short"},
		{"gzip one byte long", gz(idxImages(2, 28, 28, 1)), false, "too long"},
		{"label 10", idxLabels(1, 10), true, "label 10 at index 1"},
		{"huge count raw", withCount(good, 0xffffffff), false, "more than a"},
		{"huge count gzip", gz(withCount(good, 0xffffffff)), false, "more than a"},
		{"huge labels gzip", gz(withCount(idxLabels(1), 0x7fffffff)), true, "more than a"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, dir, "bad-"+strings.ReplaceAll(c.name, " ", "_"), c.data)
			var err error
			if c.labels {
				_, err = ReadLabels(p)
			} else {
				_, _, err = ReadImages(p)
			}
			if err == nil {
				t.Fatalf("read(%s) = nil error, want %q", c.name, c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, filepath.Base(p)) || strings.Contains(msg, "\n") {
				t.Fatalf("read(%s) error = %q, want one line naming %s and containing %q", c.name, msg, filepath.Base(p), c.want)
			}
		})
	}
}

func withMagic(b []byte, m uint32) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[0:4], m)
	return c
}

func TestLoadSetCountMismatch(t *testing.T) {
	dir := t.TempDir()
	img := write(t, dir, "i", idxImages(3, 28, 28, 0))
	lab := write(t, dir, "l", idxLabels(1, 2))
	_, err := LoadSet(img, lab)
	if err == nil || !strings.Contains(err.Error(), "3 images but l has 2 labels") {
		t.Fatalf("LoadSet = %v, want count mismatch", err)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if _, err := Find("."); err == nil || !strings.Contains(err.Error(), "data not found in "+dir+": no train-images-idx3-ubyte[.gz]") {
		t.Fatalf("Find(empty) = %v, want not found naming %s", err, dir)
	}
	for _, n := range []string{TrainImagesName + ".gz", TrainLabelsName, TestImagesName, TestLabelsName + ".gz"} {
		write(t, dir, n, nil)
	}
	f, err := Find(dir)
	if err != nil || filepath.Base(f.TrainLabels) != TrainLabelsName || filepath.Base(f.TestLabels) != TestLabelsName+".gz" {
		t.Fatalf("Find = %+v, %v", f, err)
	}
}

func TestDirOrder(t *testing.T) {
	t.Setenv("DLTRAIN_DATA", "/env")
	if got := Dir("/flag"); got != "/flag" {
		t.Errorf("Dir(flag) = %q, want /flag", got)
	}
	if got := Dir(""); got != "/env" {
		t.Errorf("Dir(\"\") = %q, want /env", got)
	}
	t.Setenv("DLTRAIN_DATA", "")
	if got := Dir(""); got != "data" {
		t.Errorf("Dir(\"\") = %q, want data", got)
	}
}

// TestSubset reads the committed real-MNIST subset used by the end-to-end tests.
func TestSubset(t *testing.T) {
	train, test, err := Load(SubsetFiles("../../testdata/mnist-subset"))
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 3000 || test.N != 1000 {
		t.Fatalf("subset sizes = %d, %d; want 3000, 1000", train.N, test.N)
	}
	var counts [10]int
	for _, l := range train.Labels {
		counts[l]++
	}
	for d, c := range counts {
		if c < 200 {
			t.Errorf("subset has %d images of digit %d, want ≥ 200", c, d)
		}
	}
}
