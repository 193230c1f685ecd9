/**
 * `helm template` for this chart's own templates, in TypeScript: helm is not installable here (neither
 * npm nor Debian carries it), and a chart checked only as text can render something else entirely.
 * Go's text/template with the sprig functions the chart uses (an unknown one is an error, not a
 * guess): actions with whitespace trimming, if / else if / else, with, range over lists and maps
 * (sorted keys), define / include, variables (:= and =), pipelines and parenthesised calls.
 * Each rendered file is parsed as YAML (a file that renders empty yields no document).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";

type Value = unknown;
type Tree = Record<string, Value>;

// ---- lexing: text and actions ----

interface TextNode {
  kind: "text";
  text: string;
}
interface ActionNode {
  kind: "action";
  source: string;
}
type Lexeme = TextNode | ActionNode;

/** Text and actions, with {{- and -}} applied to the text beside them; comments dropped. */
function lex(template: string): Lexeme[] {
  const out: Lexeme[] = [];
  let at = 0;
  let trimNext = false;
  while (at < template.length) {
    const open = template.indexOf("{{", at);
    let text = template.slice(at, open < 0 ? undefined : open);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (open < 0) {
      out.push({ kind: "text", text });
      break;
    }
    const close = template.indexOf("}}", open);
    if (close < 0) throw new Error(`unclosed action at ${open}`);
    let source = template.slice(open + 2, close);
    if (source.startsWith("-")) {
      text = text.replace(/\s+$/, "");
      source = source.slice(1);
    }
    trimNext = source.endsWith("-");
    if (trimNext) source = source.slice(0, -1);
    out.push({ kind: "text", text });
    source = source.trim();
    if (!(source.startsWith("/*") && source.endsWith("*/"))) out.push({ kind: "action", source });
    at = close + 2;
  }
  return out.filter((l) => l.kind === "action" || l.text !== "");
}

// ---- expressions ----

type Operand =
  | { kind: "field"; path: string[] }
  | { kind: "var"; name: string; path: string[] }
  | { kind: "literal"; value: Value }
  | { kind: "call"; name: string }
  | { kind: "pipe"; pipe: Command[] };
type Command = Operand[];

const TOKEN = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|=|\||\(|\)|,|[^\s|(),]+)/y;

function tokens(source: string): string[] {
  const out: string[] = [];
  let end = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(source); m; m = TOKEN.exec(source)) {
    out.push(m[1]);
    end = TOKEN.lastIndex;
  }
  if (source.slice(end).trim()) throw new Error(`cannot read action {{ ${source} }}`);
  return out;
}

function operand(token: string): Operand {
  if (token.startsWith('"')) return { kind: "literal", value: JSON.parse(token) };
  if (token.startsWith("`")) return { kind: "literal", value: token.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(token)) return { kind: "literal", value: Number(token) };
  if (token === "true" || token === "false") return { kind: "literal", value: token === "true" };
  if (token === "nil") return { kind: "literal", value: null };
  if (token.startsWith(".")) return { kind: "field", path: token.split(".").filter(Boolean) };
  if (token.startsWith("$")) {
    const [name, ...path] = token.split(".");
    return { kind: "var", name, path };
  }
  return { kind: "call", name: token };
}

/** A pipeline from tokens[at..]: commands separated by |, until a ) or the end. */
function pipeline(ts: string[], at = { i: 0 }): Command[] {
  const commands: Command[] = [[]];
  while (at.i < ts.length) {
    const t = ts[at.i++];
    if (t === ")") return commands;
    if (t === "|") commands.push([]);
    else if (t === "(") commands[commands.length - 1].push({ kind: "pipe", pipe: pipeline(ts, at) });
    else commands[commands.length - 1].push(operand(t));
  }
  return commands;
}

// ---- evaluation ----

