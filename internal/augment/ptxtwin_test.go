package augment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ptxTwin is internal/kernels/augment.ptx transcribed into Go, step for step, with its parameters:
// blocks one after the other, threads of a block phase by phase between its barriers, shared memory
// as arrays, taps read with bounds checks instead of a zero border, sums over the band only, and
// every thread drawing the affine map itself. No GPU runs here; this checks that the algorithm the
// PTX spells out gives Gather's bits, so that a disagreement on a GPU points at the PTX's spelling.
func ptxTwin(x []float32, pix []uint8, order []int32, start uint64, cursor *uint32, nrows uint64, epoch *uint32,
	seed uint64, taps []float32, radius uint64, rotation, scale, shear, translate, alpha float32) {
	for b := range uint32(nrows) {
		var fld, hrw [2 * pixels]float32
		var img [pixels]float32
		var gw [cols]float32
		var sx, sy [pixels]float32
		// 1. The sample, the epoch and the key (the same in every thread).
		s := uint32(start)
		if cursor != nil {
			s += *cursor
		}
		s += b
		i := uint32(order[s])
		key := mix(mix(seed^golden) ^ (uint64(*epoch)<<32 | uint64(i)))
		affineOnly := alpha == 0
		R := int(uint32(radius))
		for t := range pixels { // 2. stage the image; 3. the field and the taps
			img[t] = float32(pix[int(i)*pixels+t])
			if !affineOnly {
				r := draw(key, uint32(t)+8)
				fld[t], fld[pixels+t] = uniform(r), uniformMid(r)
				if t <= R {
					gw[t] = taps[t]
				}
			}
		}
		// bar.sync
		if !affineOnly {
			for t := range pixels { // rows
				xi, yi := t%cols, t/cols
				var accx, accy float32
				for k := max(0, xi-R); k <= min(cols-1, xi+R); k++ {
					w := gw[abs(xi-k)]
					accx += float32(fld[yi*cols+k] * w)
					accy += float32(fld[pixels+yi*cols+k] * w)
				}
				hrw[t], hrw[pixels+t] = accx, accy
			}
			// bar.sync
			for t := range pixels { // columns
				xi, yi := t%cols, t/cols
				for k := max(0, yi-R); k <= min(rows-1, yi+R); k++ {
					w := gw[abs(yi-k)]
					sx[t] += float32(w * hrw[k*cols+xi])
					sy[t] += float32(w * hrw[pixels+k*cols+xi])
				}
			}
		}
		for t := range pixels {
			xi, yi := t%cols, t/cols
			// 4. The affine map.
			th := float32(rotation * uniform(draw(key, 0)))
			scx := float32(scale*uniform(draw(key, 1))) + 1
			scy := float32(scale*uniform(draw(key, 2))) + 1
			h := float32(shear * uniform(draw(key, 3)))
			tx := float32(translate * uniform(draw(key, 4)))
			ty := float32(translate * uniform(draw(key, 5)))
			sn, cs := sincos(th)
			ca := (cs + float32(h*sn)) / scx
			cb := (sn - float32(h*cs)) / scx
			cc := -sn / scy
			cd := cs / scy
			// 5. The sampling point.
			fX := (float32(xi) - 13.5) - tx
			fY := (float32(yi) - 13.5) - ty
			qx := float32(ca*fX) + float32(cb*fY)
			qy := float32(cc*fX) + float32(cd*fY)
			if !affineOnly {
				qx += float32(alpha * sx[t])
				qy += float32(alpha * sy[t])
			}
			qx += 13.5
			qy += 13.5
			// 6. Bilinear sampling.
			var v float32
			if qx >= -1 && qx < 28 && qy >= -1 && qy < 28 {
				x0, y0 := float32(math.Floor(float64(qx))), float32(math.Floor(float64(qy)))
				fx, fy := qx-x0, qy-y0
				gx, gy := 1-fx, 1-fy
				ix, iy := int(x0), int(y0)
				at := func(ok bool, k int) float32 {
					if ok {
						return img[k]
					}
					return 0
				}
				k := iy*cols + ix
				p00 := at(ix >= 0 && iy >= 0, k)
				p01 := at(ix < 27 && iy >= 0, k+1)
				p10 := at(ix >= 0 && iy < 27, k+cols)
				p11 := at(ix < 27 && iy < 27, k+cols+1)
				top := float32(gx*p00) + float32(fx*p01)
				bot := float32(gx*p10) + float32(fx*p11)
				v = float32(gy*top) + float32(fy*bot)
				v = min(max(v, 0), 255)
			}
			// 7. Normalize and store.
			x[int(b)*pixels+t] = (v/255 - 0.5) / 0.5
		}
	}
}

// TestPTXTwin runs the transcription of augment.ptx with the launch arguments a CUDA launcher would
// pass (the Plan's fields, the cursor of a replayed graph, the epoch through a pointer) and compares
// it with Gather bit for bit.
func TestPTXTwin(t *testing.T) {
	set := loadDigits(t)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	order := make([]int32, set.N)
	for i := range order {
		order[i] = int32(i)
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for trial, p := range []Params{Default(Elastic), Default(Affine), randomParams(rng, Elastic), randomParams(rng, Elastic), randomParams(rng, Affine)} {
		pl, err := NewPlan(p)
		if err != nil {
			t.Fatal(err)
		}
		const B = 9
		start, cur := 100*trial, uint32(37*trial) // a replayed step: batch offset start + *cursor
		epoch := uint32(rng.IntN(100))
		want := make([]float32, B*pixels)
		Gather(want, set.Images, order, start+int(cur), B, pl, seed, int(epoch))
		got := make([]float32, B*pixels)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		cursor := &cur
		if trial%2 == 1 {
			start, cursor = start+int(cur), nil // a plain launch: no cursor
		}
		ptxTwin(got, set.Images, order, uint64(start), cursor, B, &epoch, seed, pl.Taps, uint64(pl.Radius),
			pl.Rotation, pl.Scale, pl.Shear, pl.Translate, pl.Alpha)
		for q := range got {
			if math.Float32bits(got[q]) != math.Float32bits(want[q]) {
				t.Fatalf("%+v: row %d pixel %d: PTX transcription = %v, Gather = %v", p, q/pixels, q%pixels, got[q], want[q])
			}
		}
	}
}
