package ref

// SGDMomentum is PyTorch's SGD with momentum (dampening 0, no Nesterov, no weight decay):
// v = μ·v + g; p −= lr·v, over N parameters.
func SGDMomentum[F Float](params, velocity, grads []F, lr, mu F, N int) {
	params, velocity, grads = params[:N], velocity[:N], grads[:N]
	for i, g := range grads {
		// Each product is rounded before its sum (F(…); see "Rounding" in the package doc), as
		// sgd.ptx does, so the update is the same bits on every machine and on the GPU.
		v := F(mu*velocity[i]) + g
		velocity[i] = v
		params[i] -= F(lr * v)
	}
}