class Scope {
  private readonly vars = new Map<string, Value>();
  constructor(private readonly parent?: Scope) {}
  declare(name: string, v: Value) {
    this.vars.set(name, v);
  }
  assign(name: string, v: Value) {
    if (this.vars.has(name) || !this.parent) this.vars.set(name, v);
    else this.parent.assign(name, v);
  }
  get(name: string): Value {
    if (this.vars.has(name)) return this.vars.get(name);
    if (!this.parent) throw new Error(`undefined variable ${name}`);
    return this.parent.get(name);
  }
}

const isTree = (v: Value): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);
const truthy = (v: Value) =>
  !(v === undefined || v === null || v === false || v === 0 || v === "") &&
  !(Array.isArray(v) && v.length === 0) &&
  !(isTree(v) && Object.keys(v).length === 0);
const lookup = (v: Value, path: string[]) => path.reduce<Value>((x, k) => (isTree(x) ? x[k] : undefined), v);
/** As Go prints a value into the output. */
const printed = (v: Value) => (v === undefined || v === null ? "" : String(v));
const clone = (v: Value): Value => JSON.parse(JSON.stringify(v ?? null));

/** sprig's merge: keys of the sources the destination lacks, recursively; the destination wins. */
function mergeInto(dst: Tree, ...sources: Tree[]): Tree {
  for (const src of sources)
    for (const [k, v] of Object.entries(src ?? {})) {
      if (!(k in dst)) dst[k] = clone(v);
      else if (isTree(dst[k]) && isTree(v)) mergeInto(dst[k] as Tree, v);
    }
  return dst;
}

type Fn = (...args: Value[]) => Value;

interface Engine {
  defines: Map<string, Node[]>;
  render(nodes: Node[], dot: Value, scope: Scope): string;
}

function functions(engine: Engine): Record<string, Fn> {
  const indentLines = (n: number, s: Value) =>
    printed(s)
      .split("\n")
      .map((l) => " ".repeat(n) + l)
      .join("\n");
  return {
    include: (name, dot) => {
      const body = engine.defines.get(String(name));
      if (!body) throw new Error(`include of undefined template ${name}`);
      const scope = new Scope();
      scope.declare("$", dot);
      return engine.render(body, dot, scope);
    },
    quote: (...vs) => vs.map((v) => JSON.stringify(printed(v))).join(" "),
    default: (fallback, v) => (truthy(v) ? v : fallback),
    nindent: (n, s) => `\n${indentLines(Number(n), s)}`,
    indent: (n, s) => indentLines(Number(n), s),
    // sigs.k8s.io/yaml sorts keys; the text differs from helm's in quoting only, which parsing undoes.
    toYaml: (v) => (v === undefined || v === null ? "null" : stringify(v, { sortMapEntries: true }).trimEnd()),
    trunc: (n, s) => printed(s).slice(0, Number(n)),
    trimSuffix: (suffix, s) => (printed(s).endsWith(String(suffix)) ? printed(s).slice(0, -String(suffix).length) : s),
    printf: (format, ...args) => {
      let i = 0;
      return String(format).replace(/%[sdv]/g, () => printed(args[i++]));
    },
    join: (sep, list) => (list as Value[]).map(printed).join(String(sep)),
    deepCopy: (v) => clone(v),
    set: (d, k, v) => {
      (d as Tree)[String(k)] = v;
      return d;
    },
    merge: (dst, ...srcs) => mergeInto(dst as Tree, ...(srcs as Tree[])),
    dict: (...kv) =>
      Object.fromEntries(Array.from({ length: kv.length / 2 }, (_, i) => [String(kv[2 * i]), kv[2 * i + 1]])),
    int: (v) => Math.trunc(Number(v)),
    add: (...vs) => vs.reduce<number>((n, v) => n + Number(v), 0),
    mul: (...vs) => vs.reduce<number>((n, v) => n * Number(v), 1),
    div: (a, b) => Math.trunc(Number(a) / Number(b)),
    gt: (a, b) => Number(a) > Number(b),
    eq: (a, b) => a === b,
    ne: (a, b) => a !== b,
    not: (v) => !truthy(v),
    and: (...vs) => vs.find((v) => !truthy(v)) ?? vs[vs.length - 1],
    or: (...vs) => vs.find((v) => truthy(v)) ?? vs[vs.length - 1],
    fail: (message) => {
      throw new Error(`fail: ${message}`);
    },
  };
}

