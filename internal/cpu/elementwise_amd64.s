// AVX2 loops for the elementwise ops of the CPU backend (elementwise.go), 8 floats at a time; the Go
// side hands them whole multiples of 8 and runs a ragged tail through an 8-float buffer, so every
// element goes through the same instructions. They are AVX2 only: these loops are bound by memory
// or by a short dependency chain, not by the FMA units, so 512-bit registers would not make them
// faster on the machines measured (bench/NOTES.md), and one version keeps the AVX2 and AVX-512
// paths bit-identical.
//
// Each op performs the reference's float32 operations in the reference's order, one rounding each
// (no fused multiply-add where the reference has none), so its results are the reference's bits:
// the conformance suite checks them with a tolerance of 0. The exceptions are tanh and sigmoid, which
// are float32 approximations (see fastmath.go for the algorithm and its error).

#include "textflag.h"

// BCAST(imm, reg): broadcast a float32 constant given by its bits into the 8 lanes of reg.
#define BCAST(imm, reg) \
	MOVL $imm, AX; \
	VMOVD AX, X15; \
	VBROADCASTSS X15, reg

// func gatherAVX2(dst *float32, src *uint8, n int)
//
// dst[i] = (float32(src[i])/255 − 0.5)/0.5 for i < n (a multiple of 8). The division by 255 is done
// as q = p·(1/255) refined once with the exact residual p − q·255 (two FMAs); for the 256 possible
// pixels this gives the correctly rounded quotient, which TestGatherTable checks against the Go
// division for each of them. Subtracting 0.5 and dividing by 0.5 are exact, done as − 0.5 and · 2.
TEXT ·gatherAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JEQ gdone
	BCAST(0x3b808081, Y1) // 1/255
	BCAST(0x437f0000, Y2) // 255
	BCAST(0x3f000000, Y3) // 0.5
	BCAST(0x40000000, Y4) // 2
gloop:
	VPMOVZXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y1, Y0, Y5        // q = p/255, rounded
	VMOVAPS Y0, Y6
	VFNMADD231PS Y2, Y5, Y6  // r = p − q·255, exact
	VFMADD231PS Y1, Y6, Y5   // q += r/255
	VSUBPS Y3, Y5, Y5
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $8, SI
	ADDQ $32, DI
	DECQ CX
	JNE gloop
gdone:
	VZEROUPPER
	RET

// func sgdAVX2(p, v, grad *float32, n int, lr, mu float32)
//
// v = mu·v + g; p = p − lr·v, for n elements (a multiple of 8).
TEXT ·sgdAVX2(SB), NOSPLIT, $0-40
	MOVQ p+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ grad+16(FP), DX
	MOVQ n+24(FP), CX
	VMOVSS lr+32(FP), X14
	VBROADCASTSS X14, Y14
	VMOVSS mu+36(FP), X15
	VBROADCASTSS X15, Y15
	SHRQ $3, CX
	JEQ sdone
sloop:
	VMULPS (SI), Y15, Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (SI)
	VMULPS Y14, Y0, Y1
	VMOVUPS (DI), Y2
	VSUBPS Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNE sloop
sdone:
	VZEROUPPER
	RET

// func actBackwardAVX2(dinp, dout, out *float32, n int, act int)
//
// dinp = dout·act'(x) from the activation's output y (ref.ActivationBackward): ReLU dout where
// y > 0, else +0 (NaN y gives 0); sigmoid (dout·y)·(1 − y); tanh dout·(1 − y·y). n is a multiple
// of 8; act is ops.ReLU, Sigmoid or Tanh (the caller copies for Identity).
TEXT ·actBackwardAVX2(SB), NOSPLIT, $0-40
	MOVQ dinp+0(FP), DI
	MOVQ dout+8(FP), SI
	MOVQ out+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ act+32(FP), BX
	SHRQ $3, CX
	JEQ adone
	BCAST(0x3f800000, Y14) // 1
	VXORPS Y13, Y13, Y13
	CMPQ BX, $1
	JEQ asig
	CMPQ BX, $2
	JEQ atanh
arelu:
	VMOVUPS (DX), Y0
	VCMPPS $0x1e, Y13, Y0, Y1 // y > 0, ordered: false for NaN
	VANDPS (SI), Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNE arelu
	JMP adone
asig:
	VMOVUPS (DX), Y0
	VMULPS (SI), Y0, Y1   // dout·y
	VSUBPS Y0, Y14, Y2    // 1 − y
	VMULPS Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNE asig
	JMP adone
atanh:
	VMOVUPS (DX), Y0
	VMULPS Y0, Y0, Y1     // y·y
	VSUBPS Y1, Y14, Y1    // 1 − y·y
	VMULPS (SI), Y1, Y1   // dout·(1 − y·y)
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNE atanh
adone:
	VZEROUPPER
	RET

// func colSumsAVX2(dst, src *float32, rows, ld, n int)
//
// dst[j] = Σ_b src[b·ld + j] for j < n (a multiple of 8), the rows added in order b = 0, 1, … to a
// sum that starts at +0, as ref.ColumnSums does: 8 columns per pass, four passes' worth (32
// columns) at a time while they last.
TEXT ·colSumsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), CX
c32:
	CMPQ CX, $32
	JLT c8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ SI, DX
	MOVQ R8, BX
	TESTQ BX, BX
	JEQ c32store
c32loop:
	VADDPS (DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS 96(DX), Y3, Y3
	ADDQ R9, DX
	DECQ BX
	JNE c32loop
c32store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP c32
c8:
	CMPQ CX, $8
	JLT cdone
	VXORPS Y0, Y0, Y0
	MOVQ SI, DX
	MOVQ R8, BX
	TESTQ BX, BX
	JEQ c8store
c8loop:
	VADDPS (DX), Y0, Y0
	ADDQ R9, DX
	DECQ BX
	JNE c8loop
c8store:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP c8
cdone:
	VZEROUPPER
	RET

// func prefetchRows(p *uint8, n int)
//
// Asks for the cache lines holding p[0:n] (n > 0), into every level: Gather calls it on the images
// of the next batch, which are scattered over the 47 MB training set and would otherwise each cost
// a trip to memory in the next step.
TEXT ·prefetchRows(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ -1(SI)(CX*1), DX // the last byte
	ANDQ $-64, SI
pfloop:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	CMPQ SI, DX
	JLE pfloop
	RET
