/**
 * Kubernetes resource quantities (`k8s.io/apimachinery/pkg/api/resource`): a decimal number
 * followed by an optional suffix — binary (`Ki` … `Ei`), decimal (`n u m k M G T P E`) or an
 * exponent (`e3`, `E-2`). The webhook, the sidecar and the reporter all read quantities from
 * annotations and config, so there is one parser for all of them.
 */

const BINARY: Readonly<Record<string, number>> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const DECIMAL: Readonly<Record<string, number>> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** What a quantity annotation accepts, for error messages. */
export const QUANTITY_HELP =
  'a Kubernetes quantity such as 512Mi, 10Gi, 1.5G, 500m or 2 (suffixes Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent e3)';

/** The numeric value of a quantity (bytes for memory, cores for CPU), or undefined if it is not one. */
export function parseQuantity(text: string): number | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const number = Number(match[1]);
  const suffix = match[2] ?? '';
  let factor: number | undefined;
  if (suffix in BINARY) factor = BINARY[suffix];
  else if (suffix in DECIMAL) factor = DECIMAL[suffix];
  else factor = 10 ** Number(suffix.slice(1));
  if (factor === undefined || !Number.isFinite(number)) return undefined;
  const value = number * factor;
  return Number.isFinite(value) ? value : undefined;
}

/** A quantity as a whole, non-negative number of bytes (rounded up, as Kubernetes does), or undefined. */
export function parseByteQuantity(text: string): number | undefined {
  const value = parseQuantity(text);
  if (value === undefined || value < 0) return undefined;
  return Math.ceil(value);
}
