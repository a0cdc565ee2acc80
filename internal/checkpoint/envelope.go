package checkpoint

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/dltrain/dltrain/internal/safefile"
)

// The encrypted envelope wraps a checkpoint's safetensors bytes in AES-256-GCM:
//
//	offset  size  field
//	0       8     magic "DLTRAINE"
//	8       1     envelope version (1)
//	9       1     algorithm (1 = AES-256-GCM)
//	10      12    random nonce
//	22      n+16  ciphertext of the safetensors bytes, then the GCM tag
//
// The first 22 bytes are the additional authenticated data, so the header cannot be altered either.
// A plain safetensors file can never start with the magic: read as its little-endian header length,
// "DLTRAINE" is far over the 100 MB limit.

const (
	envMagic     = "DLTRAINE"
	envVersion   = 1
	envAESGCM    = 1
	envHeaderLen = 8 + 1 + 1 + 12
	// KeySize is the AES-256 key length in bytes.
	KeySize = 32
)

// ErrEncrypted is returned (wrapped) when an encrypted file is read without a key.
var ErrEncrypted = errors.New("the file is encrypted and no key was given")

// IsEncrypted reports whether b starts with the envelope magic.
func IsEncrypted(b []byte) bool { return bytes.HasPrefix(b, []byte(envMagic)) }

// Encrypt seals plain with a 32-byte key into an envelope, under a fresh random nonce.
func Encrypt(key, plain []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, envHeaderLen, envHeaderLen+len(plain)+gcm.Overhead())
	copy(out, envMagic)
	out[8], out[9] = envVersion, envAESGCM
	if _, err := rand.Read(out[10:envHeaderLen]); err != nil {
		return nil, fmt.Errorf("envelope: nonce: %w", err)
	}
	return gcm.Seal(out, out[10:envHeaderLen], plain, out[:envHeaderLen]), nil
}

// Decrypt authenticates and decrypts an envelope.
func Decrypt(key, env []byte) ([]byte, error) {
	if !IsEncrypted(env) {
		return nil, errors.New("not an encrypted dltrain file")
	}
	if len(env) < envHeaderLen+16 {
		return nil, fmt.Errorf("encrypted file truncated (%d bytes)", len(env))
	}
	if err := checkEnvelope(env[:envHeaderLen]); err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, env[10:envHeaderLen], env[envHeaderLen:], env[:envHeaderLen])
	if err != nil {
		return nil, errAuth
	}
	return plain, nil
}

// checkEnvelope checks the version and algorithm bytes of an envelope header.
func checkEnvelope(hdr []byte) error {
	if hdr[8] != envVersion {
		return fmt.Errorf("envelope version %d, this build reads %d", hdr[8], envVersion)
	}
	if hdr[9] != envAESGCM {
		return fmt.Errorf("envelope algorithm %d unknown (want 1, AES-256-GCM)", hdr[9])
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// maxKeyFile bounds what ReadKeyFile reads: a key file is 32 or 65 bytes.
const maxKeyFile = 1024

// ReadKeyFile reads a key file: 64 hexadecimal characters (surrounding whitespace allowed) or 32 raw
// bytes. It refuses files that others can read, and anything but a regular file (a named pipe or
// device is refused at once, without blocking or reading from it).
func ReadKeyFile(path string) ([]byte, error) {
	name := path
	f, st, err := safefile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("key: %s: %w", name, safefile.Cause(err))
	}
	defer f.Close()
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("key: %s: %d bytes, not a key file", name, st.Size())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key: %s: permissions %04o let others read it; chmod 600 it", name, st.Mode().Perm())
	}
	b, err := safefile.ReadAtMost(f, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("key: %s: %w", name, safefile.Cause(err))
	}
	if len(b) == KeySize {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("key: %s: want %d hex characters or %d raw bytes", name, 2*KeySize, KeySize)
	}
	return k, nil
}

// NewKey returns a fresh random key, hex-encoded with a trailing newline, for a key file.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(k) + "\n"), nil
}

// Envelope is what an encrypted file's header says. It is readable without the key, and it is
// authenticated only when the file is decrypted: until then it is a claim.
type Envelope struct {
	Version   int    // envelope version (this build writes and reads 1)
	Algorithm int    // 1: AES-256-GCM
	Nonce     []byte // the 96-bit GCM nonce
	// Size is the ciphertext's length, GCM tag included; the plaintext is 16 bytes shorter.
	Size int64
}

// AlgorithmName names e.Algorithm: "AES-256-GCM", or "unknown algorithm N".
func (e Envelope) AlgorithmName() string {
	if e.Algorithm == envAESGCM {
		return "AES-256-GCM"
	}
	return fmt.Sprintf("unknown algorithm %d", e.Algorithm)
}

// EnvelopeHeaderLen is how many bytes of a file ReadEnvelope needs.
const EnvelopeHeaderLen = envHeaderLen

// ReadEnvelope parses the header of an encrypted file of size bytes, of which head holds the first
// EnvelopeHeaderLen (or all, if fewer). It checks the magic and the length and reports the version and
// algorithm as they are, known or not, so that a newer file can be described.
func ReadEnvelope(head []byte, size int64) (Envelope, error) {
	if !IsEncrypted(head) {
		return Envelope{}, errors.New("not an encrypted dltrain file")
	}
	if len(head) < envHeaderLen || size < envHeaderLen+16 {
		return Envelope{}, fmt.Errorf("encrypted file truncated (%d bytes)", size)
	}
	return Envelope{Version: int(head[8]), Algorithm: int(head[9]),
		Nonce: append([]byte(nil), head[10:envHeaderLen]...), Size: size - envHeaderLen}, nil
}
