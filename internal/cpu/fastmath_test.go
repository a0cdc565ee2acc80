package cpu

import (
	"math"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/verify"
)

// ulps is the distance between two float32 values in units in the last place: the number of
// representable floats between them (0 for equal values, and for +0 against −0).
func ulps(a, b float32) int64 {
	ord := func(x float32) int64 {
		u := int64(math.Float32bits(x))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return d
}

// mathErr is the error of one function over a set of inputs: the worst ulp distance from the float64
// reference rounded to float32 (where that is a normal number, or zero), and the worst absolute error
// where it is subnormal; and, for verify's error model, the worst absolute error against the float64
// value itself (not rounded) and the number of results outside [lo, hi].
type mathErr struct {
	maxULP    int64
	atULP     float32
	maxSubAbs float64
	atSub     float32
	maxAbs    float64
	atAbs     float32
	outside   int64
	n         int64
}

func (e *mathErr) add(x, got float32, want float64) {
	e.n++
	w := float32(want)
	if math.IsNaN(want) {
		if !math.IsNaN(float64(got)) {
			e.maxULP, e.atULP = math.MaxInt64, x
		}
		return
	}
	if d := math.Abs(float64(got) - want); d > e.maxAbs {
		e.maxAbs, e.atAbs = d, x
	}
	if want != 0 && math.Abs(want) < 0x1p-126 || want == 0 && got != 0 {
		if d := math.Abs(float64(got) - want); d > e.maxSubAbs {
			e.maxSubAbs, e.atSub = d, x
		}
		return
	}
	if d := ulps(got, w); d > e.maxULP {
		e.maxULP, e.atULP = d, x
	}
}

func (e *mathErr) merge(o mathErr) {
	if o.maxULP > e.maxULP {
		e.maxULP, e.atULP = o.maxULP, o.atULP
	}
	if o.maxSubAbs > e.maxSubAbs {
		e.maxSubAbs, e.atSub = o.maxSubAbs, o.atSub
	}
	if o.maxAbs > e.maxAbs {
		e.maxAbs, e.atAbs = o.maxAbs, o.atAbs
	}
	e.outside += o.outside
	e.n += o.n
}

// fastFuncs are the functions under test: the assembly (by way of biasAct with a bias of −0, which
// leaves every input as it is) and the portable Go, against float64.
type fastFunc struct {
	name string
	act  ops.Activation
	goFn func(float32) float32
	ref  func(float64) float64
	// bounds: the documented maximum error in ulp, and the absolute bound where the result is
	// subnormal (fastmath.go).
	maxULP    int64
	maxSubAbs float64
	// the function's range, which verify's error model also assumes the results stay in
	lo, hi float32
}

var fastFuncs = []fastFunc{
	{"tanh", ops.Tanh, tanhGo, math.Tanh, 2, 0, -1, 1},
	{"sigmoid", ops.Sigmoid, sigmoidGo, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, 3, 4.2e-39, 0, 1},
}

// sweep evaluates f on the float32 inputs with bit patterns lo, lo+stride, … below hi, on every core,
// in blocks of 4096 through the vector path, and returns the errors of the assembly and Go versions
// and the number of inputs where the two differ.
func sweep(f fastFunc, lo, hi, stride uint64) (asm, gov mathErr, differ int64) {
	procs := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	const block = 4096
	span := (hi - lo + uint64(procs) - 1) / uint64(procs)
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ea, eg mathErr
			var diff int64
			x := make([]float32, 0, block)
			y := make([]float32, block)
			bias := make([]float32, block)
			for i := range bias {
				bias[i] = float32(math.Copysign(0, -1))
			}
			start := lo + uint64(p)*span
			start += (stride - (start-lo)%stride) % stride
			end := min(hi, start+span)
			flush := func() {
				copy(y, x)
				biasAct(y[:len(x)], bias[:len(x)], f.act)
				for i, v := range x {
					want := f.ref(float64(v))
					ea.add(v, y[i], want)
					g := f.goFn(v)
					eg.add(v, g, want)
					if v == v && !(y[i] >= f.lo && y[i] <= f.hi) {
						ea.outside++
					}
					if v == v && !(g >= f.lo && g <= f.hi) {
						eg.outside++
					}
					if math.Float32bits(g) != math.Float32bits(y[i]) && !(g != g && y[i] != y[i]) {
						diff++
					}
				}
				x = x[:0]
			}
			for u := start; u < end; u += stride {
				x = append(x, math.Float32frombits(uint32(u)))
				if len(x) == block {
					flush()
				}
			}
			flush()
			mu.Lock()
			asm.merge(ea)
			gov.merge(eg)
			differ += diff
			mu.Unlock()
		}()
	}
	wg.Wait()
	return asm, gov, differ
}

