// Command dltrain trains neural networks on MNIST, on the CPU or on an NVIDIA GPU.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], NewFactory()))
}
