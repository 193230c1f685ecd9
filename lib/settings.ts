/**
 * Settings read from environment variables, each declared once: its variable, what it accepts, its
 * default and what it does. A program's tree of settings is its configuration: `readSettings` fills a
 * typed object from the environment, `settingsMarkdown` is its README table and `settingsHelp` its
 * `--help` lines, so the three cannot disagree. The service (app/config.ts) and convert (convert/cli.ts)
 * each declare their own tree with this machinery.
 */
export type Env = Record<string, string | undefined>;

/** A variable's value refused: the message starts with the variable's name. */
export class SettingError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "SettingError";
  }
}

/** Turns a variable's non-empty text into its value, or throws a SettingError naming the variable. */
export interface Parser<T> {
  /** What the variable accepts, in markdown: README's "accepts" cell and `--help`. */
  readonly accepts: string;
  parse(raw: string, name: string): T;
}

/** One environment variable. T is the field it fills: a parser or default that cannot fill it is a type error. */
export interface Setting<T = unknown> {
  name: string;
  type: Parser<T>;
  /** The value when the variable is unset or empty. */
  default: T;
  /** The default as shown when it is worked out at run time rather than a value one could set. */
  derived?: string;
  /** What it does, in one line of markdown. */
  doc: string;
  /** The measurement behind its default: a file under bench/results/ (an anchor allowed), linked from README. */
  measured?: string;
}

/** A configuration's shape with a Setting at each leaf: a field without a setting, or the reverse, is a type error. */
export type SettingsOf<C> = {
  [K in keyof C]: C[K] extends readonly unknown[]
    ? Setting<C[K]>
    : C[K] extends object
      ? SettingsOf<C[K]>
      : Setting<C[K]>;
};

const isSetting = (x: unknown): x is Setting => typeof x === "object" && x !== null && "type" in x && "name" in x;

/** A tree's settings as a list, in declaration order. */
export function settingList(tree: object): Setting[] {
  return Object.values(tree).flatMap((v) => (isSetting(v) ? [v] : settingList(v)));
}

/** The configuration a tree of settings describes, read from `env`: unset or empty variables take their default. */
export function readSettings<C>(tree: SettingsOf<C>, env: Env): C {
  const entries = Object.entries(tree).map(([field, s]) => {
    if (!isSetting(s)) return [field, readSettings(s as SettingsOf<unknown>, env)];
    const raw = env[s.name];
    if (raw !== undefined && raw !== "") return [field, s.type.parse(raw, s.name)];
    // A copy, so that no caller can change the default of the next read.
    return [field, Array.isArray(s.default) ? [...s.default] : s.default];
  });
  return Object.fromEntries(entries) as C;
}

/** A setting's default as README shows it: numbers bare, other values as code. */
function defaultCell(s: Setting): string {
  if (s.derived !== undefined) return s.derived;
  const v = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
  return typeof s.default === "number" ? v : `\`${v}\``;
}

/** README's table of a list of settings, in markdown (links relative to the repository's root). */
export function settingsMarkdown(settings: readonly Setting[]): string {
  const meaning = (s: Setting) => (s.measured ? `${s.doc} ([measured](${s.measured}))` : s.doc);
  const rows = settings.map((s) => `| \`${s.name}\` | ${defaultCell(s)} | ${s.type.accepts} | ${meaning(s)} |`);
  return ["| variable | default | accepts | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

/** The same settings for a terminal (`--help`): two lines each, markdown's marks dropped. */
export function settingsHelp(settings: readonly Setting[]): string {
  const width = Math.max(...settings.map((s) => s.name.length)) + 2;
  const plain = (md: string) => md.replace(/`/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  return settings
    .map(
      (s) =>
        `  ${s.name.padEnd(width)}${plain(s.type.accepts)}, default ${plain(defaultCell(s))}\n      ${plain(s.doc)}`,
    )
    .join("\n");
}

// The parsers: each says what it accepts, and names the variable when it refuses a value.

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return {
    accepts: max === Number.MAX_SAFE_INTEGER ? `integer ≥ ${min}` : `integer ${min}–${max}`,
    parse(raw, name) {
      const v = Number(raw);
      if (!/^\s*\d+\s*$/.test(raw) || v < min || v > max)
        throw new SettingError(name, `expected an integer from ${min} to ${max}, got "${raw}"`);
      return v;
    },
  };
}

export const boolean: Parser<boolean> = {
  accepts: "`true`/`false` (also 1/0, yes/no, on/off)",
  parse(raw, name) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new SettingError(name, `expected true or false, got "${raw}"`);
  },
};

export const fraction: Parser<number> = {
  accepts: "0–1",
  parse(raw, name) {
    const v = Number(raw);
    if (!/^\s*[\d.]+\s*$/.test(raw) || !(v >= 0 && v <= 1))
      throw new SettingError(name, `expected a number from 0 to 1, got "${raw}"`);
    return v;
  },
};

const codes = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(", ");

export function oneOf<V extends string>(values: readonly V[]): Parser<V> {
  return {
    accepts: codes(values),
    parse(raw, name) {
      if (!(values as readonly string[]).includes(raw))
        throw new SettingError(name, `expected one of ${values.join(", ")}, got "${raw}"`);
      return raw as V;
    },
  };
}

/** A comma-separated list of some of `values`, in the order given (case and spaces ignored). */
export function listOf<V extends string>(values: readonly V[]): Parser<V[]> {
  return {
    accepts: `a list of ${codes(values)}`,
    parse(raw, name) {
      const list = raw
        .split(",")
        .map((p) => p.trim().toLowerCase())
        .filter(Boolean);
      for (const p of list)
        if (!(values as readonly string[]).includes(p))
          throw new SettingError(name, `unknown value "${p}" (${values.join(", ")})`);
      if (list.length === 0) throw new SettingError(name, "empty list");
      return list as V[];
    },
  };
}

export const text: Parser<string> = { accepts: "text", parse: (raw) => raw };

/** A file or folder path, as given (relative ones from the working directory). */
export const path: Parser<string> = { accepts: "a path", parse: (raw) => raw };

/** An address to listen on: IPv4, IPv6 or a host name (an invalid one made listen fail with an ioctl error and a stack). */
export const host: Parser<string> = {
  accepts: "an IP address or a host name",
  parse(raw, name) {
    const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
    const ipv6 = /^[0-9a-f:]+(%[\w.-]+)?$/i;
    const hostname = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
    const looksNumeric = /^[\d.]+$/.test(raw);
    if (looksNumeric ? ipv4.test(raw) : raw.includes(":") ? ipv6.test(raw) : hostname.test(raw)) return raw;
    throw new SettingError(name, `expected an IP address or a host name, got "${raw.slice(0, 80)}"`);
  },
};

/** An http(s) base URL, trailing slashes dropped. */
export const httpUrl: Parser<string> = {
  accepts: "an http(s) URL",
  parse(raw, name) {
    const url = raw.trim().replace(/\/+$/, "");
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new SettingError(name, `expected an http(s) URL such as https://huggingface.co, got "${raw}"`);
    return url;
  },
};
