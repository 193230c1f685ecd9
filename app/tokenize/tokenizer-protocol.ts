import type { TextSpan, Truncation } from "./truncation.ts";

/**
 * The messages between the service and a tokenizer process (app/tokenize/tokenizer-process.ts): the
 * families it loads, the texts it encodes, and what it answers. Sent over Bun's IPC with the
 * "advanced" serialization, so typed arrays arrive as typed arrays.
 */

/** A family as the service asks for it: its folder and the longest encoding any of its models takes. */
export interface FamilyRequest {
  id: string;
  dir: string;
  maxLength: number;
}

/** A family as the tokenizer process found it: what the service needs of it without loading it itself. */
export interface FamilyInfo {
  id: string;
  /** The longest encoding any member takes: ids come back cut to it, as truncation=True cuts them. */
  maxLength: number;
  padId: number;
  /** The special ids after the text (</s>, [SEP]): kept when a model cuts a row shorter. */
  suffix: Int32Array;
  /** The largest id it can give: every model of the family warms up with it. */
  largestId: number;
}

/** One family's encodings of a job's texts (or pairs): every row's ids one after the other. */
export interface FamilyEncodings {
  ids: Int32Array;
  /** The token type ids, row by row as ids (0 for one text; the pair template's for pairs). */
  typeIds: Int32Array;
  lengths: number[];
  /** Where each row's texts lie in it, and their untruncated lengths: a model with a smaller maximum cuts from them. */
  spans: TextSpan[][];
  /** Each text's token strings, when asked (/tokenize). */
  tokens?: string[][];
}

export type ToTokenizer =
  | { type: "load"; families: FamilyRequest[] }
  /**
   * `truncation`: how rows are cut to the family's length: longest_first (the text-classification
   * pipeline's truncation=True), or only_first (the zero-shot pipeline's: only the premise is cut; when
   * that cannot fit, transformers tokenizes the pair uncut, and so does this); from either side.
   */
  | { type: "encode"; job: number; texts: TextInput[]; tokens: boolean; truncation: Truncation };

export type FromTokenizer =
  /**
   * `rss`: the process's size now; `baselineRss`: its size once loaded, plus what loading a pair
   * cutter at its first use added (growth past it is what the pool recycles on).
   */
  | { type: "ready"; families: FamilyInfo[]; rss: number; baselineRss: number }
  /** A tokenizer file it refused or could not read: the start fails naming it. */
  | { type: "load-failed"; file?: string; problem: string }
  | { type: "encoded"; job: number; families: Record<string, FamilyEncodings>; rss: number; baselineRss: number }
  | { type: "encode-failed"; job: number; message: string; rss: number; baselineRss: number };

/** Two texts a model reads together (the text-classification pipeline's {"text", "text_pair"}). */
export interface TextPair {
  text: string;
  text_pair: string;
}

/** What the service classifies: a text, or a pair of texts. */
export type TextInput = string | TextPair;

/** Characters to tokenize: a pair's two texts together. */
const textLength = (t: TextInput) => (typeof t === "string" ? t.length : t.text.length + t.text_pair.length);

/** The characters of a request's texts (pairs: both texts): what tokenizing them costs, and what admission reads. */
export const charCount = (texts: TextInput[]) => texts.reduce((n, t) => n + textLength(t), 0);
