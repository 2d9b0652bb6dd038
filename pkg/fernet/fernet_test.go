package fernet

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fernetgo "github.com/fernet/fernet-go"
)

// Made by Python (cryptography 38, msgpack 1.0.3, Debian bookworm):
// pyKeys[i] is the content of key file i; pyTokens[i] is
// Fernet(pyKeys[i]).encrypt_at_time(pyPayload, 1767225600) with the "="
// stripped, as keystone's TokenFormatter.pack does. pyPayload is a v2
// (project-scoped) payload, so the tokens are the usual 183 characters.
var (
	pyKeys = []string{
		"8ePveATULiFenC-5I-J3esmMT6dw16BHtq5yDz47sMA=",
		"uaLzWp7DL-Qp1k4EZj1CH5_nyd-Cld63l5kdUHkR7pM=",
		"FzuLr79f3kuzLp0a6AAZDOU8ZFA0qHpH4kyeFRb8Uxo=",
	}
	pyPayload = "960292c3c4108a1e0d6c5f0b4c8d9f3e2a1b0c9d8e7f0292c3c4100f1e2d3c4b5a69788796a5b4c3d2e1f0cb41dc37554940000091c4104368616e67654d65506c656173653132"
	pyTokens  = []string{
		"gAAAAABpVbkA2WLWyJ1kIi6lrlFjlWQL_qoMJWu1J7KGhpkl-jp5wULIluLWvay68ZkLZQeMbemNTA4YXP9El0i5F5xXujWK8vioo7lcGm5dEtDf0BB5O6xTE5T1w8mjadlOA6JP3p7-cTzTGpnxC4v8mI8m8tla4P9CAeNiHRpPT5z-8QbVsQs",
		"gAAAAABpVbkA52D2TI92MUGJFAA81lMGQwd-sjrOS9SErFdnVEcSgysfWGhKoGNsiuHE6SPxk3JuS1LTxeefQWsxiaweF0znQRwV4xmY9pd_fF3NiBWJVJfj30bc-t3AbBqCg2LMQOma_6qRlEAXEiuoGoX7ViXC1GVhJGMKc8hsFoijJSRl3p8",
		"gAAAAABpVbkAxphrBq_OhVqsxFyREMgzaBTApsFdz98bl-aTPu0Bm_twFKgaMLYqrf5mq27wHz4POOA2L3ul24O4sinqUWk2XJ8wJm4oGN3_zoOSyMqBGUX12hRGVkcqMiqcGn2ykiV5ydvdS6j8Dy2pn72h13mpcRGlHvE9QuvHSCuk1hwnAtw",
	}
	pyIssuedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// writeRepo creates a key repository: files maps name -> content.
func writeRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pyRepo(t testing.TB) string {
	return writeRepo(t, map[string]string{"0": pyKeys[0], "1": pyKeys[1], "2": pyKeys[2]})
}

func TestLoadRepositoryPythonRules(t *testing.T) {
	dir := writeRepo(t, map[string]string{
		"0":     pyKeys[0] + "\n", // trailing newline tolerated
		"1":     "  " + pyKeys[1],
		"10":    pyKeys[2], // numeric, not lexical, order
		"0.tmp": "garbage",
		".keep": "",
		"5":     "", // empty: ignored
		"abc":   "garbage",
	})
	if err := os.Mkdir(filepath.Join(dir, "7"), 0o700); err != nil { // directories are not keys
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "0"), filepath.Join(dir, "3")); err != nil { // symlinks are followed
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "4")); err != nil { // dangling: skipped
		t.Fatal(err)
	}
	ks, err := LoadRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ks.IDs(), []int64{10, 3, 1, 0}; !equalIDs(got, want) {
		t.Fatalf("IDs = %v, want %v", got, want)
	}
	if s := ks.String(); strings.Contains(s, pyKeys[0][:10]) {
		t.Fatalf("String leaks key material: %s", s)
	}
	// every key decrypts; key 2's token is the primary's
	for i, tok := range pyTokens {
		pt, iat, err := ks.Decrypt(tok)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if hex.EncodeToString(pt) != pyPayload || !iat.Equal(pyIssuedAt) {
			t.Fatalf("token %d: %x %v", i, pt, iat)
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseKeyID(t *testing.T) {
	for _, c := range []struct {
		in string
		id int64
		ok bool
	}{
		{"0", 0, true}, {"12", 12, true}, {"01", 1, true}, {" 3 ", 3, true}, {"+4", 4, true},
		{"-1", -1, true}, {"1_0", 10, true}, {"1__0", 0, false}, {"_1", 0, false}, {"1_", 0, false},
		{"0.tmp", 0, false}, {".keep", 0, false}, {"", 0, false}, {"0x1", 0, false}, {"1e3", 0, false},
		{"99999999999999999999", 0, false},
	} {
		id, ok := parseKeyID(c.in)
		if ok != c.ok || id != c.id {
			t.Errorf("parseKeyID(%q) = %d,%v want %d,%v", c.in, id, ok, c.id, c.ok)
		}
	}
}

func TestLoadRepositoryErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o600)
	for _, c := range []struct {
		name     string
		dir      string
		want     error
		wantFile string
	}{
		{"missing dir", missing, fs.ErrNotExist, ""},
		{"not a dir", notDir, nil, ""},
		{"empty dir", t.TempDir(), ErrNoKeys, ""},
		{"only ignored files", writeRepo(t, map[string]string{"0.tmp": pyKeys[0], "1": ""}), ErrNoKeys, ""},
		{"short key", writeRepo(t, map[string]string{"0": pyKeys[0], "1": pyKeys[1][:40]}), ErrMalformedKey, "1"},
		{"whitespace only", writeRepo(t, map[string]string{"0": "\n"}), ErrMalformedKey, "0"},
		{"hex key", writeRepo(t, map[string]string{"0": strings.Repeat("ab", 32)}), ErrMalformedKey, "0"},
		{"not base64", writeRepo(t, map[string]string{"3": "!!!!"}), ErrMalformedKey, "3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ks, err := LoadRepository(c.dir)
			if err == nil {
				t.Fatalf("no error, keys %v", ks.IDs())
			}
			var re *RepositoryError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *RepositoryError", err, err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v is not %v", err, c.want)
			}
			if re.File != c.wantFile {
				t.Fatalf("File = %q, want %q (%v)", re.File, c.wantFile, err)
			}
			if c.wantFile != "" && !strings.Contains(err.Error(), "file "+c.wantFile) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if _, err := OpenRepository(c.dir); err == nil {
				t.Fatal("OpenRepository accepted it")
			}
		})
	}
	if os.Geteuid() != 0 {
		dir := pyRepo(t)
		os.Chmod(dir, 0o000)
		defer os.Chmod(dir, 0o700)
		if _, err := LoadRepository(dir); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("unreadable dir: %v", err)
		}
	}
}

