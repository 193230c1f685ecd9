/**
 * Truncation of a tokenized row (one text or a pair) done in code, as Hugging Face's tokenizers does
 * it (stride 0, either direction): the texts' tokens are cut, the template's special tokens kept. In
 * code because every model of a family cuts the same encoding to its own length, and because the
 * family's tokenizer is shared by concurrent encodes (setTruncation on it would race). Exact for one
 * text and for only_first; for a pair cut longest_first, see longestFirstPair.
 */

/** Where one text of a row lies: its first token, the tokens kept, and how many it had untruncated. */
export interface TextSpan {
  start: number;
  length: number;
  full: number;
}

/** A row as the template assembles it: ids, their token type ids, and where each text lies. */
export interface EncodedRow {
  ids: Int32Array;
  typeIds: Int32Array;
  spans: TextSpan[];
}

/**
 * `longest_first`: the text-classification pipeline's truncation=True. `only_first`: the zero-shot
 * pipeline's; it cannot always fit (the Rust library errors), and transformers then does not truncate.
 */
export type TruncationStrategy = "longest_first" | "only_first";

/**
 * Which end of each text gives way: `right` keeps its start (transformers' default truncation_side),
 * `left` its end (truncation_side="left", TEI's truncation_direction). For one text the side changes
 * only which tokens stay; for a pair halved longest_first, which text keeps the odd token can differ
 * too (FamilyTokenizer asks the Rust library, one cutter per side).
 */
export type TruncationDirection = "right" | "left";

/** How a row too long for a model is cut. */
export interface Truncation {
  strategy: TruncationStrategy;
  direction: TruncationDirection;
}

/** The text-classification pipeline's truncation=True. */
export const LONGEST_FIRST_RIGHT: Truncation = { strategy: "longest_first", direction: "right" };

/**
 * How many tokens each text keeps when `budget` tokens are left for the texts (the maximum length
 * less the template's special tokens), or null when only_first cannot fit them (the Rust library's
 * "sequence to truncate too short").
 */
function keptLengths(full: number[], budget: number, maxLength: number, strategy: TruncationStrategy): number[] | null {
  const total = full.reduce((n, l) => n + l, 0);
  if (total <= budget) return full;
  if (strategy === "only_first") {
    const excess = total - budget;
    return full[0] > excess ? [full[0] - excess, ...full.slice(1)] : null;
  }
  if (full.length === 1) return [budget];
  return longestFirstPair(full[0], full[1], budget, maxLength);
}

/**
 * The longer text is cut to what the shorter leaves; when that is not enough, each gets half. Which
 * one keeps an odd budget's last token is where tokenizers 0.23.2 cannot be followed from lengths
 * alone (FamilyTokenizer.encodeRow lets the library cut pairs for that reason): this rule (the longer
 * text, the second on a tie, the second too when the shorter alone reaches maxLength) is the
 * library's over every pair of lengths up to 40 of single-token words, and misses 3 of the 310
 * fixture pairs. Only a model whose maximum is below its family's cuts pairs here.
 */
function longestFirstPair(first: number, second: number, budget: number, maxLength: number): number[] {
  const shorter = Math.min(first, second);
  if (shorter <= budget - shorter) return first <= second ? [first, budget - first] : [budget - second, second];
  const half = Math.floor(budget / 2);
  const firstGetsOdd = first > second && shorter < maxLength;
  return firstGetsOdd ? [budget - half, half] : [half, budget - half];
}

/**
 * The row cut to maxLength: each text keeps the tokens keptLengths gives it (counted from its
 * untruncated length, so cutting an already cut row gives what cutting the whole would), and every
 * special token stays. The row itself when nothing is cut; null when only_first cannot fit.
 */
export function truncateRow(
  row: EncodedRow,
  maxLength: number,
  { strategy, direction }: Truncation = LONGEST_FIRST_RIGHT,
): EncodedRow | null {
  const specials = row.ids.length - row.spans.reduce((n, s) => n + s.length, 0);
  const kept = keptLengths(
    row.spans.map((s) => s.full),
    Math.max(0, maxLength - specials),
    maxLength,
    strategy,
  );
  return kept && cutRow(row, kept, direction);
}

/**
 * The row with each text keeping `kept[i]` of its tokens, from its start (`right`) or its end
 * (`left`), and every special token; the row itself when nothing is cut. A text already cut from the
 * same side keeps the same tokens, whatever the order of the cuts.
 */
export function cutRow(row: EncodedRow, kept: number[], direction: TruncationDirection): EncodedRow {
  if (kept.every((k, i) => k === row.spans[i].length)) return row;
  const specials = row.ids.length - row.spans.reduce((n, s) => n + s.length, 0);
  const length = specials + kept.reduce((n, k) => n + k, 0);
  const out: EncodedRow = { ids: new Int32Array(length), typeIds: new Int32Array(length), spans: [] };
  let from = 0;
  let to = 0;
  const copy = (end: number) => {
    out.ids.set(row.ids.subarray(from, end), to);
    out.typeIds.set(row.typeIds.subarray(from, end), to);
    to += end - from;
  };
  row.spans.forEach((span, i) => {
    copy(span.start); // the special tokens before this text
    out.spans.push({ start: to, length: kept[i], full: span.full });
    from = direction === "right" ? span.start : span.start + span.length - kept[i];
    copy(from + kept[i]);
    from = span.start + span.length;
  });
  copy(row.ids.length);
  return out;
}
