// A counter: a value that only goes up (reset only by a restart), e.g. requests served. Either
// incremented where things happen, or read at scrape time from a source that only grows
// (`collect`, e.g. the commit index), which costs nothing between scrapes.

import { checkFamily, Children, type Family, type FamilyOptions, type Sample } from "./family.ts";
import { familyHeader, formatNumber, labelText } from "./text_format.ts";

/** One counter of a family (one combination of label values). */
export class CounterChild {
  #value = 0;

  /** Adds `by` (default 1); a negative or non-finite amount is a bug and throws. */
  inc(by = 1): void {
    if (!(by >= 0) || by === Infinity) throw new RangeError(`counter increment ${by} is not a finite non-negative number`);
    this.#value += by;
  }

  get value(): number {
    return this.#value;
  }
}

/** Options of a counter; the name must end in `_total` (the format's convention for counters). */
export interface CounterOptions extends FamilyOptions {
  /** Values read at scrape time instead of incremented (then inc() and labels() are unused). */
  readonly collect?: () => readonly Sample[];
}

export class Counter implements Family {
  readonly name: string;
  readonly #help: string;
  readonly #labelNames: readonly string[];
  readonly #children: Children<CounterChild>;
  readonly #collect: (() => readonly Sample[]) | undefined;

  constructor(options: CounterOptions) {
    this.#labelNames = checkFamily(options);
    if (!options.name.endsWith("_total")) throw new RangeError(`${options.name}: a counter's name ends in _total`);
    this.name = options.name;
    this.#help = options.help;
    this.#collect = options.collect;
    this.#children = new Children(options.name, this.#labelNames.length, () => new CounterChild());
    // An unlabelled counter is shown from the start, at 0.
    if (this.#labelNames.length === 0 && this.#collect === undefined) this.#children.get([]);
  }

  /** The counter for these label values (one per label name, in order). */
  labels(...values: string[]): CounterChild {
    return this.#children.get(values);
  }

  /** Increments the unlabelled counter. */
  inc(by = 1): void {
    this.#children.get([]).inc(by);
  }

  render(): string {
    let out = familyHeader(this.name, this.#help, "counter");
    if (this.#collect !== undefined) {
      for (const s of this.#collect()) out += `${this.name}${labelText(this.#labelNames, s.labels)} ${formatNumber(s.value)}\n`;
      return out;
    }
    for (const { labels, child } of this.#children.entries()) {
      out += `${this.name}${labelText(this.#labelNames, labels)} ${formatNumber(child.value)}\n`;
    }
    return out;
  }
}
