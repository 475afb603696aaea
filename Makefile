# wspush: build, test, fuzz, benchmark.
#
#   make test       install what the tests need, then vet, race tests, the JS SDK tests, fuzz smoke
#   make fuzz       every fuzz target for FUZZTIME each (default 2m)
#   make bench      micro-benchmarks, the idle-memory benchmark and the
#                   wspush bench suite (bench-suite) against local servers
#   make lint       gofmt, go vet, staticcheck
#   make autobahn   Autobahn fuzzing client against serve --echo (docs/conformance.md)

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 2m
SMOKETIME ?= 10s
STATICCHECK_VERSION ?= v0.6.1

FUZZ_TARGETS := $(shell grep -ho '^func Fuzz[A-Za-z0-9_]*' frame/*_test.go 2>/dev/null | sed 's/^func //')

.PHONY: build test deps vet race client-test fuzz-smoke fuzz bench bench-suite lint autobahn clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o wspush .

# deps installs, idempotently, what the tests need beyond Go: Debian's
# python3-websockets (a WebSocket client nobody here wrote), chromium
# (the SDK's browser test) and nginx (wss:// in front of wspush,
# deploy_test.go), and the npm packages of client/ (Node's ws,
# playwright-core, which drives that chromium and downloads no browser;
# typescript and miniprogram-api-typings for the SDK's typings) and of
# client/test/h5 (the uni-app and Taro H5 runtimes and esbuild, about
# 300 MB, kept apart from client/'s own). prometheus brings promtool,
# which checks docs/deploy/prometheus's rules and a node's /metrics
# (server/alerts_test.go); it is installed without its recommends (the
# node exporter), as DEB_LEAN lists. fonts-wqy-microhei (5 MB) lets
# chromium draw the console's Simplified Chinese in its screenshots.
# apt-get update runs once, and only when a package is missing.
DEB_PACKAGES := python3-websockets chromium nginx redis-server prometheus fonts-wqy-microhei
DEB_LEAN     := prometheus
deps:
	@missing=""; lean=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 && continue; \
		case " $(DEB_LEAN) " in *" $$p "*) lean="$$lean $$p";; *) missing="$$missing $$p";; esac; done; \
	if [ -n "$$missing$$lean" ]; then \
		echo "installing:$$missing$$lean"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq || exit 1; \
		if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; fi; \
		if [ -n "$$lean" ]; then DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$lean >/dev/null || exit 1; fi; \
	fi
	@if [ ! -d client/node_modules/ws ] || [ ! -d client/node_modules/playwright-core ] || [ ! -d client/node_modules/typescript ] || [ ! -d client/node_modules/miniprogram-api-typings ] || [ client/package-lock.json -nt client/node_modules/.package-lock.json ]; then \
		cd client && npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@if [ ! -d client/test/h5/node_modules/@dcloudio/uni-h5 ] || [ ! -d client/test/h5/node_modules/@tarojs/taro-h5 ] || [ client/test/h5/package-lock.json -nt client/test/h5/node_modules/.package-lock.json ]; then \
		cd client/test/h5 && npm ci --no-audit --no-fund --loglevel=error; \
	fi
	$(GO) mod download

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./...

# The race pass skips the load and fault tests (-short); they run without the race
# detector, which would make them ten times slower. The push path's allocation count
# runs there too: the race detector's instrumentation allocates.
race:
	$(GO) test -race -shuffle=on -count=1 -short ./...
	$(GO) test -count=1 -run '^(TestLoad|TestFaults|TestAPIPushAllocations)' ./server/ ./server/internal/engine/ ./server/internal/redistest/

fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(SMOKETIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(SMOKETIME) ./frame/ || exit 1; \
	done

# client-test runs the JavaScript SDK's tests (client/README.md): unit
# tests, the SDK against a real wspush serve, and the demo in chromium.
client-test:
	cd client && npm test

test: deps vet race client-test fuzz-smoke

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./frame/ || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./frame/
	$(GO) test -run '^$$' -bench BenchmarkIdleMemory -benchtime 1x ./server/
	$(MAKE) bench-suite

# bench-suite runs wspush bench against two local servers (serve, serve
# --echo): idle with BENCH_CONNS connections over 2 worker processes,
# connect, echo, push and broadcast to BENCH_CONNS. Every step is bounded in
# time; the JSON results go to BENCH_OUT (docs/benchmarks.md).
BENCH_CONNS ?= 10000
BENCH_OUT   ?= /tmp/wspush-bench
bench-suite: build
	WSPUSH=./wspush CONNS=$(BENCH_CONNS) OUT=$(BENCH_OUT) bash bench/suite.sh

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# autobahn needs the Python 3 port of the suite checked out in AUTOBAHN_DIR
# (see docs/conformance.md); it is never part of this repository. It runs
# every case, compression (sections 12 and 13) included, under pypy3 when
# there is one (6 times faster there), with AUTOBAHN_PYTHONPATH in front of
# its path (Debian's packages without the CPython-only ones, see
# docs/conformance.md); /usr/bin/python3 otherwise. Bounded to 30 minutes.
AUTOBAHN_DIR ?= /tmp/autobahn/suite
AUTOBAHN_OUT ?= /tmp/autobahn/out-wspush
AUTOBAHN_PORT ?= 9301
AUTOBAHN_PYTHON ?= $(shell command -v pypy3 >/dev/null 2>&1 && echo pypy3 || echo /usr/bin/python3)
AUTOBAHN_PYTHONPATH ?= /tmp/autobahn/pypath
AUTOBAHN_EXCLUDE ?= []
autobahn: build
	@test -d $(AUTOBAHN_DIR)/autobahntestsuite || { echo "no Autobahn checkout in $(AUTOBAHN_DIR): see docs/conformance.md"; exit 1; }
	./wspush serve --echo --addr 127.0.0.1:$(AUTOBAHN_PORT) --max-message 16777216 --max-pending 67108864 --log-level warn & pid=$$!; \
	trap "kill $$pid" EXIT; sleep 0.5; \
	mkdir -p $(AUTOBAHN_OUT); \
	printf '{"outdir":"%s","servers":[{"agent":"wspush","url":"ws://127.0.0.1:%s/ws"}],"cases":["*"],"exclude-cases":%s}\n' $(AUTOBAHN_OUT) $(AUTOBAHN_PORT) '$(AUTOBAHN_EXCLUDE)' > $(AUTOBAHN_OUT)/spec.json; \
	cd $(AUTOBAHN_DIR)/autobahntestsuite && PYTHONPATH=$(AUTOBAHN_PYTHONPATH) timeout 1800 $(AUTOBAHN_PYTHON) -c 'import sys; sys.argv[0]="wstest"; from autobahntestsuite.wstest import run; run()' -m fuzzingclient -s $(AUTOBAHN_OUT)/spec.json >/dev/null; \
	/usr/bin/python3 -c 'import json,collections,sys; d=json.load(open(sys.argv[1]))["wspush"]; print(len(d), "cases:", dict(collections.Counter(c["behavior"] for c in d.values()))); bad=[k for k,c in d.items() if c["behavior"] not in ("OK","INFORMATIONAL") or c["behaviorClose"] not in ("OK","INFORMATIONAL")]; print("not OK:", bad); sys.exit(1 if bad else 0)' $(AUTOBAHN_OUT)/index.json

clean:
	rm -f wspush