func TestDecryptPaddingVariants(t *testing.T) {
	ks, err := NewKeySet(pyKeys[2], pyKeys[1], pyKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	tok := pyTokens[2] // 183 chars: 183%4 == 3, one '=' was stripped
	for _, v := range []string{tok, tok + "=", tok + "==", tok + "===", tok + "====="} {
		if _, _, err := ks.Decrypt(v); err != nil {
			t.Errorf("%d trailing '=': %v", len(v)-len(tok), err)
		}
	}
	// Python's decoder skips characters outside the alphabet and takes
	// the standard alphabet too, but restore_padding counts the skipped
	// characters: results checked against cryptography 38.
	for _, c := range []struct {
		tok string
		ok  bool
	}{
		{tok[:50] + "\n" + tok[50:], false},
		{tok[:50] + "\n\n" + tok[50:], true},
		{tok[:50] + "!*" + tok[50:], true},
		{strings.NewReplacer("-", "+", "_", "/").Replace(tok), true},
	} {
		if _, _, err := ks.Decrypt(c.tok); (err == nil) != c.ok {
			t.Errorf("%q: err %v, Python ok=%v", c.tok, err, c.ok)
		}
	}
}

// seal builds a Fernet blob with arbitrary padding bytes and a valid HMAC.
func seal(t testing.TB, keyB64 string, body []byte, ts uint64) string {
	raw, _ := base64.URLEncoding.DecodeString(keyB64)
	block, _ := aes.NewCipher(raw[16:])
	iv := make([]byte, 16)
	ct := make([]byte, len(body))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, body)
	blob := []byte{0x80}
	blob = binary.BigEndian.AppendUint64(blob, ts)
	blob = append(blob, iv...)
	blob = append(blob, ct...)
	m := hmac.New(sha256.New, raw[:16])
	m.Write(blob)
	blob = m.Sum(blob)
	return strings.TrimRight(base64.URLEncoding.EncodeToString(blob), "=")
}

