/** The tokenizer process's entry file (TokenizerPool starts it): the service's families, one job at a time. */
import { serveTokenizers } from "./serve-tokenizers.ts";

serveTokenizers();
