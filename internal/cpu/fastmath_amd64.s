// AVX2 bias + activation for MatmulForward's epilogue, with the float32 sigmoid and tanh of
// fastmath.go (which documents the algorithm, its constants and its measured error; tanhGo and
// sigmoidGo there are the same steps in Go). 8 floats at a time; the Go side (biasAct) runs a ragged
// tail through an 8-float buffer, so every element goes through these instructions.

#include "textflag.h"

// The constants, each repeated in the 8 lanes of a 32-byte row: exp's range reduction (log2 e, ln 2
// split in two), its polynomial e0..e5 and exponent bias, the clamps, tanh's polynomial t0..t4 and
// the switch point between tanh's two formulas.
DATA fm<>+0(SB)/4, $0x3fb8aa3b
DATA fm<>+4(SB)/4, $0x3fb8aa3b
DATA fm<>+8(SB)/4, $0x3fb8aa3b
DATA fm<>+12(SB)/4, $0x3fb8aa3b
DATA fm<>+16(SB)/4, $0x3fb8aa3b
DATA fm<>+20(SB)/4, $0x3fb8aa3b
DATA fm<>+24(SB)/4, $0x3fb8aa3b
DATA fm<>+28(SB)/4, $0x3fb8aa3b
DATA fm<>+32(SB)/4, $0x3f318000
DATA fm<>+36(SB)/4, $0x3f318000
DATA fm<>+40(SB)/4, $0x3f318000
DATA fm<>+44(SB)/4, $0x3f318000
DATA fm<>+48(SB)/4, $0x3f318000
DATA fm<>+52(SB)/4, $0x3f318000
DATA fm<>+56(SB)/4, $0x3f318000
DATA fm<>+60(SB)/4, $0x3f318000
DATA fm<>+64(SB)/4, $0xb95e8083
DATA fm<>+68(SB)/4, $0xb95e8083
DATA fm<>+72(SB)/4, $0xb95e8083
DATA fm<>+76(SB)/4, $0xb95e8083
DATA fm<>+80(SB)/4, $0xb95e8083
DATA fm<>+84(SB)/4, $0xb95e8083
DATA fm<>+88(SB)/4, $0xb95e8083
DATA fm<>+92(SB)/4, $0xb95e8083
DATA fm<>+96(SB)/4, $0x39506967
DATA fm<>+100(SB)/4, $0x39506967
DATA fm<>+104(SB)/4, $0x39506967
DATA fm<>+108(SB)/4, $0x39506967
DATA fm<>+112(SB)/4, $0x39506967
DATA fm<>+116(SB)/4, $0x39506967
DATA fm<>+120(SB)/4, $0x39506967
DATA fm<>+124(SB)/4, $0x39506967
DATA fm<>+128(SB)/4, $0x3ab743ce
DATA fm<>+132(SB)/4, $0x3ab743ce
DATA fm<>+136(SB)/4, $0x3ab743ce
DATA fm<>+140(SB)/4, $0x3ab743ce
DATA fm<>+144(SB)/4, $0x3ab743ce
DATA fm<>+148(SB)/4, $0x3ab743ce
DATA fm<>+152(SB)/4, $0x3ab743ce
DATA fm<>+156(SB)/4, $0x3ab743ce
DATA fm<>+160(SB)/4, $0x3c088908
DATA fm<>+164(SB)/4, $0x3c088908
DATA fm<>+168(SB)/4, $0x3c088908
DATA fm<>+172(SB)/4, $0x3c088908
DATA fm<>+176(SB)/4, $0x3c088908
DATA fm<>+180(SB)/4, $0x3c088908
DATA fm<>+184(SB)/4, $0x3c088908
DATA fm<>+188(SB)/4, $0x3c088908
DATA fm<>+192(SB)/4, $0x3d2aa9c1
DATA fm<>+196(SB)/4, $0x3d2aa9c1
DATA fm<>+200(SB)/4, $0x3d2aa9c1
DATA fm<>+204(SB)/4, $0x3d2aa9c1
DATA fm<>+208(SB)/4, $0x3d2aa9c1
DATA fm<>+212(SB)/4, $0x3d2aa9c1
DATA fm<>+216(SB)/4, $0x3d2aa9c1
DATA fm<>+220(SB)/4, $0x3d2aa9c1
DATA fm<>+224(SB)/4, $0x3e2aaaaa
DATA fm<>+228(SB)/4, $0x3e2aaaaa
DATA fm<>+232(SB)/4, $0x3e2aaaaa
DATA fm<>+236(SB)/4, $0x3e2aaaaa
DATA fm<>+240(SB)/4, $0x3e2aaaaa
DATA fm<>+244(SB)/4, $0x3e2aaaaa
DATA fm<>+248(SB)/4, $0x3e2aaaaa
DATA fm<>+252(SB)/4, $0x3e2aaaaa
DATA fm<>+256(SB)/4, $0x3f000000
DATA fm<>+260(SB)/4, $0x3f000000
DATA fm<>+264(SB)/4, $0x3f000000
DATA fm<>+268(SB)/4, $0x3f000000
DATA fm<>+272(SB)/4, $0x3f000000
DATA fm<>+276(SB)/4, $0x3f000000
DATA fm<>+280(SB)/4, $0x3f000000
DATA fm<>+284(SB)/4, $0x3f000000
DATA fm<>+288(SB)/4, $0x0000007f
DATA fm<>+292(SB)/4, $0x0000007f
DATA fm<>+296(SB)/4, $0x0000007f
DATA fm<>+300(SB)/4, $0x0000007f
DATA fm<>+304(SB)/4, $0x0000007f
DATA fm<>+308(SB)/4, $0x0000007f
DATA fm<>+312(SB)/4, $0x0000007f
DATA fm<>+316(SB)/4, $0x0000007f
DATA fm<>+320(SB)/4, $0x3f800000
DATA fm<>+324(SB)/4, $0x3f800000
DATA fm<>+328(SB)/4, $0x3f800000
DATA fm<>+332(SB)/4, $0x3f800000
DATA fm<>+336(SB)/4, $0x3f800000
DATA fm<>+340(SB)/4, $0x3f800000
DATA fm<>+344(SB)/4, $0x3f800000
DATA fm<>+348(SB)/4, $0x3f800000
DATA fm<>+352(SB)/4, $0x40000000
DATA fm<>+356(SB)/4, $0x40000000
DATA fm<>+360(SB)/4, $0x40000000
DATA fm<>+364(SB)/4, $0x40000000
DATA fm<>+368(SB)/4, $0x40000000
DATA fm<>+372(SB)/4, $0x40000000
DATA fm<>+376(SB)/4, $0x40000000
DATA fm<>+380(SB)/4, $0x40000000
DATA fm<>+384(SB)/4, $0x80000000
DATA fm<>+388(SB)/4, $0x80000000
DATA fm<>+392(SB)/4, $0x80000000
DATA fm<>+396(SB)/4, $0x80000000
DATA fm<>+400(SB)/4, $0x80000000
DATA fm<>+404(SB)/4, $0x80000000
DATA fm<>+408(SB)/4, $0x80000000
DATA fm<>+412(SB)/4, $0x80000000
DATA fm<>+416(SB)/4, $0x7fffffff
DATA fm<>+420(SB)/4, $0x7fffffff
DATA fm<>+424(SB)/4, $0x7fffffff
DATA fm<>+428(SB)/4, $0x7fffffff
DATA fm<>+432(SB)/4, $0x7fffffff
DATA fm<>+436(SB)/4, $0x7fffffff
DATA fm<>+440(SB)/4, $0x7fffffff
DATA fm<>+444(SB)/4, $0x7fffffff
DATA fm<>+448(SB)/4, $0x42b0bd71
DATA fm<>+452(SB)/4, $0x42b0bd71
DATA fm<>+456(SB)/4, $0x42b0bd71
DATA fm<>+460(SB)/4, $0x42b0bd71
DATA fm<>+464(SB)/4, $0x42b0bd71
DATA fm<>+468(SB)/4, $0x42b0bd71
DATA fm<>+472(SB)/4, $0x42b0bd71
DATA fm<>+476(SB)/4, $0x42b0bd71
DATA fm<>+480(SB)/4, $0xc2aea8f6
DATA fm<>+484(SB)/4, $0xc2aea8f6
DATA fm<>+488(SB)/4, $0xc2aea8f6
DATA fm<>+492(SB)/4, $0xc2aea8f6
DATA fm<>+496(SB)/4, $0xc2aea8f6
DATA fm<>+500(SB)/4, $0xc2aea8f6
DATA fm<>+504(SB)/4, $0xc2aea8f6
DATA fm<>+508(SB)/4, $0xc2aea8f6
DATA fm<>+512(SB)/4, $0x41a00000
DATA fm<>+516(SB)/4, $0x41a00000
DATA fm<>+520(SB)/4, $0x41a00000
DATA fm<>+524(SB)/4, $0x41a00000
DATA fm<>+528(SB)/4, $0x41a00000
DATA fm<>+532(SB)/4, $0x41a00000
DATA fm<>+536(SB)/4, $0x41a00000
DATA fm<>+540(SB)/4, $0x41a00000
DATA fm<>+544(SB)/4, $0x3f200000
DATA fm<>+548(SB)/4, $0x3f200000
DATA fm<>+552(SB)/4, $0x3f200000
DATA fm<>+556(SB)/4, $0x3f200000
DATA fm<>+560(SB)/4, $0x3f200000
DATA fm<>+564(SB)/4, $0x3f200000
DATA fm<>+568(SB)/4, $0x3f200000
DATA fm<>+572(SB)/4, $0x3f200000
DATA fm<>+576(SB)/4, $0xbbbaf0ea
DATA fm<>+580(SB)/4, $0xbbbaf0ea
DATA fm<>+584(SB)/4, $0xbbbaf0ea
DATA fm<>+588(SB)/4, $0xbbbaf0ea
DATA fm<>+592(SB)/4, $0xbbbaf0ea
DATA fm<>+596(SB)/4, $0xbbbaf0ea
DATA fm<>+600(SB)/4, $0xbbbaf0ea
DATA fm<>+604(SB)/4, $0xbbbaf0ea
DATA fm<>+608(SB)/4, $0x3ca9134e
DATA fm<>+612(SB)/4, $0x3ca9134e
DATA fm<>+616(SB)/4, $0x3ca9134e
DATA fm<>+620(SB)/4, $0x3ca9134e
DATA fm<>+624(SB)/4, $0x3ca9134e
DATA fm<>+628(SB)/4, $0x3ca9134e
DATA fm<>+632(SB)/4, $0x3ca9134e
DATA fm<>+636(SB)/4, $0x3ca9134e
DATA fm<>+640(SB)/4, $0xbd5c1e2d
DATA fm<>+644(SB)/4, $0xbd5c1e2d
DATA fm<>+648(SB)/4, $0xbd5c1e2d
DATA fm<>+652(SB)/4, $0xbd5c1e2d
DATA fm<>+656(SB)/4, $0xbd5c1e2d
DATA fm<>+660(SB)/4, $0xbd5c1e2d
DATA fm<>+664(SB)/4, $0xbd5c1e2d
DATA fm<>+668(SB)/4, $0xbd5c1e2d
DATA fm<>+672(SB)/4, $0x3e088393
DATA fm<>+676(SB)/4, $0x3e088393
DATA fm<>+680(SB)/4, $0x3e088393
DATA fm<>+684(SB)/4, $0x3e088393
DATA fm<>+688(SB)/4, $0x3e088393
DATA fm<>+692(SB)/4, $0x3e088393
DATA fm<>+696(SB)/4, $0x3e088393
DATA fm<>+700(SB)/4, $0x3e088393
DATA fm<>+704(SB)/4, $0xbeaaaa99
DATA fm<>+708(SB)/4, $0xbeaaaa99
DATA fm<>+712(SB)/4, $0xbeaaaa99
DATA fm<>+716(SB)/4, $0xbeaaaa99
DATA fm<>+720(SB)/4, $0xbeaaaa99
DATA fm<>+724(SB)/4, $0xbeaaaa99
DATA fm<>+728(SB)/4, $0xbeaaaa99
DATA fm<>+732(SB)/4, $0xbeaaaa99
GLOBL fm<>(SB), RODATA|NOPTR, $736

