import type { Checkpoint, CheckpointTensor } from "../../checkpoint/index.ts";
import type { ClassifierConfig, ConfigReader } from "../config.ts";
import type { GraphBuilder } from "../graph.ts";

/** One family of architectures: how its config reads and how its graph is built. */
export interface Architecture {
  /** config.architectures values it builds. */
  names: readonly string[];
  /** config.model_type values it builds when `architectures` is absent. */
  modelTypes: readonly string[];
  parseConfig(config: ConfigReader, architecture: string): ClassifierConfig;
  /** The graph (inputs as `c.inputs`, output `logits` [batch, labels]) and the checkpoint tensors it uses. */
  build(c: ClassifierConfig, ckpt: Checkpoint): { graph: GraphBuilder; used: CheckpointTensor[] };
}
