package app

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Sealed is a secret encrypted with AES-256-GCM, as "v1.<key id>.<base64 of
// nonce and ciphertext>". The key id names the SECRET_KEY it was sealed
// with, so keys can be rotated: the newest key seals, every loaded key opens.
type Sealed string

// MinSecretKeyLen is the shortest SECRET_KEY accepted.
const MinSecretKeyLen = 32

// ErrUnknownKey is returned when a value was sealed with a key that is not
// loaded: the wrong SECRET_KEY fails loudly instead of reading garbage.
var ErrUnknownKey = errors.New("sealed with a secret key that is not loaded")

// Keyring seals and opens secrets, and derives the signing key for session
// tokens.
type Keyring struct {
	current string
	ids     []string // newest first, as listed
	aeads   map[string]cipher.AEAD
	signing [][]byte // newest first
}

// NewKeyring derives keys from one or more secret keys: the first seals and
// signs, the others only open (older keys during a rotation).
func NewKeyring(secretKeys ...string) (*Keyring, error) {
	if len(secretKeys) == 0 {
		return nil, errors.New("keyring: no secret key")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(secretKeys))}
	for i, secret := range secretKeys {
		if len(secret) < MinSecretKeyLen {
			return nil, fmt.Errorf("keyring: secret key %d is shorter than %d characters", i+1, MinSecretKeyLen)
		}
		encKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "storebridge secrets v1", 32)
		if err != nil {
			return nil, fmt.Errorf("keyring: derive key: %w", err)
		}
		idBytes, err := hkdf.Key(sha256.New, []byte(secret), nil, "storebridge key id v1", 4)
		if err != nil {
			return nil, fmt.Errorf("keyring: derive key id: %w", err)
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		id := hex.EncodeToString(idBytes)
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
		if i == 0 {
			k.current = id
		}
		signing, err := hkdf.Key(sha256.New, []byte(secret), nil, "storebridge signing v1", 32)
		if err != nil {
			return nil, fmt.Errorf("keyring: derive signing key: %w", err)
		}
		k.signing = append(k.signing, signing)
	}
	return k, nil
}

// KeyID names the key that seals new values.
func (k *Keyring) KeyID() string { return k.current }

// SigningKey is the HMAC key that signs session and connect tokens,
// derived from the newest secret key apart from its encryption key.
func (k *Keyring) SigningKey() []byte { return k.signing[0] }

// VerificationKeys are the signing keys of every listed secret key, newest
// first: a token signed before a rotation still verifies while the old key
// is listed.
func (k *Keyring) VerificationKeys() [][]byte { return k.signing }

// jwtKeys answers the verification keys for golang-jwt's keyfunc.
func (k *Keyring) jwtKeys(*jwt.Token) (any, error) {
	set := jwt.VerificationKeySet{}
	for _, key := range k.signing {
		set.Keys = append(set.Keys, key)
	}
	return set, nil
}

// KeyIDs names every listed key, newest first.
func (k *Keyring) KeyIDs() []string { return k.ids }

// Seal encrypts plaintext. context binds the ciphertext to where it is
// stored (a merchant id and field name) so a sealed value copied elsewhere
// does not open.
func (k *Keyring) Seal(plaintext, context string) (Sealed, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("keyring: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return Sealed("v1." + k.current + "." + base64.RawURLEncoding.EncodeToString(out)), nil
}

// Open decrypts a sealed value with the context it was sealed with.
func (k *Keyring) Open(s Sealed, context string) (string, error) {
	version, rest, ok := strings.Cut(string(s), ".")
	if !ok || version != "v1" {
		return "", errors.New("keyring: not a sealed value")
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return "", errors.New("keyring: not a sealed value")
	}
	aead, found := k.aeads[id]
	if !found {
		return "", fmt.Errorf("keyring: key id %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("keyring: sealed value is corrupt")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return "", fmt.Errorf("keyring: key id %s: value does not open (tampered, or sealed for another record)", id)
	}
	return string(plain), nil
}

// NeedsReseal reports whether s was sealed with an older key, so a rotation
// can rewrite it.
func (k *Keyring) NeedsReseal(s Sealed) bool {
	return !strings.HasPrefix(string(s), "v1."+k.current+".")
}