function evaluate(pipe: Command[], dot: Value, scope: Scope, fns: Record<string, Fn>): Value {
  let piped: Value;
  let first = true;
  for (const command of pipe) {
    const value = (o: Operand): Value => {
      if (o.kind === "field") return lookup(dot, o.path);
      if (o.kind === "var") return lookup(scope.get(o.name), o.path);
      if (o.kind === "literal") return o.value;
      if (o.kind === "pipe") return evaluate(o.pipe, dot, scope, fns);
      return call(o.name, []);
    };
    const call = (name: string, args: Value[]) => {
      const fn = fns[name];
      if (!fn) throw new Error(`function ${name} is not one this renderer knows`);
      return fn(...args);
    };
    const [head, ...rest] = command;
    const args = [...rest.map(value), ...(first ? [] : [piped])];
    piped = head.kind === "call" ? call(head.name, args) : value(head);
    first = false;
  }
  return piped;
}

// ---- the template tree ----

type Node =
  | TextNode
  | { kind: "output"; pipe: Command[] }
  | { kind: "declare"; name: string; assign: boolean; pipe: Command[] }
  | { kind: "if"; branches: { pipe: Command[]; body: Node[] }[]; otherwise: Node[] }
  | { kind: "with"; pipe: Command[]; body: Node[]; otherwise: Node[] }
  | { kind: "range"; vars: string[]; pipe: Command[]; body: Node[] };

/** Nodes until one of `stops` (its keyword and the rest of its action returned), reading defines into `defines`. */
function parse(lexemes: Lexeme[], at: { i: number }, defines: Map<string, Node[]>, stops: string[] = []) {
  const nodes: Node[] = [];
  while (at.i < lexemes.length) {
    const l = lexemes[at.i++];
    if (l.kind === "text") {
      nodes.push(l);
      continue;
    }
    const [keyword, ...rest] = tokens(l.source);
    const stop = keyword === "else" && rest[0] === "if" ? "else if" : keyword;
    if (stops.includes(stop)) return { nodes, stop, rest: stop === "else if" ? rest.slice(1) : rest };
    if (keyword === "if") nodes.push(parseIf(rest, lexemes, at, defines));
    else if (keyword === "with") {
      const body = parse(lexemes, at, defines, ["else", "end"]);
      const otherwise = body.stop === "else" ? parse(lexemes, at, defines, ["end"]).nodes : [];
      nodes.push({ kind: "with", pipe: pipeline(rest), body: body.nodes, otherwise });
    } else if (keyword === "range") {
      const decl = rest.indexOf(":=");
      const vars = decl < 0 ? [] : rest.slice(0, decl).filter((t) => t !== ",");
      const body = parse(lexemes, at, defines, ["end"]);
      nodes.push({ kind: "range", vars, pipe: pipeline(rest.slice(decl + 1)), body: body.nodes });
    } else if (keyword === "define") defines.set(JSON.parse(rest[0]), parse(lexemes, at, defines, ["end"]).nodes);
    else if (keyword.startsWith("$") && (rest[0] === ":=" || rest[0] === "="))
      nodes.push({ kind: "declare", name: keyword, assign: rest[0] === "=", pipe: pipeline(rest.slice(1)) });
    else nodes.push({ kind: "output", pipe: pipeline([keyword, ...rest]) });
  }
  if (stops.length) throw new Error(`missing {{ end }} (expected ${stops.join(" or ")})`);
  return { nodes, stop: "", rest: [] as string[] };
}

