package opstest

// augment.go: the conformance check of augmented gathering (SetAugment, SetEpoch, Gather on a data
// set with a deformation) against internal/augment's Gather, the CPU twin of the PTX kernel. It is
// not a test of the deformations themselves: internal/augment checks those against its float64
// reference.

import (
	"fmt"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ref"
)

// Augment converts augment's parameters to the contract's value type (field for field).
func Augment(p augment.Params) ops.Augment {
	return ops.Augment{Mode: ops.AugmentMode(p.Mode), Rotation: p.Rotation, Scale: p.Scale, Shear: p.Shear,
		Translate: p.Translate, Sigma: p.Sigma, Alpha: p.Alpha}
}

// augmentGather: on a data set given a deformation, Gather equals augment.Gather with the seed and
// the epoch of the last SetEpoch (1 before any), within the Augment tolerance, its output poisoned
// with NaN first: both modes, the default ranges and stronger ones with a narrower Gaussian (another
// tap count), batch sizes 1, 7, 100 and 257 at several offsets, epochs past 2³² (taken modulo 2³²).
// A set never given one, and one given mode none, gather plainly; bad ranges are refused.
func (c *checker) augmentGather() {
	name := c.be.Name()
	if augment.Mode(ops.AugmentNone) != augment.None || augment.Mode(ops.AugmentAffine) != augment.Affine || augment.Mode(ops.AugmentElastic) != augment.Elastic {
		c.t.Fatal("ops.AugmentMode's values are not augment.Mode's")
	}
	strong := augment.Params{Mode: augment.Elastic, Rotation: 40, Scale: 0.3, Shear: 0.5, Translate: 4, Sigma: 2.5, Alpha: 12}
	affine := strong
	affine.Mode = augment.Affine
	for _, p := range []augment.Params{augment.Default(augment.Affine), augment.Default(augment.Elastic), affine, strong} {
		for _, B := range []int{1, 7, 100, 257} {
			set := RandomSet(c.rng, B+9)
			// Mostly blank images, as digits are, so that the sampling at the ink's edges counts.
			for i := range set.Images {
				if c.rng.IntN(3) > 0 {
					set.Images[i] = 0
				}
			}
			order := c.randomOrder(set.N)
			d, err := c.be.Resident(set)
			if err != nil {
				c.t.Fatalf("%s: Resident(%d images): %v", name, set.N, err)
			}
			if err := c.be.SetOrder(d, order); err != nil {
				c.t.Fatal(err)
			}
			seed := c.rng.Uint64()
			if err := c.be.SetAugment(d, Augment(p), seed); err != nil {
				c.t.Fatalf("%s: SetAugment(%+v): %v", name, p, err)
			}
			pl, err := augment.NewPlan(p)
			if err != nil {
				c.t.Fatal(err)
			}
			for k, start := range []int{0, 5, set.N - B} {
				epoch := 1
				switch k {
				case 1:
					epoch = 1 + c.rng.IntN(1000)
				case 2:
					epoch = 1<<32 + 3
				}
				if k > 0 {
					c.be.SetEpoch(d, epoch)
				}
				want := make([]float32, B*ops.Input)
				augment.Gather(want, set.Images, order, start, B, pl, seed, epoch)
				x := c.up(NaNs(B * ops.Input))
				c.be.Gather(x, d, start, B)
				c.compare(fmt.Sprintf("Gather with %v (%+v), seed %d, epoch %d, start %d, B %d", p.Mode, p, seed, epoch, start, B),
					c.down(x), want, c.tol.Augment, c.tol.Augment)
			}
		}
	}

	set := RandomSet(c.rng, 30)
	order := c.randomOrder(set.N)
	plain := make([]float32, 30*ops.Input)
	ref.Gather(plain, set.Images, order, 0, 30)
	d, err := c.be.Resident(set)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.be.SetOrder(d, order); err != nil {
		c.t.Fatal(err)
	}
	c.be.SetEpoch(d, 7) // no deformation: nothing to key
	x := c.up(NaNs(30 * ops.Input))
	c.be.Gather(x, d, 0, 30)
	c.compare("Gather of a set never given an Augment, after SetEpoch", c.down(x), plain, 0, 0)
	if err := c.be.SetAugment(d, Augment(augment.Default(augment.Elastic)), 1); err != nil {
		c.t.Fatal(err)
	}
	c.be.Gather(x, d, 0, 30)
	if SameBits(c.down(x), plain) {
		c.t.Fatalf("%s: Gather with an elastic Augment gave the plain images", name)
	}
	if err := c.be.SetAugment(d, ops.Augment{}, 1); err != nil {
		c.t.Fatalf("%s: SetAugment(mode none): %v", name, err)
	}
	c.be.Gather(x, d, 0, 30)
	c.compare("Gather after SetAugment(mode none)", c.down(x), plain, 0, 0)

	for _, bad := range []ops.Augment{
		{Mode: ops.AugmentAffine, Rotation: 91},
		{Mode: ops.AugmentElastic, Sigma: 6, Alpha: 0},
		{Mode: ops.AugmentElastic, Sigma: 0.1, Alpha: 36},
		{Mode: 3},
	} {
		if err := c.be.SetAugment(d, bad, 1); err == nil {
			c.t.Fatalf("%s: SetAugment(%+v) = nil, want an error", name, bad)
		}
	}
}
