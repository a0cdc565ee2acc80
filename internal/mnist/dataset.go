package mnist

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Set is one split of MNIST: N images of 28×28 uint8 pixels and their labels.
type Set struct {
	Images []uint8 // (N, 784), row-major, 0..255
	Labels []uint8 // (N), 0..9
	N      int
}

// Files names the four IDX files of a data set: training images and labels, test images and labels.
type Files struct {
	TrainImages, TrainLabels, TestImages, TestLabels string
}

// Official base names of the four MNIST files, without the .gz suffix.
const (
	TrainImagesName = "train-images-idx3-ubyte"
	TrainLabelsName = "train-labels-idx1-ubyte"
	TestImagesName  = "t10k-images-idx3-ubyte"
	TestLabelsName  = "t10k-labels-idx1-ubyte"
)

// officialMD5 lists the MD5 of each official file, gzipped (from torchvision's list) and raw
// (the gunzipped contents of the same files).
var officialMD5 = map[string]string{
	TrainImagesName + ".gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
	TrainLabelsName + ".gz": "d53e105ee54ea40749a09fcbcd1e9432",
	TestImagesName + ".gz":  "9fb629c4189551a2d022fa330f9573f3",
	TestLabelsName + ".gz":  "ec29112dd5afa0611ce80d1b7f02629c",
	TrainImagesName:         "6bbc9ace898e44ae57da46a324031adb",
	TrainLabelsName:         "a25bea736e30d166cdddb491f175f624",
	TestImagesName:          "2646ac647ad5339dbf082846283269ea",
	TestLabelsName:          "27ae3e4e09519cfbb04c329615203637",
}

// ErrNotFound is returned (wrapped) by Find when a directory holds no MNIST files.
var ErrNotFound = errors.New("mnist: data not found")

// Find locates the four official MNIST files in dir, preferring the raw file over the .gz one.
func Find(dir string) (Files, error) {
	var f Files
	for _, p := range []struct {
		dst  *string
		name string
	}{{&f.TrainImages, TrainImagesName}, {&f.TrainLabels, TrainLabelsName}, {&f.TestImages, TestImagesName}, {&f.TestLabels, TestLabelsName}} {
		found := ""
		for _, cand := range []string{p.name, p.name + ".gz"} {
			path := filepath.Join(dir, cand)
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
				found = path
				break
			}
		}
		if found == "" {
			return Files{}, fmt.Errorf("%w: no %s[.gz] in %s", ErrNotFound, p.name, dir)
		}
		*p.dst = found
	}
	return f, nil
}

// Load reads and validates the four files: it checks the official MD5s for files with official names,
// then decodes each file strictly and checks that image and label counts agree.
func Load(f Files) (train, test *Set, err error) {
	for _, p := range []string{f.TrainImages, f.TrainLabels, f.TestImages, f.TestLabels} {
		if err := CheckMD5(p); err != nil {
			return nil, nil, err
		}
	}
	if train, err = LoadSet(f.TrainImages, f.TrainLabels); err != nil {
		return nil, nil, err
	}
	if test, err = LoadSet(f.TestImages, f.TestLabels); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadSet reads one images file and one labels file and checks that their counts agree.
func LoadSet(imagesPath, labelsPath string) (*Set, error) {
	pix, n, err := ReadImages(imagesPath)
	if err != nil {
		return nil, err
	}
	lab, err := ReadLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(lab) != n {
		return nil, fmt.Errorf("mnist: %s has %d images but %s has %d labels", filepath.Base(imagesPath), n, filepath.Base(labelsPath), len(lab))
	}
	return &Set{Images: pix, Labels: lab, N: n}, nil
}

// CheckMD5 verifies a file against the official MD5 when its base name is one of the official names.
// Files with other names pass unchecked.
func CheckMD5(path string) error {
	want, ok := officialMD5[filepath.Base(path)]
	if !ok {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mnist: %s: %w", filepath.Base(path), unwrapPath(err))
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("mnist: %s: %w", filepath.Base(path), unwrapPath(err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("mnist: %s: md5 %s, want %s (corrupt or not the official file)", filepath.Base(path), got, want)
	}
	return nil
}

// Dir picks the data directory: flag if set, then $DLTRAIN_DATA, then ./data.
func Dir(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("DLTRAIN_DATA"); env != "" {
		return env
	}
	return "data"
}

// SubsetFiles names the small real-MNIST subset committed under testdata/mnist-subset (the first 3000
// training and first 1000 test images of the official files), used by tests.
func SubsetFiles(dir string) Files {
	return Files{
		TrainImages: filepath.Join(dir, "train3000-images-idx3-ubyte.gz"),
		TrainLabels: filepath.Join(dir, "train3000-labels-idx1-ubyte.gz"),
		TestImages:  filepath.Join(dir, "test1000-images-idx3-ubyte.gz"),
		TestLabels:  filepath.Join(dir, "test1000-labels-idx1-ubyte.gz"),
	}
}
