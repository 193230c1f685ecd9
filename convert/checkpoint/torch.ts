import { ConvertError } from "../errors.ts";
import { readStateDictPickle } from "./pickle.ts";
import { stateDictTensors } from "./state-dict.ts";
import type { Checkpoint } from "./types.ts";
import { readZipEntries } from "./zip.ts";

/** Reads a PyTorch zip checkpoint (`<prefix>/data.pkl` + `<prefix>/data/<key>`) safely. */
export function readTorchZip(file: string, buf: Uint8Array): Checkpoint {
  const entries = readZipEntries(file, buf);
  const pkl = [...entries].find(([n]) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (!pkl) throw new ConvertError(file, "no data.pkl in the archive: not a PyTorch zip checkpoint");
  const [pklName, readPkl] = pkl;
  const prefix = pklName.slice(0, -"data.pkl".length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order()).trim() !== "little")
    throw new ConvertError(file, "big-endian checkpoints are not supported");

  const root = readStateDictPickle(file, readPkl());
  const tensors = stateDictTensors(file, root, (name, storage) => {
    // torch's zip loader takes exactly five elements: a view would be silently misplaced if ignored.
    if (storage.view) throw new ConvertError(file, `tensor ${name}: storage views exist only in legacy files`);
    const entry = entries.get(`${prefix}data/${storage.key}`);
    if (!entry) throw new ConvertError(file, `tensor ${name}: storage ${storage.key} is missing from the archive`);
    return entry;
  });
  return { file, tensors };
}
