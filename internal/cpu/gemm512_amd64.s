// AVX-512 micro-kernels for the GEMM in gemm.go, and the register-only loop that measures the
// AVX-512 FMA peak.
//
// func kern10x32P(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, rows, panels int, mask uint32, acc bool)
// func kern10x32R(kb int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, rows, panels int, mask uint32, acc bool)
//
// The 10×32 tile of C lives in Z0..Z19 (row r in Z(2r), Z(2r+1)). Each k loads one row of op(B)
// (32 floats at b + k·ldb) into Z20, Z21, broadcasts the ten op(A) values in turn into Z22/Z23, and
// issues twenty FMAs: acc += a·b, rounded once, k in increasing order, exactly as the AVX2 kernel
// does for each element, so the two give the same bits. The P kernel reads op(A) column by column
// (the ten values of k at a + k·lda: a packed panel, or Aᵀ stored row-major); the R kernel row by
// row (row r at a + r·lda, k contiguous). Strides are in floats.
//
// One call computes panels tiles down a column of C, one after the other: the next tile's op(A)
// starts ten rows further on (a + 10·lda for R, a + 10 for P) and its C ten rows further down,
// while op(B) is the same block, by then in L1. This saves the Go side a call, its bounds checks
// and the tile's setup per tile. rows (≤ 10) applies to every tile; the caller passes panels = 1
// with a ragged one.
//
// mask selects the valid columns (bit j for column j): its low half goes to K1 and masks the first
// 16 columns, its high half to K2 for the last 16, on the loads of op(B) and on the loads and stores
// of C, so a ragged last column panel needs neither padding nor a scratch tile, and nothing outside
// the valid columns is touched. Each kernel has three loops: all 32 columns (loads without masks,
// about 5% faster on Zen 4), at most 16 (ten FMAs per k instead of twenty: the output layer's 10
// columns), and the masked general case. Only rows 0..rows-1 of C are written (the P kernel's A
// panel is zero-padded past them). With acc the tile is added to C, else it overwrites C.

#include "textflag.h"

#define ZERO_TILE10 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19

// FMA2 broadcasts the op(A) value at addr into t and multiplies it by the op(B) row in Z20, Z21
// into one row of the tile; FMA1 is the same for the first 16 columns alone.
#define FMA2(addr, t, lo, hi) \
	VBROADCASTSS addr, t; \
	VFMADD231PS Z20, t, lo; \
	VFMADD231PS Z21, t, hi

#define FMA1(addr, t, lo) \
	VBROADCASTSS addr, t; \
	VFMADD231PS Z20, t, lo

// A row of C at DX: add to it (ACC) or overwrite it (SET), under masks K1, K2.
#define ROW_ACC(lo, hi) \
	VMOVUPS.Z (DX), K1, Z22; \
	VADDPS Z22, lo, lo; \
	VMOVUPS lo, K1, (DX); \
	VMOVUPS.Z 64(DX), K2, Z23; \
	VADDPS Z23, hi, hi; \
	VMOVUPS hi, K2, 64(DX)

#define ROW_SET(lo, hi) \
	VMOVUPS lo, K1, (DX); \
	VMOVUPS hi, K2, 64(DX)

TEXT ·kern10x32P(SB), NOSPLIT, $0-77
	MOVQ lda+16(FP), R10
	SHLQ $2, R10            // lda in bytes
	MOVQ ldb+32(FP), R13
	SHLQ $2, R13            // ldb in bytes
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8             // ldc in bytes
	MOVQ rows+56(FP), R9
	MOVL mask+72(FP), AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	MOVBLZX acc+76(FP), BX
	MOVQ $40, AX           // AX = 10 columns of Aᵀ: 40 bytes
ppanel:
	ZERO_TILE10
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+24(FP), DI
	MOVQ c+40(FP), DX
	TESTQ CX, CX
	JEQ pstore
	CMPL mask+72(FP), $-1
	JEQ pfull            // all 32 columns: loads without masks
	CMPL mask+72(FP), $0xffff
	JLS phalf            // at most 16 columns: the second vector is all padding

ploop:
	VMOVUPS.Z (DI), K1, Z20
	VMOVUPS.Z 64(DI), K2, Z21
	FMA2(0(SI), Z22, Z0, Z1)
	FMA2(4(SI), Z23, Z2, Z3)
	FMA2(8(SI), Z22, Z4, Z5)
	FMA2(12(SI), Z23, Z6, Z7)
	FMA2(16(SI), Z22, Z8, Z9)
	FMA2(20(SI), Z23, Z10, Z11)
	FMA2(24(SI), Z22, Z12, Z13)
	FMA2(28(SI), Z23, Z14, Z15)
	FMA2(32(SI), Z22, Z16, Z17)
	FMA2(36(SI), Z23, Z18, Z19)
	ADDQ R10, SI
	ADDQ R13, DI
	DECQ CX
	JNE ploop
	JMP pstore

