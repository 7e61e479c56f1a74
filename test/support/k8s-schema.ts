/**
 * Validation against the official Kubernetes OpenAPI schema, through `kubernetes-models`
 * (generated from the upstream swagger). Note: those validators accept unknown fields.
 */
import { Pod } from 'kubernetes-models/v1/Pod';

export function validatePod(pod: unknown): string[] {
  const errors: string[] = [];
  try {
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (err) {
    errors.push(err instanceof Error ? err.message : String(err));
  }
  return errors;
}

export function assertValidPod(pod: unknown): void {
  const errors = validatePod(pod);
  if (errors.length > 0) throw new Error(`pod fails the Kubernetes Pod schema:\n${errors.join('\n')}`);
}
