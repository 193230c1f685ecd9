/** A two-panel SVG: throughput and p95 latency against offered load (closed-loop clients), one line per peer. */
export interface Series {
  name: string;
  points: { x: number; rps: number; p95: number }[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

export function svgChart(series: Series[], ceiling?: number): string {
  const W = 420;
  const H = 260;
  const pad = { l: 56, r: 12, t: 28, b: 40 };
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xMax = Math.max(1, ...xs);
  const panel = (
    ox: number,
    title: string,
    value: (p: Series["points"][0]) => number,
    yLabel: string,
    extra?: number,
  ) => {
    const yMax =
      Math.max(1e-9, extra ?? 0, ...series.flatMap((s) => s.points.map(value)).filter(Number.isFinite)) * 1.1;
    const X = (x: number) => ox + pad.l + (Math.log2(x) / Math.log2(Math.max(2, xMax))) * (W - pad.l - pad.r);
    const Y = (y: number) => pad.t + (1 - y / yMax) * (H - pad.t - pad.b);
    const ticks = [...new Set(xs)].sort((a, b) => a - b);
    const out = [
      `<text x="${ox + W / 2}" y="16" text-anchor="middle" font-weight="bold">${title}</text>`,
      `<line x1="${ox + pad.l}" y1="${H - pad.b}" x2="${ox + W - pad.r}" y2="${H - pad.b}" stroke="#444"/>`,
      `<line x1="${ox + pad.l}" y1="${pad.t}" x2="${ox + pad.l}" y2="${H - pad.b}" stroke="#444"/>`,
      ...ticks.map((t) => `<text x="${X(t)}" y="${H - pad.b + 14}" text-anchor="middle">${t}</text>`),
      `<text x="${ox + W / 2}" y="${H - 6}" text-anchor="middle">closed-loop clients (offered load)</text>`,
      ...[0, 0.5, 1].map(
        (f) =>
          `<text x="${ox + pad.l - 4}" y="${Y((f * yMax) / 1.1) + 4}" text-anchor="end">${((f * yMax) / 1.1).toPrecision(3)}</text>`,
      ),
      `<text transform="translate(${ox + 12},${H / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
    ];
    series.forEach((s, i) => {
      const pts = s.points.filter((p) => Number.isFinite(value(p)));
      out.push(
        `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts.map((p) => `${X(p.x).toFixed(1)},${Y(value(p)).toFixed(1)}`).join(" ")}"/>`,
      );
      out.push(
        ...pts.map(
          (p) =>
            `<circle cx="${X(p.x).toFixed(1)}" cy="${Y(value(p)).toFixed(1)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`,
        ),
      );
    });
    if (extra !== undefined)
      out.push(
        `<line x1="${ox + pad.l}" x2="${ox + W - pad.r}" y1="${Y(extra)}" y2="${Y(extra)}" stroke="#2ca02c" stroke-dasharray="6 4"/>`,
      );
    return out.join("\n");
  };
  const legend = [
    ...series.map((s, i) => [s.name, COLORS[i % COLORS.length], ""]),
    ...(ceiling !== undefined ? [["raw engine (ceiling)", "#2ca02c", ' stroke-dasharray="6 4"']] : []),
  ]
    .map(
      ([name, color, dash], i) =>
        `<line x1="${70 + i * 180}" y1="${H + 14}" x2="${95 + i * 180}" y2="${H + 14}" stroke="${color}" stroke-width="2"${dash}/><text x="${100 + i * 180}" y="${H + 18}">${name}</text>`,
    )
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 28}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${panel(0, "Throughput", (p) => p.rps, "req/s", ceiling)}
${panel(W, "p95 latency", (p) => p.p95, "ms")}
${legend}
</svg>
`;
}
