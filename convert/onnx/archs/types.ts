import type { Checkpoint, CheckpointTensor } from "../../checkpoint/index.ts";
import type { ClassifierConfig, ConfigReader } from "../config.ts";
import type { GraphBuilder } from "../graph.ts";
import type { RowLayout } from "../rows.ts";

/** One family of architectures: how its config reads and how its graph is built. */
export interface Architecture {
  /** config.architectures values it builds. */
  names: readonly string[];
  /** config.model_type values it builds when `architectures` is absent. */
  modelTypes: readonly string[];
  parseConfig(config: ConfigReader, architecture: string): ClassifierConfig;
  /**
   * The graph and the checkpoint tensors it uses: padded (inputs as `c.inputs`, output `logits`
   * [batch, labels]), or packed (the interface in ../rows.ts); one set of weights for both.
   */
  build(c: ClassifierConfig, ckpt: Checkpoint, layout?: RowLayout): { graph: GraphBuilder; used: CheckpointTensor[] };
}
