// Moved to ../address.ts (one parser for every address); this re-export keeps http/'s
// importers working until they import ../address.ts themselves.
export {
  anyHostname,
  formatHostPort,
  type HostPort,
  hostProblem,
  listenAddressProblem,
  memberAddressProblem,
  parseHostPort,
} from "../address.ts";
