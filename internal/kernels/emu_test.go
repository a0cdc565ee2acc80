package kernels

// This file is a PTX interpreter for the subset of PTX that dltrain's kernels use, so that `make test`
// runs every kernel against its CPU twin on a machine without a GPU. It is a test of the kernels'
// logic (indexing, bounds, barriers, shuffles, reductions, special values), not of the driver's JIT,
// the hardware's timing or its memory model: a real GPU run (internal/cuda's tests) stays the
// authority.
//
// What it models, and how strictly:
//   - Threads of a block run one at a time, each until it reaches a synchronization point (bar.sync,
//     a shfl.sync, or its end); then shuffles whose warps have fully arrived are resolved, and a
//     barrier is released once every thread of the block waits at one. A barrier that some threads
//     have left by exiting, a shuffle whose lanes are not all at the same instruction, and a deadlock
//     are errors.
//   - Every launch runs twice, blocks and threads in forward and then in reverse order, on copies of
//     memory; the two results must be the same bytes. A kernel whose result depends on which thread
//     or block runs first (a race) fails that check more often than not.
//   - Global memory is a set of allocations; a load or store outside them, or not aligned to its
//     size, is an error, as is a shared-memory access outside the declared variables. Reading a
//     register no instruction has written is an error.
//   - Arithmetic follows the PTX ISA: .rn operations are IEEE float32 (Go's float32 arithmetic, with
//     explicit conversions so nothing is fused); fma.rn rounds a float64 FMA to float32 (double
//     rounding can differ from the hardware in the last bit, in rare ties); ex2.approx and lg2.approx
//     are computed exactly (the hardware is within 2 ulp); max/min return the non-NaN operand when one
//     is NaN, as the ISA specifies; setp's ordered comparisons are false on NaN, the u-suffixed ones
//     true.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ---- parsing ----

type opKind int

const (
	kReg opKind = iota
	kImm
	kSpecial
	kMem // [base+off]: base a register, a symbol, or none
	kSym // a bare name: a shared variable, a parameter or a label
	kVec // {a, b, ...}
)

type operand struct {
	kind opKind
	reg  int    // kReg; kMem with a register base (else -1)
	imm  uint64 // kImm
	sym  string // kSym; kMem with a symbol base
	off  int64  // kMem
	spec string // kSpecial: "tid.x", ...
	vec  []operand
}

type inst struct {
	line     int
	text     string
	guard    int // predicate register, or -1
	guardNeg bool
	op       string   // first part of the opcode: "add", "ld", ...
	mods     []string // the rest: "rn", "f32", "global", ...
	ty       string   // the last type suffix (f32, u32, b64, pred, ...)
	args     []operand
	target   int // bra: instruction index
}

func (in *inst) has(mod string) bool {
	for _, m := range in.mods {
		if m == mod {
			return true
		}
	}
	return false
}

// typ finds the last type suffix of the opcode (f32, u32, b64, pred, ...).
func (in *inst) typ() string {
	for i := len(in.mods) - 1; i >= 0; i-- {
		if isType(in.mods[i]) {
			return in.mods[i]
		}
	}
	return ""
}

// types are the type suffixes in order (cvt has two: destination, then source).
func (in *inst) types() []string {
	var t []string
	for _, m := range in.mods {
		if isType(m) {
			t = append(t, m)
		}
	}
	return t
}

func isType(s string) bool {
	switch s {
	case "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "b8", "b16", "b32", "b64", "f32", "f64", "pred":
		return true
	}
	return false
}

func typeBytes(t string) int {
	switch t {
	case "u8", "s8", "b8":
		return 1
	case "u16", "s16", "b16":
		return 2
	case "u64", "s64", "b64", "f64":
		return 8
	}
	return 4
}

type sharedVar struct{ off, size int }

type emuKernel struct {
	module, name string
	params       []string
	reqntid      int
	shared       map[string]sharedVar
	sharedSize   int
	regs         map[string]int
	code         []inst
}

var (
	entryRe = regexp.MustCompile(`\.visible\s+\.entry\s+(\w+)\s*\(([^)]*)\)`)
	labelRe = regexp.MustCompile(`^([A-Za-z_$][\w$]*):`)
	arrRe   = regexp.MustCompile(`^(\w+)\[(\d+)\]$`)
)

// sharedBase is where the shared window starts in the emulator's address space, far from the global
// allocations, so that a shared address used for a global access (or the reverse) is caught.
const sharedBase = 0x1000

