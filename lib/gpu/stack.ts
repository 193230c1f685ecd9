/**
 * The one place the GPU stack is pinned. A TensorRT plan runs only under the exact TensorRT version
 * that built it, so the trtexec container (engines) and the runtime image's libnvinfer (Dockerfile)
 * must agree; a test checks that the Dockerfile's ARG defaults equal these.
 *
 * onnxruntime-node 1.30.0's GPU libraries (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux 1.30.0, the
 * "cuda12" flavour) link against libnvinfer.so.10 and CUDA 12: any TensorRT 10.x satisfies the
 * loader; the exact 10.x is our choice, and it is this one.
 */
export const GPU_STACK = {
  /** TensorRT inside TENSORRT_IMAGE (NGC release 25.01) and the libnvinfer10 package of the runtime image. */
  tensorrtVersion: "10.8.0.43",
  tensorrtImage: "nvcr.io/nvidia/tensorrt:25.01-py3",
  /** CUDA + cuDNN 9 runtime base of the service image; its CUDA matches the TensorRT build's (cuda12.8). */
  cudaImage: "nvidia/cuda:12.8.0-cudnn-runtime-ubuntu24.04",
  cudaSuffix: "cuda12.8",
  /** T4 (g4dn): Turing, sm_75. */
  targetComputeCapability: "7.5",
} as const;

/** "10.8.0.43" → "10.8.0": the part a library file name (libnvinfer.so.10.8.0) and trtexec's banner carry. */
export const releaseOf = (version: string) => version.split(".").slice(0, 3).join(".");
