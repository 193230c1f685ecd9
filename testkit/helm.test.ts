import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fixtures.ts";
import { renderChart } from "./helm.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A chart of one template (and helpers) rendered with `values`: its one document. */
function renderOne(template: string, values: Record<string, unknown>, helpers = "") {
  const dir = tempDir("helm-render");
  dirs.push(dir);
  mkdirSync(join(dir, "templates"));
  writeFileSync(join(dir, "Chart.yaml"), "apiVersion: v2\nname: c\nversion: 1.2.3\nappVersion: 4.5.6\n");
  writeFileSync(join(dir, "values.yaml"), "a: {b: 1}\n");
  writeFileSync(join(dir, "templates", "_h.tpl"), helpers);
  writeFileSync(join(dir, "templates", "t.yaml"), template);
  return renderChart(dir, values)["t.yaml"];
}

describe("rendering the chart's templates as helm would", () => {
  test("{{- and -}} trim the whitespace beside them; comments render nothing; values coalesce onto values.yaml", () => {
    const t =
      'x: {{ .Values.a.b }}\ny:   {{- /* gone */}} {{ .Values.a.c }}\nw: [a,   {{- "b" -}}   , c]\nz: {{ .Chart.AppVersion }}-{{ .Release.Name }}\n';
    expect(renderOne(t, { a: { c: "kept" } })).toEqual([{ x: 1, y: "kept", w: ["a", "b", "c"], z: "4.5.6-rel" }]);
  });

  test("if / else if / else, with (its dot and its else), range over a map in sorted key order", () => {
    const t = [
      '{{- if eq .Values.mode "a" }}',
      "mode: A",
      '{{- else if eq .Values.mode "b" }}',
      "mode: B",
      "{{- else }}",
      "mode: other",
      "{{- end }}",
      "{{- with .Values.empty }}",
      "empty: {{ . }}",
      "{{- else }}",
      "empty: none",
      "{{- end }}",
      "list:",
      "{{- range $k, $v := .Values.m }}",
      "  - {{ $k }}={{ $v }}",
      "{{- end }}",
    ].join("\n");
    expect(renderOne(t, { mode: "b", empty: "", m: { z: 1, a: 2 } })).toEqual([
      { mode: "B", empty: "none", list: ["a=2", "z=1"] },
    ]);
    expect(renderOne(t, { mode: "q", empty: [], m: {} })[0]).toMatchObject({
      mode: "other",
      empty: "none",
      list: null,
    });
  });

  test("define / include with nindent, pipelines with parenthesised calls, variables, sprig's merge and dict", () => {
    const helpers = '{{- define "h" -}}\nname: {{ .n | quote }}\n{{- end -}}';
    const t = [
      "obj:",
      '  {{- include "h" (dict "n" .Values.a.b) | nindent 2 }}',
      "{{- $r := deepCopy .Values.r }}",
      '{{- $_ := set $r "limits" (merge (dict "gpu" 1) ($r.limits | default dict)) }}',
      "res:",
      "  {{- toYaml $r | nindent 2 }}",
      "{{- $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}",
      "x: {{ $x }}",
    ].join("\n");
    expect(renderOne(t, { r: { limits: { mem: "1Gi", gpu: 5 } } }, helpers)).toEqual([
      { obj: { name: "1" }, res: { limits: { gpu: 1, mem: "1Gi" } }, x: 2 }, // merge: the destination (dict "gpu" 1) wins
    ]);
  });

  test("fail stops the render with its message; an unknown function is an error, not a guess", () => {
    expect(() => renderOne('{{ fail "no" }}', {})).toThrow("fail: no");
    expect(() => renderOne("{{ lookup 1 }}", {})).toThrow("function lookup is not one this renderer knows");
  });
});