func checkSweep(t *testing.T, lo, hi, stride uint64) {
	t.Helper()
	if !HasAVX2 {
		t.Log("no AVX2: the assembly is not on this machine; checking the Go version only")
	}
	for _, f := range fastFuncs {
		asm, gov, differ := sweep(f, lo, hi, stride)
		t.Logf("%s over %d inputs: assembly max %d ulp (at %g), subnormal results max abs %.3g (at %g), max abs %.3g·2^-24 (at %g); Go max %d ulp (at %g); %d inputs where they differ",
			f.name, asm.n, asm.maxULP, asm.atULP, asm.maxSubAbs, asm.atSub, asm.maxAbs/0x1p-24, asm.atAbs, gov.maxULP, gov.atULP, differ)
		for _, e := range []struct {
			what string
			e    mathErr
		}{{"assembly", asm}, {"Go", gov}} {
			if e.e.maxULP > f.maxULP {
				t.Errorf("%s %s(%g): %d ulp from float64, documented bound %d", e.what, f.name, e.e.atULP, e.e.maxULP, f.maxULP)
			}
			if e.e.maxSubAbs > f.maxSubAbs {
				t.Errorf("%s %s(%g): subnormal result off by %g, documented bound %g", e.what, f.name, e.e.atSub, e.e.maxSubAbs, f.maxSubAbs)
			}
			// verify certifies the CPU's inference assuming this bound and range.
			if e.e.maxAbs > verify.DefaultActErr {
				t.Errorf("%s %s(%g): off by %.3g·2^-24 from float64, more than verify.DefaultActErr (%.3g·2^-24)",
					e.what, f.name, e.e.atAbs, e.e.maxAbs/0x1p-24, verify.DefaultActErr/0x1p-24)
			}
			if e.e.outside != 0 {
				t.Errorf("%s %s: %d results outside [%g, %g]", e.what, f.name, e.e.outside, f.lo, f.hi)
			}
		}
	}
}

// TestFastMathSweep checks the float32 tanh and sigmoid against float64 on every 1021st float32 bit
// pattern (4.2 million inputs of both signs, NaNs and infinities included) and, exhaustively, on
// every input in [0.6, 0.65) and [9, 9.05), around the switch between tanh's two formulas and its
// saturation. TestFastMathExhaustive does all 2^32.
func TestFastMathSweep(t *testing.T) {
	checkSweep(t, 0, 1<<32, 1021)
	for _, r := range [][2]float32{{0.6, 0.65}, {9, 9.05}} {
		checkSweep(t, uint64(math.Float32bits(r[0])), uint64(math.Float32bits(r[1])), 1)
	}
}

// TestFastMathExhaustive checks every float32 input (about 6 minutes of CPU time); it runs when
// DLTRAIN_EXHAUSTIVE=1.
func TestFastMathExhaustive(t *testing.T) {
	if os.Getenv("DLTRAIN_EXHAUSTIVE") != "1" {
		t.Skip("set DLTRAIN_EXHAUSTIVE=1 to check all 2^32 inputs")
	}
	checkSweep(t, 0, 1<<32, 1)
}

// TestFastMathSpecials: NaN stays NaN, the infinities give the limits, and ±0 keep their sign
// through tanh.
func TestFastMathSpecials(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negz := float32(math.Copysign(0, -1))
	for _, c := range []struct {
		act  ops.Activation
		x    float32
		want float32
	}{
		{ops.Tanh, inf, 1}, {ops.Tanh, -inf, -1}, {ops.Tanh, 0, 0}, {ops.Tanh, negz, negz}, {ops.Tanh, nan, nan},
		{ops.Sigmoid, inf, 1}, {ops.Sigmoid, 0, 0.5}, {ops.Sigmoid, nan, nan},
	} {
		for _, path := range []bool{true, false} {
			if path && !HasAVX2 {
				continue
			}
			saved := HasAVX2
			HasAVX2 = path
			row := []float32{c.x}
			biasAct(row, []float32{negz}, c.act)
			HasAVX2 = saved
			if math.Float32bits(row[0]) != math.Float32bits(c.want) && !(c.want != c.want && row[0] != row[0]) {
				t.Errorf("%v(%v) = %v, want %v (AVX2 %v)", c.act, c.x, row[0], c.want, path)
			}
		}
	}
	// sigmoid(−Inf) is 0 in float64; here it is sigmoid(−88.37), within the subnormal bound.
	row := []float32{-inf}
	biasAct(row, []float32{0}, ops.Sigmoid)
	if !(row[0] >= 0 && row[0] < 4.2e-39) {
		t.Errorf("sigmoid(-Inf) = %v, want in [0, 4.2e-39)", row[0])
	}
}
