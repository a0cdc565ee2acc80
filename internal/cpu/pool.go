package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the worker pool behind every parallel op of the CPU backend: a region of work is cut
// into independent chunks, and the calling goroutine and up to NumCPU−1 helper goroutines claim
// chunks from one atomic counter until none are left. It is not a general scheduler: one region runs
// at a time (others wait on a mutex), chunks never wait on each other, and nothing is queued.
//
// Determinism: a chunk's result never depends on which goroutine runs it or when (no chunk reads
// what another writes, and scratch memory carries nothing from one chunk to the next), so the
// output is the same bytes for any GOMAXPROCS. Reductions across chunks are left to the caller, which
// does them in a fixed order after the region.
//
// Latency: the ops of a training step are tens of microseconds each, so a helper that went to sleep
// between them would cost more to wake (a futex, and the Go scheduler parks the woken goroutine in
// the waker's run queue first) than the op takes. Helpers therefore spin for a while after each
// region, watching the region counter, and only then park on a channel; and a caller never waits
// for a helper that has not joined its region (one asleep, or descheduled by the OS on a busy
// machine), only for chunks in progress. The time spent spinning is counted (SpinTime) so that
// benchmarks can report busy cores with and without it.

// task is the work of one region: chunks 0..n-1, each run once by run(i, s), where s is scratch
// memory of the goroutine that runs it.
type task interface {
	run(chunk int, s *scratch)
}

// scratch is one goroutine's private buffers: a packed column panel of op(B) = Bᵀ, and the AVX2
// GEMM's zero-padded B block and C tile for edge tiles. Grown on first use, never shrunk.
type scratch struct {
	bpan []float32
	b    []float32
	tile [maxMR * maxNR]float32
}

// grow returns s[:n], reallocating when s is too short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// spinFor is how long an idle helper watches for the next region before parking, and how long a
// caller spins on helpers still inside a chunk before it blocks. The gaps between the ops of a step,
// and between steps, are a few microseconds; between epochs (evaluation, file writes) helpers park.
const spinFor = 50 * time.Microsecond

// maxHelpers bounds the helper goroutines (GPU hosts have 16 or more threads; the small GEMMs stop
// scaling long before 64).
const maxHelpers = 63

type worker struct {
	sleeping atomic.Bool   // parked (or about to) on wake
	wake     chan struct{} // one token per park, sent by wakeAll
	s        scratch
	_        [64]byte // keep the next worker's flag off this one's cache line
}

// The region state word: the region's generation above bit 33, bit 32 set once the caller has closed
// the region (every chunk claimed), and in the low 32 bits the number of helpers inside it.
const (
	closedBit = 1 << 32
	genShift  = 33
)

// workPool is the process's single pool. Its fields below mu are owned by whoever holds mu.
//
// A region is open from the caller's state.Store until the caller has run out of chunks to claim and
// sets closedBit. A helper joins an open region by incrementing the low half of state with a
// CompareAndSwap (so it cannot join a closed or a newer region), claims chunks, and leaves by
// decrementing it. The caller then waits only for helpers still inside a chunk: a helper that was
// asleep or descheduled when the region opened never holds the caller up.
type workPool struct {
	mu      sync.Mutex
	once    sync.Once
	workers []*worker

	state   atomic.Uint64
	gen     uint64
	t       task
	n       int64
	next    atomic.Int64 // the next chunk to claim
	waiting atomic.Bool  // the caller blocked on doneCh for the last helper to leave
	doneCh  chan struct{}
	s0      scratch // the calling goroutine's scratch

	// Task storage, so that starting a region allocates nothing: an op fills these under mu.
	gemms [2]gemmTask
	pack  packTask
	multi multiTask
	elem  elemTask
	loss  lossTask
	bp    []float32 // packed op(B) of the NT GEMM in flight
}

var pool workPool

// spinIters counts the iterations of every spin loop of the pool: helpers waiting for work and
// callers waiting for helpers. Iterations, not elapsed time, because on a busy machine a spinning
// thread is often descheduled, and that time costs no CPU.
var spinIters atomic.Int64

var (
	spinCostOnce sync.Once
	spinCost     float64 // CPU time of one spin iteration, in ns
)

// SpinTime estimates the CPU time the CPU backend's goroutines have spent busy-waiting since the
// process started: the spin loops' iteration count times the cost of one iteration, measured once
// (the least of a few timed runs of the same loop). It is CPU time that did no arithmetic;
// benchmarks subtract it from the process's CPU time.
func SpinTime() time.Duration {
	spinCostOnce.Do(func() {
		var x atomic.Uint64
		const n = 1 << 14
		best := time.Hour
		for range 5 {
			t0 := time.Now()
			for i := 1; i <= n; i++ {
				if x.Load() != 0 {
					break
				}
				spinPause()
				if i%64 == 0 && time.Since(t0) > time.Hour {
					break
				}
			}
			best = min(best, time.Since(t0))
		}
		spinCost = float64(best) / n
	})
	return time.Duration(float64(spinIters.Load()) * spinCost)
}

