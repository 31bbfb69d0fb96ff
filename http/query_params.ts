// A query string read strictly, for the routes that refuse what they do not know (listing,
// watching, blocking reads): every name must be one the route takes, at most once, and every
// value valid percent-encoding.

import { HttpError } from "./errors.ts";

/**
 * The query string's parameters, percent-decoded as a form (`+` is a space), refusing a
 * name not in `allowed`, a name given twice, and invalid percent-encoding. A parameter
 * without `=` has the empty value.
 */
export function queryParams(url: string, allowed: ReadonlySet<string>): Map<string, string> {
  const params = new Map<string, string>();
  const hash = url.indexOf("#");
  const end = hash < 0 ? url.length : hash;
  const start = url.indexOf("?");
  if (start < 0 || start > end) return params;
  for (const part of url.slice(start + 1, end).split("&")) {
    if (part.length === 0) continue;
    const eq = part.indexOf("=");
    const name = formDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : formDecode(part.slice(eq + 1));
    if (!allowed.has(name)) {
      throw new HttpError(400, `unknown query parameter ${JSON.stringify(name)}: this path takes ${[...allowed].join(", ")}`);
    }
    if (params.has(name)) throw new HttpError(400, `query parameter ${JSON.stringify(name)} given twice`);
    params.set(name, value);
  }
  return params;
}

function formDecode(raw: string): string {
  const spaced = raw.includes("+") ? raw.replaceAll("+", " ") : raw;
  if (!spaced.includes("%")) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw new HttpError(400, `query ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
}
