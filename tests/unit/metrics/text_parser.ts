// Test helper: reads the Prometheus text format 0.0.4 back, strictly (any line it cannot
// read throws), so tests can check what the writer produced: families, types, samples and
// label values with their escapes undone. promtool is the independent check; this one runs
// everywhere and lets a test look at values. Not a test itself.

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  help: string | null;
  type: string | null;
  readonly samples: ParsedSample[];
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/;

/** Families by name, in the order of their first line. */
export function parseText(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("exposition must end with a line feed");
  const families = new Map<string, ParsedFamily>();
  const family = (name: string): ParsedFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, help: null, type: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help !== null) {
      const f = family(help[1]!);
      if (f.help !== null) throw new Error(`second HELP for ${help[1]}`);
      f.help = unescape(help[2]!, false);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      const f = family(type[1]!);
      if (f.type !== null || f.samples.length > 0) throw new Error(`TYPE for ${type[1]} repeated or after its samples`);
      f.type = type[2]!;
      continue;
    }
    const m = sampleLine.exec(line);
    if (m === null) throw new Error(`unreadable line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const base = [...families.keys()].find((f) => families.get(f)!.type === "histogram" && /^(.*)_(bucket|sum|count)$/.exec(name)?.[1] === f) ?? name;
    family(base).samples.push({ name, labels: parseLabels(m[2] ?? ""), value: parseValue(m[3]!) });
  }
  return families;
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const v = Number(text);
  if (text.trim() === "" || Number.isNaN(v)) throw new Error(`bad value ${text}`);
  return v;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === "") return labels;
  let at = 1;
  while (at < text.length - 1) {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(at))?.[0];
    if (name === undefined || text[at + name.length] !== "=" || text[at + name.length + 1] !== '"') throw new Error(`bad labels ${text}`);
    at += name.length + 2;
    let raw = "";
    while (text[at] !== '"') {
      if (at >= text.length) throw new Error(`unterminated label value in ${text}`);
      if (text[at] === "\\") {
        raw += text.slice(at, at + 2);
        at += 2;
      } else raw += text[at++];
    }
    at++;
    if (name in labels) throw new Error(`label ${name} repeated`);
    labels[name] = unescape(raw, true);
    if (text[at] === ",") at++;
  }
  if (text[text.length - 1] !== "}") throw new Error(`bad labels ${text}`);
  return labels;
}

function unescape(text: string, quotes: boolean): string {
  return text.replace(/\\(.)/g, (all, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    if (c === '"' && quotes) return '"';
    throw new Error(`bad escape ${all}`);
  });
}

/** The value of the sample `name` whose labels include `labels`, or undefined. */
export function valueOf(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

/**
 * Throws unless every histogram is well formed: per label set, `le` bounds increasing and
 * ending at +Inf, cumulative counts never decreasing, +Inf equal to _count, a _sum present.
 */
export function checkHistograms(families: Map<string, ParsedFamily>): void {
  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const groups = new Map<string, { les: number[]; counts: number[]; count?: number; sum?: number }>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const g = groups.get(key) ?? { les: [], counts: [] };
      groups.set(key, g);
      if (s.name === `${f.name}_bucket`) {
        if (le === undefined) throw new Error(`${f.name}: bucket without le`);
        g.les.push(parseValue(le));
        g.counts.push(s.value);
      } else if (s.name === `${f.name}_count`) g.count = s.value;
      else if (s.name === `${f.name}_sum`) g.sum = s.value;
      else throw new Error(`${f.name}: stray sample ${s.name}`);
    }
    for (const [key, g] of groups) {
      const where = `${f.name}${key}`;
      if (g.les[g.les.length - 1] !== Infinity) throw new Error(`${where}: no +Inf bucket`);
      for (let i = 1; i < g.les.length; i++) {
        if (!(g.les[i]! > g.les[i - 1]!)) throw new Error(`${where}: le not increasing`);
        if (g.counts[i]! < g.counts[i - 1]!) throw new Error(`${where}: bucket counts not cumulative`);
      }
      if (g.count !== g.counts[g.counts.length - 1]) throw new Error(`${where}: +Inf bucket ${g.counts[g.counts.length - 1]} != _count ${g.count}`);
      if (g.sum === undefined) throw new Error(`${where}: no _sum`);
    }
  }
}
