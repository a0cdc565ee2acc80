package kernels

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/ops"
	"github.com/dltrain/dltrain/internal/ops/opstest"
)

// TestEmuAugment runs augment.ptx in the PTX interpreter (emu_test.go) against its CPU twin,
// augment.Gather: a few images (the interpreter runs 784 threads per image, one at a time), affine
// and elastic, the default ranges and strong ones with a narrower Gaussian, a batch offset given as
// start and as start + cursor, epochs 1 and past 2³² (read from device memory). The interpreter's
// float32 arithmetic is IEEE with nothing fused, as the kernel's .rn operations are on a GPU, so the
// values must be identical.
func TestEmuAugment(t *testing.T) {
	rng := opstest.Rand(t)
	set := opstest.RandomSet(rng, 9)
	for i := range set.Images {
		if rng.IntN(3) > 0 {
			set.Images[i] = 0 // mostly blank, as digits are
		}
	}
	order := make([]int32, set.N)
	for i, j := range rng.Perm(set.N) {
		order[i] = int32(j)
	}
	src, err := Source("augment")
	must(t, err)
	inlined, err := inlineCalls(src)
	must(t, err)
	twin := Augment.Twin.(func(x []float32, pix []uint8, order []int32, start, B int, pl *augment.Plan, seed uint64, epoch int))
	strong := augment.Params{Mode: augment.Elastic, Rotation: 40, Scale: 0.3, Shear: 0.5, Translate: 4, Sigma: 2, Alpha: 10}
	affineStrong := augment.Params{Mode: augment.Affine, Rotation: 90, Scale: 0.5, Shear: 1, Translate: 14}
	for _, c := range []struct {
		p                augment.Params
		start, cursor, B int
		epoch            int
	}{
		{augment.Default(augment.Affine), 0, 0, 2, 1},
		{augment.Default(augment.Elastic), 3, 0, 2, 1<<32 + 7},
		{strong, 1, 4, 2, 5},
		{affineStrong, 0, 6, 3, 2},
	} {
		e := newEmu()
		mod, err := parseModule("augment", inlined)
		must(t, err)
		e.modules["augment"] = mod
		pl, err := augment.NewPlan(c.p)
		must(t, err)
		pix, ord := e.bytes(set.Images), e.i32s(order)
		cur := e.i32s([]int32{int32(c.cursor)})
		ep := e.i32s([]int32{int32(uint32(c.epoch))})
		taps := uint64(0)
		if pl.Mode == augment.Elastic {
			taps = e.f32s(pl.Taps)
		}
		curArg := uint64(0)
		if c.cursor != 0 {
			curArg = cur
		}
		seed := rng.Uint64()
		want := make([]float32, c.B*ops.Input)
		twin(want, set.Images, order, c.start+c.cursor, c.B, pl, seed, c.epoch)
		x := e.alloc(4 * len(want))
		f := func(v float32) uint64 { return uint64(math.Float32bits(v)) }
		must(t, e.launchEntry(Augment, c.B, x, pix, ord, uint64(c.start), curArg, uint64(c.B), ep, seed, taps,
			uint64(pl.Radius), f(pl.Rotation), f(pl.Scale), f(pl.Shear), f(pl.Translate), f(pl.Alpha)))
		opstest.Compare(t, fmt.Sprintf("augment %v %+v start %d cursor %d epoch %d seed %d", c.p.Mode, c.p, c.start, c.cursor, c.epoch, seed),
			e.getF32(x, len(want)), want, 0, 0)
	}
}

// The interpreter knows no .func, no call, and no setp with a combining predicate. inlineCalls
// rewrites a module's calls into the function's body, its registers renamed apart for each call site
// (%name_N), arguments and result moved in and out with mov of the declared type, and drops the .func
// definitions; it handles what augment.ptx uses: one result, register or immediate arguments, a body
// of plain statements ending in ret, calls nested in bodies. It also splits each
// setp.CMP.and.TYPE p, a, b, q (p = (a CMP b) and q) into a setp and an and.pred.
var (
	funcRe    = regexp.MustCompile(`(?s)\.func\s*\(\.reg\s+\.(\w+)\s+(%\w+)\)\s*(\w+)\s*\(([^)]*)\)\s*\{\n(.*?)\n\}\n`)
	setpAndRe = regexp.MustCompile(`^(\s*)setp\.(\w+)\.and\.(\w+)\s+(%\w+),\s*([^,]+),\s*([^,]+),\s*(%\w+);`)
	callRe    = regexp.MustCompile(`^(\s*)call\s*\((%\w+)\),\s*(\w+),\s*\(([^)]*)\);`)
	regRe     = regexp.MustCompile(`%\w+`)
)