func TestDecryptInvalid(t *testing.T) {
	ks, _ := NewKeySet(pyKeys[2], pyKeys[1])
	tok := pyTokens[2]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	badPad := bytes.Repeat([]byte{0x10}, 32)
	badPad[31] = 0x03 // last byte says 3, but bytes before it differ
	badPad[30] = 0x03
	badPad[29] = 0x07
	for _, c := range []struct{ name, tok string }{
		{"empty", ""},
		{"unknown key", pyTokens[0]},
		{"tampered ciphertext", flip(tok, 100)},
		{"tampered hmac", flip(tok, len(tok)-2)},
		{"tampered timestamp", flip(tok, 8)},
		{"bad version", "h" + tok[1:]},
		{"truncated", tok[:100]},
		{"one char short of a quad", tok[:181]},
		{"only header", tok[:12]},
		{"garbage", "not a token at all"},
		{"oversized", "gAAAAA" + strings.Repeat("A", MaxTokenLength)},
		{"bad padding", seal(t, pyKeys[2], badPad, 1)},
		{"zero padding byte", seal(t, pyKeys[2], make([]byte, 16), 1)},
		{"padding 17", seal(t, pyKeys[2], bytes.Repeat([]byte{17}, 32), 1)},
		{"no ciphertext", seal(t, pyKeys[2], nil, 1)},
		{"timestamp beyond int64", seal(t, pyKeys[2], bytes.Repeat([]byte{16}, 16), 1<<63)},
	} {
		t.Run(c.name, func(t *testing.T) {
			pt, _, err := ks.Decrypt(c.tok)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v (plaintext %x), want ErrInvalidToken", err, pt)
			}
		})
	}
	// a well-formed sealed blob with good padding does decrypt
	if pt, iat, err := ks.Decrypt(seal(t, pyKeys[2], append([]byte("hi"), bytes.Repeat([]byte{14}, 14)...), 42)); err != nil || string(pt) != "hi" || iat.Unix() != 42 {
		t.Fatalf("sealed: %q %v %v", pt, iat, err)
	}
}

