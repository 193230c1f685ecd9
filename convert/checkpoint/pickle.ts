import { ConvertError } from "../errors.ts";

/**
 * A pickle reader for PyTorch state dicts. A checkpoint is untrusted input, and a general unpickler
 * runs arbitrary code, so this one implements only the opcodes torch.save emits for a state dict and
 * resolves only an allow-list of globals. Everything else stops with an error naming the offset.
 */

export interface PickleGlobal {
  kind: "global";
  module: string;
  name: string;
}
/**
 * A persistent reference to a storage: torch.save's ('storage', type, key, location, numel[, view]).
 * Legacy files (torch < 1.6) add a sixth element, None or (view key, offset, numel): a storage that
 * is a slice of the storage `key` (early torch versions wrote views; later ones always write None).
 */
export interface StorageRef {
  kind: "storage";
  storageType: string;
  key: string;
  numel: number;
  view?: { key: string; offset: number; numel: number };
}
export interface TensorRef {
  kind: "tensor";
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}
/** collections.OrderedDict: keeps insertion order, like the state dict it is. */
export class PickleDict {
  readonly kind = "dict";
  readonly entries = new Map<unknown, unknown>();
}
type Value = unknown;

const ALLOWED_GLOBALS = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch.FloatStorage",
  "torch.DoubleStorage",
  "torch.HalfStorage",
  "torch.BFloat16Storage",
  "torch.LongStorage",
  "torch.IntStorage",
  "torch.ShortStorage",
  "torch.CharStorage",
  "torch.ByteStorage",
  "torch.BoolStorage",
]);

const MARK = Symbol("mark");
/** Longer than any module or name a state dict's GLOBAL spells: a line is not searched for through a 1 GB file. */
const MAX_LINE = 1024;

/** The state dict pickle of a zip checkpoint (`data.pkl`, nothing after its STOP that matters). */
export function readStateDictPickle(file: string, data: Uint8Array): Value {
  return readPickleAt(file, data, 0).value;
}

export interface PickleRead {
  value: Value;
  /** The byte after the pickle's STOP: where the next pickle (or a legacy file's storage data) begins. */
  end: number;
  /** Every storage the pickle referenced, in the order met (also those outside a top-level tensor). */
  storages: StorageRef[];
}

/**
 * Reads the one pickle that starts at `start` in `data`. Legacy checkpoints are several pickles in a row
 * followed by raw storages, so positions (in errors, `end`) are offsets in `data`, i.e. in the file.
 */
