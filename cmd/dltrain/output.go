package main

// This file is how the commands print what is not theirs to choose: JSON that stays valid when a
// value is not finite (JSON has no NaN or Inf), and names with control characters escaped so that a
// file name cannot forge or break lines of text output.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// marshalFinite is json.Marshal, except that a NaN or infinite float is written as null instead of
// failing; nulled reports whether any was. The output is json.Marshal's whenever every value is
// finite. It knows the kinds this package prints: structs (with json tags), slices, arrays, maps,
// pointers and scalars.
func marshalFinite(v any) (b []byte, nulled bool, err error) {
	b, err = json.Marshal(v)
	var ue *json.UnsupportedValueError
	if err == nil || !errors.As(err, &ue) {
		return b, false, err
	}
	b, err = json.Marshal(finite(reflect.ValueOf(v)))
	return b, true, err
}

// object is a JSON object whose keys keep their order.
type object []field

type field struct {
	key string
	val any
}

func (o object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// finite rebuilds v with every non-finite float replaced by nil.
func finite(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return finite(v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = finite(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = finite(it.Value())
		}
		return out
	case reflect.Struct:
		var o object
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if strings.Contains(opts, "omitempty") && v.Field(i).IsZero() {
				continue
			}
			o = append(o, field{name, finite(v.Field(i))})
		}
		return o
	}
	return v.Interface()
}

// printJSON prints v as one line of JSON on io.Out (marshalFinite), and says on io.Err when a value
// was not finite.
func printJSON(io *IO, v any) error {
	b, nulled, err := marshalFinite(v)
	if err != nil {
		return err
	}
	if nulled {
		fmt.Fprintln(io.Err, "dltrain: warning: some values are not finite (NaN or ±Inf); --json writes them as null")
	}
	// A failed write is Main's to report, as for a text report (checkedWriter): a full disk fails
	// the command, a reader that went away does not.
	fmt.Fprintln(io.Out, string(b))
	return nil
}

// printable returns s as it is when it prints as one plain line, and Go-quoted (control characters
// and invalid UTF-8 escaped) otherwise.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// escapeControls escapes control characters and invalid UTF-8 inside a message, leaving the rest
// as it is, so that a message is one line whatever file names it carries.
func escapeControls(s string) string {
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
	}
	return b.String()
}
