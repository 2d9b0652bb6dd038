// Package interop holds the end-to-end interoperability tests between a real,
// unmodified Python Keystone and keystone-ng sharing its database and Fernet
// key repository.
//
// The tests need a running Python Keystone started by deploy/keystone-py/up.sh;
// point KSNG_INTEROP_ENV at the env file it writes ($KSPY_STATE_DIR/env).
// Without that variable every test is skipped. deploy/keystone-py/run-interop.sh
// does all of it for MariaDB, PostgreSQL and SQLite:
//
//	deploy/keystone-py/run-interop.sh
//	KSNG_INTEROP_ENV=/tmp/keystone-ng-py-mysql/env go test -count=1 -v ./pkg/interop/...
//	KSNG_INTEROP_ENV=... go test -count=1 -v -run 'TestPython' ./pkg/interop/   # Python side only
//
// Other knobs: KSNG_BIN (use this keystone-ng binary instead of building
// ./cmd/keystone-ng), KSNG_INTEROP_VERBOSE=1 (log every compared request).
//
// All test code lives in _test.go files; this file only documents the package.
package interop