#define LOG2E fm<>+0(SB)
#define LN2HI fm<>+32(SB)
#define LN2LO fm<>+64(SB)
#define E0 fm<>+96(SB)
#define E1 fm<>+128(SB)
#define E2 fm<>+160(SB)
#define E3 fm<>+192(SB)
#define E4 fm<>+224(SB)
#define E5 fm<>+256(SB)
#define I127 fm<>+288(SB)
#define ONE fm<>+320(SB)
#define TWO fm<>+352(SB)
#define SIGN fm<>+384(SB)
#define ABS fm<>+416(SB)
#define SHI fm<>+448(SB)
#define SLO fm<>+480(SB)
#define C20 fm<>+512(SB)
#define C0625 fm<>+544(SB)
#define T0 fm<>+576(SB)
#define T1 fm<>+608(SB)
#define T2 fm<>+640(SB)
#define T3 fm<>+672(SB)
#define T4 fm<>+704(SB)

// EXP8(t, n, z, p): t = e^t for t in [−87.33, 88.37] (NaN stays NaN), with n, z, p as temporaries.
// n = round(t·log2 e); r = t − n·ln2 (ln 2 in two parts, Cody and Waite); e^r ≈ 1 + r + r²·P(r)
// (Cephes expf's degree-5 P); then the result is scaled by 2^n built in the exponent bits.
#define EXP8(t, n, z, p) \
	VMULPS LOG2E, t, n; \
	VROUNDPS $0, n, n; \
	VFNMADD231PS LN2HI, n, t; \
	VFNMADD231PS LN2LO, n, t; \
	VMULPS t, t, z; \
	VMOVUPS E0, p; \
	VFMADD213PS E1, t, p; \
	VFMADD213PS E2, t, p; \
	VFMADD213PS E3, t, p; \
	VFMADD213PS E4, t, p; \
	VFMADD213PS E5, t, p; \
	VFMADD213PS t, z, p; \
	VADDPS ONE, p, p; \
	VCVTPS2DQ n, n; \
	VPADDD I127, n, n; \
	VPSLLD $23, n, n; \
	VMULPS n, p, t

