package main

// This file reads how much memory a new allocation can still get on Linux.

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// availableMemory is MemAvailable from /proc/meminfo, or less when the cgroup the process runs in
// (a container's limit: cgroup v2 memory.max, v1 memory.limit_in_bytes) leaves less; 0 when unknown.
func availableMemory() int64 {
	avail := meminfo("MemAvailable")
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, used := readInt(p[0]), readInt(p[1])
		if limit <= 0 || limit >= 1<<60 {
			continue
		}
		if left := max(limit-used, 0); avail == 0 || left < avail {
			avail = left
		}
	}
	return avail
}

// meminfo reads one field of /proc/meminfo, in bytes; 0 when absent.
func meminfo(key string) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// readInt reads a file holding one integer ("max" and errors read as 0).
func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return v
}
