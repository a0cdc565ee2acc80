package augment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPortablePath: with the AVX2 kernels switched off, as on a CPU without them or off amd64,
// Gather gives the same bytes.
func TestPortablePath(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2: the portable path is the only one")
	}
	set := loadDigits(t)
	const B = 50
	order := make([]int32, B)
	for i := range order {
		order[i] = int32(i * 11)
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	for _, p := range []Params{Default(Affine), Default(Elastic), randomParams(rng, Elastic), randomParams(rng, Affine)} {
		pl, _ := NewPlan(p)
		fast, slow := make([]float32, B*pixels), make([]float32, B*pixels)
		Gather(fast, set.Images, order, 0, B, pl, seed, 4)
		useAVX2 = false
		Gather(slow, set.Images, order, 0, B, pl, seed, 4)
		useAVX2 = true
		for q := range fast {
			if math.Float32bits(fast[q]) != math.Float32bits(slow[q]) {
				t.Fatalf("%+v: image %d pixel %d = %v with AVX2, %v without", p, order[q/pixels], q%pixels, fast[q], slow[q])
			}
		}
	}
}
