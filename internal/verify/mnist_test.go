// mnist_test.go: the real-data check on a trained dltrain checkpoint, and the speed benchmarks.
//
// TestMNIST runs only when DLTRAIN_VERIFY_MODEL names checkpoints (comma-separated; plain safetensors,
// not encrypted): it prints IBP and CROWN certified accuracy on the 10,000 MNIST test images at several
// eps with their times, attacks every image with float64 PGD, and fails if any image is both certified
// and attacked. It is not part of make test. The benchmarks run on the committed test subset with the
// checkpoint if one is named, else with a randomly initialized 784-128-10 relu net.

package verify

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dltrain/dltrain/internal/mnist"
	"github.com/nlpodyssey/safetensors"
)

// loadCheckpoint reads a dltrain checkpoint's weights (fcN.weight (OC, C), fcN.bias (OC)) and its
// architecture and activation from the metadata. It checks shapes but not the checkpoint's hash: that
// is the model package's business; this is a test helper.
func loadCheckpoint(path string) (*Net, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	_, meta, err := safetensors.ReadMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	md := meta.Metadata()
	net := &Net{}
	for _, f := range strings.Split(md["arch"], "-") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad arch %q", path, md["arch"])
		}
		net.Sizes = append(net.Sizes, n)
	}
	switch md["activation"] {
	case "relu":
		net.Act = ReLU
	case "sigmoid":
		net.Act = Sigmoid
	case "tanh":
		net.Act = Tanh
	default:
		return nil, fmt.Errorf("%s: activation %q", path, md["activation"])
	}
	read := func(name string, n int) ([]float32, error) {
		tv, ok := st.Tensor(name)
		if !ok || tv.DType() != safetensors.F32 || len(tv.Data()) != 4*n {
			return nil, fmt.Errorf("%s: tensor %s missing or not %d float32s", path, name, n)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(tv.Data()[4*i:]))
		}
		return v, nil
	}
	for l := range len(net.Sizes) - 1 {
		in, out := net.Sizes[l], net.Sizes[l+1]
		w, err := read(fmt.Sprintf("fc%d.weight", l+1), out*in)
		if err != nil {
			return nil, err
		}
		bias, err := read(fmt.Sprintf("fc%d.bias", l+1), out)
		if err != nil {
			return nil, err
		}
		net.W, net.B = append(net.W, w), append(net.B, bias)
	}
	return net, net.Validate()
}

// dataDir is $DLTRAIN_DATA, else the repository's data folder.
func dataDir() string {
	if d := os.Getenv("DLTRAIN_DATA"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "data")
}

func TestMNIST(t *testing.T) {
	models := os.Getenv("DLTRAIN_VERIFY_MODEL")
	if models == "" {
		t.Skip("set DLTRAIN_VERIFY_MODEL to a checkpoint (and DLTRAIN_DATA to the MNIST folder) to run")
	}
	files, err := mnist.Find(dataDir())
	if err != nil {
		t.Fatal(err)
	}
	test, err := mnist.LoadSet(files.TestImages, files.TestLabels)
	if err != nil {
		t.Fatal(err)
	}
	epss := []float64{0.001, 0.005, 0.01, 0.02}
	if s := os.Getenv("DLTRAIN_VERIFY_EPS"); s != "" {
		epss = nil
		for _, f := range strings.Split(s, ",") {
			e, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			epss = append(epss, e)
		}
	}
	attack := os.Getenv("DLTRAIN_VERIFY_ATTACK") != "0"
	for _, path := range strings.Split(models, ",") {
		net, err := loadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v %v, %d test images, GOMAXPROCS %d", path, net.Sizes, net.Act, test.N, runtime.GOMAXPROCS(0))
		v, err := New(*net, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, eps := range epss {
			line := fmt.Sprintf("eps %-6g", eps)
			var cert [2][]Result
			for m, meth := range []Method{IBP, CROWN} {
				start := time.Now()
				cert[m], err = v.CertifyPixels(test.Images, test.Labels, eps, meth, 0)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, r := range cert[m] {
					if r.Certified {
						n++
					}
				}
				line += fmt.Sprintf("  %v %6.2f%% (%.2fs)", meth, 100*float64(n)/float64(test.N), time.Since(start).Seconds())
			}
			var perClass [10][2]int // CROWN certified, total
			for i, r := range cert[1] {
				y := test.Labels[i]
				perClass[y][1]++
				if r.Certified {
					perClass[y][0]++
				}
			}
			pc := "per class (CROWN):"
			for c := range perClass {
				pc += fmt.Sprintf(" %d:%.1f%%", c, 100*float64(perClass[c][0])/float64(max(1, perClass[c][1])))
			}
			if attack {
				start := time.Now()
				att := attackAll(net, test, eps)
				nAtt, nUnk := 0, 0
				for i, a := range att {
					c := cert[0][i].Certified || cert[1][i].Certified
					if a && c {
						t.Errorf("%s eps %v: image %d is certified and attacked", path, eps, i)
					}
					if a {
						nAtt++
					} else if !c {
						nUnk++
					}
				}
				line += fmt.Sprintf("  PGD attacked %6.2f%%, unknown %5.2f%% (%.1fs)", 100*float64(nAtt)/float64(test.N),
					100*float64(nUnk)/float64(test.N), time.Since(start).Seconds())
			}
			t.Log(line)
			t.Log("    " + pc)
		}
	}
}

// attackAll runs float64 PGD (20 steps from the image, then 20 from a random start) on every test
// image in parallel; image i's random stream depends only on i.
func attackAll(net *Net, s *mnist.Set, eps float64) []bool {
	res := make([]bool, s.N)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < s.N; i += workers {
				x := make([]float32, 784)
				for j, p := range s.Images[i*784 : (i+1)*784] {
					x[j] = float32(p) / 255
				}
				rng := rand.New(rand.NewPCG(uint64(i), 11))
				// The ball is around p/255; float32(p)/255 differs by under 2^-25, far below any eps here, and
				// pgd keeps its points inside [x − eps, x + eps] ∩ [0, 1] of this x, which PixelBall contains
				// up to that difference. A counterexample is checked against the exact ball below.
				adv, ok := pgd(net, x, int(s.Labels[i]), eps, 20, 2, false, rng)
				if ok {
					for j, a := range adv {
						q := float64(s.Images[i*784+j]) / 255
						if a < q-eps-1e-7 || a > q+eps+1e-7 {
							ok = false
						}
					}
				}
				res[i] = ok
			}
		}()
	}
	wg.Wait()
	return res
}

