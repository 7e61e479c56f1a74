/**
 * Shared setup of the webhook tests: the AdmissionReview fixtures (real JSON files under
 * test/fixtures/admission/), the catalog they run against, and applying a response's patch the
 * way the API server does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from '../../webhook/admission-review';
import { parseCacheLocations } from '../../webhook/cache-hints';
import { parseCatalog } from '../../webhook/catalog-file';
import type { MemoryCatalog } from '../../webhook/catalog';
import { loadConfig } from '../../webhook/config';
import type { Pod } from '../../webhook/pod';
import { cacheReportReader, type ReviewDeps } from '../../webhook/review-pod';

export const FIXTURES = join(__dirname, '..', 'fixtures', 'admission');
/** Minutes after the fixture cache reports (05:00, 05:01) were written: they are fresh. */
export const NOW_FRESH = new Date('2026-11-29T05:05:00Z');

export function loadReview(name: string): AdmissionReview & { request: AdmissionRequest } {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as AdmissionReview & { request: AdmissionRequest };
}

export function loadRequest(name: string): AdmissionRequest {
  return loadReview(name).request;
}

export function fixtureCatalog(): MemoryCatalog {
  return parseCatalog(readFileSync(join(FIXTURES, 'catalog.yaml'), 'utf8'), 'catalog.yaml');
}

export function testDeps(overrides: Partial<ReviewDeps> = {}, env: Record<string, string> = {}): ReviewDeps {
  const catalog = overrides.catalog ?? fixtureCatalog();
  return {
    config: loadConfig(env),
    catalog,
    now: () => NOW_FRESH,
    cacheReports: cacheReportReader(catalog, (data) => parseCacheLocations(data)),
    ...overrides,
  };
}

export function patchOf(response: AdmissionResponse): Operation[] {
  if (!response.patch) return [];
  expect(response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
}

/** Apply the response's patch to a copy of the pod, failing the test if any operation does not apply. */
export function patchedPod(pod: unknown, response: AdmissionResponse): Pod {
  return applyPatch(structuredClone(pod), patchOf(response), true, false).newDocument as Pod;
}

/** The request again with another pod in it (reinvocation, repair). */
export function withPod(request: AdmissionRequest, pod: unknown): AdmissionRequest {
  return { ...request, object: structuredClone(pod) };
}