export function readPickleAt(file: string, data: Uint8Array, start: number): PickleRead {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const storages: StorageRef[] = [];
  let pos = start;
  const fail = (why: string): never => {
    throw new ConvertError(file, `refused pickle at byte ${pos}: ${why}`);
  };
  const need = (n: number) => {
    if (pos + n > data.byteLength) fail("unexpected end of data (truncated?)");
  };
  /** Moves past the next n bytes (which must be there) and returns where they start. */
  const take = (n: number) => {
    need(n);
    pos += n;
    return pos - n;
  };
  const u8 = () => data[take(1)];
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  const i32 = () => view.getInt32(take(4), true);
  const u64 = () => Number(view.getBigUint64(take(8), true));
  const bytes = (n: number) => {
    const at = take(n);
    return data.subarray(at, at + n);
  };
  const line = () => {
    const end = data.subarray(0, Math.min(data.byteLength, pos + MAX_LINE)).indexOf(0x0a, pos);
    if (end < 0) fail(`no line end within ${MAX_LINE} bytes`);
    const s = new TextDecoder().decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => (stack.length === 0 ? fail("stack underflow") : stack.pop());
  const popMark = (): Value[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail("no MARK on the stack");
    const items = stack.splice(at);
    items.shift();
    return items;
  };
  const top = () => (stack.length === 0 ? fail("stack underflow") : stack[stack.length - 1]);
  const global = (module: string, name: string): PickleGlobal => {
    if (!ALLOWED_GLOBALS.has(`${module}.${name}`))
      fail(`forbidden global ${module}.${name} (a state dict never needs it)`);
    return { kind: "global", module, name };
  };
  const setItem = (d: Value, k: Value, v: Value) => {
    if (!(d instanceof PickleDict)) fail("SETITEM on something that is not a dict");
    (d as PickleDict).entries.set(k, v);
  };
  const reduce = (fn: Value, argTuple: Value): Value => {
    const g = fn as PickleGlobal;
    if (g?.kind !== "global" || !Array.isArray(argTuple)) fail("REDUCE needs a global and an argument tuple");
    const args = argTuple as Value[];
    const qualified = `${g.module}.${g.name}`;
    if (qualified === "collections.OrderedDict") {
      if (args.length !== 0) fail("OrderedDict with arguments");
      return new PickleDict();
    }
    if (qualified === "torch._utils._rebuild_tensor_v2") {
      const [storage, offset, shape, stride] = args as [StorageRef, number, number[], number[]];
      const isInts = (a: unknown) => Array.isArray(a) && a.every((n) => Number.isSafeInteger(n) && n >= 0);
      if (
        (storage as StorageRef)?.kind !== "storage" ||
        !Number.isSafeInteger(offset) ||
        offset < 0 ||
        !isInts(shape) ||
        !isInts(stride) ||
        shape.length !== stride.length
      )
        fail("malformed _rebuild_tensor_v2 arguments");
      return { kind: "tensor", storage, offset, shape, stride } satisfies TensorRef;
    }
    if (qualified === "torch._utils._rebuild_parameter") {
      const t = args[0] as TensorRef;
      if (t?.kind !== "tensor") fail("_rebuild_parameter without a tensor");
      return t;
    }
    return fail(`${qualified} cannot be called`);
  };
  const persistent = (pid: Value): StorageRef => {
    const t = pid as Value[];
    if (!Array.isArray(t) || t.length < 5 || t[0] !== "storage") fail("persistent id is not a storage reference");
    const [, type, key, , numel, viewOf] = t as [string, PickleGlobal, string, string, number, Value];
    const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (type?.kind !== "global" || !type.name.endsWith("Storage") || typeof key !== "string" || !isCount(numel))
      fail("malformed storage reference");
    const ref: StorageRef = { kind: "storage", storageType: type.name, key, numel };
    if (viewOf !== undefined && viewOf !== null) {
      if (!Array.isArray(viewOf) || viewOf.length !== 3) fail("malformed storage view");
      const [viewKey, offset, viewNumel] = viewOf as [string, number, number];
      if (typeof viewKey !== "string" || !isCount(offset) || !isCount(viewNumel)) fail("malformed storage view");
      ref.view = { key: viewKey, offset, numel: viewNumel };
    }
    storages.push(ref);
    return ref;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        bytes(8);
        break; // FRAME: framing is transparent here
      case 0x2e: {
        // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return { value: stack[0], end: pos, storages };
      }
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        stack.push(new PickleDict());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      } // TUPLE3
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo ${k} was never stored`);
        stack.push(memo.get(k));
        break;
      }
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a: {
        // LONG1: little-endian two's complement. Past 2^53 it stays a bigint (a legacy file's magic number);
        // shapes, offsets and counts accept only safe integers, so a bigint never becomes one.
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        const safe = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER);
        stack.push(safe ? Number(v) : v);
        break;
      }
      case 0x47: {
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      } // BINFLOAT
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x58:
      case 0x8c:
      case 0x8d: {
        // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
        const n = op === 0x8c ? u8() : op === 0x58 ? u32() : u64();
        const raw = bytes(n); // outside the try: a truncated string is not a UTF-8 error
        try {
          stack.push(utf8.decode(raw));
        } catch {
          fail("string is not UTF-8");
        }
        break;
      }
      case 0x63: {
        const module = line();
        stack.push(global(module, line()));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      } // REDUCE
      case 0x62: {
        // BUILD: only the OrderedDict's _metadata state, which the graph does not need
        pop();
        if (!(top() instanceof PickleDict)) fail("BUILD on something that is not a dict");
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      } // SETITEM
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) fail("SETITEMS with an odd number of values");
        for (let i = 0; i < items.length; i += 2) setItem(top(), items[i], items[i + 1]);
        break;
      }
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail("APPEND to a non-list");
        (l as Value[]).push(v);
        break;
      }
      case 0x65: {
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail("APPENDS to a non-list");
        (l as Value[]).push(...items);
        break;
      }
      case 0x51:
        stack.push(persistent(pop()));
        break; // BINPERSID
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, "0")} is not allowed in a state dict`);
    }
  }
}