func TestEncryptInterop(t *testing.T) {
	ks, _ := NewKeySet(pyKeys[2], pyKeys[1], pyKeys[0])
	pt, _ := hex.DecodeString(pyPayload)
	now := time.Unix(1767225600, 999_000_000)
	tok, err := ks.Encrypt(pt, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(tok, "=") || !strings.HasPrefix(tok, "gAAAAA") || len(tok) != len(pyTokens[2]) {
		t.Fatalf("token shape: %s", tok)
	}
	got, iat, err := ks.Decrypt(tok)
	if err != nil || !bytes.Equal(got, pt) || iat.Unix() != 1767225600 {
		t.Fatalf("round trip: %x %v %v", got, iat, err)
	}
	// fernet-go (an independent implementation) opens it with the primary only
	k := fernetgo.MustDecodeKeys(pyKeys[2])
	padded := tok + strings.Repeat("=", (4-len(tok)%4)%4)
	if msg := fernetgo.VerifyAndDecrypt([]byte(padded), -1, k); !bytes.Equal(msg, pt) {
		t.Fatalf("fernet-go could not open our token")
	}
	// and its tokens open here
	ft, err := fernetgo.EncryptAndSign([]byte("payload"), k[0])
	if err != nil {
		t.Fatal(err)
	}
	if msg, _, err := ks.Decrypt(strings.TrimRight(string(ft), "=")); err != nil || string(msg) != "payload" {
		t.Fatalf("fernet-go token: %q %v", msg, err)
	}
	// two encryptions differ (random IV)
	tok2, _ := ks.Encrypt(pt, now)
	if tok2 == tok {
		t.Fatal("IV not random")
	}
	for _, n := range []int{0, 1, 15, 16, 17, 1000} {
		msg := bytes.Repeat([]byte{'x'}, n)
		tk, err := ks.Encrypt(msg, now)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := ks.Decrypt(tk); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	if _, err := ks.Encrypt(pt, time.Unix(-1, 0)); err == nil {
		t.Fatal("pre-epoch time accepted")
	}
}

// rotate does what keystone-manage fernet_rotate does
// (fernet_utils.py rotate_keys).
func rotate(t testing.TB, dir string, maxActive int) {
	entries, _ := os.ReadDir(dir)
	var ids []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, n)
		}
	}
	k := fernetgo.Key{}
	k.Generate()
	tmp := filepath.Join(dir, "0.tmp")
	if err := os.WriteFile(tmp, []byte(base64.URLEncoding.EncodeToString(k[:])), 0o600); err != nil {
		t.Error(err)
		return
	}
	maxID := 0
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	os.Rename(filepath.Join(dir, "0"), filepath.Join(dir, strconv.Itoa(maxID+1)))
	os.Rename(tmp, filepath.Join(dir, "0"))
	// purge: keep maxActive-1 of the old keys plus the new primary (old 0)
	var old []int
	for _, id := range ids {
		if id != 0 {
			old = append(old, id)
		}
	}
	old = append(old, maxID+1)
	for len(old) > maxActive-1 {
		lo := 0
		for i := range old {
			if old[i] < old[lo] {
				lo = i
			}
		}
		os.Remove(filepath.Join(dir, strconv.Itoa(old[lo])))
		old = append(old[:lo], old[lo+1:]...)
	}
}

