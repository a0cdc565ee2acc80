// AVX2 kernels for augment.go: the smoothing product mm28 and the warp. Both repeat the portable Go
// code's float32 operations in its order, with separate multiplies and adds (no FMA), so their
// results are the same bits; only the number of lanes differs.

#include "textflag.h"

// func mm28AVX2(out *float32, ldo int, a *float32, lda int, b *float32, n int)
//
// out[i][0:32] = Σ_{k=0..27} a[i][k]·b[k][0:32] for i < n (n even), two rows at a time: the 2×32
// accumulators live in Y0..Y7; each k broadcasts a[i][k] and a[i+1][k] into Y12, Y13 and multiplies
// b's row k (four vectors, read from memory) into Y14/Y15 before adding.
TEXT ·mm28AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), R8
	SHLQ $2, R8                 // ldo in bytes
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), R9
	SHLQ $2, R9                 // lda in bytes
	MOVQ b+32(FP), BX
	MOVQ n+40(FP), CX
	SHRQ $1, CX                 // row pairs
	JZ   mmdone

mmpair:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, AX                 // &a[i][0]
	LEAQ (SI)(R9*1), R10        // &a[i+1][0]
	MOVQ BX, R11                // &b[0][0]
	MOVQ $28, DX

mmk:
	VBROADCASTSS (AX), Y12
	VBROADCASTSS (R10), Y13
	VMULPS (R11), Y12, Y14
	VADDPS Y14, Y0, Y0
	VMULPS 32(R11), Y12, Y15
	VADDPS Y15, Y1, Y1
	VMULPS 64(R11), Y12, Y14
	VADDPS Y14, Y2, Y2
	VMULPS 96(R11), Y12, Y15
	VADDPS Y15, Y3, Y3
	VMULPS (R11), Y13, Y14
	VADDPS Y14, Y4, Y4
	VMULPS 32(R11), Y13, Y15
	VADDPS Y15, Y5, Y5
	VMULPS 64(R11), Y13, Y14
	VADDPS Y14, Y6, Y6
	VMULPS 96(R11), Y13, Y15
	VADDPS Y15, Y7, Y7
	ADDQ $4, AX
	ADDQ $4, R10
	ADDQ $128, R11
	DECQ DX
	JNZ  mmk

	// Row i, then row i+1: with ldo = 28 the second overwrites the first's padding.
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	LEAQ (DI)(R8*1), DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	VMOVUPS Y6, 64(DX)
	VMOVUPS Y7, 96(DX)
	LEAQ (DI)(R8*2), DI
	LEAQ (SI)(R9*2), SI
	DECQ CX
	JNZ  mmpair

mmdone:
	VZEROUPPER
	RET

// Offsets in warpConsts (R10) and warpFixed (R11), 32 bytes per field.
#define C_A 0
#define C_B 32
#define C_C 64
#define C_D 96
#define C_TX 128
#define C_TY 160
#define C_ALPHA 192
#define F_CENTRE 0
#define F_MINUS1 32
#define F_28 64
#define F_ONE 96
#define F_ZERO 128
#define F_255 160
#define F_HALF 192
#define F_I30 224
#define F_I31 256
#define F_I255 288

// func warpAVX2asm(out *float32, img *uint8, s, xs, ys *float32, c *warpConsts, f *warpFixed, elastic bool)
//
// 98 groups of eight pixels q (784 = 98·8, so no tail), each as warpGo and sample do it:
//   X = xs − tx, Y = ys − ty; qx = a·X + b·Y [+ α·sx]; qy = c·X + d·Y [+ α·sy]; both + 13.5
//   inside = qx ≥ −1 ∧ qx < 28 ∧ qy ≥ −1 ∧ qy < 28 (ordered compares: false for NaN)
//   x0 = floor(qx), fx = qx − x0, gx = 1 − fx (likewise y); k = (y0+1)·30 + x0+1, 0 outside
//   v = gy·(gx·img[k] + fx·img[k+1]) + fy·(gx·img[k+30] + fx·img[k+31]), clamped to 0..255, 0 outside
// img is uint8: one 4-byte gather at k brings img[k] and img[k+1] (bytes 0 and 1), one at k+30 the
// row below; the bytes are widened and converted exactly.
//   out = (v/255 − 0.5)/0.5
TEXT ·warpAVX2asm(SB), NOSPLIT, $0-57
	MOVQ out+0(FP), DI
	MOVQ img+8(FP), BX
	MOVQ s+16(FP), SI
	MOVQ xs+24(FP), R8
	MOVQ ys+32(FP), R9
	MOVQ c+40(FP), R10
	MOVQ f+48(FP), R11
	MOVBLZX elastic+56(FP), R12
	MOVQ $98, CX

