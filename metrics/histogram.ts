// A histogram: observations counted into buckets by upper bound, with their sum and count.
// Rendered cumulatively, as the format requires: `_bucket{le="b"}` counts observations <= b,
// the last bucket is `le="+Inf"` (equal to `_count`), then `_sum` and `_count`. An observation
// costs a short scan of the bounds and three additions: cheap enough for every HTTP request.

import { checkFamily, Children, type Family, type FamilyOptions } from "./family.ts";
import { familyHeader, formatNumber, labelText } from "./text_format.ts";

/** One histogram of a family (one combination of label values). */
export class HistogramChild {
  readonly #bounds: readonly number[];
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Upper bounds of the buckets (counts has one slot more, above them all). */
  get bounds(): readonly number[] {
    return this.#bounds;
  }

  /** Counts one observation; NaN is ignored (it belongs in no bucket). */
  observe(value: number): void {
    if (value !== value) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** Options of a histogram. */
export interface HistogramOptions extends FamilyOptions {
  /** Upper bounds of the buckets, finite and strictly increasing; `+Inf` is added. */
  readonly buckets: readonly number[];
}

/** `count` bounds starting at `start`, each `factor` times the previous (as client_golang's ExponentialBuckets). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (!(start > 0) || !(factor > 1) || !Number.isInteger(count) || count < 1) {
    throw new RangeError(`exponentialBuckets(${start}, ${factor}, ${count}): needs start > 0, factor > 1, count >= 1`);
  }
  const out: number[] = [];
  // Rounded to 12 significant digits, so 0.001 * 2^3 is written 0.008, not 0.008000000000000002.
  for (let i = 0; i < count; i++) out.push(Number((start * factor ** i).toPrecision(12)));
  return out;
}

export class Histogram implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #boundTexts: readonly string[];
  readonly #children: Children<HistogramChild>;

  constructor(options: HistogramOptions) {
    this.#labelNames = checkFamily(options, ["le"]);
    const bounds = options.buckets;
    if (bounds.length === 0) throw new RangeError(`${options.name}: at least one bucket is needed`);
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]!) || (i > 0 && !(bounds[i]! > bounds[i - 1]!))) {
        throw new RangeError(`${options.name}: bucket bounds must be finite and strictly increasing`);
      }
    }
    this.name = options.name;
    this.#help = options.help;
    this.#bounds = [...bounds];
    this.#boundTexts = [...bounds.map(formatNumber), "+Inf"];
    this.#children = new Children(options.name, this.#labelNames.length, () => new HistogramChild(this.#bounds));
    if (this.#labelNames.length === 0) this.#children.get([]);
  }

  /** The histogram for these label values (one per label name, in order). */
  labels(...values: string[]): HistogramChild {
    return this.#children.get(values);
  }

  /** The histogram for these label values if it was ever used (a reader that must not add one to the exposition). */
  peek(...values: string[]): HistogramChild | undefined {
    return this.#children.find(values);
  }

  /** Observes into the unlabelled histogram. */
  observe(value: number): void {
    this.#children.get([]).observe(value);
  }

  render(): string {
    let out = familyHeader(this.name, this.#help, "histogram");
    const names = [...this.#labelNames, "le"];
    for (const { labels, child } of this.#children.entries()) {
      let cumulative = 0;
      for (let i = 0; i < this.#boundTexts.length; i++) {
        cumulative += child.counts[i]!;
        out += `${this.name}_bucket${labelText(names, [...labels, this.#boundTexts[i]!])} ${formatNumber(cumulative)}\n`;
      }
      const own = labelText(this.#labelNames, labels);
      out += `${this.name}_sum${own} ${formatNumber(child.sum)}\n`;
      out += `${this.name}_count${own} ${formatNumber(child.count)}\n`;
    }
    return out;
  }
}
