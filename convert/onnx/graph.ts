import { onnx } from "onnx-proto";

export const OPSET = 17;
export const ElemType = onnx.TensorProto.DataType;
type Dim = number | string;
type AttrValue = number | number[] | string | { float: number };

/** A weight that lives in the external data file; its bytes are written as they are, never converted. */
export interface ExternalTensor {
  name: string;
  dims: number[];
  dataType: number;
  byteLength: number;
  bytes(): Uint8Array;
}

/** Builds an ONNX graph node by node; names are generated, so call sites read like the model. */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly inline: onnx.ITensorProto[] = [];
  readonly external: ExternalTensor[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** The inputs declared, in order: what a caller must feed. */
  inputNames(): string[] {
    return this.inputs.map((i) => i.name ?? "");
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Adds a node with one output (named, or generated) and returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const name = `${opType}_${this.counter++}`;
    const out = output ?? `${name}_out`;
    this.nodes.push({
      name,
      opType,
      domain: "",
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  constInt64(values: number[], scalar = false): string {
    const name = `const_${this.counter++}`;
    const raw = new BigInt64Array(values.map(BigInt));
    this.inline.push({
      name,
      dataType: ElemType.INT64,
      dims: scalar ? [] : [values.length],
      rawData: new Uint8Array(raw.buffer),
    });
    return name;
  }

  constFloat(value: number): string {
    const name = `const_${this.counter++}`;
    this.inline.push({
      name,
      dataType: ElemType.FLOAT,
      dims: [],
      rawData: new Uint8Array(new Float32Array([value]).buffer),
    });
    return name;
  }

  /** A float32 vector constant (computed, not a weight: e.g. rotary inverse frequencies). */
  constFloats(values: number[]): string {
    const name = `const_${this.counter++}`;
    this.inline.push({
      name,
      dataType: ElemType.FLOAT,
      dims: [values.length],
      rawData: new Uint8Array(new Float32Array(values).buffer),
    });
    return name;
  }

  weight(t: ExternalTensor): string {
    this.external.push(t);
    return t.name;
  }

  /** The ModelProto; external tensors point at `dataFile` at the offsets `layout` gives. */
  toModel(dataFile: string, layout: Map<string, number>, producer = "convert"): onnx.IModelProto {
    const externalInits: onnx.ITensorProto[] = this.external.map((t) => ({
      name: t.name,
      dataType: t.dataType,
      dims: t.dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: dataFile },
        { key: "offset", value: String(layout.get(t.name)) },
        { key: "length", value: String(t.byteLength) },
      ],
    }));
    return {
      irVersion: 8,
      producerName: producer,
      opsetImport: [{ domain: "", version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: [...externalInits, ...this.inline],
      },
    };
  }
}

export function valueInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") return { name, type: T.INT, i: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}
