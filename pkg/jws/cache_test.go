package jws

import (
	"fmt"
	"testing"
	"time"
)

// TestVerifiedCache: remembered per key set, copies handed out, bounded.
func TestVerifiedCache(t *testing.T) {
	k := newKey(t)
	keys, other := NewPublicKeys(&k.PublicKey), NewPublicKeys(&k.PublicKey)
	var c verifiedCache
	iat := time.Unix(1700000000, 0)
	p := testPayload
	c.put(keys, "tok", &p, iat)
	got, gotIat, ok := c.get(keys, "tok")
	if !ok || got.UserID != "u" || !gotIat.Equal(iat) {
		t.Fatalf("get: %v %v %v", got, gotIat, ok)
	}
	got.Methods[0] = "changed"
	if again, _, _ := c.get(keys, "tok"); again.Methods[0] != "password" {
		t.Fatal("a caller's change reached the cache")
	}
	if _, _, ok := c.get(other, "tok"); ok {
		t.Fatal("another key set saw the entry")
	}
	c.put(other, "x", &p, iat)
	if _, _, ok := c.get(keys, "tok"); ok {
		t.Fatal("entries of the previous key set survived a new one")
	}
	for i := range 2*cacheSize + 1 {
		c.put(other, fmt.Sprint(i), &p, iat)
	}
	if n := len(c.cur) + len(c.old); n > 2*cacheSize {
		t.Fatalf("%d entries", n)
	}
	if _, _, ok := c.get(other, fmt.Sprint(2*cacheSize)); !ok {
		t.Fatal("the newest entry is gone")
	}
}

// TestOpenRemembersOnlySuccesses: a refused token is verified (and
// refused) every time; an accepted one is not verified again.
func TestOpenRemembersOnlySuccesses(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	write(t, dir, "public.pem", pubPEM(t, k))
	r, err := OpenPublicRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := NewPrivateKey(k).Sign(&testPayload, time.Unix(1700000000, 0))
	now := time.Unix(1800000000, 0)
	if _, _, err := r.Open(tok+"x", now); err == nil {
		t.Fatal("tampered token accepted")
	}
	if _, _, ok := r.cache.get(r.Current(), tok+"x"); ok {
		t.Fatal("a refusal was remembered")
	}
	if _, _, err := r.Open(tok, now); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := r.cache.get(r.Current(), tok); !ok {
		t.Fatal("an accepted token was not remembered")
	}
}
