// Tests of Grid: exact layout and pixel values of the tiles (Gray and Signed mappings, zoom, NaN),
// captions and titles change the picture, the tile cap, refused inputs; and the paletted encoding.
package figure

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// digitTile returns a 28×28 Gray tile with a bright bar in column col (a crude "1"), captioned.
func digitTile(col int, caption string) Tile {
	pix := make([]float32, 28*28)
	for y := 4; y < 24; y++ {
		pix[y*28+col] = 1
		pix[y*28+col+1] = 0.6
	}
	return Tile{Pix: pix, H: 28, W: 28, Caption: caption}
}

func gridPNG(t *testing.T, what string, tiles []Tile, cols int, opt GridOptions) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := Grid(&b, tiles, cols, opt); err != nil {
		t.Fatalf("%s: Grid = %v, want no error", what, err)
	}
	img, err := decodeAny(b.Bytes())
	if err != nil {
		t.Fatalf("%s: png.Decode = %v", what, err)
	}
	sz := img.Bounds().Size()
	return decode(t, what, b.Bytes(), sz.X, sz.Y)
}

// TestGridLayout checks the size of the picture and every pixel of a tile against the layout: margin
// 10, gutter 8, zoom 3, no title, no captions; Gray maps v to round(255·v).
func TestGridLayout(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var tiles []Tile
	for range 5 {
		pix := make([]float32, 28*28)
		for i := range pix {
			pix[i] = rng.Float32()
		}
		tiles = append(tiles, Tile{Pix: pix, H: 28, W: 28})
	}
	img := gridPNG(t, "five random tiles", tiles, 3, GridOptions{})
	// 3 columns, 2 rows of 84-pixel cells.
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 2*10+3*84+2*8 || h != 2*10+2*84+8 {
		t.Fatalf("five tiles in 3 columns: %dx%d pixels, want %dx%d", w, h, 2*10+3*84+2*8, 2*10+2*84+8)
	}
	checkNotBlank(t, "five random tiles", img)
	bad := 0
	for k, tile := range tiles {
		x0, y0 := 10+(k%3)*(84+8), 10+(k/3)*(84+8)
		for y := range 84 {
			for x := range 84 {
				want := uint8(math.Round(255 * float64(tile.Pix[(y/3)*28+x/3])))
				r, g, b, _ := img.At(x0+x, y0+y).RGBA()
				if uint8(r>>8) != want || uint8(g>>8) != want || uint8(b>>8) != want {
					if bad < 5 {
						t.Errorf("tile %d pixel (%d, %d) = %d,%d,%d, want grey %d", k, x, y, r>>8, g>>8, b>>8, want)
					}
					bad++
				}
			}
		}
		// The frame: the ring just outside the tile is the frame grey, not the white page.
		if r, _, _, _ := img.At(x0-1, y0+40).RGBA(); uint8(r>>8) == 0xff {
			t.Errorf("tile %d: no frame left of it (pixel is white)", k)
		}
	}
	if bad > 0 {
		t.Errorf("%d tile pixels differ from their values", bad)
	}
	// The sixth cell is empty: white page.
	if n := countColor(cropped(img, 10+2*(84+8), 10+84+8, 84, 84), color.RGBA{0xff, 0xff, 0xff, 0xff}); n != 84*84 {
		t.Errorf("empty sixth cell: %d white pixels, want %d", n, 84*84)
	}
}

// TestGridSigned checks the diverging mapping: -Limit is the palette's blue end, +Limit its red end,
// 0 its middle, larger magnitudes are clamped, NaN is magenta; Limit 0 takes the tile's max |v|.
func TestGridSigned(t *testing.T) {
	pal := signedPalette()
	tests := []struct {
		what  string
		v     float32
		limit float32
		want  color.RGBA
	}{
		{"-limit", -0.5, 0.5, pal[0]},
		{"+limit", 0.5, 0.5, pal[100]},
		{"zero", 0, 0.5, pal[50]},
		{"half", 0.25, 0.5, pal[75]},
		{"clamped", -7, 0.5, pal[0]},
		{"NaN", float32(math.NaN()), 0.5, nanColor},
		{"+Inf", float32(math.Inf(1)), 0.5, nanColor},
		{"own max", 0.02, 0, pal[100]}, // the tile below holds -0.01 and 0.02
	}
	for _, tt := range tests {
		pix := []float32{tt.v, -0.01, 0.02, 0}
		img := gridPNG(t, "signed "+tt.what, []Tile{{Pix: pix, H: 2, W: 2, Mapping: Signed, Limit: tt.limit}}, 1, GridOptions{Zoom: 20})
		r, g, b, _ := img.At(10+5, 10+5).RGBA() // pixel (0, 0) of the tile
		if got := (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}); got != tt.want {
			t.Errorf("Signed %s: value %g, limit %g drawn %v, want %v", tt.what, tt.v, tt.limit, got, tt.want)
		}
	}
	if pal[50].R != pal[50].G || pal[50].G != pal[50].B || pal[0].B < pal[0].R || pal[100].R < pal[100].B {
		t.Errorf("signedPalette: ends %v, %v and middle %v; want blue, red and a grey", pal[0], pal[100], pal[50])
	}
}