func (p *workPool) start() {
	p.once.Do(func() {
		p.doneCh = make(chan struct{}, 1)
		for range min(runtime.NumCPU()-1, maxHelpers) {
			w := &worker{wake: make(chan struct{}, 1)}
			p.workers = append(p.workers, w)
			go p.loop(w)
		}
	})
}

// loop is a helper: join each region it sees open, claim chunks, leave; between regions spin for
// spinFor, then park until wakeAll.
func (p *workPool) loop(w *worker) {
	var seen uint64 // the latest generation this helper has dealt with
	for {
		s := p.await(w, seen)
		seen = s >> genShift
		if s&closedBit != 0 || !p.state.CompareAndSwap(s, s+1) {
			continue // closed, or closed or replaced while we looked: wait for the next one
		}
		p.claim(&w.s)
		if left := p.state.Add(^uint64(0)); left&(closedBit|0xffffffff) == closedBit && p.waiting.CompareAndSwap(true, false) {
			p.doneCh <- struct{}{} // the last helper out of a closed region, with the caller blocked
		}
	}
}

// await returns the state word once its generation differs from seen: it spins for spinFor, then
// parks until wakeAll wakes it.
//
// The park is race-free because both sides write before they read (Go's atomics are sequentially
// consistent): the helper sets sleeping and then reads state; the caller stores state and then
// clears sleeping. Either the helper sees the new region, or the caller sees sleeping and sends
// exactly one token. If both happen, the helper's own CompareAndSwap fails and it takes the token.
func (p *workPool) await(w *worker, seen uint64) uint64 {
	if s := p.state.Load(); s>>genShift != seen {
		return s
	}
	t0 := time.Now()
	for i := 1; ; i++ {
		if s := p.state.Load(); s>>genShift != seen {
			spinIters.Add(int64(i))
			return s
		}
		spinPause()
		if i%64 == 0 && time.Since(t0) > spinFor {
			spinIters.Add(int64(i))
			break
		}
	}
	for {
		w.sleeping.Store(true)
		if s := p.state.Load(); s>>genShift != seen {
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake
			}
			return s
		}
		<-w.wake
		if s := p.state.Load(); s>>genShift != seen {
			return s
		}
	}
}

// claim runs chunks of the current region until none are left.
func (p *workPool) claim(s *scratch) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.n {
			return
		}
		p.t.run(int(i), s)
	}
}

// participants is how many goroutines a region of n chunks can use: one per core the Go scheduler
// may run at once, never more than the chunks.
func participants(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), runtime.NumCPU(), maxHelpers+1, n))
}

// run runs t's n chunks and returns when all are done. The caller holds p.mu. With serial set (work
// too small to be worth a helper), or one core, the caller runs every chunk itself.
func (p *workPool) run(t task, n int, serial bool) {
	helpers := participants(n) - 1
	if serial || helpers == 0 {
		for i := range n {
			t.run(i, &p.s0)
		}
		return
	}
	p.start()
	p.t, p.n = t, int64(n)
	p.next.Store(0)
	p.gen++
	p.state.Store(p.gen << genShift)
	for _, w := range p.workers[:min(helpers, len(p.workers))] {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.claim(&p.s0)
	// Close the region, then wait for the helpers still inside a chunk: spin, then block until the
	// last one leaves (the same write-then-read handshake as the helpers' park).
	if s := p.state.Or(closedBit) | closedBit; s&0xffffffff != 0 {
		t0 := time.Now()
		i := 1
		for ; p.state.Load()&0xffffffff != 0; i++ {
			spinPause()
			if i%64 == 0 && time.Since(t0) > spinFor {
				p.waiting.Store(true)
				if p.state.Load()&0xffffffff == 0 {
					if !p.waiting.CompareAndSwap(true, false) {
						<-p.doneCh
					}
				} else {
					<-p.doneCh
				}
				break
			}
		}
		spinIters.Add(int64(i))
	}
	p.t = nil
}

// multiTask runs up to four tasks as one region: chunks of ts[0] first, then ts[1], … The tasks must
// be independent (none reads what another writes).
type multiTask struct {
	ts  [4]task
	end [4]int // end[i] is the cumulative chunk count of ts[0..i]
	k   int
}

func (m *multiTask) reset() { m.k = 0 }

func (m *multiTask) add(t task, n int) {
	if n == 0 {
		return
	}
	prev := 0
	if m.k > 0 {
		prev = m.end[m.k-1]
	}
	m.ts[m.k], m.end[m.k] = t, prev+n
	m.k++
}

func (m *multiTask) chunks() int {
	if m.k == 0 {
		return 0
	}
	return m.end[m.k-1]
}

func (m *multiTask) run(i int, s *scratch) {
	prev := 0
	for j := range m.k {
		if i < m.end[j] {
			m.ts[j].run(i-prev, s)
			return
		}
		prev = m.end[j]
	}
}