pfull:
	VMOVUPS (DI), Z20
	VMOVUPS 64(DI), Z21
	FMA2(0(SI), Z22, Z0, Z1)
	FMA2(4(SI), Z23, Z2, Z3)
	FMA2(8(SI), Z22, Z4, Z5)
	FMA2(12(SI), Z23, Z6, Z7)
	FMA2(16(SI), Z22, Z8, Z9)
	FMA2(20(SI), Z23, Z10, Z11)
	FMA2(24(SI), Z22, Z12, Z13)
	FMA2(28(SI), Z23, Z14, Z15)
	FMA2(32(SI), Z22, Z16, Z17)
	FMA2(36(SI), Z23, Z18, Z19)
	ADDQ R10, SI
	ADDQ R13, DI
	DECQ CX
	JNE pfull
	JMP pstore

phalf:
	VMOVUPS.Z (DI), K1, Z20
	FMA1(0(SI), Z22, Z0)
	FMA1(4(SI), Z23, Z2)
	FMA1(8(SI), Z22, Z4)
	FMA1(12(SI), Z23, Z6)
	FMA1(16(SI), Z22, Z8)
	FMA1(20(SI), Z23, Z10)
	FMA1(24(SI), Z22, Z12)
	FMA1(28(SI), Z23, Z14)
	FMA1(32(SI), Z22, Z16)
	FMA1(36(SI), Z23, Z18)
	ADDQ R10, SI
	ADDQ R13, DI
	DECQ CX
	JNE phalf

pstore:
	TESTQ BX, BX
	JEQ pset
	ROW_ACC(Z0, Z1)
	CMPQ R9, $1
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z2, Z3)
	CMPQ R9, $2
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z4, Z5)
	CMPQ R9, $3
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z6, Z7)
	CMPQ R9, $4
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z8, Z9)
	CMPQ R9, $5
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z10, Z11)
	CMPQ R9, $6
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z12, Z13)
	CMPQ R9, $7
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z14, Z15)
	CMPQ R9, $8
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z16, Z17)
	CMPQ R9, $9
	JLE pnext
	ADDQ R8, DX
	ROW_ACC(Z18, Z19)
	JMP pnext
pset:
	ROW_SET(Z0, Z1)
	CMPQ R9, $1
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z2, Z3)
	CMPQ R9, $2
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z4, Z5)
	CMPQ R9, $3
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z6, Z7)
	CMPQ R9, $4
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z8, Z9)
	CMPQ R9, $5
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z10, Z11)
	CMPQ R9, $6
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z12, Z13)
	CMPQ R9, $7
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z14, Z15)
	CMPQ R9, $8
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z16, Z17)
	CMPQ R9, $9
	JLE pnext
	ADDQ R8, DX
	ROW_SET(Z18, Z19)
pnext:
	DECQ panels+64(FP)
	JLE pdone
	ADDQ AX, a+8(FP)
	LEAQ (R8)(R8*4), R11
	SHLQ $1, R11            // 10 rows of C
	ADDQ R11, c+40(FP)
	JMP ppanel
pdone:
	VZEROUPPER
	RET

// kern10x32R is kern10x32P reading op(A) row by row. Row r sits at SI + r·L (L = R10 = lda in
// bytes); with R11 = SI + L and R12 = SI + 6L every row is one scaled-index address away:
// 0 (SI), 1 (SI)(L), 2 (SI)(2L), 3 (R11)(2L), 4 (SI)(4L), 5 (R11)(4L), 6 (R12), 7 (R12)(L),
// 8 (SI)(8L), 9 (R11)(8L).
TEXT ·kern10x32R(SB), NOSPLIT, $0-77
	MOVQ lda+16(FP), R10
	SHLQ $2, R10            // lda in bytes
	MOVQ ldb+32(FP), R13
	SHLQ $2, R13            // ldb in bytes
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8             // ldc in bytes
	MOVQ rows+56(FP), R9
	MOVL mask+72(FP), AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	MOVBLZX acc+76(FP), BX
	LEAQ (R10)(R10*4), AX
	SHLQ $1, AX             // AX = 10 rows of A: 10·lda bytes
rpanel:
	ZERO_TILE10
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+24(FP), DI
	MOVQ c+40(FP), DX
	LEAQ (SI)(R10*1), R11
	LEAQ (R11)(R10*4), R12   // SI + 5L
	ADDQ R10, R12            // SI + 6L
	TESTQ CX, CX
	JEQ rstore
	CMPL mask+72(FP), $-1
	JEQ rfull            // all 32 columns: loads without masks
	CMPL mask+72(FP), $0xffff
	JLS rhalf            // at most 16 columns: the second vector is all padding