wloop:
	VMOVUPS (R8), Y0
	VSUBPS  C_TX(R10), Y0, Y0   // X
	VMOVUPS (R9), Y1
	VSUBPS  C_TY(R10), Y1, Y1   // Y
	VMULPS  C_A(R10), Y0, Y2
	VMULPS  C_B(R10), Y1, Y4
	VADDPS  Y4, Y2, Y2          // qx = a·X + b·Y
	VMULPS  C_C(R10), Y0, Y3
	VMULPS  C_D(R10), Y1, Y4
	VADDPS  Y4, Y3, Y3          // qy = c·X + d·Y
	TESTQ   R12, R12
	JZ      wcentre
	VMOVUPS C_ALPHA(R10), Y4
	VMULPS  (SI), Y4, Y4
	VADDPS  Y4, Y2, Y2          // qx += α·sx
	VMOVUPS C_ALPHA(R10), Y4
	VMULPS  3136(SI), Y4, Y4    // sy = sx + 784 floats
	VADDPS  Y4, Y3, Y3          // qy += α·sy

wcentre:
	VADDPS  F_CENTRE(R11), Y2, Y2
	VADDPS  F_CENTRE(R11), Y3, Y3

	// The inside mask, in Y5. Predicates: 0x1d GE_OQ, 0x11 LT_OQ.
	VCMPPS  $0x1d, F_MINUS1(R11), Y2, Y5
	VCMPPS  $0x11, F_28(R11), Y2, Y4
	VANDPS  Y4, Y5, Y5
	VCMPPS  $0x1d, F_MINUS1(R11), Y3, Y4
	VANDPS  Y4, Y5, Y5
	VCMPPS  $0x11, F_28(R11), Y3, Y4
	VANDPS  Y4, Y5, Y5

	// Floors (round toward −∞, no precision exception) and the weights.
	VROUNDPS $9, Y2, Y6         // x0
	VROUNDPS $9, Y3, Y7         // y0
	VSUBPS  Y6, Y2, Y8          // fx = qx − x0
	VSUBPS  Y7, Y3, Y10         // fy = qy − y0
	VMOVUPS F_ONE(R11), Y4
	VSUBPS  Y8, Y4, Y9          // gx = 1 − fx
	VSUBPS  Y10, Y4, Y11        // gy = 1 − fy

	// k = y0·30 + x0 + 31, masked to 0 outside so every gather reads inside img.
	VCVTTPS2DQ Y6, Y6
	VCVTTPS2DQ Y7, Y7
	VPMULLD F_I30(R11), Y7, Y7
	VPADDD  Y6, Y7, Y7
	VPADDD  F_I31(R11), Y7, Y7
	VPAND   Y5, Y7, Y7

	VMOVDQU F_I255(R11), Y15
	VPCMPEQD Y12, Y12, Y12
	VPGATHERDD Y12, (BX)(Y7*1), Y13      // bytes img[k], img[k+1], ...
	VPAND   Y15, Y13, Y14
	VCVTDQ2PS Y14, Y14                   // p00
	VPSRLD  $8, Y13, Y13
	VPAND   Y15, Y13, Y13
	VCVTDQ2PS Y13, Y13                   // p01
	VMULPS  Y14, Y9, Y0
	VMULPS  Y13, Y8, Y1
	VADDPS  Y1, Y0, Y0                   // top = gx·p00 + fx·p01
	VPCMPEQD Y12, Y12, Y12
	VPGATHERDD Y12, 30(BX)(Y7*1), Y13    // bytes img[k+30], img[k+31], ...
	VPAND   Y15, Y13, Y14
	VCVTDQ2PS Y14, Y14                   // p10
	VPSRLD  $8, Y13, Y13
	VPAND   Y15, Y13, Y13
	VCVTDQ2PS Y13, Y13                   // p11
	VMULPS  Y14, Y9, Y1
	VMULPS  Y13, Y8, Y2
	VADDPS  Y2, Y1, Y1                   // bot = gx·p10 + fx·p11
	VMULPS  Y0, Y11, Y0
	VMULPS  Y1, Y10, Y1
	VADDPS  Y1, Y0, Y0                   // v = gy·top + fy·bot
	VMAXPS  F_ZERO(R11), Y0, Y0
	VMINPS  F_255(R11), Y0, Y0
	VANDPS  Y5, Y0, Y0                   // 0 outside
	VDIVPS  F_255(R11), Y0, Y0
	VSUBPS  F_HALF(R11), Y0, Y0
	VDIVPS  F_HALF(R11), Y0, Y0          // (v/255 − 0.5)/0.5
	VMOVUPS Y0, (DI)

	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  wloop
	VZEROUPPER
	RET