// parseModule parses every entry of one module.
func parseModule(module, src string) (map[string]*emuKernel, error) {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "//"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	text := strings.Join(lines, "\n")
	lineAt := func(pos int) int { return strings.Count(text[:pos], "\n") + 1 }
	out := map[string]*emuKernel{}
	for _, m := range entryRe.FindAllStringSubmatchIndex(text, -1) {
		k := &emuKernel{module: module, name: text[m[2]:m[3]], shared: map[string]sharedVar{}, regs: map[string]int{}}
		for _, p := range strings.Split(text[m[4]:m[5]], ",") {
			f := strings.Fields(p)
			if len(f) == 0 {
				continue
			}
			k.params = append(k.params, f[len(f)-1])
		}
		open := strings.Index(text[m[1]:], "{") + m[1]
		if r := regexp.MustCompile(`\.reqntid\s+(\d+)`).FindStringSubmatch(text[m[1]:open]); r != nil {
			k.reqntid, _ = strconv.Atoi(r[1])
		}
		depth, end := 0, -1
		for i := open; i < len(text); i++ {
			if text[i] == '{' {
				depth++
			} else if text[i] == '}' {
				depth--
				if depth == 0 {
					end = i
					break
				}
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("%s.ptx: entry %s: no closing brace", module, k.name)
		}
		labels := map[string]int{}
		pos := open + 1
		for pos < end {
			for pos < end && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r') {
				pos++
			}
			if pos >= end {
				break
			}
			if lm := labelRe.FindStringSubmatch(text[pos:end]); lm != nil {
				if _, dup := labels[lm[1]]; dup {
					return nil, fmt.Errorf("%s.ptx:%d: label %s defined twice", module, lineAt(pos), lm[1])
				}
				labels[lm[1]] = len(k.code)
				pos += len(lm[0])
				continue
			}
			semi := strings.Index(text[pos:end], ";")
			if semi < 0 {
				return nil, fmt.Errorf("%s.ptx:%d: statement without ';'", module, lineAt(pos))
			}
			stmt := strings.Join(strings.Fields(text[pos:pos+semi]), " ")
			line := lineAt(pos)
			pos += semi + 1
			if err := k.statement(stmt, line); err != nil {
				return nil, fmt.Errorf("%s.ptx:%d: %q: %v", module, line, stmt, err)
			}
		}
		for i := range k.code {
			in := &k.code[i]
			if in.op == "bra" {
				t, ok := labels[in.args[0].sym]
				if !ok {
					return nil, fmt.Errorf("%s.ptx:%d: no label %s", module, in.line, in.args[0].sym)
				}
				in.target = t
			}
		}
		out[k.name] = k
	}
	return out, nil
}

func (k *emuKernel) reg(name string) (int, error) {
	i, ok := k.regs[name]
	if !ok {
		return 0, fmt.Errorf("undeclared register %s", name)
	}
	return i, nil
}

var specials = map[string]bool{"tid.x": true, "ntid.x": true, "ctaid.x": true, "nctaid.x": true, "laneid": true,
	"tid.y": true, "ntid.y": true, "ctaid.y": true, "nctaid.y": true}

func (k *emuKernel) statement(stmt string, line int) error {
	switch {
	case strings.HasPrefix(stmt, ".reg"):
		f := strings.Fields(strings.ReplaceAll(stmt, ",", " "))
		for _, name := range f[2:] {
			if strings.Contains(name, "<") {
				return fmt.Errorf("register ranges are not supported")
			}
			k.regs[name] = len(k.regs)
		}
		return nil
	case strings.HasPrefix(stmt, ".shared"):
		f := strings.Fields(stmt)
		m := arrRe.FindStringSubmatch(f[len(f)-1])
		if m == nil {
			return fmt.Errorf("shared variables must be arrays")
		}
		n, _ := strconv.Atoi(m[2])
		size := n * typeBytes(strings.TrimPrefix(f[len(f)-2], "."))
		align := 4
		for i, x := range f {
			if x == ".align" {
				align, _ = strconv.Atoi(f[i+1])
			}
		}
		k.sharedSize = (k.sharedSize + align - 1) / align * align
		k.shared[m[1]] = sharedVar{k.sharedSize, size}
		k.sharedSize += size
		return nil
	case strings.HasPrefix(stmt, "."):
		return fmt.Errorf("unsupported directive")
	}
	in := inst{line: line, text: stmt, guard: -1}
	if strings.HasPrefix(stmt, "@") {
		sp := strings.IndexByte(stmt, ' ')
		g := stmt[1:sp]
		if strings.HasPrefix(g, "!") {
			in.guardNeg, g = true, g[1:]
		}
		r, err := k.reg(g)
		if err != nil {
			return err
		}
		in.guard = r
		stmt = stmt[sp+1:]
	}
	opcode, rest, _ := strings.Cut(stmt, " ")
	parts := strings.Split(opcode, ".")
	in.op, in.mods = parts[0], parts[1:]
	in.ty = in.typ()
	for _, a := range splitArgs(rest) {
		o, err := k.operand(a)
		if err != nil {
			return err
		}
		in.args = append(in.args, o)
	}
	k.code = append(k.code, in)
	return nil
}

// splitArgs splits operands at top-level commas (not inside {} or []).
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

