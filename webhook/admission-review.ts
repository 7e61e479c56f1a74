/**
 * `admission.k8s.io/v1` AdmissionReview: the types (doc comments after the Kubernetes API
 * reference, k8s.io/api/admission/v1/types.go) and the checks that turn an untrusted JSON body
 * into a typed request, or into a reason why it is not one. Nothing here throws on input.
 */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** metav1.GroupVersionKind */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** metav1.GroupVersionResource */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionRequest {
  /**
   * An identifier for the individual request/response. It allows us to distinguish instances
   * of requests which are otherwise identical. The response must carry the same uid.
   */
  uid: string;
  /** The fully-qualified type of object being submitted (for example, v1.Pod). */
  kind: GroupVersionKind;
  /** The fully-qualified resource being requested (for example, v1.pods). */
  resource: GroupVersionResource;
  /** The subresource being requested, if any (for example, "status" or "scale"). */
  subResource?: string;
  /**
   * The name of the object as presented in the request. On a CREATE operation, the client may
   * omit name and rely on the server to generate the name; then this is the empty string.
   */
  name?: string;
  /** The namespace associated with the request (if any). */
  namespace?: string;
  /** The operation being performed: CREATE, UPDATE, DELETE or CONNECT. */
  operation: string;
  /** Information about the requesting user. */
  userInfo?: { username?: string; uid?: string; groups?: string[] };
  /** The object from the incoming request (absent for DELETE). */
  object?: unknown;
  /** The existing object (UPDATE and DELETE only). */
  oldObject?: unknown;
  /**
   * Indicates that modifications will definitely not be persisted for this request. A webhook
   * with side effects must skip them when this is true; this one has none (sideEffects: None).
   */
  dryRun?: boolean;
  /** The operation option structure of the operation being performed (for example, CreateOptions). */
  options?: unknown;
}

/** metav1.Status, the part an admission response uses. */
export interface AdmissionStatus {
  /** Suggested HTTP return code for this status; the API server returns it to the client. */
  code?: number;
  /** A human-readable description of the status of this operation; kubectl prints it. */
  message?: string;
  /** A machine-readable description of why this operation is in the "Failure" status. */
  reason?: string;
}

/** Base64 text (RFC 4648), made only by `base64Of`: no character of it needs escaping in JSON. */
export type Base64 = string & { readonly encoding: 'base64' };

/**
 * Scratch space for base64Of: a patch of a few KiB is above Buffer's pool size (4 KiB), so
 * `Buffer.from(text)` allocated a new ArrayBuffer for every review (measured: ~10 µs of the
 * 12 µs base64Of took in a review; ~1 µs with this buffer). Used synchronously, so one suffices.
 */
const scratch = Buffer.allocUnsafe(64 * 1024);

export function base64Of(text: string): Base64 {
  const written = scratch.write(text);
  // write() stops short of a character that does not fit; a text that might not have fitted is encoded on its own.
  if (written > scratch.length - 4) return Buffer.from(text).toString('base64') as Base64;
  return scratch.toString('base64', 0, written) as Base64;
}

export interface AdmissionResponse {
  /** Identifier for the individual request/response; copied from AdmissionRequest.uid. */
  uid: string;
  /** Whether or not the admission request was permitted. */
  allowed: boolean;
  /** Extra details on why the request was not allowed; ignored when allowed is true. */
  status?: AdmissionStatus;
  /** The patch body, a base64-encoded RFC 6902 JSON patch. */
  patch?: Base64;
  /** The type of patch; currently only "JSONPatch" is allowed. */
  patchType?: 'JSONPatch';
  /** Unstructured key/value pairs added to the audit event of this request. */
  auditAnnotations?: Record<string, string>;
  /**
   * Warning messages to return to the requesting API client (kubectl prints them). Keep each
   * short: longer than 256 characters, or many of them, may be truncated by the API server.
   */
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; reason: string };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.slice(0, 60)}"` : typeof value;
}

/** Check an untrusted body; the reason names the first field that is wrong. */
export function parseAdmissionReview(body: unknown): ParsedReview {
  if (!isObject(body)) return { ok: false, reason: `body must be a JSON object, got ${describe(body)}` };
  if (body.kind !== 'AdmissionReview') return { ok: false, reason: `kind must be "AdmissionReview", got ${describe(body.kind)}` };
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return { ok: false, reason: `apiVersion must be "${ADMISSION_API_VERSION}", got ${describe(body.apiVersion)} (register the webhook with admissionReviewVersions: ["v1"])` };
  }
  const request = body.request;
  if (!isObject(request)) return { ok: false, reason: `request must be an object, got ${describe(request)}` };
  if (typeof request.uid !== 'string' || request.uid === '' || request.uid.length > 256) {
    return { ok: false, reason: 'request.uid must be a non-empty string of at most 256 characters' };
  }
  if (typeof request.operation !== 'string') return { ok: false, reason: `request.operation must be a string, got ${describe(request.operation)}` };
  for (const [field, keys] of [['kind', ['group', 'version', 'kind']], ['resource', ['group', 'version', 'resource']]] as const) {
    const value = request[field];
    if (!isObject(value) || keys.some((k) => typeof value[k] !== 'string')) {
      return { ok: false, reason: `request.${field} must be an object with string fields ${keys.join(', ')}` };
    }
  }
  for (const field of ['namespace', 'name', 'subResource'] as const) {
    if (request[field] !== undefined && typeof request[field] !== 'string') {
      return { ok: false, reason: `request.${field} must be a string, got ${describe(request[field])}` };
    }
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') {
    return { ok: false, reason: `request.dryRun must be true or false, got ${describe(request.dryRun)}` };
  }
  return { ok: true, request: request as unknown as AdmissionRequest };
}

/** Wrap a response in the AdmissionReview envelope the API server expects back. */
export function reviewEnvelope(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

const ENVELOPE_HEAD = `{"apiVersion":"${ADMISSION_API_VERSION}","kind":"AdmissionReview","response":`;

/**
 * The JSON text of `reviewEnvelope(response)`, with the patch — several KiB of base64, most of
 * the answer — put in as it is instead of scanned by JSON.stringify for characters to escape
 * (about 7 µs for a 6 KiB patch, as long as a regular-expression check of it would take).
 * Base64 has no such character, and the `Base64` type, made only by `base64Of`, is what says
 * the patch is base64. The text differs from JSON.stringify's only in key order: the patch
 * comes last.
 */
export function serializeReview(response: AdmissionResponse): string {
  const { patch, ...rest } = response;
  const head = JSON.stringify(rest);
  return patch === undefined ? `${ENVELOPE_HEAD}${head}}` : `${ENVELOPE_HEAD}${head.slice(0, -1)},"patch":"${patch}"}}`;
}

/** True for a CREATE of a core/v1 Pod itself (not a subresource such as pods/binding). */
export function isPodCreate(request: AdmissionRequest): boolean {
  return request.operation === 'CREATE' && request.kind.group === '' && request.kind.version === 'v1'
    && request.kind.kind === 'Pod' && !request.subResource;
}
