/*
 * dltrain's compatibility shim for gorgonia.org/cu v0.9.6 on CUDA 13 headers.
 *
 * CUDA 13 re-points five driver API names at new signatures (cuCtxCreate → cuCtxCreate_v4, and
 * cuMemAdvise, cuMemPrefetchAsync, cuGraphAddDependencies, cuGraphGetEdges → their _v2), which cu
 * v0.9.6 does not compile against. The 580 driver still exports the previous entry points, so on
 * CUDA 13 this header declares the old prototypes and maps the names back to them. On CUDA 12 and
 * older it only includes the real header.
 *
 * make build-cuda puts this directory first on the include path (CGO_CPPFLAGS=-I…), so every
 * #include <cuda.h> in cu reaches this file, which then includes the toolkit's own cuda.h.
 */
#ifndef DLTRAIN_CUDA_COMPAT_H
#define DLTRAIN_CUDA_COMPAT_H

#include_next <cuda.h>

#if defined(CUDA_VERSION) && CUDA_VERSION >= 13000
#undef cuCtxCreate
#undef cuMemAdvise
#undef cuMemPrefetchAsync
#undef cuGraphAddDependencies
#undef cuGraphGetEdges

CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult CUDAAPI cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device);
CUresult CUDAAPI cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);
CUresult CUDAAPI cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t numDependencies);
CUresult CUDAAPI cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges);

#define cuCtxCreate cuCtxCreate_v2
#endif

#endif /* DLTRAIN_CUDA_COMPAT_H */
