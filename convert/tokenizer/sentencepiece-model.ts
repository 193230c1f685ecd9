/**
 * Reads a SentencePiece model file (spm.model: a serialized `sentencepiece.ModelProto`, proto2) for
 * the fields a tokenizer.json is written from: each piece with its score and type, the trainer's
 * model type, unk_id and byte_fallback, and the normalizer's precompiled charsmap.
 *
 * A small reader of the protobuf wire format rather than a protobuf library: protobufjs is here only
 * as onnx-proto's own dependency, the message needs four wire types and eight fields, and the file is
 * untrusted input, so every length is checked against the bytes left and every malformed byte is a
 * ConvertError naming the file and the offset, before anything is allocated for it.
 */
import { readFileSync } from "node:fs";
import { ConvertError } from "../errors.ts";
import { checkTokenizerFileSize, MAX_SPM_MODEL_BYTES, MAX_SPM_PIECES } from "./file-limits.ts";

/** sentencepiece_model.proto's ModelProto.SentencePiece.Type. */
export const PieceType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SentencePiece {
  piece: string;
  /** The float32 score, as a double holding exactly that value (as Python's protobuf reads it). */
  score: number;
  type: number;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  /** TrainerSpec.model_type: 1 Unigram (the default), 2 BPE, 3 word, 4 char. */
  modelType: number;
  unkId: number;
  byteFallback: boolean;
  /** NormalizerSpec.precompiled_charsmap; null when the model has none (or it is empty). */
  precompiledCharsmap: Uint8Array | null;
}

const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** One field of a message: its number, wire type and where its value is. */
interface Field {
  number: number;
  wire: number;
  /** The value of a varint (low 32 bits, as int32 reads it). */
  varint: number;
  /** The value's bytes, for a length-delimited or fixed-width field. */
  bytes: Uint8Array;
}

/** Walks the fields of one message in `bytes`, refusing anything that is not well-formed protobuf. */
class MessageReader {
  private at = 0;
  constructor(
    private readonly file: string,
    private readonly bytes: Uint8Array,
    /** Offset of `bytes` in the file, for error messages. */
    private readonly base = 0,
  ) {}

  private fail(why: string): never {
    throw new ConvertError(this.file, `not a SentencePiece model: ${why} at byte ${this.base + this.at}`);
  }