func TestRotationWhileDecrypting(t *testing.T) {
	dir := pyRepo(t)
	r, err := OpenRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	var oks, fails atomic.Int64
	r.OnReload = func(ok bool, keys int) {
		if ok {
			oks.Add(1)
		} else {
			fails.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watching := make(chan struct{})
	go func() { r.Watch(ctx, 5*time.Millisecond); close(watching) }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var decrypts, errs atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ks := r.KeySet()
				tok, err := ks.Encrypt([]byte("payload"), time.Now())
				if err != nil {
					errs.Add(1)
					continue
				}
				if _, _, err := r.Decrypt(tok); err != nil {
					// Legitimate only if the encrypting key has been
					// purged meanwhile (two rotations while this
					// goroutine was descheduled).
					primary := ks.IDs()[0]
					for _, id := range r.KeySet().IDs() {
						if id == primary {
							errs.Add(1)
						}
					}
				}
				decrypts.Add(1)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		before := r.KeySet().IDs()[0]
		rotate(t, dir, 3)
		deadline := time.Now().Add(time.Second)
		for r.KeySet().IDs()[0] != before+1 {
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d not picked up within 1s: %v", i, r.KeySet().IDs())
			}
			time.Sleep(time.Millisecond)
		}
		// keystone-manage renames 0 to the new primary before it writes the
		// new staged key, so the watcher may first see the repository
		// without a 0; the staged key must follow within the second.
		for ids := r.KeySet().IDs(); len(ids) != 3 || ids[2] != 0; ids = r.KeySet().IDs() {
			if time.Now().After(deadline) {
				t.Fatalf("after rotation %d: %v", i, ids)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	// The watcher reports a reload after publishing the new keys: stop it
	// before counting, or the last report may still be on its way (seen
	// under the race detector).
	cancel()
	<-watching
	if errs.Load() != 0 {
		t.Fatalf("%d of %d encrypt/decrypt failed during rotation", errs.Load(), decrypts.Load())
	}
	if oks.Load() < 10 {
		t.Fatalf("OnReload ok count %d", oks.Load())
	}
	if got, _ := r.Stats(); got != uint64(oks.Load()) {
		t.Fatalf("Stats reloads %d, OnReload %d", got, oks.Load())
	}
	t.Logf("%d decrypts, %d reloads, %d failed reloads", decrypts.Load(), oks.Load(), fails.Load())
}

func TestReloadKeepsPreviousKeysOnBrokenState(t *testing.T) {
	dir := pyRepo(t)
	r, err := OpenRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last atomic.Value
	r.OnReload = func(ok bool, keys int) { last.Store([2]int{map[bool]int{true: 1}[ok], keys}) }
	if changed, err := r.Reload(); changed || err != nil {
		t.Fatalf("unchanged repo: %v %v", changed, err)
	}
	// a half-copied key file
	os.WriteFile(filepath.Join(dir, "3"), []byte(pyKeys[0][:20]), 0o600)
	changed, err := r.Reload()
	if !changed || !errors.Is(err, ErrMalformedKey) {
		t.Fatalf("broken: %v %v", changed, err)
	}
	if got := last.Load().([2]int); got != [2]int{0, 3} {
		t.Fatalf("OnReload %v", got)
	}
	if _, _, err := r.Decrypt(pyTokens[2]); err != nil {
		t.Fatalf("previous keys dropped: %v", err)
	}
	if _, f := r.Stats(); f != 1 {
		t.Fatalf("failures %d", f)
	}
	// retried on the next tick even without a further change
	if changed, _ := r.Reload(); !changed {
		t.Fatal("broken state not retried")
	}
	// all keys removed: still keep the old ones
	for _, n := range []string{"0", "1", "2", "3"} {
		os.Remove(filepath.Join(dir, n))
	}
	if _, err := r.Reload(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("no keys: %v", err)
	}
	// repaired
	os.WriteFile(filepath.Join(dir, "3"), []byte(pyKeys[1]), 0o600)
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("repaired: %v %v", changed, err)
	}
	if got := r.KeySet().IDs(); !equalIDs(got, []int64{3}) {
		t.Fatalf("ids %v", got)
	}
	if _, _, err := r.Decrypt(pyTokens[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Decrypt(pyTokens[2]); err == nil {
		t.Fatal("removed key still decrypts")
	}
}

// BenchmarkDecrypt opens a 183-character project token (Python-made) with
// a three-key set; "last" is the worst case, the token's key tried last.
func BenchmarkDecrypt(b *testing.B) {
	ks, _ := NewKeySet(pyKeys[2], pyKeys[1], pyKeys[0])
	for _, c := range []struct {
		name string
		tok  string
	}{{"primary", pyTokens[2]}, {"last", pyTokens[0]}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ks.Decrypt(c.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzDecrypt(f *testing.F) {
	for _, tok := range pyTokens {
		f.Add(tok)
		f.Add(tok[:len(tok)/2])
	}
	f.Add("")
	f.Add("gAAAAA==")
	f.Add(seal(f, pyKeys[2], bytes.Repeat([]byte{16}, 16), 7))
	ks, _ := NewKeySet(pyKeys[2], pyKeys[1], pyKeys[0])
	f.Fuzz(func(t *testing.T, tok string) {
		pt, iat, err := ks.Decrypt(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		if len(pt) > len(tok) || iat.IsZero() {
			t.Fatalf("implausible result %d bytes %v", len(pt), iat)
		}
	})
}