// SIGMOID8: Y0 = 1/(1 + e^(−Y0)), the exponent's argument clamped to [−87.33, 88.37]. The clamps
// name the argument as their second source, which MINPS/MAXPS return when it is NaN, so NaN passes
// through.
#define SIGMOID8 \
	VXORPS SIGN, Y0, Y1; \
	VMOVUPS SHI, Y2; \
	VMINPS Y1, Y2, Y1; \
	VMOVUPS SLO, Y2; \
	VMAXPS Y1, Y2, Y1; \
	EXP8(Y1, Y2, Y3, Y4); \
	VADDPS ONE, Y1, Y1; \
	VMOVUPS ONE, Y2; \
	VDIVPS Y1, Y2, Y0

// TANH8: Y0 = tanh(Y0). Below |x| = 0.625, x + x·z·Q(z) with z = x² (Cephes tanhf's degree-4 Q);
// above, 1 − 2/(e^(2|x|) + 1), 2|x| clamped to 20 (tanh is 1 in float32 from |x| = 9.01 on). Both
// are computed and the mask picks one; then the sign bit of x is set on the result (a no-op for the
// first formula but at −0, where x + x·z·Q(z) rounds to +0).
#define TANH8 \
	VANDPS ABS, Y0, Y1; \
	VMULPS Y0, Y0, Y2; \
	VMOVUPS T0, Y3; \
	VFMADD213PS T1, Y2, Y3; \
	VFMADD213PS T2, Y2, Y3; \
	VFMADD213PS T3, Y2, Y3; \
	VFMADD213PS T4, Y2, Y3; \
	VMULPS Y2, Y3, Y3; \
	VFMADD213PS Y0, Y0, Y3; \
	VADDPS Y1, Y1, Y4; \
	VMOVUPS C20, Y5; \
	VMINPS Y4, Y5, Y4; \
	EXP8(Y4, Y5, Y6, Y7); \
	VADDPS ONE, Y4, Y4; \
	VMOVUPS TWO, Y5; \
	VDIVPS Y4, Y5, Y4; \
	VMOVUPS ONE, Y5; \
	VSUBPS Y4, Y5, Y4; \
	VCMPPS $1, C0625, Y1, Y5; \
	VBLENDVPS Y5, Y3, Y4, Y4; \
	VANDPS SIGN, Y0, Y5; \
	VORPS Y5, Y4, Y0

// func biasActAVX2(row, bias *float32, n int, act int)
//
// row[j] = act(row[j] + bias[j]) for j < n (a multiple of 8); act is an ops.Activation. ReLU keeps
// v where !(v ≤ 0), so NaN passes and −0 becomes +0, as Go's max(v, 0) does; Identity adds only.
TEXT ·biasActAVX2(SB), NOSPLIT, $0-32
	MOVQ row+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ act+24(FP), BX
	SHRQ $3, CX
	JEQ bdone
	VXORPS Y13, Y13, Y13
	CMPQ BX, $0
	JEQ brelu
	CMPQ BX, $1
	JEQ bsig
	CMPQ BX, $2
	JEQ btanh
bid:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE bid
	JMP bdone
brelu:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VCMPPS $6, Y13, Y0, Y1 // !(v ≤ 0): true for v > 0 and for NaN
	VANDPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE brelu
	JMP bdone
bsig:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	SIGMOID8
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE bsig
	JMP bdone
btanh:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	TANH8
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE btanh
bdone:
	VZEROUPPER
	RET