func (k *emuKernel) operand(a string) (operand, error) {
	switch {
	case strings.HasPrefix(a, "{"):
		var o operand
		o.kind = kVec
		for _, x := range splitArgs(strings.Trim(a, "{}")) {
			e, err := k.operand(x)
			if err != nil {
				return o, err
			}
			o.vec = append(o.vec, e)
		}
		return o, nil
	case strings.HasPrefix(a, "["):
		inner := strings.ReplaceAll(strings.Trim(a, "[]"), " ", "")
		o := operand{kind: kMem, reg: -1}
		base := inner
		if i := strings.LastIndexAny(inner, "+-"); i > 0 {
			v, err := strconv.ParseInt(inner[i:], 0, 64)
			if err != nil {
				return o, err
			}
			o.off, base = v, inner[:i]
		}
		if strings.HasPrefix(base, "%") {
			r, err := k.reg(base)
			if err != nil {
				return o, err
			}
			o.reg = r
		} else {
			o.sym = base
		}
		return o, nil
	case strings.HasPrefix(a, "%"):
		if specials[a[1:]] {
			return operand{kind: kSpecial, spec: a[1:]}, nil
		}
		r, err := k.reg(a)
		return operand{kind: kReg, reg: r}, err
	case strings.HasPrefix(a, "0f") || strings.HasPrefix(a, "0F"):
		v, err := strconv.ParseUint(a[2:], 16, 32)
		return operand{kind: kImm, imm: v}, err
	case strings.HasPrefix(a, "0d") || strings.HasPrefix(a, "0D"):
		v, err := strconv.ParseUint(a[2:], 16, 64)
		return operand{kind: kImm, imm: v}, err
	case a[0] == '-' || (a[0] >= '0' && a[0] <= '9'):
		v, err := strconv.ParseInt(a, 0, 64)
		if err != nil {
			u, err2 := strconv.ParseUint(a, 0, 64)
			return operand{kind: kImm, imm: u}, err2
		}
		return operand{kind: kImm, imm: uint64(v)}, nil
	}
	return operand{kind: kSym, sym: a}, nil
}

// ---- memory ----

// emu holds the device memory of a test: allocations in a flat arena starting at globalBase.
type emu struct {
	mem     []byte
	allocs  [][2]uint64 // [start, end) in device addresses
	modules map[string]map[string]*emuKernel
	steps   int // instructions executed, all threads
}

const globalBase = 1 << 40

func newEmu() *emu { return &emu{modules: map[string]map[string]*emuKernel{}} }

// alloc returns the device address of n fresh bytes, 256-byte aligned, filled with 0xFF (NaN as
// float32) so that a kernel reading memory nobody wrote sees poison.
func (e *emu) alloc(n int) uint64 {
	start := (len(e.mem) + 255) &^ 255
	for len(e.mem) < start+n {
		e.mem = append(e.mem, 0xFF)
	}
	a := uint64(globalBase + start)
	e.allocs = append(e.allocs, [2]uint64{a, a + uint64(n)})
	return a
}

func (e *emu) f32s(v []float32) uint64 {
	p := e.alloc(4 * max(len(v), 1))
	e.putF32(p, v)
	return p
}

func (e *emu) putF32(p uint64, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(e.mem[p-globalBase+uint64(4*i):], math.Float32bits(x))
	}
}

func (e *emu) getF32(p uint64, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(e.mem[p-globalBase+uint64(4*i):]))
	}
	return v
}

func (e *emu) bytes(v []byte) uint64 {
	p := e.alloc(max(len(v), 1))
	copy(e.mem[p-globalBase:], v)
	return p
}

func (e *emu) i32s(v []int32) uint64 {
	p := e.alloc(4 * max(len(v), 1))
	for i, x := range v {
		binary.LittleEndian.PutUint32(e.mem[p-globalBase+uint64(4*i):], uint32(x))
	}
	return p
}

func (e *emu) u32(p uint64) uint32 { return binary.LittleEndian.Uint32(e.mem[p-globalBase:]) }

// check reports whether [a, a+n) lies inside one allocation and a is aligned to n.
func (e *emu) check(a uint64, n int) error {
	if a%uint64(n) != 0 {
		return fmt.Errorf("global access of %d bytes at 0x%x is misaligned", n, a)
	}
	i := sort.Search(len(e.allocs), func(i int) bool { return e.allocs[i][1] > a })
	if i == len(e.allocs) || a < e.allocs[i][0] || a+uint64(n) > e.allocs[i][1] {
		return fmt.Errorf("global access of %d bytes at 0x%x is outside every allocation", n, a)
	}
	return nil
}

// ---- execution ----

type state int

const (
	running state = iota
	atBarrier
	atShuffle
	exited
)

type thread struct {
	tid, lane int
	regs      []uint64
	def       []bool
	pc        int
	st        state
	shflVal   uint64 // the value this lane offers to a pending shuffle
}

