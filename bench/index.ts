// `bun run bench`: for now the closed-loop run against a running service (see closed-loop.ts).
import { main } from "./closed-loop.ts";

await main();