func TestGridChanges(t *testing.T) {
	base := []Tile{digitTile(10, "true 1, pred 7"), digitTile(14, "true 1, pred 1"), digitTile(18, "true 1, pred 4")}
	img := gridPNG(t, "three digits", base, 3, GridOptions{Title: "misclassified"})
	checkNotBlank(t, "three digits", img)
	w, h := img.Bounds().Dx(), img.Bounds().Dy()

	with := func(f func(ts []Tile)) []Tile {
		ts := []Tile{digitTile(10, "true 1, pred 7"), digitTile(14, "true 1, pred 1"), digitTile(18, "true 1, pred 4")}
		f(ts)
		return ts
	}
	changes := []struct {
		what  string
		tiles []Tile
		opt   GridOptions
	}{
		{"one pixel", with(func(ts []Tile) { ts[1].Pix[0] = 1 }), GridOptions{Title: "misclassified"}},
		{"caption", with(func(ts []Tile) { ts[2].Caption = "true 1, pred 9" }), GridOptions{Title: "misclassified"}},
		{"highlight", with(func(ts []Tile) { ts[0].Highlight = true }), GridOptions{Title: "misclassified"}},
		{"signed", with(func(ts []Tile) { ts[0].Mapping = Signed }), GridOptions{Title: "misclassified"}},
		{"title", base, GridOptions{Title: "misclassified!"}},
	}
	var b1, b2 bytes.Buffer
	if err1, err2 := Grid(&b1, changes[3].tiles, 3, GridOptions{}), Grid(&b2, changes[3].tiles, 3, GridOptions{}); err1 != nil || err2 != nil || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Errorf("Grid twice on the same tiles: errors %v, %v, same bytes %v; want no errors, the same bytes", err1, err2, bytes.Equal(b1.Bytes(), b2.Bytes()))
	}
	for _, c := range changes {
		other := gridPNG(t, c.what, c.tiles, 3, c.opt)
		if got := other.Bounds().Size(); got.X != w || got.Y != h {
			t.Errorf("%s: %dx%d pixels, want %dx%d like the base picture", c.what, got.X, got.Y, w, h)
			continue
		}
		if n := differing(img, other); n < 9 {
			t.Errorf("%s: %d pixels differ from the base picture, want at least 9", c.what, n)
		}
	}
	reddish := func(img image.Image) int {
		n := 0
		for y := range img.Bounds().Dy() {
			for x := range img.Bounds().Dx() {
				r, g, b, _ := img.At(x, y).RGBA()
				if r>>8 > g>>8+60 && r>>8 > b>>8+60 {
					n++
				}
			}
		}
		return n
	}
	if n, n0 := reddish(gridPNG(t, "highlight", changes[2].tiles, 3, changes[2].opt)), reddish(img); n < 30 || n0 != 0 {
		t.Errorf("highlighted caption: %d reddish pixels (%d before), want at least 30 (0 before)", n, n0)
	}
}

