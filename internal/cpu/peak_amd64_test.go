package cpu

import (
	"runtime"
	"sync"
	"testing"
)

// BenchmarkPeakFMA measures the machine's FMA peak for each vector width it has: every core runs
// register-only FMAs (twelve independent chains, enough to cover the FMA latency on two pipes) and
// the flops are summed. avx512 is the widest unit where the CPU has it; on some CPUs (AMD Zen 4) its
// peak equals avx2's, because a 512-bit FMA occupies both 256-bit pipes.
func BenchmarkPeakFMA(b *testing.B) {
	for _, w := range []struct {
		name  string
		ok    bool
		flops float64 // per iteration
		f     func(int)
	}{
		{"avx2", HasAVX2, 192, fmaPeak},
		{"avx512", HasAVX512, 384, fmaPeak512},
	} {
		b.Run(w.name, func(b *testing.B) {
			if !w.ok {
				b.Skip("not on this CPU")
			}
			const iters = 1 << 20
			procs := runtime.GOMAXPROCS(0)
			for range b.N {
				var wg sync.WaitGroup
				for range procs {
					wg.Add(1)
					go func() { defer wg.Done(); w.f(iters) }()
				}
				wg.Wait()
			}
			flops := float64(b.N) * float64(procs) * iters * w.flops
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
