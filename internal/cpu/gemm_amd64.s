// AVX2/FMA micro-kernels for the packed GEMM in gemm.go, the 8×8 transpose its NT packing uses, and
// the register-only FMA loop that measures the machine's peak.
//
// func kern6x16P(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc bool)
// func kern6x16R(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc bool)
//
// The 6×16 tile of C lives in Y4..Y15 (row r in Y(4+2r), Y(5+2r)); each k loads one row of op(B)
// (16 floats at b + k·ldb) into Y0, Y1 and broadcasts the six op(A) values, twelve FMAs per k. The P
// kernel reads op(A) column by column (the six values of k at a + k·lda, as a packed panel or Aᵀ
// stored row-major lays them out); the R kernel row by row (row r at a + r·lda, k contiguous). At the
// end the tile is stored to c, or added to it when acc is true. The k order is fixed, so results do
// not depend on how the caller splits the work. Strides are in floats.

#include "textflag.h"

// Shared by both micro-kernels: clear the tile, and write it to the six rows of C starting at DX
// (R8 = ldc in bytes), adding to what is there or overwriting it.
#define ZERO_TILE \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	VXORPS Y14, Y14, Y14; \
	VXORPS Y15, Y15, Y15

#define ADD_ROW(lo, hi) \
	VADDPS (DX), lo, lo; \
	VADDPS 32(DX), hi, hi; \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX)

#define ADD_STORE_TILE \
	ADD_ROW(Y4, Y5); ADDQ R8, DX; \
	ADD_ROW(Y6, Y7); ADDQ R8, DX; \
	ADD_ROW(Y8, Y9); ADDQ R8, DX; \
	ADD_ROW(Y10, Y11); ADDQ R8, DX; \
	ADD_ROW(Y12, Y13); ADDQ R8, DX; \
	ADD_ROW(Y14, Y15)

#define STORE_ROW(lo, hi) \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX)

#define STORE_TILE \
	STORE_ROW(Y4, Y5); ADDQ R8, DX; \
	STORE_ROW(Y6, Y7); ADDQ R8, DX; \
	STORE_ROW(Y8, Y9); ADDQ R8, DX; \
	STORE_ROW(Y10, Y11); ADDQ R8, DX; \
	STORE_ROW(Y12, Y13); ADDQ R8, DX; \
	STORE_ROW(Y14, Y15)

TEXT ·kern6x16P(SB), NOSPLIT, $0-57
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R10
	SHLQ $2, R10            // lda in bytes
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11            // ldb in bytes
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8             // ldc in bytes
	MOVBLZX acc+56(FP), R9

	ZERO_TILE
	TESTQ CX, CX
	JEQ store

loop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VBROADCASTSS 0(SI), Y2
	VFMADD231PS Y0, Y2, Y4
	VFMADD231PS Y1, Y2, Y5
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS Y0, Y3, Y6
	VFMADD231PS Y1, Y3, Y7
	VBROADCASTSS 8(SI), Y2
	VFMADD231PS Y0, Y2, Y8
	VFMADD231PS Y1, Y2, Y9
	VBROADCASTSS 12(SI), Y3
	VFMADD231PS Y0, Y3, Y10
	VFMADD231PS Y1, Y3, Y11
	VBROADCASTSS 16(SI), Y2
	VFMADD231PS Y0, Y2, Y12
	VFMADD231PS Y1, Y2, Y13
	VBROADCASTSS 20(SI), Y3
	VFMADD231PS Y0, Y3, Y14
	VFMADD231PS Y1, Y3, Y15
	ADDQ R10, SI
	ADDQ R11, DI
	DECQ CX
	JNE loop

store:
	TESTQ R9, R9
	JEQ overwrite
	ADD_STORE_TILE
	VZEROUPPER
	RET

overwrite:
	STORE_TILE
	VZEROUPPER
	RET

