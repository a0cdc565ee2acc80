// dataset.go loads a data set's four files: it decodes each strictly, checks a file's content digest
// in the same pass that decodes it, and checks that the splits agree. Finding the files is find.go;
// the table of sets is registry.go; the IDX decoder itself is idx.go.

package mnist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"path/filepath"
)

// Set is one split of a data set: N images of 28×28 uint8 pixels and their labels.
type Set struct {
	Images []uint8 // (N, 784), row-major, 0..255
	Labels []uint8 // (N), 0..9
	N      int
}

// Files names the four IDX files of a data set: training images and labels, test images and labels.
type Files struct {
	TrainImages, TrainLabels, TestImages, TestLabels string
}

// Official base names of the four files, without the .gz suffix. MNIST and Fashion-MNIST share them.
const (
	TrainImagesName = "train-images-idx3-ubyte"
	TrainLabelsName = "train-labels-idx1-ubyte"
	TestImagesName  = "t10k-images-idx3-ubyte"
	TestLabelsName  = "t10k-labels-idx1-ubyte"
)

// DigestError says that a file's content is not what its data set's digest says. Get it with
// errors.As to tell "damaged" (Owner.Name is "") from "another data set's file" (Owner names it).
type DigestError struct {
	Dataset Dataset // the set that was asked for
	Role    Role    // the role the file was read as
	Path    string  // the file
	Got     string  // SHA-256 (hex) of the file's decompressed IDX bytes

	// Owner is the registered set whose file has exactly this content, and OwnerRole its role
	// there; Owner.Name is "" when no registered file has it.
	Owner     Dataset
	OwnerRole Role
}

// Error says which file of which set failed, and whose file it is when it is another registered one.
func (e *DigestError) Error() string {
	head := fmt.Sprintf("mnist: %s: %s: content SHA-256 %s…", e.Dataset.Name, filepath.Base(e.Path), e.Got[:16])
	switch {
	case e.Owner.Name == "":
		return fmt.Sprintf("%s does not match %s's %s (the file is damaged or is another data set)", head, e.Dataset.Title, e.Role)
	case e.OwnerRole == e.Role:
		return fmt.Sprintf("%s: this is %s's %s, not %s's", head, e.Owner.Title, e.Role, e.Dataset.Title)
	default:
		return fmt.Sprintf("%s: this is %s's %s, not %s's %s", head, e.Owner.Title, e.OwnerRole, e.Dataset.Title, e.Role)
	}
}

// Load reads the four files as MNIST: it is Lookup("mnist").Load(f), kept for callers from before
// data sets.
func Load(f Files) (train, test *Set, err error) {
	return mustLookup(DefaultDataset).Load(f)
}

// Load reads the four files of f as data set ds and returns the training and test splits.
//
// Every file is decoded strictly (see Decode): 28×28 images, labels 0..9, sizes that agree with the
// headers. A file under its official name (Role.Base, raw or .gz) of a set with digests is also
// checked against the set: its header's count before any of its body is read, then the SHA-256 of its
// decompressed content, computed in the same pass that decodes it. Files under other names (the
// committed subset, see SubsetFiles) get the structural checks only; Find only ever returns official
// names, so whatever it finds is checked. Each split must hold at least one image, with as many
// labels as images.
func (ds Dataset) Load(f Files) (train, test *Set, err error) {
	var body [4][]uint8
	var n [4]int
	for _, r := range allRoles {
		if body[r], n[r], err = ds.readFile(r, f.Path(r)); err != nil {
			return nil, nil, err
		}
	}
	split := func(img, lab Role) (*Set, error) {
		ip, lp := filepath.Base(f.Path(img)), filepath.Base(f.Path(lab))
		if n[img] == 0 {
			return nil, fmt.Errorf("mnist: %s: %s holds no images", ds.Name, ip)
		}
		if n[lab] != n[img] {
			return nil, fmt.Errorf("mnist: %s: %s has %d images but %s has %d labels", ds.Name, ip, n[img], lp, n[lab])
		}
		return &Set{Images: body[img], Labels: body[lab], N: n[img]}, nil
	}
	if train, err = split(TrainImages, TrainLabels); err != nil {
		return nil, nil, err
	}
	if test, err = split(TestImages, TestLabels); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readFile decodes one file of ds in role r, checking its count and digest when they apply.
func (ds Dataset) readFile(r Role, path string) ([]uint8, int, error) {
	name := filepath.Base(path)
	f, size, err := openRegular(path)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %s: %w", ds.Name, name, err)
	}
	defer f.Close()
	var opts decodeOpts
	var h hash.Hash
	if ds.Digests[r] != "" && (name == r.Base() || name == r.Base()+".gz") {
		h = sha256.New()
		opts.hash = h
		if want := int64(ds.Counts[r]); want > 0 {
			opts.count = func(n int64) error {
				if n != want {
					return fmt.Errorf("header claims %d %s, %s's %s has %d (the file is damaged or is another data set)", n, r.kind(), ds.Title, r, want)
				}
				return nil
			}
		}
	}
	body, n, err := decodeIDX(f, size, r.kind(), opts)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %s: %w", ds.Name, name, err)
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != ds.Digests[r] {
			e := &DigestError{Dataset: ds, Role: r, Path: path, Got: got}
			e.Owner, e.OwnerRole, _ = Owner(got)
			return nil, 0, e
		}
	}
	return body, n, nil
}

// LoadSet reads one images file and one labels file and checks that their counts agree. It checks
// structure only, whatever the files are called.
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

// SubsetFiles names the small real-MNIST subset committed under testdata/mnist-subset (the first 3000
// training and first 1000 test images of the official files), used by tests. Its names are not the
// official ones, so Load checks its structure but no digests.
func SubsetFiles(dir string) Files {
	return Files{
		TrainImages: filepath.Join(dir, "train3000-images-idx3-ubyte.gz"),
		TrainLabels: filepath.Join(dir, "train3000-labels-idx1-ubyte.gz"),
		TestImages:  filepath.Join(dir, "test1000-images-idx3-ubyte.gz"),
		TestLabels:  filepath.Join(dir, "test1000-labels-idx1-ubyte.gz"),
	}
}
