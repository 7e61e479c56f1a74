/**
 * The `kubernetes.io/tls` Secret that carries the bundle: `tls.crt` and `tls.key` as that type
 * requires, plus `ca.crt` (the source of the webhook's caBundle). Its name is fixed in
 * docs/contract.md; the webhook pods mount it at /etc/datamount/tls.
 */
import { stringify } from 'yaml';
import { fromBase64, toBase64 } from './pem';
import type { TlsBundle } from './tls-bundle';

export const TLS_SECRET_NAME = 'datamount-webhook-tls';

export interface SecretRef {
  readonly name: string;
  readonly namespace: string;
}

/** The parts of a Secret object this program reads and writes. */
export interface TlsSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  type: 'kubernetes.io/tls';
  data: Record<string, string>;
}

export function tlsSecret(ref: SecretRef, bundle: TlsBundle, resourceVersion?: string): TlsSecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: { 'app.kubernetes.io/name': 'datamount', 'app.kubernetes.io/component': 'webhook-tls' },
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    type: 'kubernetes.io/tls',
    data: {
      'ca.crt': toBase64(bundle.caPem),
      'tls.crt': toBase64(bundle.certPem),
      'tls.key': toBase64(bundle.keyPem),
    },
  };
}

/** The bundle a Secret holds; missing keys read as empty text, which the renewal check refuses. */
export function bundleOfSecret(secret: { data?: Record<string, string> | null }): TlsBundle {
  const data = secret.data ?? {};
  return {
    caPem: fromBase64(data['ca.crt'] ?? ''),
    certPem: fromBase64(data['tls.crt'] ?? ''),
    keyPem: fromBase64(data['tls.key'] ?? ''),
  };
}

export function tlsSecretYaml(ref: SecretRef, bundle: TlsBundle): string {
  return stringify(tlsSecret(ref, bundle));
}
