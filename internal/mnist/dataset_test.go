package mnist

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// realDirs are where the real sets are on a machine that has them: ./data from `make data` for MNIST,
// Debian's package for Fashion-MNIST.
var realDirs = map[string]string{"mnist": "../../data", "fashion-mnist": FashionMNISTDir}

// realFiles finds set's real files or skips the test, saying how to get them.
func realFiles(t *testing.T, set string) Files {
	t.Helper()
	ds, _ := Lookup(set)
	f, err := ds.Find(realDirs[set])
	if errors.Is(err, ErrNotFound) {
		how := map[string]string{"mnist": "run `make data`", "fashion-mnist": "install Debian's dataset-fashion-mnist"}[set]
		t.Skipf("no real %s files (%v): %s to run this test", set, err, how)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLookup(t *testing.T) {
	if got := strings.Join(Names(), " "); got != "mnist fashion-mnist idx" {
		t.Errorf("Names() = %q, want %q", got, "mnist fashion-mnist idx")
	}
	cases := []struct {
		name     string
		verified bool
		class3   string
		sysDirs  int
	}{
		{"mnist", true, "3", 0},
		{"fashion-mnist", true, "Dress", 1},
		{"idx", false, "3", 0},
	}
	for _, c := range cases {
		ds, err := Lookup(c.name)
		if err != nil || ds.Name != c.name || ds.Verified() != c.verified || ds.Classes[3] != c.class3 || len(ds.SystemDirs) != c.sysDirs {
			t.Errorf("Lookup(%q) = {%q verified %v class 3 %q %d system dirs}, %v; want {%q %v %q %d}, nil",
				c.name, ds.Name, ds.Verified(), ds.Classes[3], len(ds.SystemDirs), err, c.name, c.verified, c.class3, c.sysDirs)
		}
	}
	if _, err := Lookup("cifar"); err == nil || !strings.Contains(err.Error(), `unknown data set "cifar", want mnist, fashion-mnist, idx`) {
		t.Errorf("Lookup(cifar) = %v, want an error listing the names", err)
	}
	// Lookup returns copies: changing one changes nothing in the registry.
	a, _ := Lookup("fashion-mnist")
	a.SystemDirs[0] = "/elsewhere"
	a.Digests[0] = ""
	if b, _ := Lookup("fashion-mnist"); b.SystemDirs[0] != FashionMNISTDir || !b.Verified() {
		t.Errorf("Lookup(fashion-mnist) after changing a copy = %v, %v; want %s, verified", b.SystemDirs, b.Verified(), FashionMNISTDir)
	}
}

// TestRealSets: each real set passes as itself and is refused as the other, with a message that says
// whose file it really is. Skipped for a set whose files are not on this machine.
func TestRealSets(t *testing.T) {
	cases := []struct{ files, as, want string }{
		{"mnist", "mnist", ""},
		{"fashion-mnist", "fashion-mnist", ""},
		{"mnist", "fashion-mnist", "mnist: fashion-mnist: train-images-idx3-ubyte.gz: content SHA-256 ba891046e6505d7a…: this is MNIST's train-images, not Fashion-MNIST's"},
		{"fashion-mnist", "mnist", "mnist: mnist: train-images-idx3-ubyte.gz: content SHA-256 c59f468a2f672dc8…: this is Fashion-MNIST's train-images, not MNIST's"},
	}
	for _, c := range cases {
		t.Run(c.files+" as "+c.as, func(t *testing.T) {
			f := realFiles(t, c.files)
			ds, _ := Lookup(c.as)
			train, test, err := ds.Load(f)
			if c.want == "" {
				if err != nil || train.N != 60000 || test.N != 10000 {
					t.Fatalf("%s.Load(%s files) = %v; want 60000 and 10000 images, nil", c.as, c.files, err)
				}
				return
			}
			var de *DigestError
			if err == nil || err.Error() != c.want || !errors.As(err, &de) || de.Owner.Name != c.files {
				t.Fatalf("%s.Load(%s files) = %v; want %q from a *DigestError owned by %s", c.as, c.files, err, c.want, c.files)
			}
		})
	}
	// The labels of every role are refused as the other set's, each naming its own role.
	for _, r := range allRoles {
		if r.kind() != labels {
			continue
		}
		f := realFiles(t, "fashion-mnist")
		ds, _ := Lookup("mnist")
		_, _, err := ds.readFile(r, f.Path(r))
		if want := "this is Fashion-MNIST's " + r.String() + ", not MNIST's"; err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("mnist.readFile(%s, Fashion-MNIST's file) = %v, want …%q", r, err, want)
		}
	}
}

// regzip writes gunzip(src) to dst, gzipped at level 9: what `gzip -dc src | gzip -9 > dst` does.
func regzip(t *testing.T, dst, src string, level int) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = out
	var zw *gzip.Writer
	if level != 0 {
		zw, _ = gzip.NewWriterLevel(out, level)
		w = zw
	}
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecompressedAndDamaged is issue 14's acceptance on the real MNIST files: a re-gzipped copy (and a
// gunzipped one) passes; a one-byte change in the content is refused, naming the file and the set.
func TestRecompressedAndDamaged(t *testing.T) {
	real := realFiles(t, "mnist")
	ds, _ := Lookup("mnist")
	dir := t.TempDir()
	// The training images by symlink (Find and Load follow links to regular files); the training
	// labels re-gzipped at level 9 (`gzip -dc | gzip -9`); the test images re-gzipped at level 1 (level
	// 9 takes 2 s on 7.8 MB and proves nothing more: only the content is checked); the test labels
	// gunzipped.
	if err := os.Symlink(mustAbs(t, real.TrainImages), filepath.Join(dir, TrainImagesName+".gz")); err != nil {
		t.Fatal(err)
	}
	regzip(t, filepath.Join(dir, TrainLabelsName+".gz"), real.TrainLabels, gzip.BestCompression)
	regzip(t, filepath.Join(dir, TestImagesName+".gz"), real.TestImages, gzip.BestSpeed)
	regzip(t, filepath.Join(dir, TestLabelsName), real.TestLabels, 0)
	for _, r := range []Role{TrainLabels, TestImages} {
		if a, b := fileSize(t, filepath.Join(dir, r.Base()+".gz")), fileSize(t, real.Path(r)); a == b {
			t.Fatalf("re-gzipped %s is %d bytes like the original; the test needs a different .gz", r, a)
		}
	}
	f, err := ds.Find(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, test, err := ds.Load(f); err != nil || test.N != 10000 {
		t.Fatalf("mnist.Load(re-gzipped copy) = %v, want 10000 test images, nil", err)
	}

	// One byte changed in the (raw) labels: label 7 becomes 1, still a valid label.
	lab, err := os.ReadFile(f.TestLabels)
	if err != nil {
		t.Fatal(err)
	}
	lab[8] = (lab[8] + 1) % 10
	os.WriteFile(f.TestLabels, lab, 0o644)
	_, _, err = ds.Load(f)
	want := "mnist: mnist: " + TestLabelsName + ": content SHA-256 "
	var de *DigestError
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "does not match MNIST's t10k-labels (the file is damaged or is another data set)") ||
		!errors.As(err, &de) || de.Owner.Name != "" {
		t.Fatalf("mnist.Load(one label changed) = %v, want %q…does not match MNIST's t10k-labels", err, want)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// synthSet writes four small valid IDX files under the official names into dir (images gzipped, labels
// raw) and returns a registered-looking set whose digests are theirs.
func synthSet(t *testing.T, dir string) Dataset {
	t.Helper()
	content := [4][]byte{idxImages(5, 28, 28, 0), idxLabels(0, 1, 2, 3, 9), idxImages(2, 28, 28, 0), idxLabels(4, 5)}
	ds := Dataset{Name: "synth", Title: "Synth", Counts: [4]int{5, 5, 2, 2}, Classes: digitClasses}
	for _, r := range allRoles {
		sum := sha256.Sum256(content[r])
		ds.Digests[r] = hex.EncodeToString(sum[:])
		if r.kind() == images {
			write(t, dir, r.Base()+".gz", gz(content[r]))
		} else {
			write(t, dir, r.Base(), content[r])
		}
	}
	return ds
}

// TestDigestChecks runs the digest rules on small synthetic files under a set made for the test, so
// they run on every machine: the honest files pass (re-gzipped too), and each damage is refused with
// a message naming the set and the file.
func TestDigestChecks(t *testing.T) {
	images2 := idxImages(2, 28, 28, 0)
	flipped := append([]byte(nil), images2...)
	flipped[100] ^= 1
	cases := []struct {
		name string
		file string // file to replace in the synthetic set
		data []byte
		want string // "" passes
	}{
		{"honest", "", nil, ""},
		{"re-gzipped at level 1", TestImagesName + ".gz", func() []byte {
			var b bytes.Buffer
			w, _ := gzip.NewWriterLevel(&b, 1)
			w.Write(images2)
			w.Close()
			return b.Bytes()
		}(), ""},
		{"one pixel changed", TestImagesName + ".gz", gz(flipped), "mnist: synth: t10k-images-idx3-ubyte.gz: content SHA-256 "},
		{"one label changed", TestLabelsName, idxLabels(4, 6), "does not match Synth's t10k-labels (the file is damaged or is another data set)"},
		{"count changed", TestLabelsName, idxLabels(4, 5, 6), "mnist: synth: t10k-labels-idx1-ubyte: header claims 3 labels, Synth's t10k-labels has 2 (the file is damaged or is another data set)"},
		{"structure before digest", TestLabelsName, idxLabels(4, 10), "mnist: synth: t10k-labels-idx1-ubyte: label 10 at index 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ds := synthSet(t, dir)
			if c.file != "" {
				write(t, dir, c.file, c.data)
			}
			f, err := ds.Find(dir)
			if err != nil {
				t.Fatal(err)
			}
			train, test, err := ds.Load(f)
			if c.want == "" {
				if err != nil || train.N != 5 || test.N != 2 || !bytes.Equal(test.Labels, []byte{4, 5}) {
					t.Fatalf("Load(%s) = %v; want 5 and 2 images, nil", c.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load(%s) = %v; want %q", c.name, err, c.want)
			}
		})
	}
}

// TestSubsetUnchecked: files under names other than the official ones get structure checks only, as
// the committed subset (a cut of MNIST) needs.
func TestSubsetUnchecked(t *testing.T) {
	for _, set := range []string{"mnist", "fashion-mnist", "idx"} {
		ds, _ := Lookup(set)
		if train, test, err := ds.Load(SubsetFiles("../../testdata/mnist-subset")); err != nil || train.N != 3000 || test.N != 1000 {
			t.Errorf("%s.Load(subset) = %v, want 3000 and 1000 images, nil", set, err)
		}
	}
}

// countingWriter counts what a decoder hashes.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(b []byte) (int, error) { w.n += int64(len(b)); return len(b), nil }

// countingReader counts what a decoder reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// TestSizeBeforeHash: a file whose size disagrees with its header, or whose count is not the set's, is
// refused after hashing no more than its header; a good file is read once, and what was hashed is its
// whole content.
func TestSizeBeforeHash(t *testing.T) {
	good := idxImages(3, 28, 28, 0)
	cases := []struct {
		name       string
		data       []byte
		count      int64 // the set's count; 0 any
		maxHashed  int64 // the most bytes the decoder may hash
		wantErr    string
		wantDigest bool
	}{
		{"raw one byte long", idxImages(3, 28, 28, 1), 0, 16, "1 bytes too long", false},
		{"raw one byte short", idxImages(3, 28, 28, -1), 0, 16, "1 bytes short", false},
		{"raw wrong count", good, 4, 16, "header claims 3", false},
		{"gzip wrong count", gz(good), 4, 16, "header claims 3", false},
		{"gzip claims more than it can hold", gz(withCount(good, 1<<30)), 0, 16, "more than a", false},
		{"raw good", good, 3, int64(len(good)), "", true},
		{"gzip good", gz(good), 3, int64(len(good)), "", true},
	}
	for _, c := range cases {
		hashed := &countingWriter{}
		h := sha256.New()
		src := &countingReader{r: bytes.NewReader(c.data)}
		opts := decodeOpts{hash: io.MultiWriter(hashed, h)}
		if c.count > 0 {
			opts.count = func(n int64) error {
				if n != c.count {
					return fmt.Errorf("header claims %d", n)
				}
				return nil
			}
		}
		_, _, err := decodeIDX(src, int64(len(c.data)), images, opts)
		if hashed.n > c.maxHashed {
			t.Errorf("decode(%s) hashed %d bytes, want ≤ %d", c.name, hashed.n, c.maxHashed)
		}
		if c.wantErr == "" {
			sum := sha256.Sum256(good)
			if err != nil || !bytes.Equal(h.Sum(nil), sum[:]) || src.n != int64(len(c.data)) {
				t.Errorf("decode(%s) = %v, read %d of %d bytes, digest equal %v; want nil, every byte once, equal", c.name, err, src.n, len(c.data), bytes.Equal(h.Sum(nil), sum[:]))
			}
		} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("decode(%s) = %v, want %q", c.name, err, c.wantErr)
		}
	}
}

// TestLyingGzipMemory: a gzip stream whose header claims ~1 GB (within the inflate bound of its ~1 MB
// size) but that holds 1 MB allocates in proportion to its size, not to its claim.
func TestLyingGzipMemory(t *testing.T) {
	body := make([]byte, 1<<20)
	var x uint32 = 12345
	for i := range body { // incompressible, so the file is as big as its content
		x = x*1664525 + 1013904223
		body[i] = byte(x >> 24)
	}
	hdr := idxImages(0, 28, 28, 0)
	file := gz(append(hdr, body...))
	claim := uint32(int64(len(file)) * 1000 / Pixels) // ≈ 1000 bytes per compressed byte: under maxInflate
	file = gz(append(withCount(hdr, claim), body...))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := Decode(bytes.NewReader(file), int64(len(file)), true)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	if err == nil || !strings.Contains(err.Error(), "truncated gzip stream") {
		t.Fatalf("Decode(lying gzip) = %v, want truncated gzip stream", err)
	}
	// The first allocation is gzipFirstAlloc·size (8 MiB here); the claim is ~1 GB.
	if limit := uint64(gzipFirstAlloc*len(file)) + 8<<20; alloc > limit {
		t.Fatalf("Decode(%d-byte gzip claiming %d bytes) allocated %d bytes, want ≤ %d", len(file), int64(claim)*Pixels, alloc, limit)
	}
	t.Logf("%d-byte gzip claiming %d MB allocated %.1f MB", len(file), int64(claim)*Pixels>>20, float64(alloc)/(1<<20))
}

// BenchmarkLoad loads each real set that is on this machine, digests included, and reports the
// decompressed megabytes per second.
func BenchmarkLoad(b *testing.B) {
	for _, set := range []string{"mnist", "fashion-mnist"} {
		b.Run(set, func(b *testing.B) {
			ds, _ := Lookup(set)
			f, err := ds.Find(realDirs[set])
			if err != nil {
				b.Skipf("no real %s files: %v", set, err)
			}
			b.SetBytes(47040016 + 60008 + 7840016 + 10008)
			for b.Loop() {
				if _, _, err := ds.Load(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