// TestGridCap draws the 800 receptive fields of a 784-800-10 net: by default the first 256, in a
// 16×16 grid, within 4096 pixels a side; with MaxTiles 800 and zoom 1 all of them.
func TestGridCap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var fields []Tile
	for u := range 800 {
		pix := make([]float32, 784)
		for i := range pix {
			pix[i] = float32(rng.NormFloat64() * 0.05)
		}
		fields = append(fields, Tile{Pix: pix, H: 28, W: 28, Mapping: Signed, Caption: fmt.Sprintf("unit %d", u)})
	}
	tests := []struct {
		what string
		cols int
		opt  GridOptions
		n    int // tiles drawn
	}{
		{"default cap", 0, GridOptions{Title: "fc1"}, 256},
		{"all 800 at zoom 1", 40, GridOptions{MaxTiles: 800, Zoom: 1}, 800},
	}
	for _, tt := range tests {
		img := gridPNG(t, tt.what, fields, tt.cols, tt.opt)
		sz := img.Bounds().Size()
		t.Logf("%s: %dx%d pixels", tt.what, sz.X, sz.Y)
		if sz.X > 4096 || sz.Y > 4096 {
			t.Errorf("%s: %dx%d pixels, want at most 4096 a side", tt.what, sz.X, sz.Y)
		}
		checkNotBlank(t, tt.what, img)
	}
	// The cap changes the title, so the picture: 256 of 800 is not 256 of 256.
	a := gridPNG(t, "256 of 800", fields, 16, GridOptions{})
	b := gridPNG(t, "256 of 256", fields[:256], 16, GridOptions{})
	if a.Bounds() == b.Bounds() {
		t.Errorf("the first 256 of 800 tiles and 256 tiles: same size %v, want a title line more on the first", a.Bounds())
	}
}

func TestGridErrors(t *testing.T) {
	one := []Tile{digitTile(10, "")}
	tests := []struct {
		what  string
		tiles []Tile
		cols  int
		opt   GridOptions
		want  string
	}{
		{"none", nil, 0, GridOptions{}, "figure: grid: no tiles"},
		{"negative", one, -1, GridOptions{}, "figure: grid: negative MaxTiles 0, Zoom 0 or cols -1"},
		{"short", []Tile{{Pix: make([]float32, 10), H: 28, W: 28}}, 0, GridOptions{}, "figure: grid: tile 0 has 10 values, want 28x28 = 784"},
		{"empty tile", []Tile{{H: 0, W: 28}}, 0, GridOptions{}, "figure: grid: tile 0 is 0x28, want sides of 1..1024"},
		{"huge tile", []Tile{{H: 1 << 20, W: 1 << 20}}, 0, GridOptions{}, "figure: grid: tile 0 is 1048576x1048576, want sides of 1..1024"},
		{"mapping", []Tile{{Pix: []float32{0}, H: 1, W: 1, Mapping: 9}}, 0, GridOptions{}, "figure: grid: tile 0 has mapping 9, want Gray or Signed"},
		{"limit", []Tile{{Pix: []float32{0}, H: 1, W: 1, Mapping: Signed, Limit: float32(math.NaN())}}, 0, GridOptions{}, "figure: grid: tile 0 has limit NaN, want a finite 0 or more"},
		{"zoom", one, 0, GridOptions{Zoom: 1000}, "figure: grid: 28x28 tiles at zoom 1000 are over 4096 pixels"},
		{"too wide", []Tile{digitTile(1, ""), digitTile(2, "")}, 2, GridOptions{Zoom: 100}, "figure: grid: 2 tiles in 2 columns at zoom 100 make 5628x2820 pixels, over 4096 a side or 16777216 in all; lower Zoom, MaxTiles or cols"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Grid(&b, tt.tiles, tt.cols, tt.opt)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Grid = %v, want %s", tt.what, err, tt.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: Grid wrote %d bytes before failing, want none", tt.what, b.Len())
		}
	}
}

// TestPaletted checks the paletted encoding: exact with at most 256 colours; with more greys than fit
// beside the other colours, the other colours exact and greys within 1 level; nil past 192 colours.
func TestPaletted(t *testing.T) {
	mk := func(greys, colours int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 256, 2))
		for x := range 256 {
			g := uint8(x * greys / 256)
			img.SetRGBA(x, 0, color.RGBA{g, g, g, 0xff})
			c := color.RGBA{uint8(x % colours), 0x80, 0x10, 0xff}
			img.SetRGBA(x, 1, c)
		}
		return img
	}
	tests := []struct {
		what           string
		greys, colours int
		ok             bool
		maxGreyErr     int
	}{
		{"few colours", 20, 30, true, 0},
		{"256 in all", 128, 128, true, 0},
		{"greys rounded", 256, 100, true, 1},
		{"too many colours", 10, 193, false, 0},
	}
	for _, tt := range tests {
		img := mk(tt.greys, tt.colours)
		p := paletted(img)
		if (p != nil) != tt.ok {
			t.Errorf("paletted(%s) = %v, want paletted %v", tt.what, p != nil, tt.ok)
			continue
		}
		if p == nil {
			continue
		}
		worst := 0
		for x := range 256 {
			for y := range 2 {
				r1, g1, b1, _ := img.At(x, y).RGBA()
				r2, g2, b2, _ := p.At(x, y).RGBA()
				d := max(absInt(int(r1>>8)-int(r2>>8)), absInt(int(g1>>8)-int(g2>>8)), absInt(int(b1>>8)-int(b2>>8)))
				if y == 1 && d != 0 {
					t.Errorf("paletted(%s): colour pixel %d = %d,%d,%d, want %d,%d,%d", tt.what, x, r2>>8, g2>>8, b2>>8, r1>>8, g1>>8, b1>>8)
				}
				worst = max(worst, d)
			}
		}
		if worst > tt.maxGreyErr {
			t.Errorf("paletted(%s): greys off by up to %d levels, want at most %d", tt.what, worst, tt.maxGreyErr)
		}
	}
}

