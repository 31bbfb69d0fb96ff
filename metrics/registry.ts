// The families one node exports, rendered together for GET /metrics. A name is registered
// once; families render in registration order.

import { Counter, type CounterOptions } from "./counter.ts";
import type { Family } from "./family.ts";
import { Gauge, type GaugeOptions } from "./gauge.ts";
import { Histogram, type HistogramOptions } from "./histogram.ts";

export class Registry {
  readonly #families: Family[] = [];
  /** Every name a family's samples use (a histogram's _bucket, _sum, _count too). */
  readonly #names = new Set<string>();

  counter(options: CounterOptions): Counter {
    return this.#add(new Counter(options), []);
  }

  gauge(options: GaugeOptions): Gauge {
    return this.#add(new Gauge(options), []);
  }

  histogram(options: HistogramOptions): Histogram {
    return this.#add(new Histogram(options), ["_bucket", "_sum", "_count"]);
  }

  /** Every family in the text format (0.0.4). */
  render(): string {
    let out = "";
    for (const family of this.#families) out += family.render();
    return out;
  }

  #add<F extends Family>(family: F, suffixes: readonly string[]): F {
    const names = [family.name, ...suffixes.map((s) => family.name + s)];
    for (const name of names) if (this.#names.has(name)) throw new RangeError(`metric ${name} is registered twice`);
    for (const name of names) this.#names.add(name);
    this.#families.push(family);
    return family;
  }
}