// benchNet is the checkpoint named by DLTRAIN_VERIFY_MODEL, else a 784-128-10 relu net initialized as
// PyTorch's nn.Linear does (uniform in ±1/√fan_in), with a fixed seed.
func benchNet(b *testing.B) *Net {
	if path := strings.Split(os.Getenv("DLTRAIN_VERIFY_MODEL"), ",")[0]; path != "" {
		net, err := loadCheckpoint(path)
		if err != nil {
			b.Fatal(err)
		}
		return net
	}
	rng := rand.New(rand.NewPCG(1, 12))
	net := &Net{Sizes: []int{784, 128, 10}, Act: ReLU}
	for l := range 2 {
		in, out := net.Sizes[l], net.Sizes[l+1]
		k := 1 / math.Sqrt(float64(in))
		w, bias := make([]float32, in*out), make([]float32, out)
		for i := range w {
			w[i] = float32(k * (2*rng.Float64() - 1))
		}
		for i := range bias {
			bias[i] = float32(k * (2*rng.Float64() - 1))
		}
		net.W, net.B = append(net.W, w), append(net.B, bias)
	}
	return net
}

// benchmarkCertify certifies the 1,000 committed test images at eps 0.01 per iteration, on GOMAXPROCS
// workers, and reports the time per image and the projected time for the 10,000 test images.
func benchmarkCertify(b *testing.B, m Method) {
	dir := filepath.Join("..", "..", "testdata", "mnist-subset")
	s, err := mnist.LoadSet(filepath.Join(dir, "test1000-images-idx3-ubyte.gz"), filepath.Join(dir, "test1000-labels-idx1-ubyte.gz"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(*benchNet(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0) // read before b.Loop: the testing package resets it afterwards
	b.ResetTimer()
	certified := 0
	for b.Loop() {
		res, err := v.CertifyPixels(s.Images, s.Labels, 0.01, m, 0)
		if err != nil {
			b.Fatal(err)
		}
		certified = 0
		for _, r := range res {
			if r.Certified {
				certified++
			}
		}
	}
	perImage := b.Elapsed().Seconds() / float64(b.N) / float64(s.N)
	b.ReportMetric(perImage*1e3, "ms/image")
	b.ReportMetric(perImage*1e4, "s/10k-images")
	b.ReportMetric(float64(certified)/float64(s.N)*100, "%certified")
	b.Logf("%v: %.3f ms per image on %d workers, %.1f s projected for 10,000 images; %d/%d certified at eps 0.01",
		m, perImage*1e3, workers, perImage*1e4, certified, s.N)
}

func BenchmarkCertifyIBP(b *testing.B)   { benchmarkCertify(b, IBP) }
func BenchmarkCertifyCROWN(b *testing.B) { benchmarkCertify(b, CROWN) }
