package kernels

import "github.com/dltrain/dltrain/internal/augment"

// Augment deforms and normalizes a batch on the device, reading the resident uint8 set through the
// epoch's order: the twin of augment.Gather (internal/augment, which keeps the float64 reference
// beside it). Launch geometry: grid = rows (one block per image: Per is 1), block = exactly 784
// threads (.reqntid 784; thread t computes output pixel t), 15,792 bytes of static shared memory and
// no dynamic shared memory. The launcher passes, as 64-bit values: x, pix, order (device pointers),
// start, cursor (0, or the graph cursor while recording, as for GatherNormalize), rows, epoch (a
// device pointer to a u32 the host sets before each epoch, never 0), seed, taps (a device copy of
// augment.Plan.Taps, or 0 in affine mode), radius (Plan.Radius), and Plan.Rotation, Scale, Shear,
// Translate and Alpha as float32 bits (math.Float32bits) in the low half.
var Augment = Entry{Module: "augment", Name: "augment",
	Params: []string{"x", "pix", "order", "start", "cursor", "rows", "epoch", "seed", "taps", "radius", "rotation", "scale", "shear", "translate", "alpha"},
	Block:  784, Per: 1, Twin: augment.Gather}
