import { serviceDnsNames, serviceNameProblem } from '../../certs/service-names';

describe('serviceDnsNames', () => {
  it('gives the short, namespaced and .svc names, in that order', () => {
    expect(serviceDnsNames({ name: 'datamount-webhook', namespace: 'datamount-system' })).toEqual([
      'datamount-webhook', 'datamount-webhook.datamount-system', 'datamount-webhook.datamount-system.svc',
    ]);
  });
});

describe('serviceNameProblem', () => {
  it.each(['a', 'datamount-webhook', 'x1', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(serviceNameProblem({ name, namespace: name })).toBeUndefined();
  });

  it.each(['', 'Upper', 'under_score', '-lead', 'trail-', '1digit', 'dot.ted', 'a'.repeat(64)])('refuses %p', (name) => {
    expect(serviceNameProblem({ name, namespace: 'ok' })).toBe(
      `service name ${JSON.stringify(name)}: expected a DNS label (lower-case letters, digits and '-', starting with a letter, at most 63 characters)`,
    );
  });

  it('names both when both are bad', () => {
    expect(serviceNameProblem({ name: 'A', namespace: 'B' })).toMatch(/^service name "A" and namespace "B": /);
  });
});
