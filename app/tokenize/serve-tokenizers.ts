/**
 * The tokenizer process's side (app/tokenize/tokenizer-process.ts is its entry): loads the service's
 * tokenizer families with Hugging Face's tokenizers and encodes one job's texts at a time. It is a
 * process of its own because the tokenizers binding aborts the process it runs in when the Rust code
 * panics (a regex engine giving up, exit 134), which no try/catch or Worker contains: here that
 * costs the job and a restart of this process (TokenizerPool), never the service.
 */
import { TokenizerFileError } from "../../lib/tokenizer/definition.ts";
import { FamilyTokenizer } from "./family-tokenizer.ts";
import type { FamilyEncodings, FamilyRequest, FromTokenizer, TextInput, ToTokenizer } from "./tokenizer-protocol.ts";
import type { Truncation, TruncationDirection } from "./truncation.ts";

/** Tests only (started with --fault-hooks): a text holding it aborts the process as a panicking tokenizer does. */
export const ABORT_MARKER = "\u0000abort-tokenizer-process\u0000";

/** How a family is loaded: FamilyTokenizer.load (its file checked first), or a test harness's own. */
export type FamilyLoader = (r: FamilyRequest) => Promise<FamilyTokenizer>;

const checkedLoad: FamilyLoader = (r) => FamilyTokenizer.load(r.id, r.dir, r.maxLength);

export function serveTokenizers(loadFamily: FamilyLoader = checkedLoad) {
  const faultHooks = process.argv.includes("--fault-hooks");
  const send = (m: FromTokenizer) => process.send?.(m);
  let families: FamilyTokenizer[] = [];
  // Its size once loaded, and what loading a left pair cutter later added: the pool recycles on growth past it.
  let baselineRss = 0;
  const sizes = () => ({ rss: process.memoryUsage().rss, baselineRss });
  // One job at a time, in order: the pool sends the next only after this one's answer.
  process.on("message", async (m: ToTokenizer) => {
    if (m.type === "load") {
      try {
        families = await Promise.all(m.families.map(loadFamily));
        baselineRss = process.memoryUsage().rss;
        send({ type: "ready", families: families.map((f) => f.info()), ...sizes() });
      } catch (e) {
        send(loadFailure(e));
      }
      return;
    }
    if (faultHooks && m.texts.some((t) => (typeof t === "string" ? t : t.text).includes(ABORT_MARKER))) process.abort();
    try {
      if (m.truncation.direction === "left" && m.texts.some((t) => typeof t !== "string"))
        baselineRss += loadCutters(families, "left");
      // Every encode settles before the answer: the next job never overlaps native work of this one.
      const settled = await Promise.allSettled(families.map((f) => encodeAll(f, m.texts, m.tokens, m.truncation)));
      const encoded = settled.map((s) => {
        if (s.status === "rejected") throw s.reason;
        return s.value;
      });
      send({
        type: "encoded",
        job: m.job,
        families: Object.fromEntries(families.map((f, i) => [f.id, encoded[i]])),
        ...sizes(),
      });
    } catch (e) {
      send({ type: "encode-failed", job: m.job, message: (e as Error).message, ...sizes() });
    }
  });
  // The service went away (even killed): nothing is left to encode for.
  process.on("disconnect", () => process.exit(0));
}

/** Loads every family's pair cutter of one side (at its first use), and answers the memory it took. */
function loadCutters(families: FamilyTokenizer[], direction: TruncationDirection): number {
  const before = process.memoryUsage().rss;
  for (const f of families) f.loadCutter(direction);
  return Math.max(0, process.memoryUsage().rss - before);
}

function loadFailure(e: unknown): FromTokenizer {
  if (e instanceof TokenizerFileError) return { type: "load-failed", file: e.file, problem: e.problem };
  return { type: "load-failed", problem: (e as Error).message };
}

async function encodeAll(
  f: FamilyTokenizer,
  texts: TextInput[],
  tokens: boolean,
  truncation: Truncation,
): Promise<FamilyEncodings> {
  const settled = await Promise.allSettled(texts.map((t) => f.encodeRow(t, truncation)));
  const rows = settled.map((s) => {
    if (s.status === "rejected") throw s.reason;
    return s.value;
  });
  const total = rows.reduce((n, r) => n + r.ids.length, 0);
  const ids = new Int32Array(total);
  const typeIds = new Int32Array(total);
  let offset = 0;
  for (const r of rows) {
    ids.set(r.ids, offset);
    typeIds.set(r.typeIds, offset);
    offset += r.ids.length;
  }
  return {
    ids,
    typeIds,
    lengths: rows.map((r) => r.ids.length),
    spans: rows.map((r) => r.spans),
    tokens: tokens ? rows.map((r) => f.tokenStrings(r.ids)) : undefined,
  };
}
