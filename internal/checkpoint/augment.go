package checkpoint

// augment.go: the checkpoint's record of the training images' deformation (--augment and its ranges),
// which --resume needs to keep deforming each epoch's images as an uninterrupted run would.
//
// Format version 3. A run with augmentation writes the version 2 keys (optim.go) and the keys below,
// as format_version "3": a build that reads only versions 1 and 2 would resume such a run without its
// deformations, so it must refuse the file instead. A run without augmentation writes no augment key
// and keeps its version 1 or 2, byte for byte as before. In a version 1 or 2 file the keys must be
// absent; in a version 3 file they must be present and valid.

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dltrain/dltrain/internal/augment"
	"github.com/dltrain/dltrain/internal/model"
)

// FormatVersion3 is the format version of checkpoints trained with augmentation.
const FormatVersion3 = "3"

// augmentKeys are the metadata keys only a version 3 checkpoint may hold. They are named after the
// train flags: --augment, --rotate, --scale, --shear, --shift, --elastic-sigma, --elastic-alpha.
var augmentKeys = []string{"augment", "rotate", "scale", "shear", "shift", "elastic_sigma", "elastic_alpha"}

// putAugment adds the augment keys of h to meta and returns the format version: FormatVersion3 with
// augmentation, else version (putTraining's) unchanged.
func putAugment(meta map[string]string, h model.Hyper, version string) string {
	a := h.Augment
	if a.Mode == augment.None {
		return version
	}
	meta["augment"] = a.Mode.String()
	meta["rotate"], meta["scale"], meta["shear"], meta["shift"] = ftoa(a.Rotation), ftoa(a.Scale), ftoa(a.Shear), ftoa(a.Translate)
	if a.Mode == augment.Elastic {
		meta["elastic_sigma"], meta["elastic_alpha"] = ftoa(a.Sigma), ftoa(a.Alpha)
	}
	return FormatVersion3
}

// getAugment reads the augment keys of md into h: required in a version 3 checkpoint, refused in the
// others.
func getAugment(md map[string]string, version string, h *model.Hyper) error {
	if version != FormatVersion3 {
		for _, k := range augmentKeys {
			if _, ok := md[k]; ok {
				return fmt.Errorf("metadata: %s in a format version %s checkpoint (it needs version %s)", k, version, FormatVersion3)
			}
		}
		return nil
	}
	mode, err := augment.ParseMode(md["augment"])
	if err != nil || mode == augment.None {
		return fmt.Errorf("metadata: bad augment %q in a format version %s checkpoint, want affine or elastic", md["augment"], version)
	}
	num := func(k string) float64 {
		v, e := strconv.ParseFloat(md[k], 64)
		if err == nil && (e != nil || math.IsNaN(v)) {
			err = fmt.Errorf("metadata: bad %s %q", k, md[k])
		}
		return v
	}
	a := augment.Params{Mode: mode, Rotation: num("rotate"), Scale: num("scale"), Shear: num("shear"), Translate: num("shift")}
	if mode == augment.Elastic {
		a.Sigma, a.Alpha = num("elastic_sigma"), num("elastic_alpha")
	} else {
		for _, k := range []string{"elastic_sigma", "elastic_alpha"} {
			if _, ok := md[k]; ok && err == nil {
				err = fmt.Errorf("metadata: %s with augment %s", k, mode)
			}
		}
	}
	if err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("metadata: %v", err)
	}
	h.Augment = a
	return nil
}
