package checkpoint

import (
	"bytes"
	"testing"

	"github.com/dltrain/dltrain/internal/model"
	"github.com/dltrain/dltrain/internal/ops"
)

// FuzzDecode: the checkpoint reader never panics, and whatever it accepts encodes back to a file it
// accepts with the same tensors. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	m, _ := model.New(model.NewConfig(nil, ops.ReLU, model.CrossEntropy), 1)
	good, _ := Encode(Checkpoint{Model: m, Meta: Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 0.01, Momentum: 0.9}}})
	f.Add(good)
	f.Add(good[:len(good)/2])
	m.ExpAvg, m.ExpAvgSq = make([]float32, len(m.Params)), make([]float32, len(m.Params))
	adam, _ := Encode(Checkpoint{Model: m, Meta: Meta{Hyper: model.Hyper{Epochs: 1, BatchSize: 100, LR: 1e-3, Optimizer: model.Adam,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, ValSplit: 10}}})
	f.Add(adam)
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode of a decoded checkpoint: %v", err)
		}
		c2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode of a re-encoded checkpoint: %v", err)
		}
		if !bytes.Equal(F32Bytes(c.Params), F32Bytes(c2.Params)) {
			t.Fatal("round trip changed the parameters")
		}
	})
}

// FuzzDecrypt: the envelope reader never panics on hostile input.
func FuzzDecrypt(f *testing.F) {
	key := bytes.Repeat([]byte{1}, KeySize)
	sealed, _ := Encrypt(key, []byte("payload"))
	f.Add(sealed)
	f.Add([]byte("DLTRAINE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every envelope sealed under this key holds "payload"; opening anything else would be a forgery.
		if plain, err := Decrypt(key, b); err == nil && !bytes.Equal(plain, []byte("payload")) {
			t.Fatalf("Decrypt accepted an envelope it never sealed: %q", b)
		}
	})
}
