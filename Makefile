# keystone-ng: build, run and test.
#
#   make build    build bin/keystone-ng
#   make run      start a real Python Keystone (SQLite) and keystone-ng beside it
#   make demo     Python Keystone + keystone-ng + nginx on 127.0.0.1:8080
#   make test     every test: unit, fuzz smoke, interop against a real Python
#                 Keystone on MariaDB, PostgreSQL and SQLite, keystonemiddleware,
#                 and the shipped nginx/Apache routing with failover
#   make bench    Go benchmarks and the side-by-side load test against Python
#                 on MariaDB, PostgreSQL and SQLite (one table)

GO       ?= go
BIN      := bin/keystone-ng
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# fail a clean run with "context deadline exceeded" as the time runs out
# (golang/go#75804, fixed in Go 1.27). FUZZTIME=5m still works for a long
# run by hand.
FUZZTIME ?= 60000x
RUN_DB   ?= sqlite
RUN_STATE ?= /tmp/keystone-ng-run

.PHONY: all build run stop-run demo demo-down test unit lint fuzz interop frontdoor bench bench-go bench-load clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/keystone-ng

# A real Python Keystone (Debian's package) on SQLite, and keystone-ng
# serving validation from the same database and key repository on
# 127.0.0.1:5001. Ctrl-C stops keystone-ng; `make stop-run` stops Python.
run: build
	KSPY_DB=$(RUN_DB) KSPY_STATE_DIR=$(RUN_STATE) KSPY_PORT=5000 deploy/keystone-py/up.sh
	@printf '[keystone_ng]\nlisten = 127.0.0.1:5001\n\n[webauthn]\nrelying_party_id = localhost\nrelying_party_origins = http://localhost:5001\n' > $(RUN_STATE)/keystone-ng.conf
	$(BIN) db migrate --config-file $(RUN_STATE)/keystone.conf --config-file $(RUN_STATE)/keystone-ng.conf
	@echo "keystone-ng on http://127.0.0.1:5001 (validation, /v4; login page http://localhost:5001/v4/login), Python Keystone on http://127.0.0.1:5000"
	@echo "try: . $(RUN_STATE)/admin-openrc && T=\$$(openstack token issue -f value -c id) && curl -H \"X-Auth-Token: \$$T\" -H \"X-Subject-Token: \$$T\" http://127.0.0.1:5001/v3/auth/tokens"
	$(BIN) serve --config-file $(RUN_STATE)/keystone.conf --config-file $(RUN_STATE)/keystone-ng.conf

stop-run:
	KSPY_STATE_DIR=$(RUN_STATE) deploy/keystone-py/down.sh

# The whole stack on one machine: Python Keystone, keystone-ng and nginx in
# front (http://127.0.0.1:8080), admin/secret; prints what to try.
# DEMO_DB=mysql|postgresql|sqlite, DEMO_FRONT_PORT, DEMO_PY_PORT, DEMO_NG_PORT.
demo:
	deploy/demo/demo-up.sh

# Stops what `make demo` started (DEMO_DOWN_ARGS=--purge also drops its data).
demo-down:
	deploy/demo/demo-down.sh $(DEMO_DOWN_ARGS)

test: lint unit fuzz interop frontdoor