type ptxFunc struct {
	retType, ret string
	params       [][2]string // type, name
	decls        [][2]string // type, "name, name"
	body         []string
}

func inlineCalls(src string) (string, error) {
	funcs := map[string]*ptxFunc{}
	for _, m := range funcRe.FindAllStringSubmatch(src, -1) {
		f := &ptxFunc{retType: m[1], ret: m[2]}
		for _, p := range strings.Split(m[4], ",") {
			var ty, name string
			if _, err := fmt.Sscanf(strings.TrimSpace(p), ".reg .%s %s", &ty, &name); err != nil {
				return "", fmt.Errorf("%s: parameter %q: %v", m[3], p, err)
			}
			f.params = append(f.params, [2]string{ty, name})
		}
		lines := strings.Split(m[5], "\n")
		for i, l := range lines {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, ".reg"):
				ty, names, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(l, ".reg"), ";"), "%")
				f.decls = append(f.decls, [2]string{strings.TrimSpace(ty), "%" + names})
			case l == "ret;":
				if i != len(lines)-1 {
					return "", fmt.Errorf("%s: ret before the end of the body", m[3])
				}
			case l != "":
				f.body = append(f.body, l)
			}
		}
		funcs[m[3]] = f
	}
	if len(funcs) == 0 {
		return src, nil
	}
	src = funcRe.ReplaceAllString(src, "")
	n := 0
	var expand func(lines []string) ([]string, error)
	expand = func(lines []string) ([]string, error) {
		var out []string
		for _, l := range lines {
			if m := setpAndRe.FindStringSubmatch(l); m != nil {
				n++
				tmp := fmt.Sprintf("%%setpand_%d", n)
				out = append(out, fmt.Sprintf("%s.reg .pred %s;", m[1], tmp),
					fmt.Sprintf("%ssetp.%s.%s %s, %s, %s;", m[1], m[2], m[3], tmp, m[5], strings.TrimSpace(m[6])),
					fmt.Sprintf("%sand.pred %s, %s, %s;", m[1], m[4], tmp, m[7]))
				continue
			}
			m := callRe.FindStringSubmatch(l)
			if m == nil {
				out = append(out, l)
				continue
			}
			f, ok := funcs[m[3]]
			if !ok {
				return nil, fmt.Errorf("call of unknown function %s", m[3])
			}
			args := strings.Split(m[4], ",")
			if len(args) != len(f.params) {
				return nil, fmt.Errorf("call of %s with %d arguments for %d parameters", m[3], len(args), len(f.params))
			}
			n++
			own := map[string]bool{f.ret: true}
			for _, p := range f.params {
				own[p[1]] = true
			}
			for _, d := range f.decls {
				for _, r := range regRe.FindAllString(d[1], -1) {
					own[r] = true
				}
			}
			rename := func(s string) string {
				return regRe.ReplaceAllStringFunc(s, func(r string) string {
					if own[r] {
						return fmt.Sprintf("%s_%d", r, n)
					}
					return r
				})
			}
			ind := m[1]
			mov := func(ty string) string {
				if ty == "f32" {
					return "mov.f32"
				}
				return "mov.b" + strings.TrimLeft(ty, "bsuf")
			}
			out = append(out, fmt.Sprintf("%s.reg .%s %s;", ind, f.retType, rename(f.ret)))
			for _, p := range f.params {
				out = append(out, fmt.Sprintf("%s.reg .%s %s;", ind, p[0], rename(p[1])))
			}
			for _, d := range f.decls {
				out = append(out, fmt.Sprintf("%s.reg %s %s;", ind, d[0], rename(d[1])))
			}
			for i, p := range f.params {
				out = append(out, fmt.Sprintf("%s%s %s, %s;", ind, mov(p[0]), rename(p[1]), strings.TrimSpace(args[i])))
			}
			var body []string
			for _, b := range f.body {
				body = append(body, ind+rename(b))
			}
			body, err := expand(body)
			if err != nil {
				return nil, err
			}
			out = append(out, body...)
			out = append(out, fmt.Sprintf("%s%s %s, %s;", ind, mov(f.retType), m[2], rename(f.ret)))
		}
		return out, nil
	}
	lines, err := expand(strings.Split(src, "\n"))
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}