func absInt(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

// cropped is the w×h part of img at (x, y).
func cropped(img image.Image, x, y, w, h int) image.Image {
	return img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(x, y, x+w, y+h))
}

// TestGridMixed draws what the adversarial and augmentation pictures will: rows of original,
// perturbation (Signed, one shared Limit) and result, two-line captions, and a tile of another size
// centred in its cell.
func TestGridMixed(t *testing.T) {
	orig := digitTile(12, "true Ankle boot\npred Ankle boot")
	pert := Tile{Pix: make([]float32, 784), H: 28, W: 28, Mapping: Signed, Limit: 0.1, Caption: "perturbation\n±0.1"}
	adv := digitTile(12, "true Ankle boot\npred Sneaker")
	adv.Highlight = true
	for i := range pert.Pix {
		pert.Pix[i] = 0.1 * float32(math.Sin(float64(i)))
		adv.Pix[i] = float32(math.Min(1, math.Max(0, float64(adv.Pix[i]+pert.Pix[i]))))
	}
	small := Tile{Pix: orig.Pix[:14*14], H: 14, W: 14, Caption: "14×14"}
	img := gridPNG(t, "adversarial row", []Tile{orig, pert, adv, small}, 4, GridOptions{Title: "FGSM, ε = 0.1"})
	checkNotBlank(t, "adversarial row", img)
	// The caption is wider than 84 pixels, so it sets the cell width: four cells, three gutters.
	if w := img.Bounds().Dx(); (w-2*10-3*8)%4 != 0 || (w-2*10-3*8)/4 <= 84 {
		t.Errorf("adversarial row: %d pixels wide, want 2·10 + 3·8 + 4 cells wider than 84", w)
	}
}

// TestGridWideTitle: a title wider than the tiles widens the picture to fit it, and the tiles stay
// centred under it.
func TestGridWideTitle(t *testing.T) {
	grey := make([]float32, 28*28)
	for i := range grey {
		grey[i] = 0.5
	}
	tiles := []Tile{{Pix: grey, H: 28, W: 28}, {Pix: grey, H: 28, W: 28}}
	title := "the first 2 of 335 misclassified test images (a title far wider than two tiles)"
	img := gridPNG(t, "two tiles under a wide title", tiles, 2, GridOptions{Title: title})
	st := textStyle(12, color.Black, 0, 0)
	wantW := 2*10 + int(math.Ceil(st.Width(title).Dots(dpi)))
	if w := img.Bounds().Dx(); w != wantW {
		t.Fatalf("two tiles under a wide title: %d pixels wide, want %d (the title's width and margins)", w, wantW)
	}
	gridW := 2*84 + 8
	x0 := (wantW - gridW) / 2
	y0 := 10 + int(math.Ceil(st.Height(title).Dots(dpi))) + 8
	for k := range 2 {
		x := x0 + k*(84+8)
		for _, p := range [][2]int{{x, y0}, {x + 83, y0 + 83}} {
			if r, g, b, _ := img.At(p[0], p[1]).RGBA(); r>>8 != 128 || g>>8 != 128 || b>>8 != 128 {
				t.Errorf("tile %d corner (%d, %d) = %d,%d,%d, want grey 128: the tiles are not centred", k, p[0], p[1], r>>8, g>>8, b>>8)
			}
		}
		if r, _, _, _ := img.At(x-1, y0+40).RGBA(); r>>8 == 128 {
			t.Errorf("tile %d: grey left of its frame: the tiles are not where they should be", k)
		}
	}
}