function parseIf(condition: string[], lexemes: Lexeme[], at: { i: number }, defines: Map<string, Node[]>): Node {
  const branches: { pipe: Command[]; body: Node[] }[] = [];
  let pipe = pipeline(condition);
  for (;;) {
    const part = parse(lexemes, at, defines, ["else if", "else", "end"]);
    branches.push({ pipe, body: part.nodes });
    if (part.stop === "end") return { kind: "if", branches, otherwise: [] };
    if (part.stop === "else") return { kind: "if", branches, otherwise: parse(lexemes, at, defines, ["end"]).nodes };
    pipe = pipeline(part.rest);
  }
}

class Renderer implements Engine {
  readonly defines = new Map<string, Node[]>();
  private readonly fns = functions(this);

  load(template: string): Node[] {
    return parse(lex(template), { i: 0 }, this.defines).nodes;
  }

  render(nodes: Node[], dot: Value, scope: Scope): string {
    let out = "";
    for (const n of nodes) {
      if (n.kind === "text") out += n.text;
      else if (n.kind === "output") out += printed(evaluate(n.pipe, dot, scope, this.fns));
      else if (n.kind === "declare") {
        const v = evaluate(n.pipe, dot, scope, this.fns);
        if (n.assign) scope.assign(n.name, v);
        else scope.declare(n.name, v);
      } else if (n.kind === "if") {
        const branch = n.branches.find((b) => truthy(evaluate(b.pipe, dot, scope, this.fns)));
        out += this.render(branch ? branch.body : n.otherwise, dot, new Scope(scope));
      } else if (n.kind === "with") {
        const v = evaluate(n.pipe, dot, scope, this.fns);
        out += truthy(v) ? this.render(n.body, v, new Scope(scope)) : this.render(n.otherwise, dot, new Scope(scope));
      } else out += this.renderRange(n, dot, scope);
    }
    return out;
  }

  private renderRange(n: Extract<Node, { kind: "range" }>, dot: Value, scope: Scope): string {
    const v = evaluate(n.pipe, dot, scope, this.fns);
    const entries: [Value, Value][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : isTree(v)
        ? Object.keys(v)
            .sort()
            .map((k) => [k, v[k]])
        : [];
    return entries
      .map(([k, x]) => {
        const inner = new Scope(scope);
        if (n.vars.length === 1) inner.declare(n.vars[0], x);
        if (n.vars.length === 2) {
          inner.declare(n.vars[0], k);
          inner.declare(n.vars[1], x);
        }
        return this.render(n.body, x, inner);
      })
      .join("");
  }
}

/** Helm's coalescing of overlays onto the defaults: maps merge, everything else replaces. */
export function coalesce(base: Tree, ...overlays: Tree[]): Tree {
  const merge = (a: Tree, b: Tree): Tree =>
    Object.fromEntries(
      [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
        k,
        isTree(a[k]) && isTree(b[k]) ? merge(a[k] as Tree, b[k] as Tree) : k in b ? b[k] : a[k],
      ]),
    );
  return overlays.reduce(merge, base);
}

/** Every manifest the chart in `chartDir` renders with `values` (coalesced onto its values.yaml), by file. */
export function renderChart(chartDir: string, values: Tree = {}, releaseName = "rel"): Record<string, Tree[]> {
  const read = (p: string) => readFileSync(join(chartDir, p), "utf8");
  const chart = parseYaml(read("Chart.yaml")) as Tree;
  const root = {
    Values: coalesce(parseYaml(read("values.yaml")) as Tree, values),
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Release: { Name: releaseName, Namespace: "default", Service: "Helm" },
  };
  const renderer = new Renderer();
  const files = readdirSync(join(chartDir, "templates")).sort();
  // Helpers first: their defines are what the manifests include.
  for (const f of files.filter((f) => f.startsWith("_"))) renderer.load(read(`templates/${f}`));
  const manifests = files
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => [f, renderer.load(read(`templates/${f}`))] as const);
  return Object.fromEntries(
    manifests.map(([f, nodes]) => {
      const scope = new Scope();
      scope.declare("$", root);
      const text = renderer.render(nodes, root, scope);
      const docs = text.trim() ? [parseYaml(text) as Tree] : [];
      return [f, docs];
    }),
  );
}