  /** A varint's low 32 bits as a signed int32 (protobuf's int32, enum and bool all read so). */
  private varint(): number {
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.bytes.length) this.fail("a varint runs past the end");
      const b = this.bytes[this.at++];
      if (i < 5) low |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return low | 0;
    }
    return this.fail("a varint longer than 10 bytes");
  }

  private take(n: number): Uint8Array {
    if (n < 0 || n > this.bytes.length - this.at) this.fail(`a field of ${n} bytes runs past the end`);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** The next field, or null at the end of the message. */
  next(): Field | null {
    if (this.at >= this.bytes.length) return null;
    const key = this.varint() >>> 0;
    const number = key >>> 3;
    const wire = key & 7;
    if (number === 0) this.fail("a field numbered 0");
    const start = this.at;
    if (wire === WIRE.varint)
      return { number, wire, varint: this.varint(), bytes: this.bytes.subarray(start, this.at) };
    if (wire === WIRE.fixed64) return { number, wire, varint: 0, bytes: this.take(8) };
    if (wire === WIRE.fixed32) return { number, wire, varint: 0, bytes: this.take(4) };
    if (wire === WIRE.bytes) {
      const length = this.varint();
      return { number, wire, varint: 0, bytes: this.take(length) };
    }
    return this.fail(`wire type ${wire} (groups are not used by SentencePiece)`);
  }

  /** A reader of a length-delimited field's own message. */
  sub(field: Field): MessageReader {
    const offset = this.base + this.at - field.bytes.length;
    return new MessageReader(this.file, field.bytes, offset);
  }

  expect(field: Field, wire: number, what: string) {
    if (field.wire !== wire) this.fail(`${what} has wire type ${field.wire}, not ${wire}`);
  }

  text(field: Field, what: string): string {
    this.expect(field, WIRE.bytes, what);
    try {
      return UTF8.decode(field.bytes);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  float(field: Field, what: string): number {
    this.expect(field, WIRE.fixed32, what);
    return new DataView(field.bytes.buffer, field.bytes.byteOffset, 4).getFloat32(0, true);
  }

  int(field: Field, what: string): number {
    this.expect(field, WIRE.varint, what);
    return field.varint;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** ModelProto fields. */
const MODEL = { pieces: 1, trainerSpec: 2, normalizerSpec: 3 } as const;
/** ModelProto.SentencePiece fields. */
const PIECE = { piece: 1, score: 2, type: 3 } as const;
/** TrainerSpec fields read here. */
const TRAINER = { modelType: 3, byteFallback: 35, unkId: 40 } as const;
/** NormalizerSpec fields read here. */
const NORMALIZER = { precompiledCharsmap: 2 } as const;

/** Reads spm.model, refusing (naming it) a file over its size limit, malformed, or with an absurd number of pieces. */
export function readSentencePieceModel(file: string): SentencePieceModel {
  checkTokenizerFileSize(file, MAX_SPM_MODEL_BYTES);
  const bytes = readFileSync(file);
  // Counted before any piece is read: 16 MiB of 5-byte pieces would be three million objects.
  const counter = new MessageReader(file, bytes);
  let count = 0;
  for (let f = counter.next(); f; f = counter.next())
    if (f.number === MODEL.pieces && ++count > MAX_SPM_PIECES)
      throw new ConvertError(file, `has more than ${MAX_SPM_PIECES} pieces: no model has that many rows`);
  const model = new MessageReader(file, bytes);
  const out: SentencePieceModel = {
    pieces: [],
    modelType: 1,
    unkId: 0,
    byteFallback: false,
    precompiledCharsmap: null,
  };
  for (let f = model.next(); f; f = model.next()) {
    if (f.number === MODEL.pieces) {
      model.expect(f, WIRE.bytes, "a piece");
      out.pieces.push(readPiece(model.sub(f), out.pieces.length, file));
    } else if (f.number === MODEL.trainerSpec) {
      model.expect(f, WIRE.bytes, "trainer_spec");
      readTrainerSpec(model.sub(f), out);
    } else if (f.number === MODEL.normalizerSpec) {
      model.expect(f, WIRE.bytes, "normalizer_spec");
      const spec = model.sub(f);
      for (let g = spec.next(); g; g = spec.next())
        if (g.number === NORMALIZER.precompiledCharsmap) {
          spec.expect(g, WIRE.bytes, "precompiled_charsmap");
          out.precompiledCharsmap = g.bytes.length > 0 ? g.bytes : null;
        }
    }
  }
  if (out.pieces.length === 0) throw new ConvertError(file, "not a SentencePiece model: it has no pieces");
  return out;
}

function readPiece(m: MessageReader, index: number, file: string): SentencePiece {
  const piece: SentencePiece = { piece: "", score: 0, type: PieceType.normal };
  const what = `piece ${index}`;
  for (let f = m.next(); f; f = m.next()) {
    if (f.number === PIECE.piece) piece.piece = m.text(f, `${what}'s text`);
    else if (f.number === PIECE.score) piece.score = m.float(f, `${what}'s score`);
    else if (f.number === PIECE.type) piece.type = m.int(f, `${what}'s type`);
  }
  if (piece.piece === "") throw new ConvertError(file, `not a SentencePiece model: ${what} is empty`);
  // serde_json writes a NaN or infinite score as null, which no tokenizer then reads.
  if (!Number.isFinite(piece.score))
    throw new ConvertError(file, `${what} (${JSON.stringify(piece.piece)}) has the score ${piece.score}`);
  return piece;
}

function readTrainerSpec(m: MessageReader, out: SentencePieceModel) {
  for (let f = m.next(); f; f = m.next()) {
    if (f.number === TRAINER.modelType) out.modelType = m.int(f, "trainer_spec.model_type");
    else if (f.number === TRAINER.unkId) out.unkId = m.int(f, "trainer_spec.unk_id");
    else if (f.number === TRAINER.byteFallback) out.byteFallback = m.int(f, "trainer_spec.byte_fallback") !== 0;
  }
}
