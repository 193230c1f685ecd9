import { ConvertError } from "../errors.ts";
import { readStateDictPickle } from "./pickle.ts";
import { STORAGE_DTYPE, stateDictTensors } from "./state-dict.ts";
import { type Checkpoint, DTYPE_BYTES } from "./types.ts";
import { readZipEntries, type ZipEntry } from "./zip.ts";

/**
 * The largest data.pkl read: a state dict's pickle spends a few hundred bytes per tensor (about 100 kB
 * for a model of 400 tensors), so 64 MiB holds hundreds of thousands; more is not a state dict.
 */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;
/** The byteorder entry says "little" or "big". */
const MAX_BYTEORDER_BYTES = 16;

/**
 * Reads a PyTorch zip checkpoint (`<prefix>/data.pkl` + `<prefix>/data/<key>`) safely: each entry is
 * read only up to the size it must have (a storage: its numel × element size, as the pickle declares).
 */
export function readTorchZip(file: string, buf: Uint8Array): Checkpoint {
  const entries = readZipEntries(file, buf);
  const pkl = [...entries].find(([n]) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (!pkl) throw new ConvertError(file, "no data.pkl in the archive: not a PyTorch zip checkpoint");
  const [pklName, pklEntry] = pkl;
  const prefix = pklName.slice(0, -"data.pkl".length);
  const within = (name: string, entry: ZipEntry, limit: number) => {
    if (entry.size > limit) throw new ConvertError(file, `${name} declares ${entry.size} bytes, more than ${limit}`);
    return entry.read();
  };
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(within("byteorder", order, MAX_BYTEORDER_BYTES)).trim() !== "little")
    throw new ConvertError(file, "big-endian checkpoints are not supported");

  const root = readStateDictPickle(file, within(pklName, pklEntry, MAX_PICKLE_BYTES));
  const tensors = stateDictTensors(file, root, (name, storage) => {
    // torch's zip loader takes exactly five elements: a view would be silently misplaced if ignored.
    if (storage.view) throw new ConvertError(file, `tensor ${name}: storage views exist only in legacy files`);
    const entryName = `${prefix}data/${storage.key}`;
    const entry = entries.get(entryName);
    if (!entry) throw new ConvertError(file, `tensor ${name}: storage ${storage.key} is missing from the archive`);
    // torch.save writes each storage as exactly its bytes; any other size is damage or a bomb.
    const declared = storage.numel * DTYPE_BYTES[STORAGE_DTYPE[storage.storageType]];
    if (entry.size !== declared)
      throw new ConvertError(
        file,
        `tensor ${name}: storage ${storage.key} is ${storage.numel} × ${storage.storageType} (${declared} bytes), ` +
          `its archive entry ${entryName} declares ${entry.size}`,
      );
    return entry.read;
  });
  return { file, tensors };
}