// Offsets in fieldFixed (BX).
#define G_STEP 0
#define G_M1LO 32
#define G_M1HI 64
#define G_M2LO 96
#define G_M2HI 128
#define G_SCALE 160
#define G_ONE 192
#define G_MASK24 224

// MUL64(z, lo, hi, t1, t2): z = z·m mod 2^64 in each 64-bit lane, m's halves at lo and hi:
// lo(z)·lo(m) + ((hi(z)·lo(m) + lo(z)·hi(m)) << 32), the cross terms needed only mod 2^32.
#define MUL64(z, lo, hi, t1, t2) \
	VPSRLQ $32, z, t1; \
	VPMULUDQ lo(BX), t1, t1; \
	VPMULUDQ hi(BX), z, t2; \
	VPADDQ t2, t1, t1; \
	VPSLLQ $32, t1, t1; \
	VPMULUDQ lo(BX), z, z; \
	VPADDQ t1, z, z

// MIX(z, t1, t2): splitmix64's finalizer on each 64-bit lane of z (rng.go's mix).
#define MIX(z, t1, t2) \
	VPSRLQ $30, z, t1; \
	VPXOR t1, z, z; \
	MUL64(z, G_M1LO, G_M1HI, t1, t2); \
	VPSRLQ $27, z, t1; \
	VPXOR t1, z, z; \
	MUL64(z, G_M2LO, G_M2HI, t1, t2); \
	VPSRLQ $31, z, t1; \
	VPXOR t1, z, z

// func fieldAVX2asm(fx, fy *float32, z *[8]uint64, c *fieldFixed)
//
// 98 groups of eight pixels. Y0 holds the counters of pixels p+0, p+1, p+4, p+5 and Y1 those of
// p+2, p+3, p+6, p+7; both advance by 8·golden a group. After mixing, VSHUFPS $0x88 takes the low
// dword of every 64-bit lane of (Y2, Y3) in the order p+0..p+7; uniform uses bits 40..63
// (shift 40), uniformMid bits 16..39 (shift 16, mask); k·2^-23 − 1 as rng.go's uniform, exact.
TEXT ·fieldAVX2asm(SB), NOSPLIT, $0-32
	MOVQ fx+0(FP), DI
	MOVQ fy+8(FP), SI
	MOVQ z+16(FP), AX
	MOVQ c+24(FP), BX
	VMOVDQU (AX), Y0
	VMOVDQU 32(AX), Y1
	MOVQ $98, CX

floop:
	VMOVDQA Y0, Y2
	VMOVDQA Y1, Y3
	MIX(Y2, Y6, Y7)
	MIX(Y3, Y8, Y9)
	VPSRLQ  $40, Y2, Y4
	VPSRLQ  $40, Y3, Y5
	VSHUFPS $0x88, Y5, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS  G_SCALE(BX), Y4, Y4
	VSUBPS  G_ONE(BX), Y4, Y4
	VMOVUPS Y4, (DI)
	VPSRLQ  $16, Y2, Y4
	VPSRLQ  $16, Y3, Y5
	VSHUFPS $0x88, Y5, Y4, Y4
	VPAND   G_MASK24(BX), Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS  G_SCALE(BX), Y4, Y4
	VSUBPS  G_ONE(BX), Y4, Y4
	VMOVUPS Y4, (SI)
	VPADDQ  G_STEP(BX), Y0, Y0
	VPADDQ  G_STEP(BX), Y1, Y1
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  floop
	VZEROUPPER
	RET
