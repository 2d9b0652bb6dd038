package fernet

import "errors"

// errBase64 is returned by DecodeURLSafeBase64 for input Python's decoder
// rejects (a dangling single character or an unfinished quad).
var errBase64 = errors.New("fernet: invalid base64")

// b64Table maps both the URL-safe and the standard alphabet to their 6-bit
// values (Python's urlsafe_b64decode translates "-_" to "+/" first, so both
// are accepted); 0xff marks every other byte.
var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(std); i++ {
		t[std[i]] = byte(i)
	}
	t['-'] = 62
	t['_'] = 63
	return t
}()

// DecodeURLSafeBase64 decodes s exactly as CPython 3.11's
// base64.urlsafe_b64decode (binascii.a2b_base64 with strict_mode=False) does
// for bytes input: characters outside the alphabet are skipped, "=" only counts
// once two data characters of a quad are in and a complete pad sequence ends
// the input (anything after it is ignored), and an unfinished quad is an
// error. Keystone uses this decoder for key files (fernet_utils.py via
// cryptography's Fernet(key)), for tokens (cryptography's Fernet.decrypt) and
// for audit ids (token_formatters.py random_urlsafe_str_to_bytes); matching it
// keeps what Go accepts equal to what Python accepts (docs/python-compat.md §1.1-§1.3).
func DecodeURLSafeBase64(s string) ([]byte, error) {
	out := make([]byte, 0, (len(s)+3)/4*3)
	return appendPyBase64(out, s)
}

// appendPyBase64 is DecodeURLSafeBase64 appending to dst.
func appendPyBase64(dst []byte, s string) ([]byte, error) {
	quad, pads := 0, 0
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return dst, nil
				}
			}
			continue
		}
		v := b64Table[c]
		if v == 0xff {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			quad, left = 1, v
		case 1:
			quad = 2
			dst = append(dst, left<<2|v>>4)
			left = v & 0x0f
		case 2:
			quad = 3
			dst = append(dst, left<<4|v>>2)
			left = v & 0x03
		default:
			quad = 0
			dst = append(dst, left<<6|v)
			left = 0
		}
	}
	if quad != 0 {
		return nil, errBase64
	}
	return dst, nil
}

// urlAlphabet is true for the 64 URL-safe base64 characters only; the fast
// path of token decoding accepts nothing else.
var urlAlphabet = func() (t [256]bool) {
	const u = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(u); i++ {
		t[u[i]] = true
	}
	return t
}()

// decodeTokenBase64 decodes a token string into dst (which must have room
// for len(token)*3/4 bytes) the way keystone does: restore_padding then
// urlsafe_b64decode (token_formatters.py TokenFormatter.unpack). Canonical
// tokens (URL-safe alphabet, optional trailing "=") take a tight loop; any
// other input falls back to the exact Python emulation, which gives the same
// answer for canonical input.
func decodeTokenBase64(dst []byte, token string) ([]byte, bool) {
	s := token
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	n := len(s)
	fast := true
	for i := 0; i < n; i++ {
		if !urlAlphabet[s[i]] {
			fast = false
			break
		}
	}
	if !fast {
		padded := token
		if m := len(token) % 4; m != 0 {
			padded += "===="[:4-m]
		}
		out, err := appendPyBase64(dst[:0], padded)
		return out, err == nil
	}
	if n%4 == 1 {
		return nil, false
	}
	out := dst[:0]
	i := 0
	for ; i+4 <= n; i += 4 {
		a, b, c, d := b64Table[s[i]], b64Table[s[i+1]], b64Table[s[i+2]], b64Table[s[i+3]]
		out = append(out, a<<2|b>>4, b<<4|c>>2, c<<6|d)
	}
	switch n - i {
	case 2:
		a, b := b64Table[s[i]], b64Table[s[i+1]]
		out = append(out, a<<2|b>>4)
	case 3:
		a, b, c := b64Table[s[i]], b64Table[s[i+1]], b64Table[s[i+2]]
		out = append(out, a<<2|b>>4, b<<4|c>>2)
	}
	return out, true
}
