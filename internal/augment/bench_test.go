package augment

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkGather times Gather on batches of 100 real digits at GOMAXPROCS 1 and 2, and reports
// ns/image (wall time per image of the batch) and the projected seconds one 60,000-image epoch would
// spend augmenting. Compare with the epoch time of `dltrain train` on the same machine (make bench).
func BenchmarkGather(b *testing.B) {
	set := loadDigits(b)
	const B = 100
	order := make([]int32, set.N)
	for i := range order {
		order[i] = int32(i)
	}
	x := make([]float32, B*pixels)
	for _, m := range []Mode{None, Affine, Elastic} {
		pl, err := NewPlan(Default(m))
		if err != nil {
			b.Fatal(err)
		}
		for _, procs := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/procs=%d", m, procs), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				start := 0
				for range b.N {
					if start+B > set.N {
						start = 0
					}
					Gather(x, set.Images, order, start, B, pl, 1, 1)
					start += B
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*B)
				b.ReportMetric(ns, "ns/image")
				b.ReportMetric(ns*60000/1e9, "s/epoch")
			})
		}
	}
}

// BenchmarkStages times the parts of one elastic deformation on one core: the draws, the smoothing
// (two passes of mm28) and the warp.
func BenchmarkStages(b *testing.B) {
	set := loadDigits(b)
	pl, _ := NewPlan(Default(Elastic))
	sc := new(scratch)
	dst := make([]float32, pixels)
	key := Key(1, 1, 1)
	b.Run("draws", func(b *testing.B) {
		for range b.N {
			drawFieldInto(sc, key)
		}
	})
	b.Run("smooth", func(b *testing.B) {
		for range b.N {
			mm28(sc.h[:], ldh, sc.field[:], cols, pl.band, 2*rows)
			mm28(sc.s[:], cols, pl.band, ldh, sc.h[:rows*ldh], rows)
			mm28(sc.s[pixels:], cols, pl.band, ldh, sc.h[rows*ldh:], rows)
		}
	})
	m := drawAffine(key, pl)
	b.Run("warp", func(b *testing.B) {
		for range b.N {
			warp(dst, sc, pl, m)
		}
	})
	b.Run("deform", func(b *testing.B) {
		for i := range b.N {
			deform(dst, set.Images[(i%set.N)*pixels:][:pixels], pl, key, sc)
		}
	})
}
