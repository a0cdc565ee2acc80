package checkpoint

// This file is the checkpoint's record of adversarial training (model.Adversarial): the attack that
// crafted the training batches, so that --resume goes on attacking them the same way. It is part of
// format version 2 (optim.go): a checkpoint trained adversarially is version 2, and in a version 2
// checkpoint the absence of these keys means plain training.

import (
	"fmt"
	"strconv"

	"github.com/dltrain/dltrain/internal/attack"
	"github.com/dltrain/dltrain/internal/model"
)

// advKeys are the adversarial training keys, all present or all absent.
var advKeys = []string{"adversarial", "adv_eps", "adv_steps", "adv_step_size", "adv_ratio"}

// putAdversarial records a in meta when it is on.
func putAdversarial(meta map[string]string, a model.Adversarial) {
	if !a.On() {
		return
	}
	meta["adversarial"] = a.Method.String()
	meta["adv_eps"], meta["adv_steps"] = ftoa(a.Eps), strconv.Itoa(a.Steps)
	meta["adv_step_size"], meta["adv_ratio"] = ftoa(a.StepSize), ftoa(a.Ratio)
}

// getAdversarial reads the adversarial training keys of md, if any, and checks them.
func getAdversarial(md map[string]string) (model.Adversarial, error) {
	var a model.Adversarial
	n := 0
	for _, k := range advKeys {
		if _, ok := md[k]; ok {
			n++
		}
	}
	if n == 0 {
		return a, nil
	}
	if n != len(advKeys) {
		return a, fmt.Errorf("metadata: adversarial training needs all of %v", advKeys)
	}
	var err error
	if a.Method, err = attack.ParseMethod(md["adversarial"]); err != nil {
		return a, fmt.Errorf("metadata: %v", err)
	}
	bad := func(k string) error { return fmt.Errorf("metadata: bad %s %q", k, md[k]) }
	if a.Eps, err = strconv.ParseFloat(md["adv_eps"], 64); err != nil {
		return a, bad("adv_eps")
	}
	if a.Steps, err = strconv.Atoi(md["adv_steps"]); err != nil {
		return a, bad("adv_steps")
	}
	if a.StepSize, err = strconv.ParseFloat(md["adv_step_size"], 64); err != nil {
		return a, bad("adv_step_size")
	}
	if a.Ratio, err = strconv.ParseFloat(md["adv_ratio"], 64); err != nil {
		return a, bad("adv_ratio")
	}
	if !a.On() {
		return a, bad("adv_eps")
	}
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("metadata: %v", err)
	}
	return a, nil
}