# shellcheck checks the deploy scripts; it is installed (Debian's package,
# through deploy/lib/common.sh's apt_install) when missing.
lint:
	@out=$$(gofmt -l cmd pkg migrations deploy docs); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	# every docs/ file and section (§N) cited in code and documents, and every
	# relative Markdown link and heading anchor, exists
	$(GO) test -count=1 -run 'TestRepository' ./pkg/docref/
	@command -v shellcheck >/dev/null || bash -c 'LOG_TAG=lint; . deploy/lib/common.sh && apt_install "$${TMPDIR:-/tmp}/keystone-ng-lint-apt.log" shellcheck'
	shellcheck -x -P SCRIPTDIR deploy/*/*.sh

unit:
	$(GO) test -count=1 ./...
	# the validator's shared state (hint cache, key set, the store's round gate, the LDAP router's group ids) under the race detector
	$(GO) test -count=1 -race ./pkg/token/... ./pkg/httpapi/... ./pkg/fernet/... ./pkg/jws/... ./pkg/keyrepo/... ./pkg/ldapidentity/...
	# the batcher's line and hand-offs, the round gate, and batched statements on the real databases
	$(GO) test -count=1 -race -run 'Batch|Gate|Round' ./pkg/store/

# Short coverage-guided runs of every fuzz target (longer: FUZZTIME=5m).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./pkg/payload
	$(GO) test -run='^$$' -fuzz='^FuzzDecrypt$$' -fuzztime=$(FUZZTIME) ./pkg/fernet
	$(GO) test -run='^$$' -fuzz='^FuzzParseClaims$$' -fuzztime=$(FUZZTIME) ./pkg/jws
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./pkg/jws
	$(GO) test -run='^$$' -fuzz='^FuzzParseINI$$' -fuzztime=$(FUZZTIME) ./pkg/config
	$(GO) test -run='^$$' -fuzz='^FuzzParseDomainConfig$$' -fuzztime=$(FUZZTIME) ./pkg/config
	$(GO) test -run='^$$' -fuzz='^FuzzFirstRDN$$' -fuzztime=$(FUZZTIME) ./pkg/ldapidentity
	$(GO) test -run='^$$' -fuzz='^FuzzEscapeFilter$$' -fuzztime=$(FUZZTIME) ./pkg/ldapidentity
	$(GO) test -run='^$$' -fuzz='^FuzzParseRule$$' -fuzztime=$(FUZZTIME) ./pkg/policy
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./pkg/pyjson
	$(GO) test -run='^$$' -fuzz='^FuzzAppendString$$' -fuzztime=$(FUZZTIME) ./pkg/pyjson
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./pkg/mapping
	$(GO) test -run='^$$' -fuzz='^FuzzParseTransports$$' -fuzztime=$(FUZZTIME) ./pkg/passkey
	$(GO) test -run='^$$' -fuzz='^FuzzParseAccessRules$$' -fuzztime=$(FUZZTIME) ./pkg/tokenexchange
	$(GO) test -run='^$$' -fuzz='^FuzzValidID$$' -fuzztime=$(FUZZTIME) ./pkg/oidcflow
	$(GO) test -run='^$$' -fuzz='^FuzzParseTime$$' -fuzztime=$(FUZZTIME) ./pkg/oidcflow/sqlstore
	$(GO) test -run='^$$' -fuzz='^FuzzClean$$' -fuzztime=$(FUZZTIME) ./pkg/termsafe
	$(GO) test -run='^$$' -fuzz='^FuzzClientAddr$$' -fuzztime=$(FUZZTIME) ./pkg/ratelimit
	$(GO) test -run='^$$' -fuzz='^FuzzCheckURL$$' -fuzztime=$(FUZZTIME) ./pkg/outbound
	$(GO) test -run='^$$' -fuzz='^FuzzAssertion$$' -fuzztime=$(FUZZTIME) ./pkg/serviceaccount

# Installs and starts a real Python Keystone (Debian's keystone 22) on
# MariaDB, PostgreSQL and SQLite in turn and compares it with keystone-ng.
interop:
	deploy/keystone-py/run-interop.sh

# Real nginx and apache2 (Debian's) with the shipped configs in front of a
# real Python Keystone and keystone-ng: routing, openstack CLI workflow,
# failover while keystone-ng is killed, keystonemiddleware.
frontdoor:
	deploy/frontdoor/run-frontdoor-tests.sh

bench: bench-go bench-load

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./pkg/fernet ./pkg/jws ./pkg/payload ./pkg/policy ./pkg/token
	$(GO) test -run='^$$' -bench=ValidateHTTPInMemory -benchtime=20000x -benchmem ./pkg/httpapi

# The side-by-side on MariaDB, PostgreSQL and SQLite (BENCH_DBS), one table.
bench-load: build
	deploy/bench/both.sh

clean:
	rm -rf bin
