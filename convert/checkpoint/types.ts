/** Element types we read from checkpoints. Only F32 goes into a graph: the weights stay as published. */
export type DType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Record<DType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface CheckpointTensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** The tensor's elements in C order, little-endian: the bytes the ONNX initializer must hold. */
  bytes(): Uint8Array;
}

export interface Checkpoint {
  /** The file the tensors came from (for error messages and the proof). */
  file: string;
  tensors: Map<string, CheckpointTensor>;
}

export const elementCount = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
