/**
 * Regexes in a tokenizer.json that can make Hugging Face's tokenizers abort the process. Its regex
 * engine (Oniguruma) gives up on a match that backtracks too long ("retry-limit-in-match over"), the
 * Rust binding panics across the FFI boundary, and a panic there cannot unwind: the process aborts
 * (exit 134), whatever catches the call. A 25-byte text does it with `(a+)+$`. So the shapes that
 * backtrack exponentially are refused before a tokenizer is used: a repeated group whose body itself
 * repeats or is optional (nested quantifiers: `(a+)+`, `(\w*\s?)*`, `(a{1,3})+`), and a repeated
 * alternation whose alternatives can start alike (`(a|aa)+`, `(\w|\d)*`).
 */

/** A regex of the normalizer or pre-tokenizer that may backtrack exponentially. */
export interface UnsafePattern {
  /** Where in tokenizer.json: e.g. `pre_tokenizer.pretokenizers[0] (Split)`. */
  where: string;
  pattern: string;
  why: string;
}

/** Every regex the normalizer and pre-tokenizer hold (Split, Replace; through Sequence), with where it is. */
export function tokenizerRegexes(definition: Record<string, unknown>): { where: string; pattern: string }[] {
  const found: { where: string; pattern: string }[] = [];
  const walk = (v: unknown, where: string) => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${where}[${i}]`);
    } else if (v !== null && typeof v === "object") {
      const o = v as Record<string, unknown>;
      const regex = (o.pattern as { Regex?: unknown } | undefined)?.Regex;
      const step = typeof o.type === "string" ? `${where} (${o.type})` : where;
      if (typeof regex === "string") found.push({ where: step, pattern: regex });
      for (const [k, x] of Object.entries(o)) if (k !== "pattern") walk(x, `${where}.${k}`);
    }
  };
  walk(definition.normalizer, "normalizer");
  walk(definition.pre_tokenizer, "pre_tokenizer");
  return found;
}

/** The regexes of a parsed tokenizer.json that may backtrack exponentially (empty when none). */
export function unsafeTokenizerRegexes(definition: Record<string, unknown>): UnsafePattern[] {
  return tokenizerRegexes(definition).flatMap(({ where, pattern }) => {
    const why = catastrophicShape(pattern);
    return why ? [{ where, pattern, why }] : [];
  });
}

/** One line per unsafe pattern, for an error message. */
export const describeUnsafe = (found: UnsafePattern[]) =>
  found
    .map((u) => `${u.where} has the regex ${JSON.stringify(u.pattern)}: ${u.why}, which can abort the tokenizer`)
    .join("; ");

/** What a parsed piece of a pattern can do, as far as backtracking goes. */
interface Shape {
  /** It repeats or is optional somewhere inside (a quantifier whose maximum exceeds its minimum). */
  varies: boolean;
  /** The literal characters it can start with, or "any" (a class, an escape, or something that may be empty first). */
  first: Set<string> | "any";
  /** It may match the empty string. */
  empty: boolean;
  /** An alternation whose alternatives may start with the same character. */
  overlapping?: boolean;
}

const MAX_REPORT = 80;

/**
 * Why `pattern` may backtrack exponentially, or null. A small scanner of Oniguruma's (Ruby) syntax:
 * escapes, classes (nested), groups of every kind, quantifiers; it errs on the side of refusing.
 */
export function catastrophicShape(pattern: string): string | null {
  let i = 0;
  let problem: string | null = null;
  const flag = (why: string, from: number) => {
    problem ??= `${why} (at ${JSON.stringify(pattern.slice(from, i).slice(0, MAX_REPORT))})`;
  };

  const alternation = (): Shape => {
    const alts: Shape[] = [sequence()];
    while (pattern[i] === "|") {
      i++;
      alts.push(sequence());
    }
    if (alts.length === 1) return alts[0];
    return {
      varies: alts.some((a) => a.varies),
      first: alts.some((a) => a.first === "any") ? "any" : new Set(alts.flatMap((a) => [...(a.first as Set<string>)])),
      empty: alts.some((a) => a.empty),
      overlapping: overlaps(alts),
    };
  };

  const sequence = (): Shape => {
    const shape: Shape = { varies: false, first: new Set(), empty: true };
    let leading = true;
    while (i < pattern.length && pattern[i] !== "|" && pattern[i] !== ")") {
      const start = i;
      const a = atom();
      if (!a) continue;
      const q = quantifier();
      let piece: Shape = a;
      if (q) {
        const repeats = q.max > 1;
        if (repeats) {
          if (a.varies) flag("a repeated group whose body repeats or is optional (nested quantifiers)", start);
          else if (a.overlapping) flag("a repeated alternation whose alternatives can start alike", start);
          else if (a.empty) flag("a repeated group that can match the empty string", start);
        }
        piece = { varies: q.max > q.min || a.varies, first: a.first, empty: q.min === 0 || a.empty };
      }
      shape.varies ||= piece.varies;
      if (leading)
        shape.first =
          shape.first === "any" || piece.first === "any" ? "any" : new Set([...shape.first, ...piece.first]);
      if (!piece.empty) leading = false;
      shape.empty &&= piece.empty;
    }
    if (leading && shape.empty) shape.first = "any";
    return shape;
  };

  // One character or class: repeating it (`\p{L}+`) backtracks at most linearly.
  const single = (first: Set<string> | "any"): Shape => ({ varies: false, first, empty: false });

  const atom = (): Shape | null => {
    const c = pattern[i];
    if (c === "(") return group();
    if (c === "[") {
      skipClass();
      return single("any");
    }
    if (c === "\\") {
      const e = pattern[i + 1] ?? "";
      i += 2;
      if ("AzZbBG".includes(e)) return { varies: false, first: new Set(), empty: true };
      if ((e === "p" || e === "P" || e === "x" || e === "k" || e === "g") && pattern[i] === "{") skipTo("}");
      else if ((e === "k" || e === "g") && pattern[i] === "<") skipTo(">");
      else if (e === "u") i += 4;
      // A backreference may match any length: treat it as varying.
      if (/[1-9]/.test(e) || e === "k" || e === "g") return { varies: true, first: "any", empty: true };
      if ("nrtfve0".includes(e) || /[^A-Za-z0-9]/.test(e)) return single(new Set([escapedChar(e)]));
      return single("any");
    }
    i++;
    if (c === "^" || c === "$") return { varies: false, first: new Set(), empty: true };
    if (c === ".") return single("any");
    return single(new Set([c]));
  };

  const group = (): Shape | null => {
    const start = i;
    i++; // (
    let lookaround = false;
    if (pattern[i] === "?") {
      const rest = pattern.slice(i);
      const flags = rest.match(/^\?[imxWDSPa-]*\)/);
      if (flags) {
        i += flags[0].length;
        return null;
      }
      if (rest.startsWith("?#")) {
        skipTo(")");
        return null;
      }
      const prefix = rest.match(/^\?(?:[imxWDSPa-]*:|=|!|<=|<!|>|~|<[A-Za-z_]\w*>|P<[A-Za-z_]\w*>|'[A-Za-z_]\w*')/);
      if (!prefix) {
        flag("a group this check cannot read", start);
        i = pattern.length;
        return null;
      }
      lookaround = /^\?(=|!|<=|<!)/.test(prefix[0]);
      i += prefix[0].length;
    }
    const body = alternation();
    if (pattern[i] !== ")") flag("an unclosed group", start);
    i++;
    return lookaround ? { varies: false, first: new Set(), empty: true } : body;
  };

  const quantifier = (): { min: number; max: number } | null => {
    const c = pattern[i];
    let q: { min: number; max: number } | null = null;
    if (c === "*") q = { min: 0, max: Infinity };
    else if (c === "+") q = { min: 1, max: Infinity };
    else if (c === "?") q = { min: 0, max: 1 };
    else if (c === "{") {
      const m = pattern.slice(i).match(/^\{(\d*)(,?)(\d*)\}/);
      if (!m || (m[1] === "" && m[3] === "")) return null; // a literal brace
      const min = m[1] === "" ? 0 : Number(m[1]);
      q = { min, max: m[2] === "" ? min : m[3] === "" ? Infinity : Number(m[3]) };
      i += m[0].length - 1;
    }
    if (!q) return null;
    i++;
    if (pattern[i] === "?" || pattern[i] === "+") i++; // lazy or possessive
    // A quantified quantifier (`a**`, `a{2}{3}`) is Oniguruma's own nesting.
    const again = quantifier();
    if (again) return { min: q.min * again.min, max: q.max * again.max };
    return q;
  };

  const skipClass = () => {
    i++; // [
    if (pattern[i] === "^") i++;
    if (pattern[i] === "]") i++; // a leading ] is a literal
    while (i < pattern.length && pattern[i] !== "]") {
      if (pattern[i] === "\\") i += 2;
      else if (pattern[i] === "[") skipClass();
      else i++;
    }
    i++;
  };

  const skipTo = (end: string) => {
    while (i < pattern.length && pattern[i] !== end) i++;
    i++;
  };

  try {
    alternation();
  } catch (e) {
    // Groups nested past the stack: no real tokenizer has them, and Oniguruma's own limit is 4096 levels.
    if (e instanceof RangeError) return "groups nested too deeply to check";
    throw e;
  }
  if (i < pattern.length && problem === null) flag("an unbalanced )", i);
  return problem;
}

/** Whether two alternatives may start with the same character (a class or escape may start like anything). */
function overlaps(alts: Shape[]): boolean {
  const seen = new Set<string>();
  for (const a of alts) {
    if (a.first === "any" || a.empty) return true;
    for (const c of a.first) {
      if (seen.has(c)) return true;
      seen.add(c);
    }
  }
  return false;
}

function escapedChar(e: string): string {
  return { n: "\n", r: "\r", t: "\t", f: "\f", v: "\v", "0": "\0" }[e] ?? e;
}
