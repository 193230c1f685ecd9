/**
 * Generated hostile requests for /process, each with the answer the API promises for it. Seeded:
 * the same seed gives the same requests. Used by the hostile-input e2e test and the soak script.
 * The expected status is decided from the request alone (JSON.parse and the API's rules), never
 * from the server's code.
 */
export interface HostileCase {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** 200 (a valid request) or the error status and code. */
  expect: { status: number; code?: string };
}

export interface Limits {
  maxBodyBytes: number;
  maxTextsPerRequest: number;
}

export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)],
  };
}

const JSON_CT = { "content-type": "application/json" };

/** The status the API promises for a JSON body sent with an accepted content type. */
function expectedForBody(body: string | Uint8Array, limits: Limits): HostileCase["expect"] {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  if (bytes.byteLength > limits.maxBodyBytes) return { status: 413, code: "payload_too_large" };
  if (bytes.byteLength === 0) return { status: 400, code: "invalid_json" };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { status: 400, code: "invalid_json" };
  }
  const ok =
    typeof value === "string" ||
    (Array.isArray(value) &&
      value.length >= 1 &&
      value.length <= limits.maxTextsPerRequest &&
      value.every((v) => typeof v === "string"));
  return ok ? { status: 200 } : { status: 422, code: "invalid_input" };
}

/** Texts that are valid but unkind: control characters, lone surrogates, huge, empty, odd scripts. */
export function hostileText(r: ReturnType<typeof prng>): string {
  const pieces = [
    "\u0000",
    "\u0007\u001b[31m",
    "\ud800",
    "\udfff\ud800",
    "\ufeff",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "Z\u0351\u0352\u0353\u0354\u0355\u0356\u0357\u0358\u0359\u035a",
    "👩‍👩‍👧‍👦",
    "🏳️‍🌈",
    "漢字かな交じり文",
    "\r\n\t\v\f",
    "   ",
    "'; DROP TABLE texts; --",
    "<script>alert(1)</script>",
    "%s%s%n",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "\\u0000",
    "",
  ];
  const shape = r.int(0, 9);
  if (shape === 0) return "";
  if (shape === 1) return r.pick(pieces).repeat(r.int(1000, 20_000));
  if (shape === 2) return Array.from({ length: r.int(1, 4000) }, () => String.fromCharCode(r.int(0, 0xffff))).join("");
  return Array.from({ length: r.int(1, 30) }, () => r.pick(pieces)).join(r.pick([" ", "", "\n"]));
}