// launch runs kernel name of module over grid blocks of block threads with the given 64-bit
// arguments, twice (forward and reverse order) on copies of memory, and keeps the first run's
// memory; it fails if the two runs differ or either one breaks a rule.
func (e *emu) launch(module, name string, grid, block int, args ...uint64) error {
	mod, ok := e.modules[module]
	if !ok {
		src, err := Source(module)
		if err != nil {
			return err
		}
		if mod, err = parseModule(module, src); err != nil {
			return err
		}
		e.modules[module] = mod
	}
	k, ok := mod[name]
	if !ok {
		return fmt.Errorf("%s.ptx has no entry %s", module, name)
	}
	if len(args) != len(k.params) {
		return fmt.Errorf("%s: %d arguments for %d parameters", name, len(args), len(k.params))
	}
	if k.reqntid > 0 && block != k.reqntid {
		return fmt.Errorf("%s: launched with %d threads, .reqntid %d", name, block, k.reqntid)
	}
	if block < 1 || block > 1024 || grid < 1 {
		return fmt.Errorf("%s: launch of %d×%d", name, grid, block)
	}
	params := map[string]uint64{}
	for i, p := range k.params {
		params[p] = args[i]
	}
	orig := append([]byte(nil), e.mem...)
	for b := range grid {
		if err := e.block(k, params, b, grid, block, false); err != nil {
			return err
		}
	}
	fwd := e.mem
	e.mem = orig
	for b := grid - 1; b >= 0; b-- {
		if err := e.block(k, params, b, grid, block, true); err != nil {
			return fmt.Errorf("%v (reverse order)", err)
		}
	}
	if !bytes.Equal(fwd, e.mem) {
		i := 0
		for fwd[i] == e.mem[i] {
			i++
		}
		return fmt.Errorf("%s: the result depends on the order blocks and threads run in (first difference at 0x%x): a race", name, globalBase+i&^3)
	}
	e.mem = fwd
	return nil
}

type blockRun struct {
	e       *emu
	k       *emuKernel
	params  map[string]uint64
	ctaid   int
	nctaid  int
	ntid    int
	shared  []byte
	threads []*thread
}

func (e *emu) block(k *emuKernel, params map[string]uint64, ctaid, nctaid, ntid int, reverse bool) error {
	br := &blockRun{e: e, k: k, params: params, ctaid: ctaid, nctaid: nctaid, ntid: ntid, shared: make([]byte, k.sharedSize)}
	for i := range br.shared {
		br.shared[i] = 0xFF
	}
	for t := range ntid {
		br.threads = append(br.threads, &thread{tid: t, lane: t % 32, regs: make([]uint64, len(k.regs)), def: make([]bool, len(k.regs))})
	}
	order := make([]*thread, ntid)
	copy(order, br.threads)
	if reverse {
		for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
			order[i], order[j] = order[j], order[i]
		}
	}
	for {
		for _, t := range order {
			if t.st == running {
				if err := br.run(t); err != nil {
					return fmt.Errorf("%s block %d thread %d: %v", k.name, ctaid, t.tid, err)
				}
			}
		}
		progress, err := br.shuffles()
		if err != nil {
			return err
		}
		if progress {
			continue
		}
		waiting, done := 0, 0
		for _, t := range br.threads {
			switch t.st {
			case atBarrier:
				waiting++
			case exited:
				done++
			}
		}
		if done == ntid {
			return nil
		}
		if waiting > 0 && waiting+done == ntid {
			if done > 0 {
				return fmt.Errorf("%s block %d: %d threads wait at a barrier that %d exited threads never reach", k.name, ctaid, waiting, done)
			}
			for _, t := range br.threads {
				t.st = running
				t.pc++
			}
			continue
		}
		return fmt.Errorf("%s block %d: deadlock (%d at barriers, %d exited, the rest at shuffles that cannot complete)", k.name, ctaid, waiting, done)
	}
}

// shuffles resolves every warp whose lanes all wait at a shuffle.
func (br *blockRun) shuffles() (bool, error) {
	progress := false
	for w := 0; w*32 < br.ntid; w++ {
		lanes := br.threads[w*32 : min(w*32+32, br.ntid)]
		n := 0
		for _, t := range lanes {
			if t.st == atShuffle {
				n++
			}
		}
		if n == 0 {
			continue
		}
		if n < len(lanes) {
			// Some lanes are elsewhere: wait unless they can never come (exited or at a barrier while
			// the block is otherwise stuck; the caller reports that as a deadlock).
			for _, t := range lanes {
				if t.st == exited {
					return false, fmt.Errorf("%s block %d warp %d: a full-mask shuffle with exited lanes", br.k.name, br.ctaid, w)
				}
			}
			continue
		}
		if len(lanes) < 32 {
			return false, fmt.Errorf("%s block %d: a full-mask shuffle in a partial warp", br.k.name, br.ctaid)
		}
		pc := lanes[0].pc
		for _, t := range lanes {
			if t.pc != pc {
				return false, fmt.Errorf("%s block %d warp %d: lanes at different shuffles (lines %d and %d)", br.k.name, br.ctaid, w, br.k.code[pc].line, br.k.code[t.pc].line)
			}
		}
		in := &br.k.code[pc]
		mode := in.mods[1]
		res := make([]uint64, 32)
		for _, t := range lanes {
			b, err := br.val(t, in.args[2])
			if err != nil {
				return false, err
			}
			c, err := br.val(t, in.args[3])
			if err != nil {
				return false, err
			}
			mask, err := br.val(t, in.args[4])
			if err != nil {
				return false, err
			}
			if uint32(mask) != 0xffffffff {
				return false, fmt.Errorf("%s.ptx:%d: only full-mask shuffles are modelled", br.k.module, in.line)
			}
			lane, bv, cv := uint32(t.lane), uint32(b)&31, uint32(c)&31
			seg := (uint32(c) >> 8) & 31
			maxLane := (lane & seg) | (cv &^ seg)
			minLane := lane & seg
			var j uint32
			ok := true
			switch mode {
			case "bfly":
				j = lane ^ bv
				ok = j <= maxLane
			case "down":
				j = lane + bv
				ok = j <= maxLane
			case "up":
				j = lane - bv
				ok = int32(j) >= int32(minLane)
			case "idx":
				j = minLane | (bv &^ seg)
				ok = j <= maxLane
			default:
				return false, fmt.Errorf("shfl mode %s", mode)
			}
			if !ok {
				j = lane
			}
			res[t.lane] = lanes[j].shflVal
		}
		for _, t := range lanes {
			t.regs[in.args[0].reg], t.def[in.args[0].reg] = res[t.lane], true
			t.st = running
			t.pc++
		}
		progress = true
	}
	return progress, nil
}

