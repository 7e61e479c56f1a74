/**
 * Plays the API server's part in admission: wraps a Pod in an `admission.k8s.io/v1`
 * AdmissionReview (CREATE of `v1/pods` in a namespace, as kube-apiserver sends it), POSTs it to
 * the webhook's `/mutate` over verified HTTPS, checks the response belongs to the request, and
 * applies the base64 JSON patch with fast-json-patch, as the API server does before it stores
 * the pod.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { applyPatch, type Operation } from 'fast-json-patch';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { WEBHOOK_SERVER_NAME, type WebhookProcess } from './webhook-process';

export interface AdmissionOutcome {
  allowed: boolean;
  /** The pod as the API server would store it (the input when nothing was patched or not allowed). */
  pod: IPod;
  patch: Operation[];
  warnings: string[];
  /** The denial message (`status.message`) when not allowed. */
  message?: string;
  code?: number;
}

export class AdmissionError extends Error {
  override readonly name = 'AdmissionError';
}

interface ReviewResponse {
  apiVersion?: string;
  kind?: string;
  response?: {
    uid?: string;
    allowed?: boolean;
    patch?: string;
    patchType?: string;
    warnings?: string[];
    status?: { code?: number; message?: string };
  };
}

export function admissionReview(pod: IPod, namespace: string, uid: string = randomUUID(), dryRun = false): object {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: pod.metadata?.name ?? '',
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'demo-user', groups: ['system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** Submits the pod for admission in `namespace` and returns the pod as it would be stored. */
export async function admitPod(webhook: WebhookProcess, pod: IPod, namespace: string): Promise<AdmissionOutcome> {
  const uid = randomUUID();
  const { status, body } = await post(webhook, '/mutate', JSON.stringify(admissionReview(pod, namespace, uid)));
  if (status !== 200) throw new AdmissionError(`POST /mutate: HTTP ${status}: ${body.slice(0, 500)}`);
  const review = JSON.parse(body) as ReviewResponse;
  const response = review.response;
  if (review.kind !== 'AdmissionReview' || !response) throw new AdmissionError(`POST /mutate did not answer with an AdmissionReview: ${body.slice(0, 500)}`);
  if (response.uid !== uid) throw new AdmissionError(`response uid ${response.uid} does not match request uid ${uid}`);
  const warnings = response.warnings ?? [];
  if (!response.allowed) {
    return { allowed: false, pod, patch: [], warnings, message: response.status?.message ?? '', code: response.status?.code ?? 0 };
  }
  if (!response.patch) return { allowed: true, pod, patch: [], warnings };
  if (response.patchType !== 'JSONPatch') throw new AdmissionError(`patchType is ${response.patchType}, the API server accepts only JSONPatch`);
  const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  // validateOperation=true: a patch that does not apply is an error, as in the API server.
  const patched = applyPatch(structuredClone(pod), patch, true, false).newDocument;
  return { allowed: true, pod: patched, patch, warnings };
}

function post(webhook: WebhookProcess, urlPath: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(urlPath, webhook.url), {
      method: 'POST',
      agent: webhook.agent,
      servername: WEBHOOK_SERVER_NAME,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
