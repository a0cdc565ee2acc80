// Tests of Confusion: size, not blank, cells coloured by count, changes with the data, long class
// names, refused inputs.
package figure

import (
	"bytes"
	"fmt"
	"image"
	"strings"
	"testing"
)

// testMatrix is a 10-class confusion matrix like a trained MNIST model's: about a thousand on the
// diagonal, a few errors elsewhere.
func testMatrix() [][]int {
	cm := make([][]int, 10)
	for i := range cm {
		cm[i] = make([]int, 10)
		for j := range cm[i] {
			cm[i][j] = (i*7 + j*3) % 5
		}
		cm[i][i] = 950 + 5*i
	}
	return cm
}

var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

func confusionPNG(t *testing.T, what string, cm [][]int, names []string, opt ConfusionOptions) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := Confusion(&b, cm, names, opt); err != nil {
		t.Fatalf("%s: Confusion = %v, want no error", what, err)
	}
	w, h := opt.Width, opt.Height
	if w == 0 {
		w, h = confusionSize(len(cm))
	}
	img := decode(t, what, b.Bytes(), w, h)
	checkNotBlank(t, what, img)
	return img
}

func TestConfusion(t *testing.T) {
	cm := testMatrix()
	img := confusionPNG(t, "digits", cm, nil, ConfusionOptions{})
	if w, h := confusionSize(10); w != 630 || h != 670 {
		t.Errorf("confusionSize(10) = %d, %d, want 630, 670", w, h)
	}
	// The darkest blue of the ramp is where the largest counts are: the diagonal's cells are big.
	dark := countColorNear(img, 0x08, 0x30, 0x6b, 24)
	t.Logf("digits: %d dark-blue pixels", dark)
	if dark < 10*30*30 {
		t.Errorf("digits: %d dark-blue pixels, want at least %d (ten diagonal cells of 30×30)", dark, 10*30*30)
	}

	changes := []struct {
		what  string
		cm    func() [][]int
		names []string
		opt   ConfusionOptions
	}{
		{"one error more", func() [][]int { c := testMatrix(); c[4][9] += 40; return c }, nil, ConfusionOptions{}},
		{"two labels swapped", func() [][]int { c := testMatrix(); c[0][0], c[0][1] = c[0][1], c[0][0]; return c }, nil, ConfusionOptions{}},
		{"fashion names", testMatrix, fashionNames, ConfusionOptions{}},
		{"titled", testMatrix, nil, ConfusionOptions{Title: "MNIST test set"}},
	}
	for _, c := range changes {
		other := confusionPNG(t, c.what, c.cm(), c.names, c.opt)
		if n := differing(img, other); n < 100 {
			t.Errorf("%s: %d pixels differ from the digits picture, want at least 100", c.what, n)
		}
	}
}

func TestConfusionShapes(t *testing.T) {
	square := func(n, diag int) [][]int {
		cm := make([][]int, n)
		for i := range cm {
			cm[i] = make([]int, n)
			cm[i][i] = diag
			cm[i][(i+1)%n] = 1
		}
		return cm
	}
	long := []string{strings.Repeat("a very long class name ", 5), "b"}
	var many []string
	for i := range MaxClasses {
		many = append(many, fmt.Sprintf("class %d", i))
	}
	tests := []struct {
		what  string
		cm    [][]int
		names []string
		opt   ConfusionOptions
	}{
		{"one class", [][]int{{7}}, nil, ConfusionOptions{}},
		{"all zero", square(3, 0), nil, ConfusionOptions{}},
		{"huge counts", square(10, 1_000_000_000_000), nil, ConfusionOptions{}},
		{"long names", square(2, 50), long, ConfusionOptions{}},
		{"64 classes", square(MaxClasses, 100), many, ConfusionOptions{}},
		{"fashion, small", testMatrix(), fashionNames, ConfusionOptions{Width: 400, Height: 400}},
	}
	for _, tt := range tests {
		confusionPNG(t, tt.what, tt.cm, tt.names, tt.opt)
	}
}

func TestConfusionErrors(t *testing.T) {
	tests := []struct {
		what  string
		cm    [][]int
		names []string
		opt   ConfusionOptions
		want  string
	}{
		{"empty", nil, nil, ConfusionOptions{}, "figure: confusion: 0 classes, want 1..64"},
		{"too many", make([][]int, 65), nil, ConfusionOptions{}, "figure: confusion: 65 classes, want 1..64"},
		{"ragged", [][]int{{1, 2}, {3}}, nil, ConfusionOptions{}, "figure: confusion: row 1 has 1 counts, want 2"},
		{"not square", [][]int{{1, 2, 3}, {3, 4, 5}}, nil, ConfusionOptions{}, "figure: confusion: row 0 has 3 counts, want 2"},
		{"negative", [][]int{{1, -2}, {3, 4}}, nil, ConfusionOptions{}, "figure: confusion: count [0][1] is -2, want 0..1000000000000"},
		{"absurd", [][]int{{1, 2}, {1 << 62, 4}}, nil, ConfusionOptions{}, "figure: confusion: count [1][0] is 4611686018427387904, want 0..1000000000000"},
		{"names", [][]int{{1, 2}, {3, 4}}, []string{"a"}, ConfusionOptions{}, "figure: confusion: 1 class names for 2 classes"},
		{"size", [][]int{{1, 2}, {3, 4}}, nil, ConfusionOptions{Width: 100, Height: 100000}, "figure: confusion: 100x100000 pixels, want each side in 200..4096 and at most 16777216 pixels"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Confusion(&b, tt.cm, tt.names, tt.opt)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Confusion = %v, want %s", tt.what, err, tt.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: Confusion wrote %d bytes before failing, want none", tt.what, b.Len())
		}
	}
}

// countColorNear counts the pixels within tol (per channel) of the colour r, g, b.
func countColorNear(img image.Image, r, g, b uint8, tol int) int {
	n := 0
	bd := img.Bounds()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d <= tol && d >= -tol }
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			if near(r1, r) && near(g1, g) && near(b1, b) {
				n++
			}
		}
	}
	return n
}
