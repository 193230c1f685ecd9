/**
 * Size limits on the tokenizer files convert reads whole: a hostile one is refused by its size before a
 * byte of it is read (a vocab.txt of 10^7 lines took 118 s and 9 GB to convert before these).
 */
import { existsSync, statSync } from "node:fs";
import { ConvertError, requireRegularFile } from "../errors.ts";

/**
 * The largest real tokenizer.json files on the Hub are about 20–35 MB (Gemma's 256k-piece vocabulary;
 * XLM-R's 250k pieces: 17 MB): twice the largest leaves room, and parsing 64 MiB stays a second or two.
 */
export const MAX_TOKENIZER_JSON_BYTES = 64 * 1024 * 1024;
/**
 * Real vocab.txt files are at most 1–2 MB (bert-base-uncased: 232 kB for 30,522 lines; multilingual BERT:
 * about 1 MB for 119,547): 8 MiB leaves room for the largest WordPiece vocabularies (~500k lines).
 */
export const MAX_VOCAB_TXT_BYTES = 8 * 1024 * 1024;
/** One line is one id: twice the largest real WordPiece vocabularies (~500k), and no model has more rows. */
export const MAX_VOCAB_TXT_LINES = 1_000_000;

/**
 * Real SentencePiece models are at most about 5 MB (DeBERTa-v3's 128k pieces: 2.5 MB with its 317 kB
 * charsmap; XLM-R's and Gemma's 250k: 4–5 MB): 16 MiB leaves room, and is read in well under a second.
 */
export const MAX_SPM_MODEL_BYTES = 16 * 1024 * 1024;
/** One piece is one id: four times the largest real SentencePiece vocabularies (~256k), as for vocab.txt. */
export const MAX_SPM_PIECES = 1_000_000;

/** The tokenizer files read whole, and the size each may have. */
export const TOKENIZER_FILE_LIMITS: Record<string, number> = {
  "tokenizer.json": MAX_TOKENIZER_JSON_BYTES,
  "vocab.txt": MAX_VOCAB_TXT_BYTES,
  "spm.model": MAX_SPM_MODEL_BYTES,
};

/** Refuses, naming it, a tokenizer file that is special or larger than its limit; an absent one passes. */
export function checkTokenizerFileSize(file: string, limit: number) {
  if (!existsSync(file)) return;
  requireRegularFile(file);
  const size = statSync(file).size;
  if (size > limit)
    throw new ConvertError(file, `is ${size} bytes, more than the ${limit} a real one needs: refused unread`);
}

/** Counts the lines of vocab.txt as read (any of \n, \r\n, \r ends one) and refuses more than MAX_VOCAB_TXT_LINES. */
export function checkVocabLines(file: string, bytes: Uint8Array) {
  let lines = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) lines++;
    if (lines > MAX_VOCAB_TXT_LINES)
      throw new ConvertError(file, `has more than ${MAX_VOCAB_TXT_LINES} lines (ids): no model has that many rows`);
  }
}
