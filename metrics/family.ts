// What every metric family shares: a checked name, help text, label names, and its children
// (one per combination of label values), created on first use and kept in first-use order.

import { checkLabelName, checkMetricName } from "./text_format.ts";

/** A family the registry can render. */
export interface Family {
  readonly name: string;
  /** The family in the text format: `# HELP`, `# TYPE`, then its samples. */
  render(): string;
}

/** A value read when the family is rendered, for each combination of label values. */
export interface Sample {
  readonly labels: readonly string[];
  readonly value: number;
}

/** How a family is declared. */
export interface FamilyOptions {
  readonly name: string;
  readonly help: string;
  /** Names of the labels every sample carries, in order; none by default. */
  readonly labelNames?: readonly string[];
}

/** Children by label values; the key joins the values with a character no caller needs. */
export class Children<C> {
  readonly #byKey = new Map<string, { labels: readonly string[]; child: C }>();
  readonly #arity: number;
  readonly #family: string;
  readonly #make: () => C;

  constructor(family: string, arity: number, make: () => C) {
    this.#family = family;
    this.#arity = arity;
    this.#make = make;
  }

  /** The child for these label values, created at its first use. */
  get(values: readonly string[]): C {
    if (values.length !== this.#arity) {
      throw new RangeError(`${this.#family}: ${values.length} label values given for ${this.#arity} labels`);
    }
    const key = values.length === 1 ? values[0]! : values.join("\u0000");
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      entry = { labels: [...values], child: this.#make() };
      this.#byKey.set(key, entry);
    }
    return entry.child;
  }

  /** The child for these label values if one was ever used, without creating it. */
  find(values: readonly string[]): C | undefined {
    return this.#byKey.get(values.length === 1 ? values[0]! : values.join("\u0000"))?.child;
  }

  /** Every child with its label values, in first-use order. */
  entries(): IterableIterator<{ labels: readonly string[]; child: C }> {
    return this.#byKey.values();
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** Checks a family's declaration; the label names it carries. */
export function checkFamily(options: FamilyOptions, reservedLabels: readonly string[] = []): readonly string[] {
  checkMetricName(options.name);
  if (options.help.length === 0) throw new RangeError(`${options.name}: help text is required`);
  const labelNames = options.labelNames ?? [];
  for (const label of labelNames) checkLabelName(label, reservedLabels);
  if (new Set(labelNames).size !== labelNames.length) throw new RangeError(`${options.name}: a label name is repeated`);
  return labelNames;
}
