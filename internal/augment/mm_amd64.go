package augment

// mm28 is mm28Go; the assembly comes next.
func mm28(out, a []float32, lda int, b []float32, n int) { mm28Go(out, a, lda, b, n) }
