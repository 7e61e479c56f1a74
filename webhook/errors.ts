/**
 * The webhook's error catalog. Each error has a stable code (for logs and metrics), an HTTP or
 * admission status, and says whether it is the caller's mistake or ours: a user mistake is
 * answered and logged at info level, a bug or an outage is logged as an error with its cause.
 */

export interface ErrorKind {
  readonly code: string;
  readonly status: number;
  /** true: the request or the pod is wrong; false: datamount or its dependencies failed. */
  readonly userError: boolean;
  readonly summary: string;
}

export const ERRORS = {
  BODY_MALFORMED: { code: 'DM_BODY_MALFORMED', status: 400, userError: true, summary: 'the request body is not a valid AdmissionReview' },
  BODY_TOO_LARGE: { code: 'DM_BODY_TOO_LARGE', status: 400, userError: true, summary: 'the request body is larger than the webhook accepts' },
  BODY_MEDIA_TYPE: { code: 'DM_BODY_MEDIA_TYPE', status: 400, userError: true, summary: 'the request body must be application/json' },
  POD_REJECTED: { code: 'DM_POD_REJECTED', status: 400, userError: true, summary: 'the pod asks for datasets in a way datamount cannot honour' },
  CATALOG_UNAVAILABLE: { code: 'DM_CATALOG_UNAVAILABLE', status: 503, userError: false, summary: 'Datasets cannot be looked up right now' },
  OVERLOADED: { code: 'DM_OVERLOADED', status: 503, userError: false, summary: 'the webhook has more reviews in flight than it accepts; retry' },
  INTERNAL: { code: 'DM_INTERNAL', status: 500, userError: false, summary: 'datamount failed while reviewing the pod (a bug)' },
  CONFIG_INVALID: { code: 'DM_CONFIG_INVALID', status: 500, userError: false, summary: 'the webhook configuration is invalid' },
  CATALOG_FILE_INVALID: { code: 'DM_CATALOG_FILE_INVALID', status: 500, userError: false, summary: 'the catalog file cannot be read' },
} as const satisfies Record<string, ErrorKind>;

export class DatamountError extends Error {
  readonly code: string;
  readonly status: number;
  readonly userError: boolean;

  constructor(kind: ErrorKind, detail: string, options?: { cause?: unknown }) {
    super(`${kind.summary}: ${detail}`, options);
    this.name = 'DatamountError';
    this.code = kind.code;
    this.status = kind.status;
    this.userError = kind.userError;
  }
}

/** A short description of any thrown value, for messages that must not leak a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
