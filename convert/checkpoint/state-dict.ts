import { ConvertError } from "../errors.ts";
import { PickleDict, type StorageRef, type TensorRef } from "./pickle.ts";
import { DTYPE_BYTES, elementCount, type CheckpointTensor, type DType } from "./types.ts";

export const STORAGE_DTYPE: Record<string, DType> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/**
 * The tensors of an unpickled torch state dict, in either serialization. `storageOf` is asked for each
 * tensor's storage as the dict is read (a missing one is an error then) and returns its bytes lazily.
 */
export function stateDictTensors(
  file: string,
  root: unknown,
  storageOf: (tensor: string, storage: StorageRef) => () => Uint8Array,
): Map<string, CheckpointTensor> {
  if (!(root instanceof PickleDict)) throw new ConvertError(file, "the pickle does not hold a state dict");
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, value] of root.entries) {
    const ref = value as TensorRef;
    if (typeof name !== "string" || ref?.kind !== "tensor") continue; // not a tensor: nothing a graph can use
    const dtype = STORAGE_DTYPE[ref.storage.storageType];
    if (!dtype) throw new ConvertError(file, `tensor ${name}: unsupported storage ${ref.storage.storageType}`);
    tensors.set(name, tensorView(file, name, dtype, ref, storageOf(name, ref.storage)));
  }
  return tensors;
}

/** A tensor over (a part of) a storage, honouring offset and strides; storages may be shared. */
function tensorView(
  file: string,
  name: string,
  dtype: DType,
  ref: TensorRef,
  storage: () => Uint8Array,
): CheckpointTensor {
  const item = DTYPE_BYTES[dtype];
  const numel = elementCount(ref.shape);
  const lastIndex = ref.offset + ref.shape.reduce((acc, d, i) => acc + (d > 0 ? (d - 1) * ref.stride[i] : 0), 0);
  const contiguous = ref.shape.every(
    (_, i) => ref.shape[i] === 1 || ref.stride[i] === elementCount(ref.shape.slice(i + 1)),
  );
  return {
    name,
    dtype,
    shape: ref.shape,
    bytes() {
      const s = storage();
      if (numel > 0 && (lastIndex + 1) * item > s.byteLength)
        throw new ConvertError(
          file,
          `tensor ${name}: reaches element ${lastIndex} of a storage of ${s.byteLength / item} (truncated?)`,
        );
      if (contiguous) return s.subarray(ref.offset * item, (ref.offset + numel) * item);
      // Gather a strided view into C order, element by element (rare: transposed saves).
      const out = new Uint8Array(numel * item);
      const idx = new Array(ref.shape.length).fill(0);
      for (let n = 0; n < numel; n++) {
        let src = ref.offset;
        for (let d = 0; d < idx.length; d++) src += idx[d] * ref.stride[d];
        out.set(s.subarray(src * item, (src + 1) * item), n * item);
        for (let d = idx.length - 1; d >= 0 && ++idx[d] === ref.shape[d]; d--) idx[d] = 0;
      }
      return out;
    },
  };
}