export function hostileCases(seed: number, limits: Limits): HostileCase[] {
  const r = prng(seed);
  const cases: HostileCase[] = [];
  const post = (
    kind: string,
    body: string | Uint8Array,
    headers: Record<string, string> = JSON_CT,
    expect = expectedForBody(body, limits),
  ) => cases.push({ kind, method: "POST", path: "/process", headers, body, expect });

  // Malformed JSON: cut-off documents, stray tokens, JavaScript that is not JSON.
  const docs = [JSON.stringify("a text"), JSON.stringify(["a", "b", "c"]), JSON.stringify({ text: "hi" })];
  for (let i = 0; i < 25; i++) {
    const d = r.pick(docs);
    post("truncated json", d.slice(0, r.int(1, d.length - 1)));
  }
  for (const bad of [
    "'single'",
    "[1,]",
    "NaN",
    "undefined",
    '"a" "b"',
    '["a"',
    "{",
    "}",
    '"\\x41"',
    '"\\ud800',
    "+1",
    "0x10",
    '"tab\tinside"',
    '"nl\ninside"',
  ])
    post("not json", bad);

  // Bytes that are not UTF-8.
  for (let i = 0; i < 20; i++) {
    const bytes = new Uint8Array(r.int(1, 64)).map(() => r.int(0, 255));
    bytes[r.int(0, bytes.length - 1)] = r.pick([0xff, 0xfe, 0xc0, 0x80]);
    if (r.next() < 0.5) bytes.set([0x22], 0); // sometimes it starts like a JSON string
    post("not utf-8", bytes);
  }
  post("overlong utf-8 for a quote", new Uint8Array([0x22, 0xc0, 0xa2, 0x22]));
  post("utf-8 encoded surrogate", new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]));

  // Valid JSON of the wrong shape.
  const wrong: unknown[] = [
    42,
    -0,
    1e308,
    true,
    false,
    null,
    {},
    { text: "hi" },
    [],
    [1],
    ["a", 2],
    [["nested"]],
    [null],
    [{ t: "x" }],
    ["a", ["b"]],
    [true, "x"],
  ];
  for (const v of wrong) post("wrong shape", JSON.stringify(v));
  for (let i = 0; i < 10; i++)
    post(
      "array over the limit",
      JSON.stringify(Array.from({ length: limits.maxTextsPerRequest + r.int(1, 500) }, (_, k) => `t${k}`)),
    );

  // Deep nesting, balanced (valid JSON, wrong shape) and not.
  for (const depth of [1000, 100_000, 400_000]) {
    post("deep array", "[".repeat(depth) + "]".repeat(depth));
    post("deep object", `${'{"a":'.repeat(depth / 10)}1${"}".repeat(depth / 10)}`);
    post("deep unbalanced", "[".repeat(depth));
  }

  // Too large: with Content-Length, and huge arrays.
  for (const size of [limits.maxBodyBytes + 1, limits.maxBodyBytes * 2, 3 * 1024 * 1024])
    post("multi-megabyte string", JSON.stringify("x".repeat(size)));
  post(
    "many small texts over the byte limit",
    JSON.stringify(
      Array.from({ length: limits.maxTextsPerRequest }, () =>
        "y".repeat(Math.ceil(limits.maxBodyBytes / limits.maxTextsPerRequest)),
      ),
    ),
  );

  // Content types.
  for (const type of [
    "image/png",
    "multipart/form-data; boundary=x",
    "application/xml",
    "text/html",
    "application/octet-stream",
    "application/jsonx",
    "garbage",
    "application/json-patch+json",
  ])
    post(
      "wrong content-type",
      JSON.stringify("hi"),
      { "content-type": type },
      { status: 415, code: "unsupported_media_type" },
    );
  for (let i = 0; i < 5; i++) {
    const body = JSON.stringify(hostileText(r));
    post("no content-type", body, {}, expectedForBody(body, limits));
  }
  post("json with charset", JSON.stringify("hi"), { "content-type": "application/json; charset=utf-8" });

  // Headers of ours, malformed.
  for (const v of ["", "soon", "-1", "0", "1.5", "1e9", "9".repeat(40), " ", "0x10"])
    post(
      "bad x-request-timeout-ms",
      JSON.stringify("hi"),
      { ...JSON_CT, "x-request-timeout-ms": v },
      { status: 400, code: "invalid_header" },
    );

  // Methods and routes.
  for (const method of ["GET", "PUT", "DELETE", "PATCH"])
    cases.push({
      kind: "wrong method",
      method,
      path: "/process",
      headers: JSON_CT,
      body: method === "GET" ? undefined : '"hi"',
      expect: { status: 405, code: "method_not_allowed" },
    });
  for (const path of ["/health/ready", "/health/live"])
    cases.push({
      kind: "wrong method",
      method: "POST",
      path,
      headers: JSON_CT,
      body: '"hi"',
      expect: { status: 405, code: "method_not_allowed" },
    });
  for (const path of ["/", "/PROCESS", "/process/extra", "/../etc/passwd", "/%00", "/process%20"])
    cases.push({
      kind: "unknown route",
      method: "POST",
      path,
      headers: JSON_CT,
      body: '"hi"',
      expect: { status: 404, code: "not_found" },
    });

  // Valid, unkind texts: each must be answered 200 by every model.
  for (let i = 0; i < 45; i++) post("hostile text", JSON.stringify(hostileText(r)));
  for (let i = 0; i < 15; i++)
    post(
      "hostile array",
      JSON.stringify(Array.from({ length: r.int(1, limits.maxTextsPerRequest) }, () => hostileText(r).slice(0, 2000))),
    );
  post("escaped lone surrogates", '"\\ud800 \\udc00\\ud800 \\udbff"');
  post("escaped NUL", '"\\u0000\\u0000"');
  post("utf-16 body", new Uint8Array([0xff, 0xfe, 0x22, 0x00, 0x68, 0x00, 0x22, 0x00]));
  post("only whitespace", " \n\t ");
  post("json then garbage", '"hi" garbage');
  post("byte order mark", new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('"bom"')]), JSON_CT, {
    status: 200,
  });
  return cases;
}
