import { Tokenizer } from "tokenizers";
import { describeUnsafe, tokenizerRegexes, unsafeTokenizerRegexes } from "../../lib/tokenizer/regex-safety.ts";
import { ConvertError, readJsonFile } from "../errors.ts";
import { sha256File } from "../hash.ts";

/**
 * A model's tokenizer.json is untrusted input: one whose regex backtracks too long makes the
 * tokenizers binding abort the process on a 25-byte text (lib/tokenizer/regex-safety.ts says why).
 * Before a tokenizer goes into the store, its normalizer's and pre-tokenizer's regexes are checked
 * for the shapes that backtrack exponentially, then the tokenizer encodes adversarial texts in a
 * child process, where an abort is a refusal rather than convert's own death.
 */
export async function checkTokenizerSafety(file: string): Promise<void> {
  checkTokenizerRegexes(file);
  // The probe costs a child process and a tokenizer load (about a second for XLM-R): once per distinct file.
  const bytes = sha256File(file);
  if (probed.has(bytes)) return;
  await probeTokenizer(file);
  probed.add(bytes);
}

const probed = new Set<string>();

/** Refuses a tokenizer.json whose normalizer or pre-tokenizer has a regex of a catastrophic shape, naming it. */
function checkTokenizerRegexes(file: string) {
  const unsafe = unsafeTokenizerRegexes(readJsonFile(file) as Record<string, unknown>);
  if (unsafe.length > 0) throw new ConvertError(file, describeUnsafe(unsafe));
}

/** Encodes adversarial texts with the tokenizer in a child process: an abort or a stall there is a ConvertError here. */
export async function probeTokenizer(file: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const definition = readJsonFile(file) as Record<string, unknown>;
  const literals = tokenizerRegexes(definition).flatMap((r) => [...r.pattern.replace(/\\./g, "")]);
  const child = Bun.spawn([process.execPath, import.meta.path, file], {
    stdin: new Blob([JSON.stringify(probeTexts(literals))]),
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code === 0 && out.trim().endsWith("done")) return;
  const lastProbe = out.trim().split("\n").at(-1) ?? "";
  const text = lastProbe.startsWith("probe ") ? `(${lastProbe.slice(6)}) ` : "";
  if (child.signalCode === "SIGKILL")
    throw new ConvertError(
      file,
      `encoding an adversarial text ${text}did not finish within ${timeoutMs / 1000} s: this tokenizer could stall the service`,
    );
  const panic = err.match(/panicked at [^\n]*\n([^\n]+)/)?.[1] ?? err.trim().split("\n")[0] ?? "";
  throw new ConvertError(
    file,
    `encoding an adversarial text ${text}ended the process (${code ?? child.signalCode})` +
      `${panic ? `: ${panic}` : ""}; this tokenizer would abort the service`,
  );
}

/** Long enough for a probe to end in convert's time, short enough that a real tokenizer encodes all in well under a second. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * Texts that make backtracking regexes work hardest: runs of one character (letters, digits,
 * spaces, punctuation, and the characters the tokenizer's own patterns name), short (exponential
 * shapes give up within ~25 characters) and long (polynomial ones), each followed by a character
 * that breaks the run.
 */
function probeTexts(patternLiterals: string[]): { what: string; text: string }[] {
  const chars = [
    ...new Set(["a", "A", "0", " ", "\n", "\t", ".", "'", "-", "_", "é", "中", "\u2581", ...patternLiterals]),
  ];
  const texts: { what: string; text: string }[] = [];
  for (const c of chars.slice(0, 40))
    for (const n of [25, 2000])
      for (const end of ["!", "a", " ", "\u0000"])
        texts.push({ what: `${n} × ${JSON.stringify(c)} then ${JSON.stringify(end)}`, text: c.repeat(n) + end });
  texts.push({ what: '2000 × "a " then "!"', text: `${"a ".repeat(2000)}!` });
  return texts;
}

/** The child: encodes each text, naming it first on stdout, so a parent knows which one an abort came from. */
async function probe(file: string, texts: { what: string; text: string }[]) {
  const tokenizer = Tokenizer.fromFile(file);
  for (const { what, text } of texts) {
    process.stdout.write(`probe ${what}\n`);
    await tokenizer.encode(text);
  }
  process.stdout.write("done\n");
}

if (import.meta.main) await probe(process.argv[2], JSON.parse(await Bun.stdin.text()));
