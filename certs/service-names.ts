/**
 * The DNS names the API server uses to reach the webhook Service. The API server dials
 * `<service>.<namespace>.svc` and verifies the serving certificate against that name
 * (admissionregistration `clientConfig.service`); the two shorter forms are for clients inside
 * the namespace or the cluster that use the search path.
 */

export interface WebhookService {
  readonly name: string;
  readonly namespace: string;
}

export const DEFAULT_SERVICE: WebhookService = Object.freeze({
  name: 'datamount-webhook',
  namespace: 'datamount-system',
});

/** RFC 1123 label, as Kubernetes requires for Service and Namespace names (Services: RFC 1035). */
const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** An error message for a bad Service or Namespace name, or undefined when both are valid. */
export function serviceNameProblem(service: WebhookService): string | undefined {
  const bad: string[] = [];
  if (!DNS_LABEL.test(service.name)) bad.push(`service name ${JSON.stringify(service.name)}`);
  if (!DNS_LABEL.test(service.namespace)) bad.push(`namespace ${JSON.stringify(service.namespace)}`);
  if (bad.length === 0) return undefined;
  return `${bad.join(' and ')}: expected a DNS label (lower-case letters, digits and '-', starting with a letter, at most 63 characters)`;
}

/** `svc`, `svc.ns`, `svc.ns.svc`, in that order. */
export function serviceDnsNames(service: WebhookService): string[] {
  return [
    service.name,
    `${service.name}.${service.namespace}`,
    `${service.name}.${service.namespace}.svc`,
  ];
}
