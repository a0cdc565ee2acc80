package cpu

import (
	"runtime"
	"sync"
	"testing"
)

// BenchmarkPeakFMA measures the machine's AVX2 FMA peak: every core runs register-only FMAs
// (twelve independent chains, enough to cover the FMA latency on both pipes) and the flops are summed.
func BenchmarkPeakFMA(b *testing.B) {
	if !HasAVX2 {
		b.Skip("no AVX2/FMA")
	}
	const iters = 1 << 20
	procs := runtime.GOMAXPROCS(0)
	for range b.N {
		var wg sync.WaitGroup
		for range procs {
			wg.Add(1)
			go func() { defer wg.Done(); fmaPeak(iters) }()
		}
		wg.Wait()
	}
	flops := float64(b.N) * float64(procs) * iters * 192
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
