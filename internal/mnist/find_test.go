package mnist

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSearchDirs(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	cases := []struct {
		set, env, flag string
		want           []string
	}{
		{"mnist", "", "", []string{cwd + "/data"}},
		{"mnist", "/env", "", []string{"/env"}},
		{"mnist", "/env", "/flag", []string{"/flag"}},
		{"mnist", "", "rel", []string{cwd + "/rel"}},
		{"fashion-mnist", "", "", []string{cwd + "/data/fashion-mnist", FashionMNISTDir}},
		{"fashion-mnist", "/env", "", []string{"/env/fashion-mnist", FashionMNISTDir}},
		{"fashion-mnist", "/env", "/flag", []string{"/flag"}},
		{"idx", "/env", "", nil},
		{"idx", "", "/flag", []string{"/flag"}},
	}
	for _, c := range cases {
		t.Setenv("DLTRAIN_DATA", c.env)
		ds, _ := Lookup(c.set)
		if got := ds.SearchDirs(c.flag); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s.SearchDirs(%q) with DLTRAIN_DATA=%q = %q, want %q", c.set, c.flag, c.env, got, c.want)
		}
	}
}

// TestFindOrder: the first directory holding all four files wins; a partial one is passed over; when
// none has them, the error names every directory, absolutely, with what it lacked.
func TestFindOrder(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	t.Setenv("DLTRAIN_DATA", "")
	sys := filepath.Join(t.TempDir(), "sys")
	local := filepath.Join(cwd, "data", "fashion-mnist")
	base, _ := Lookup("fashion-mnist")
	base.SystemDirs = []string{sys}

	lacksAll := "no train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
	cases := []struct {
		name    string
		setup   func(t *testing.T)
		flag    string
		wantDir string // where the files are found; "" for an error
		wantErr string
	}{
		{"nothing anywhere", func(t *testing.T) {}, "", "",
			"mnist: fashion-mnist: data not found in " + local + ": no such directory; " + sys + ": no such directory"},
		{"system only", func(t *testing.T) { os.MkdirAll(sys, 0o755); synthSet(t, sys) }, "", sys, ""},
		{"local before system", func(t *testing.T) {
			os.MkdirAll(sys, 0o755)
			synthSet(t, sys)
			os.MkdirAll(local, 0o755)
			synthSet(t, local)
		}, "", local, ""},
		{"partial local passed over", func(t *testing.T) {
			os.MkdirAll(sys, 0o755)
			synthSet(t, sys)
			os.MkdirAll(local, 0o755)
			synthSet(t, local)
			os.Remove(filepath.Join(local, TestLabelsName))
		}, "", sys, ""},
		{"partial local, no system", func(t *testing.T) {
			os.MkdirAll(local, 0o755)
			synthSet(t, local)
			os.Remove(filepath.Join(local, TestLabelsName))
			os.MkdirAll(sys, 0o755)
		}, "", "", local + ": no t10k-labels-idx1-ubyte[.gz]; " + sys + ": " + lacksAll},
		{"explicit only, even when the default has them", func(t *testing.T) {
			os.MkdirAll(local, 0o755)
			synthSet(t, local)
			os.MkdirAll(filepath.Join(cwd, "mine"), 0o755)
		}, "mine", "", "mnist: fashion-mnist: data not found in " + cwd + "/mine: " + lacksAll},
		{"explicit is a file", func(t *testing.T) { os.WriteFile(filepath.Join(cwd, "f"), nil, 0o644) }, "f", "",
			cwd + "/f: not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range []string{filepath.Join(cwd, "data"), filepath.Dir(sys), filepath.Join(cwd, "mine"), filepath.Join(cwd, "f")} {
				os.RemoveAll(p)
			}
			c.setup(t)
			f, err := base.Find(c.flag)
			if c.wantDir != "" {
				if err != nil || filepath.Dir(f.TrainImages) != c.wantDir || filepath.Dir(f.TestLabels) != c.wantDir {
					t.Fatalf("Find(%q) = %+v, %v; want the files in %s", c.flag, f, err, c.wantDir)
				}
				return
			}
			var nf *NotFoundError
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrNotFound) || !errors.As(err, &nf) {
				t.Fatalf("Find(%q) = %v; want a *NotFoundError containing %q", c.flag, err, c.wantErr)
			}
			for _, d := range nf.Dirs {
				if !filepath.IsAbs(d) {
					t.Errorf("NotFoundError.Dirs has %q, want absolute paths", d)
				}
			}
		})
	}
	idx, _ := Lookup("idx")
	if _, err := idx.Find(""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mnist: idx: data not found: no directory given, and the idx set has no default one") {
		t.Errorf("idx.Find(\"\") = %v, want ErrNotFound saying there is no default directory", err)
	}
}

// TestIdxSet: the idx set takes any valid IDX files under the official names, with no digests, and
// keeps every structural check.
func TestIdxSet(t *testing.T) {
	idx, _ := Lookup("idx")
	cases := []struct {
		name string
		file string
		data []byte
		want string // "" passes
	}{
		{"valid synthetic files", "", nil, ""},
		{"another valid test set", TestLabelsName, idxLabels(9, 9), ""},
		{"rows 27", TrainImagesName + ".gz", gz(idxImages(5, 27, 28, 0)), "mnist: idx: train-images-idx3-ubyte.gz: images are 27x28, want 28x28"},
		{"label 10", TrainLabelsName, idxLabels(0, 1, 2, 3, 10), "mnist: idx: train-labels-idx1-ubyte: label 10 at index 4, want 0..9"},
		{"counts disagree", TestLabelsName, idxLabels(1, 2, 3), "mnist: idx: t10k-images-idx3-ubyte.gz has 2 images but t10k-labels-idx1-ubyte has 3 labels"},
		{"no test images", TestImagesName + ".gz", gz(idxImages(0, 28, 28, 0)), "mnist: idx: t10k-images-idx3-ubyte.gz holds no images"},
		{"labels as images", TestImagesName + ".gz", idxLabels(1, 2), "mnist: idx: t10k-images-idx3-ubyte.gz: bad magic 0x00000801 (a labels file)"},
		{"raw one byte long", TrainImagesName + ".gz", idxImages(5, 28, 28, 1), "1 bytes too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			synthSet(t, dir)
			if c.file != "" {
				write(t, dir, c.file, c.data)
			}
			f, err := idx.Find(dir)
			if err != nil {
				t.Fatal(err)
			}
			train, _, err := idx.Load(f)
			if c.want == "" {
				if err != nil || train.N != 5 {
					t.Fatalf("idx.Load(%s) = %v, want 5 training images, nil", c.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("idx.Load(%s) = %v, want %q", c.name, err, c.want)
			}
		})
	}
}
