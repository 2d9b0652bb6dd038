// Package releases holds no code of the service: its test replays, against
// keystone-ng, what fourteen real Python Keystone releases (Queens to
// 2026.1) stored and answered (testdata/, recorded from each release's own
// source). For each release the test loads the release's database dump
// into a fresh MariaDB database, starts keystone-ng on it with the
// release's keystone.conf and keys, sends every recorded validation request
// and compares status, headers and body with the release's answer
// (docs/compatibility.md §3).
package releases