func (br *blockRun) val(t *thread, o operand) (uint64, error) {
	switch o.kind {
	case kReg:
		if !t.def[o.reg] {
			return 0, fmt.Errorf("read of a register never written")
		}
		return t.regs[o.reg], nil
	case kImm:
		return o.imm, nil
	case kSpecial:
		switch o.spec {
		case "tid.x":
			return uint64(t.tid), nil
		case "ntid.x":
			return uint64(br.ntid), nil
		case "ctaid.x":
			return uint64(br.ctaid), nil
		case "nctaid.x":
			return uint64(br.nctaid), nil
		case "laneid":
			return uint64(t.lane), nil
		case "tid.y", "ctaid.y":
			return 0, nil
		case "ntid.y", "nctaid.y":
			return 1, nil
		}
	case kSym:
		if v, ok := br.k.shared[o.sym]; ok {
			return uint64(sharedBase + v.off), nil
		}
	}
	return 0, fmt.Errorf("cannot read operand %+v", o)
}

// addr resolves a memory operand to an address and, for shared memory, checks it.
func (br *blockRun) addr(t *thread, o operand, space string, n int) (uint64, error) {
	if o.kind != kMem {
		return 0, fmt.Errorf("not a memory operand")
	}
	var a uint64
	if o.reg >= 0 {
		if !t.def[o.reg] {
			return 0, fmt.Errorf("address from a register never written")
		}
		a = t.regs[o.reg]
	} else if v, ok := br.k.shared[o.sym]; ok {
		a = uint64(sharedBase + v.off)
	} else {
		return 0, fmt.Errorf("unknown symbol %s", o.sym)
	}
	a += uint64(o.off)
	switch space {
	case "shared":
		if a%uint64(n) != 0 {
			return 0, fmt.Errorf("shared access of %d bytes at 0x%x is misaligned", n, a)
		}
		if a < sharedBase || a+uint64(n) > uint64(sharedBase+br.k.sharedSize) {
			return 0, fmt.Errorf("shared access of %d bytes at 0x%x is outside the shared variables", n, a)
		}
		return a, nil
	case "global":
		return a, br.e.check(a, n)
	}
	return 0, fmt.Errorf("address space %q", space)
}

