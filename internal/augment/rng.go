// rng.go: the counter-based random numbers behind every deformation.
//
// There is no generator state: draw n of image index in epoch e is a hash of (seed, e, index, n), so
// any image's deformation can be recomputed alone, in any order, on any number of threads, and on the
// GPU, which repeats these integer operations exactly (64-bit multiply, xor, shift). This is not a
// general-purpose or cryptographic generator.

package augment

// golden is 2⁶⁴/φ, splitmix64's increment.
const golden = 0x9e3779b97f4a7c15

// mix is splitmix64's finalizer (Stafford's variant 13): a bijection on 64 bits whose every output bit
// depends on every input bit.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// seedKey is the part of an image's key that depends on the seed alone.
func seedKey(seed uint64) uint64 { return mix(seed ^ golden) }

// imageKey is the key of image index in epoch epoch, given seedKey(seed). Epoch and index fill the
// two halves of one word, and mix is a bijection, so two images of the same run never share a key.
func imageKey(sk uint64, epoch, index uint32) uint64 {
	return mix(sk ^ (uint64(epoch)<<32 | uint64(index)))
}

// Key returns the key of image index (its position in the data set, not in the epoch's order) in
// epoch epoch; both are taken modulo 2³².
func Key(seed uint64, epoch, index int) uint64 {
	return imageKey(seedKey(seed), uint32(epoch), uint32(index))
}

// draw returns draw n of an image's stream: splitmix64 started at the key.
func draw(key uint64, n uint32) uint64 { return mix(key + uint64(n+1)*golden) }

// The draw numbers of one image's stream. Pixel p = y·28 + x of the elastic field uses draw
// drawField+p for both axes: its top 24 bits for x and bits 16..39 for y.
const (
	drawRotation = 0
	drawScaleX   = 1
	drawScaleY   = 2
	drawShear    = 3
	drawShiftX   = 4
	drawShiftY   = 5
	drawField    = 8
)

// uniform maps the top 24 bits of r to k·2⁻²³ − 1, uniform in [−1, 1). Every step is exact in
// float32 (k < 2²⁴, a power-of-two scale, and a difference that fits 24 bits), so the GPU's
// cvt.rn / mul.rn / sub.rn give the same bits.
func uniform(r uint64) float32 { return float32(float32(int32(r>>40))*(1.0/(1<<23))) - 1 }

// uniformMid is uniform on bits 16..39 of r.
func uniformMid(r uint64) float32 {
	return float32(float32(int32(r>>16&(1<<24-1)))*(1.0/(1<<23))) - 1
}
