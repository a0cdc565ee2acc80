//go:build !linux

package main

// availableMemory is unknown on this system: train then checks its memory estimate only against
// --memory-limit.
func availableMemory() int64 { return 0 }