func (br *blockRun) load(space string, a uint64, n int) uint64 {
	var b []byte
	if space == "shared" {
		b = br.shared[a-sharedBase:]
	} else {
		b = br.e.mem[a-globalBase:]
	}
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

func (br *blockRun) store(space string, a uint64, n int, v uint64) {
	var b []byte
	if space == "shared" {
		b = br.shared[a-sharedBase:]
	} else {
		b = br.e.mem[a-globalBase:]
	}
	switch n {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

func f32(v uint64) float32  { return math.Float32frombits(uint32(v)) }
func bits(f float32) uint64 { return uint64(math.Float32bits(f)) }

// signExtend interprets the low bits of v as a signed integer of type t.
func signExtend(v uint64, t string) int64 {
	switch t {
	case "s8":
		return int64(int8(v))
	case "s16":
		return int64(int16(v))
	case "s32":
		return int64(int32(v))
	}
	return int64(v)
}

func mask(v uint64, t string) uint64 {
	switch typeBytes(t) {
	case 1:
		return v & 0xFF
	case 2:
		return v & 0xFFFF
	case 4:
		return v & 0xFFFFFFFF
	}
	return v
}

// fmax is PTX's max.f32: the non-NaN operand when one is NaN; between zeros of opposite sign, +0.
func fmax(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a == 0 && b == 0:
		if math.Signbit(float64(a)) {
			return b
		}
		return a
	case a > b:
		return a
	}
	return b
}

func fmin(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a == 0 && b == 0:
		if math.Signbit(float64(a)) {
			return a
		}
		return b
	case a < b:
		return a
	}
	return b
}

func compareF(cmp string, a, b float32) (bool, error) {
	nan := a != a || b != b
	switch cmp {
	case "eq":
		return !nan && a == b, nil
	case "ne":
		return !nan && a != b, nil
	case "lt":
		return !nan && a < b, nil
	case "le":
		return !nan && a <= b, nil
	case "gt":
		return !nan && a > b, nil
	case "ge":
		return !nan && a >= b, nil
	case "equ":
		return nan || a == b, nil
	case "neu":
		return nan || a != b, nil
	case "ltu":
		return nan || a < b, nil
	case "leu":
		return nan || a <= b, nil
	case "gtu":
		return nan || a > b, nil
	case "geu":
		return nan || a >= b, nil
	case "num":
		return !nan, nil
	case "nan":
		return nan, nil
	}
	return false, fmt.Errorf("comparison %s", cmp)
}

func compareI(cmp string, a, b uint64, t string) (bool, error) {
	if t[0] == 's' {
		x, y := signExtend(a, t), signExtend(b, t)
		switch cmp {
		case "eq":
			return x == y, nil
		case "ne":
			return x != y, nil
		case "lt":
			return x < y, nil
		case "le":
			return x <= y, nil
		case "gt":
			return x > y, nil
		case "ge":
			return x >= y, nil
		}
		return false, fmt.Errorf("comparison %s.%s", cmp, t)
	}
	x, y := mask(a, t), mask(b, t)
	switch cmp {
	case "eq":
		return x == y, nil
	case "ne":
		return x != y, nil
	case "lt", "lo":
		return x < y, nil
	case "le", "ls":
		return x <= y, nil
	case "gt", "hi":
		return x > y, nil
	case "ge", "hs":
		return x >= y, nil
	}
	return false, fmt.Errorf("comparison %s.%s", cmp, t)
}

// run executes t until it blocks or exits.
func (br *blockRun) run(t *thread) error {
	code := br.k.code
	for {
		if t.pc >= len(code) {
			t.st = exited
			return nil
		}
		in := &code[t.pc]
		br.e.steps++
		if br.e.steps > 2e9 {
			return fmt.Errorf("more than 2e9 instructions: an endless loop?")
		}
		if in.guard >= 0 {
			if !t.def[in.guard] {
				return fmt.Errorf("%s.ptx:%d: guard predicate never written", br.k.module, in.line)
			}
			if (t.regs[in.guard] != 0) == in.guardNeg {
				t.pc++
				continue
			}
		}
		switch in.op {
		case "bra":
			t.pc = in.target
			continue
		case "ret", "exit":
			t.st = exited
			return nil
		case "bar":
			if !in.has("sync") && !in.has("cta") {
				return fmt.Errorf("%s.ptx:%d: only bar.sync is modelled", br.k.module, in.line)
			}
			t.st = atBarrier
			return nil
		case "shfl":
			v, err := br.val(t, in.args[1])
			if err != nil {
				return fmt.Errorf("%s.ptx:%d: %v", br.k.module, in.line, err)
			}
			t.shflVal = v
			t.st = atShuffle
			return nil
		}
		if err := br.exec(t, in); err != nil {
			return fmt.Errorf("%s.ptx:%d: %s: %v", br.k.module, in.line, in.text, err)
		}
		t.pc++
	}
}

func (br *blockRun) set(t *thread, o operand, v uint64) error {
	if o.kind != kReg {
		return fmt.Errorf("destination is not a register")
	}
	t.regs[o.reg], t.def[o.reg] = v, true
	return nil
}

// exec runs one instruction that neither branches nor synchronizes.
func (br *blockRun) exec(t *thread, in *inst) error {
	ty := in.ty
	args := in.args
	switch in.op {
	case "ld", "st":
		space := "global"
		if in.has("shared") {
			space = "shared"
		} else if in.has("param") {
			if in.op != "ld" || args[1].kind != kMem || args[1].reg >= 0 {
				return fmt.Errorf("bad parameter access")
			}
			v, ok := br.params[args[1].sym]
			if !ok {
				return fmt.Errorf("no parameter %s", args[1].sym)
			}
			return br.set(t, args[0], v)
		}
		n := typeBytes(ty)
		vec := 1
		if in.has("v2") {
			vec = 2
		} else if in.has("v4") {
			vec = 4
		}
		mem, data := args[1], args[0]
		if in.op == "st" {
			mem, data = args[0], args[1]
		}
		a, err := br.addr(t, mem, space, n*vec)
		if err != nil {
			return err
		}
		regs := []operand{data}
		if vec > 1 {
			if data.kind != kVec || len(data.vec) != vec {
				return fmt.Errorf("vector access needs %d registers", vec)
			}
			regs = data.vec
		}
		for i, r := range regs {
			ai := a + uint64(i*n)
			if in.op == "ld" {
				v := br.load(space, ai, n)
				if ty[0] == 's' {
					v = uint64(signExtend(v, ty))
				}
				if err := br.set(t, r, v); err != nil {
					return err
				}
			} else {
				v, err := br.val(t, r)
				if err != nil {
					return err
				}
				br.store(space, ai, n, v)
			}
		}
		return nil
	case "atom":
		if !in.has("global") || !in.has("add") || ty != "u32" {
			return fmt.Errorf("only atom.global.add.u32 is modelled")
		}
		a, err := br.addr(t, args[1], "global", 4)
		if err != nil {
			return err
		}
		b, err := br.val(t, args[2])
		if err != nil {
			return err
		}
		old := br.load("global", a, 4)
		br.store("global", a, 4, uint64(uint32(old)+uint32(b)))
		return br.set(t, args[0], old)
	case "membar", "fence":
		return nil
	case "cvta":
		v, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		return br.set(t, args[0], v)
	case "mov":
		v, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		return br.set(t, args[0], mask(v, ty))
	case "selp":
		a, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		b, err := br.val(t, args[2])
		if err != nil {
			return err
		}
		p, err := br.val(t, args[3])
		if err != nil {
			return err
		}
		if p != 0 {
			return br.set(t, args[0], a)
		}
		return br.set(t, args[0], b)
	case "setp":
		a, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		b, err := br.val(t, args[2])
		if err != nil {
			return err
		}
		var r bool
		if ty == "f32" {
			r, err = compareF(in.mods[0], f32(a), f32(b))
		} else {
			r, err = compareI(in.mods[0], a, b, ty)
		}
		if err != nil {
			return err
		}
		if len(args) > 3 {
			return fmt.Errorf("setp with a combining predicate is not modelled")
		}
		v := uint64(0)
		if r {
			v = 1
		}
		return br.set(t, args[0], v)
	case "cvt":
		tys := in.types()
		v, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		dst, from := tys[0], tys[1]
		switch {
		case dst == "f32" && from == "f32":
			// With an integer rounding (augment.ptx's floor is cvt.rmi.f32.f32) the value is
			// rounded to an integer in float32; without one it is a copy.
			x := float64(f32(v))
			switch {
			case in.has("rmi"):
				x = math.Floor(x)
			case in.has("rpi"):
				x = math.Ceil(x)
			case in.has("rzi"):
				x = math.Trunc(x)
			case in.has("rni"):
				x = math.RoundToEven(x)
			default:
				return br.set(t, args[0], v)
			}
			return br.set(t, args[0], bits(float32(x)))
		case dst == "f32" && from[0] == 'u':
			if !in.has("rn") {
				return fmt.Errorf("only cvt.rn to f32 is modelled")
			}
			return br.set(t, args[0], bits(float32(mask(v, from))))
		case dst == "f32" && from[0] == 's':
			if !in.has("rn") {
				return fmt.Errorf("only cvt.rn to f32 is modelled")
			}
			return br.set(t, args[0], bits(float32(signExtend(v, from))))
		case from == "f32" && (dst == "s32" || dst == "u32"):
			// Rounded as the modifier says, NaN to 0, saturated to the destination's range, as the
			// ISA specifies for float-to-integer conversions.
			x := float64(f32(v))
			switch {
			case in.has("rmi"):
				x = math.Floor(x)
			case in.has("rpi"):
				x = math.Ceil(x)
			case in.has("rzi"):
				x = math.Trunc(x)
			case in.has("rni"):
				x = math.RoundToEven(x)
			default:
				return fmt.Errorf("cvt.%s.f32 needs an integer rounding (rzi, rni, rmi, rpi)", dst)
			}
			lo, hi := float64(math.MinInt32), float64(math.MaxInt32)
			if dst == "u32" {
				lo, hi = 0, math.MaxUint32
			}
			switch {
			case math.IsNaN(x):
				x = 0
			case x < lo:
				x = lo
			case x > hi:
				x = hi
			}
			if dst == "s32" {
				return br.set(t, args[0], mask(uint64(int64(x)), dst))
			}
			return br.set(t, args[0], uint64(x))
		case from == "f32":
			return fmt.Errorf("float-to-integer cvt to %s is not modelled", dst)
		case dst[0] == 's' || dst[0] == 'u' || dst[0] == 'b':
			if from[0] == 's' {
				v = uint64(signExtend(v, from))
			} else {
				v = mask(v, from)
			}
			return br.set(t, args[0], mask(v, dst))
		}
		return fmt.Errorf("cvt.%s.%s is not modelled", dst, from)
	}

	if ty == "pred" {
		a, err := br.val(t, args[1])
		if err != nil {
			return err
		}
		switch in.op {
		case "not":
			return br.set(t, args[0], a^1)
		}
		b, err := br.val(t, args[2])
		if err != nil {
			return err
		}
		switch in.op {
		case "and":
			return br.set(t, args[0], a&b)
		case "or":
			return br.set(t, args[0], a|b)
		case "xor":
			return br.set(t, args[0], a^b)
		}
		return fmt.Errorf("pred op %s", in.op)
	}

	if ty == "f32" {
		return br.float(t, in)
	}
	return br.integer(t, in, ty)
}

func (br *blockRun) float(t *thread, in *inst) error {
	args := in.args
	var x [3]float32
	for i := 1; i < len(args) && i <= 3; i++ {
		v, err := br.val(t, args[i])
		if err != nil {
			return err
		}
		x[i-1] = f32(v)
	}
	a, b, c := x[0], x[1], x[2]
	rn := in.has("rn")
	if in.has("ftz") || in.has("sat") {
		return fmt.Errorf(".ftz and .sat are not modelled")
	}
	var r float32
	switch in.op {
	case "add":
		r = float32(a + b)
	case "sub":
		r = float32(a - b)
	case "mul":
		r = float32(a * b)
	case "fma":
		r = float32(math.FMA(float64(a), float64(b), float64(c)))
	case "div":
		if !rn && !in.has("full") && !in.has("approx") {
			return fmt.Errorf("div.f32 needs a rounding mode")
		}
		r = float32(a / b)
	case "rcp":
		r = float32(1 / a)
	case "sqrt":
		r = float32(math.Sqrt(float64(a)))
	case "ex2":
		r = float32(math.Exp2(float64(a)))
	case "lg2":
		r = float32(math.Log2(float64(a)))
	case "max":
		r = fmax(a, b)
	case "min":
		r = fmin(a, b)
	case "neg":
		r = -a
	case "abs":
		r = float32(math.Abs(float64(a)))
	default:
		return fmt.Errorf("f32 op %s is not modelled", in.op)
	}
	switch in.op {
	case "add", "sub", "mul", "fma":
		if !rn {
			return fmt.Errorf("%s.f32 without .rn may be fused by the compiler; the kernels always say .rn", in.op)
		}
	}
	return br.set(t, args[0], bits(r))
}

func (br *blockRun) integer(t *thread, in *inst, ty string) error {
	args := in.args
	var x [3]uint64
	for i := 1; i < len(args) && i <= 3; i++ {
		v, err := br.val(t, args[i])
		if err != nil {
			return err
		}
		x[i-1] = v
	}
	a, b, c := x[0], x[1], x[2]
	signed := ty[0] == 's'
	wide := in.has("wide")
	var r uint64
	switch in.op {
	case "add":
		r = a + b
	case "sub":
		r = a - b
	case "mul", "mad":
		switch {
		case wide && signed:
			r = uint64(signExtend(a, ty) * signExtend(b, ty))
		case wide:
			r = mask(a, ty) * mask(b, ty)
		case in.has("lo"):
			r = a * b
		case in.has("hi"):
			if typeBytes(ty) != 4 || signed {
				return fmt.Errorf("mul.hi is modelled for u32 only")
			}
			r = (mask(a, ty) * mask(b, ty)) >> 32
		default:
			return fmt.Errorf("mul needs .lo, .hi or .wide")
		}
		if in.op == "mad" {
			r += c
		}
		if wide {
			return br.set(t, args[0], r)
		}
	case "div", "rem":
		if mask(b, ty) == 0 {
			return fmt.Errorf("integer division by zero")
		}
		if signed {
			x, y := signExtend(a, ty), signExtend(b, ty)
			if in.op == "div" {
				r = uint64(x / y)
			} else {
				r = uint64(x % y)
			}
		} else if in.op == "div" {
			r = mask(a, ty) / mask(b, ty)
		} else {
			r = mask(a, ty) % mask(b, ty)
		}
	case "min", "max":
		less := mask(a, ty) < mask(b, ty)
		if signed {
			less = signExtend(a, ty) < signExtend(b, ty)
		}
		if less == (in.op == "min") {
			r = a
		} else {
			r = b
		}
	case "and":
		r = a & b
	case "or":
		r = a | b
	case "xor":
		r = a ^ b
	case "not":
		r = ^a
	case "neg":
		r = -a
	case "abs":
		if !signed {
			return fmt.Errorf("abs.%s: abs is signed", ty)
		}
		if x := signExtend(a, ty); x < 0 {
			r = uint64(-x)
		} else {
			r = uint64(x)
		}
	case "shl":
		if b >= uint64(8*typeBytes(ty)) {
			r = 0
		} else {
			r = a << b
		}
	case "shr":
		n := uint64(8 * typeBytes(ty))
		switch {
		case signed && b >= n:
			r = uint64(signExtend(a, ty) >> (n - 1))
		case signed:
			r = uint64(signExtend(a, ty) >> b)
		case b >= n:
			r = 0
		default:
			r = mask(a, ty) >> b
		}
	default:
		return fmt.Errorf("integer op %s.%s is not modelled", in.op, ty)
	}
	return br.set(t, args[0], mask(r, ty))
}

// launchEntry launches e the way internal/cuda's launcher does: e.Grid(n) blocks of e.Block threads.
func (e *emu) launchEntry(en Entry, n int, args ...uint64) error {
	g := en.Grid(n)
	if g == 0 {
		return nil
	}
	return e.launch(en.Module, en.Name, g, en.Block, args...)
}
