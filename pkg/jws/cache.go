package jws

import (
	"slices"
	"sync"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
)

// cacheSize bounds the verified-token cache: two generations of at most
// this many tokens (a JWS token is about 400 bytes; a few MiB at most).
const cacheSize = 4096

// verifiedCache remembers tokens whose signature and claims were accepted
// by one key set, so that a token validated again (every API call of a
// client carries the same token) skips the ECDSA verification, which
// costs a hundred times the rest of the decoding. What it remembers is a
// pure function of the token and the key set: the claims are immutable,
// and the checks against "now" only ever pass later if they passed once
// (iat and nbf in the past stay in the past). Everything that can change
// (revocation, users, roles, expiry) is still checked on every validation
// (docs/design.md §4). A reload of the repository gives a new key set and
// empties the cache, so a removed public key stops validating at once.
// Refusals are not remembered.
type verifiedCache struct {
	mu       sync.Mutex
	keys     *PublicKeys
	cur, old map[string]*verified
}

type verified struct {
	p   payload.Payload
	iat time.Time
}

// get returns a copy of what keys verified for token, if remembered.
func (c *verifiedCache) get(keys *PublicKeys, token string) (*payload.Payload, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != keys {
		return nil, time.Time{}, false
	}
	v, ok := c.cur[token]
	if !ok {
		if v, ok = c.old[token]; !ok {
			return nil, time.Time{}, false
		}
		c.add(token, v)
	}
	p := v.p // callers get their own slices
	p.Methods = slices.Clone(p.Methods)
	p.AuditIDs = slices.Clone(p.AuditIDs)
	p.FederatedGroupIDs = slices.Clone(p.FederatedGroupIDs)
	return &p, v.iat, true
}

// put remembers what keys verified for token.
func (c *verifiedCache) put(keys *PublicKeys, token string, p *payload.Payload, iat time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != keys {
		c.keys, c.cur, c.old = keys, nil, nil
	}
	v := &verified{p: *p, iat: iat}
	v.p.Methods = slices.Clone(p.Methods)
	v.p.AuditIDs = slices.Clone(p.AuditIDs)
	v.p.FederatedGroupIDs = slices.Clone(p.FederatedGroupIDs)
	c.add(token, v)
}

// add inserts into the current generation, starting a new one when full.
func (c *verifiedCache) add(token string, v *verified) {
	if len(c.cur) >= cacheSize {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[string]*verified)
	}
	c.cur[token] = v
}