rloop:
	VMOVUPS.Z (DI), K1, Z20
	VMOVUPS.Z 64(DI), K2, Z21
	FMA2((SI), Z22, Z0, Z1)
	FMA2((SI)(R10*1), Z23, Z2, Z3)
	FMA2((SI)(R10*2), Z22, Z4, Z5)
	FMA2((R11)(R10*2), Z23, Z6, Z7)
	FMA2((SI)(R10*4), Z22, Z8, Z9)
	FMA2((R11)(R10*4), Z23, Z10, Z11)
	FMA2((R12), Z22, Z12, Z13)
	FMA2((R12)(R10*1), Z23, Z14, Z15)
	FMA2((SI)(R10*8), Z22, Z16, Z17)
	FMA2((R11)(R10*8), Z23, Z18, Z19)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ R13, DI
	DECQ CX
	JNE rloop
	JMP rstore

rfull:
	VMOVUPS (DI), Z20
	VMOVUPS 64(DI), Z21
	FMA2((SI), Z22, Z0, Z1)
	FMA2((SI)(R10*1), Z23, Z2, Z3)
	FMA2((SI)(R10*2), Z22, Z4, Z5)
	FMA2((R11)(R10*2), Z23, Z6, Z7)
	FMA2((SI)(R10*4), Z22, Z8, Z9)
	FMA2((R11)(R10*4), Z23, Z10, Z11)
	FMA2((R12), Z22, Z12, Z13)
	FMA2((R12)(R10*1), Z23, Z14, Z15)
	FMA2((SI)(R10*8), Z22, Z16, Z17)
	FMA2((R11)(R10*8), Z23, Z18, Z19)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ R13, DI
	DECQ CX
	JNE rfull
	JMP rstore

rhalf:
	VMOVUPS.Z (DI), K1, Z20
	FMA1((SI), Z22, Z0)
	FMA1((SI)(R10*1), Z23, Z2)
	FMA1((SI)(R10*2), Z22, Z4)
	FMA1((R11)(R10*2), Z23, Z6)
	FMA1((SI)(R10*4), Z22, Z8)
	FMA1((R11)(R10*4), Z23, Z10)
	FMA1((R12), Z22, Z12)
	FMA1((R12)(R10*1), Z23, Z14)
	FMA1((SI)(R10*8), Z22, Z16)
	FMA1((R11)(R10*8), Z23, Z18)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ R13, DI
	DECQ CX
	JNE rhalf

rstore:
	TESTQ BX, BX
	JEQ rset
	ROW_ACC(Z0, Z1)
	CMPQ R9, $1
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z2, Z3)
	CMPQ R9, $2
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z4, Z5)
	CMPQ R9, $3
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z6, Z7)
	CMPQ R9, $4
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z8, Z9)
	CMPQ R9, $5
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z10, Z11)
	CMPQ R9, $6
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z12, Z13)
	CMPQ R9, $7
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z14, Z15)
	CMPQ R9, $8
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z16, Z17)
	CMPQ R9, $9
	JLE rnext
	ADDQ R8, DX
	ROW_ACC(Z18, Z19)
	JMP rnext
rset:
	ROW_SET(Z0, Z1)
	CMPQ R9, $1
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z2, Z3)
	CMPQ R9, $2
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z4, Z5)
	CMPQ R9, $3
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z6, Z7)
	CMPQ R9, $4
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z8, Z9)
	CMPQ R9, $5
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z10, Z11)
	CMPQ R9, $6
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z12, Z13)
	CMPQ R9, $7
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z14, Z15)
	CMPQ R9, $8
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z16, Z17)
	CMPQ R9, $9
	JLE rnext
	ADDQ R8, DX
	ROW_SET(Z18, Z19)
rnext:
	DECQ panels+64(FP)
	JLE rdone
	ADDQ AX, a+8(FP)
	LEAQ (R8)(R8*4), R11
	SHLQ $1, R11            // 10 rows of C
	ADDQ R11, c+40(FP)
	JMP rpanel
rdone:
	VZEROUPPER
	RET

// func fmaPeak512(n int)
//
// n iterations of twelve independent 16-wide VFMADD231PS on registers alone: 12·32 = 384 flops per
// iteration with no memory traffic. BenchmarkPeakFMA uses it to measure the AVX-512 FMA peak.
TEXT ·fmaPeak512(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
peak512loop:
	VFMADD231PS Z0, Z1, Z4
	VFMADD231PS Z0, Z1, Z5
	VFMADD231PS Z0, Z1, Z6
	VFMADD231PS Z0, Z1, Z7
	VFMADD231PS Z0, Z1, Z8
	VFMADD231PS Z0, Z1, Z9
	VFMADD231PS Z0, Z1, Z10
	VFMADD231PS Z0, Z1, Z11
	VFMADD231PS Z0, Z1, Z12
	VFMADD231PS Z0, Z1, Z13
	VFMADD231PS Z0, Z1, Z14
	VFMADD231PS Z0, Z1, Z15
	DECQ CX
	JNE peak512loop
	VZEROUPPER
	RET
