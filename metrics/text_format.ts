// The Prometheus text exposition format, version 0.0.4: how names, label values, help text
// and numbers are written. Only this file knows the escaping rules; the families
// (counter.ts, gauge.ts, histogram.ts) hand it plain values.
//
// The format (prometheus.io/docs/instrumenting/exposition_formats): one `# HELP name text`
// and one `# TYPE name type` line per family, then one line per sample,
// `name{label="value",…} number`. In help text a backslash and a line feed are escaped; in a
// label value a double quote too. Numbers are Go floats: `+Inf`, `-Inf` and `NaN` spelled so.

/** The Content-Type of a response in this format. */
export const textFormatContentType = "text/plain; version=0.0.4; charset=utf-8";

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws unless `name` is a valid metric name. */
export function checkMetricName(name: string): void {
  if (!metricNamePattern.test(name)) throw new RangeError(`metric name ${JSON.stringify(name)} is not [a-zA-Z_:][a-zA-Z0-9_:]*`);
}

/** Throws unless `name` is a label name a user may set (`__` names are reserved, `le` is the histogram's). */
export function checkLabelName(name: string, reserved: readonly string[] = []): void {
  if (!labelNamePattern.test(name) || name.startsWith("__") || reserved.includes(name)) {
    throw new RangeError(`label name ${JSON.stringify(name)} is not allowed`);
  }
}

/** A label value inside its double quotes. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Help text after `# HELP name `. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample value (or an `le` bound) as Go's strconv.ParseFloat reads it. */
export function formatNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

/** `{a="x",b="y"}` for names and values in order, or "" for none. */
export function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  let out = "{";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += `${names[i]}="${escapeLabelValue(values[i]!)}"`;
  }
  return out + "}";
}

/** The `# HELP` and `# TYPE` lines of a family. */
export function familyHeader(name: string, help: string, type: "counter" | "gauge" | "histogram"): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}