// func fmaPeak(n int)
//
// n iterations of twelve independent VFMADD231PS on registers alone: 12·16 = 192 flops per iteration
// with no memory traffic. BenchmarkPeakFMA uses it to measure this machine's FMA peak.
TEXT ·fmaPeak(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
peakloop:
	VFMADD231PS Y0, Y1, Y4
	VFMADD231PS Y0, Y1, Y5
	VFMADD231PS Y0, Y1, Y6
	VFMADD231PS Y0, Y1, Y7
	VFMADD231PS Y0, Y1, Y8
	VFMADD231PS Y0, Y1, Y9
	VFMADD231PS Y0, Y1, Y10
	VFMADD231PS Y0, Y1, Y11
	VFMADD231PS Y0, Y1, Y12
	VFMADD231PS Y0, Y1, Y13
	VFMADD231PS Y0, Y1, Y14
	VFMADD231PS Y0, Y1, Y15
	DECQ CX
	JNE peakloop
	VZEROUPPER
	RET


// kern6x16R is kern6x16P with op(A) read row by row: row r of the 6×kb block starts at a + r·lda.
TEXT ·kern6x16R(SB), NOSPLIT, $0-57
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R10
	SHLQ $2, R10            // lda in bytes
	LEAQ (SI)(R10*2), R12
	ADDQ R10, R12           // R12 = row 3
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11            // ldb in bytes
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	MOVBLZX acc+56(FP), R9
	ZERO_TILE
	TESTQ CX, CX
	JEQ sstore

sloop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VBROADCASTSS (SI), Y2
	VFMADD231PS Y0, Y2, Y4
	VFMADD231PS Y1, Y2, Y5
	VBROADCASTSS (SI)(R10*1), Y3
	VFMADD231PS Y0, Y3, Y6
	VFMADD231PS Y1, Y3, Y7
	VBROADCASTSS (SI)(R10*2), Y2
	VFMADD231PS Y0, Y2, Y8
	VFMADD231PS Y1, Y2, Y9
	VBROADCASTSS (R12), Y3
	VFMADD231PS Y0, Y3, Y10
	VFMADD231PS Y1, Y3, Y11
	VBROADCASTSS (SI)(R10*4), Y2
	VFMADD231PS Y0, Y2, Y12
	VFMADD231PS Y1, Y2, Y13
	VBROADCASTSS (R12)(R10*2), Y3
	VFMADD231PS Y0, Y3, Y14
	VFMADD231PS Y1, Y3, Y15
	ADDQ $4, SI
	ADDQ $4, R12
	ADDQ R11, DI
	DECQ CX
	JNE sloop

sstore:
	TESTQ R9, R9
	JEQ soverwrite
	ADD_STORE_TILE
	VZEROUPPER
	RET

soverwrite:
	STORE_TILE
	VZEROUPPER
	RET

// func transpose8x8(dst *float32, ldd int, src *float32, lds int, n int)
//
// dst[r][c] = src[c][r] for n 8×8 blocks side by side along src's rows (block b is src columns
// 8b..8b+7, dst rows 8b..8b+7); ldd and lds are row strides in floats, n ≥ 1. packB uses it to lay
// out the transposed B of the NT GEMM, one call per 8-column strip of a panel. Rows are loaded into
// Y0..Y7, interleaved in pairs (unpack), then in quads (shufps), then the 128-bit halves are
// exchanged (vperm2f128): the textbook AVX transpose, three shuffle stages of eight instructions.
TEXT ·transpose8x8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), R11
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), R10
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), CX
	LEAQ (R8*8), R12        // 8 rows of dst
tblock:
	MOVQ R10, SI
	MOVQ R11, DI
	VMOVUPS (SI), Y0
	ADDQ R9, SI
	VMOVUPS (SI), Y1
	ADDQ R9, SI
	VMOVUPS (SI), Y2
	ADDQ R9, SI
	VMOVUPS (SI), Y3
	ADDQ R9, SI
	VMOVUPS (SI), Y4
	ADDQ R9, SI
	VMOVUPS (SI), Y5
	ADDQ R9, SI
	VMOVUPS (SI), Y6
	ADDQ R9, SI
	VMOVUPS (SI), Y7
	VUNPCKLPS Y1, Y0, Y8  // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9  // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0  // a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y1  // a1 b1 c1 d1 | a5 b5 c5 d5
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4 // e0 f0 g0 h0 | e4 f4 g4 h4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8  // column 0
	VPERM2F128 $0x20, Y5, Y1, Y9  // column 1
	VPERM2F128 $0x20, Y6, Y2, Y10 // column 2
	VPERM2F128 $0x20, Y7, Y3, Y11 // column 3
	VPERM2F128 $0x31, Y4, Y0, Y12 // column 4
	VPERM2F128 $0x31, Y5, Y1, Y13 // column 5
	VPERM2F128 $0x31, Y6, Y2, Y14 // column 6
	VPERM2F128 $0x31, Y7, Y3, Y15 // column 7
	VMOVUPS Y8, (DI)
	ADDQ R8, DI
	VMOVUPS Y9, (DI)
	ADDQ R8, DI
	VMOVUPS Y10, (DI)
	ADDQ R8, DI
	VMOVUPS Y11, (DI)
	ADDQ R8, DI
	VMOVUPS Y12, (DI)
	ADDQ R8, DI
	VMOVUPS Y13, (DI)
	ADDQ R8, DI
	VMOVUPS Y14, (DI)
	ADDQ R8, DI
	VMOVUPS Y15, (DI)
	ADDQ $32, R10
	ADDQ R12, R11
	DECQ CX
	JNE tblock
	VZEROUPPER
	RET

// func spinPause()
TEXT ·spinPause(SB), NOSPLIT, $0-0
	PAUSE
	RET
