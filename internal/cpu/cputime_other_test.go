//go:build !unix

package cpu

import "time"

// processCPU is 0 where getrusage does not exist; BenchmarkGemm then reports no CPU-time figure.
func processCPU() time.Duration { return 0 }
