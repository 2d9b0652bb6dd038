package fernet

import (
	"crypto/aes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPythonVectorTokens uses the golden vectors made by Python Keystone
// (../payload/testdata/vectors.json, see its README): every token opens
// with the Python key repository, and sealing the same payload with the
// same key, timestamp and IV reproduces Python's token byte for byte.
func TestPythonVectorTokens(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "payload", "testdata", "vectors.json"))
	if os.IsNotExist(err) {
		t.Skip("vectors.json not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Keys    map[string]string `json:"keys"`
		Vectors []struct {
			Name       string `json:"name"`
			PayloadHex string `json:"payload_hex"`
			IVHex      string `json:"fernet_iv_hex"`
			Timestamp  int64  `json:"fernet_timestamp"`
			Key        string `json:"encrypted_with_key"`
			Token      string `json:"token"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for name, k := range vf.Keys {
		files[name] = k
	}
	repo, err := LoadRepository(writeRepo(t, files))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			pt, iat, err := repo.Decrypt(v.Token)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(pt) != v.PayloadHex || iat.Unix() != v.Timestamp {
				t.Fatalf("got %x at %v", pt, iat)
			}
			one, err := NewKeySet(vf.Keys[v.Key])
			if err != nil {
				t.Fatal(err)
			}
			var iv [aes.BlockSize]byte
			hex.Decode(iv[:], []byte(v.IVHex))
			tok, err := one.encryptIV(pt, time.Unix(v.Timestamp, 0), iv)
			if err != nil {
				t.Fatal(err)
			}
			if tok != v.Token {
				t.Fatalf("sealed\n%s\nPython\n%s", tok, v.Token)
			}
		})
	}
}
