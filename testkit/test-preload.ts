/** Loaded before every `bun test` run (bunfig.toml): what the whole run shares. */
import { afterAll } from "bun:test";
import { removeScratchCopies } from "../convert/tokenizer/tokenizer-family.ts";
import { removeTempDirs } from "./fixtures.ts";

// bun test does not emit the process's exit event: the folders the tests (and the conversions they
// run) made go once the last test is done. Gigabytes of converted models on a busy disk can take
// longer than a hook's default 5 s.
afterAll(
  () => {
    removeTempDirs();
    removeScratchCopies();
  },
  { timeout: 120_000 },
);
