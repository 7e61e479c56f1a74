/**
 * Datashim's way of asking for datasets, kept so pods written for Datashim work unchanged:
 * labels `dataset.<N>.id: <name>` and `dataset.<N>.useas: mount | configmap | mount.configmap`
 * (Datashim's admission controller splits useas on "." and defaults to nothing; we default a
 * label without `useas` to `mount`, which is what Datashim's examples rely on).
 */

export interface DatashimRequest {
  name: string;
  mount: boolean;
  configmap: boolean;
  /** Where the request came from, for messages: `label dataset.0.id`. */
  source: string;
}

export interface DatashimLabels {
  requests: DatashimRequest[];
  problems: string[];
}

const DATASHIM_LABEL = /^dataset\.([^.]+)\.([^.]+)$/;
const USEAS_HELP = 'accepted: mount, configmap, mount.configmap';

export function parseDatashimLabels(labels: Record<string, string> | undefined): DatashimLabels {
  const byIndex = new Map<number, { id?: string; useas?: string[] }>();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    const match = DATASHIM_LABEL.exec(key);
    if (!match) continue;
    const [, indexText = '', field = ''] = match;
    if (!/^\d+$/.test(indexText)) {
      problems.push(`label ${key}: "${indexText}" is not a dataset index; Datashim labels are dataset.<N>.id and dataset.<N>.useas with N = 0, 1, 2, …`);
      continue;
    }
    const entry = byIndex.get(Number(indexText)) ?? {};
    byIndex.set(Number(indexText), entry);
    if (field === 'id') entry.id = value;
    else if (field === 'useas') {
      const uses = value.split('.').map((use) => use.trim());
      const unknown = uses.filter((use) => use !== 'mount' && use !== 'configmap');
      if (unknown.length > 0) problems.push(`label ${key}: "${value}" is not accepted (${USEAS_HELP})`);
      else entry.useas = uses;
    } else {
      problems.push(`label ${key}: unknown field "${field}"; Datashim labels are dataset.<N>.id and dataset.<N>.useas`);
    }
  }

  const requests: DatashimRequest[] = [];
  const seen = new Map<string, number>();
  for (const [index, entry] of [...byIndex.entries()].sort(([a], [b]) => a - b)) {
    if (entry.id === undefined) {
      if (entry.useas) problems.push(`label dataset.${index}.useas has no matching dataset.${index}.id naming the Dataset`);
      continue;
    }
    const earlier = seen.get(entry.id);
    if (earlier !== undefined) {
      problems.push(`label dataset.${index}.id: Dataset "${entry.id}" is already requested by dataset.${earlier}.id; name each Dataset once`);
      continue;
    }
    seen.set(entry.id, index);
    const uses = entry.useas ?? ['mount'];
    requests.push({ name: entry.id, mount: uses.includes('mount'), configmap: uses.includes('configmap'), source: `label dataset.${index}.id` });
  }
  return { requests, problems };
}
