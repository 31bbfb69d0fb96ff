// A gauge: a value that goes up and down (pending proposals, memory), set where it changes or
// read at scrape time (`collect`) from the thing it describes.

import { checkFamily, Children, type Family, type FamilyOptions, type Sample } from "./family.ts";
import { familyHeader, formatNumber, labelText } from "./text_format.ts";

/** One gauge of a family (one combination of label values). */
export class GaugeChild {
  value = 0;

  set(value: number): void {
    this.value = value;
  }

  inc(by = 1): void {
    this.value += by;
  }

  dec(by = 1): void {
    this.value -= by;
  }
}

/** Options of a gauge. */
export interface GaugeOptions extends FamilyOptions {
  /** Values read at scrape time instead of set (then set() and labels() are unused). */
  readonly collect?: () => readonly Sample[];
}

export class Gauge implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #labelNames: readonly string[];
  readonly #children: Children<GaugeChild>;
  readonly #collect: (() => readonly Sample[]) | undefined;

  constructor(options: GaugeOptions) {
    this.#labelNames = checkFamily(options);
    this.name = options.name;
    this.#help = options.help;
    this.#collect = options.collect;
    this.#children = new Children(options.name, this.#labelNames.length, () => new GaugeChild());
    if (this.#labelNames.length === 0 && this.#collect === undefined) this.#children.get([]);
  }

  /** The gauge for these label values (one per label name, in order). */
  labels(...values: string[]): GaugeChild {
    return this.#children.get(values);
  }

  /** Sets the unlabelled gauge. */
  set(value: number): void {
    this.#children.get([]).set(value);
  }

  render(): string {
    let out = familyHeader(this.name, this.#help, "gauge");
    const samples = this.#collect !== undefined
      ? this.#collect()
      : [...this.#children.entries()].map(({ labels, child }) => ({ labels, value: child.value }));
    for (const s of samples) out += `${this.name}${labelText(this.#labelNames, s.labels)} ${formatNumber(s.value)}\n`;
    return out;
  }
}
