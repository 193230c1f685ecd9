/**
 * What each tiny engine stands for on the simulated device: the full-size model of its hub id (the
 * published config.json in ../shared/models), whose FLOPs and weight bytes the device is charged,
 * while the tiny model computes the answer.
 */
import { readFileSync } from "node:fs";
import { DEFAULT_MANIFEST } from "../../convert/manifest.ts";
import type { ModelRecord } from "../../lib/store/index.ts";
import { sharedFile } from "../../testkit/shared.ts";
import { type EncoderShape, forwardFlops, packedForwardFlops, shapeFromConfig } from "../lib/flops.ts";
import type { ModelWork } from "./device.ts";

export interface StandIn {
  key: string;
  hubId: string;
  shape: EncoderShape;
  work: ModelWork;
}

/** engine.json's hub id; engines made from local checkpoints (bench/make-engines.ts) take the manifest's for their key. */
function hubIdOf(record: Pick<ModelRecord, "key" | "source">): string {
  const hubId = record.source.hubId ?? DEFAULT_MANIFEST.models.find((m) => m.key === record.key)?.hubId;
  if (!hubId) throw new Error(`${record.key}: no hub id in engine.json and no manifest model of that key`);
  return hubId;
}

/** A forward of the shape, padded or packed: its FLOPs for the batch, and the weights it reads once per run. */
const encoderWork = (shape: EncoderShape): ModelWork => ({
  padded: (rows, length) => ({ flops: forwardFlops(shape, rows, length), weightBytes: shape.weightBytesRead }),
  packed: (lengths) => ({ flops: packedForwardFlops(shape, lengths), weightBytes: shape.weightBytesRead }),
});

export function standInFor(record: Pick<ModelRecord, "key" | "source">): StandIn {
  const hubId = hubIdOf(record);
  const config = JSON.parse(readFileSync(sharedFile("models", hubId.replace("/", "__"), "config.json"), "utf8"));
  const shape = shapeFromConfig(config);
  return { key: record.key, hubId, shape, work: encoderWork(shape) };
}
