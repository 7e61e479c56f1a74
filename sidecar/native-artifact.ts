import nodeFs from 'node:fs';
import nodePath from 'node:path';

/**
 * Where `make native` put `name` (native/ builds into node_modules/.datamount): the first such
 * file in the node_modules of `from` or a folder above it — the repository's, or the image's
 * /app/node_modules — else undefined.
 */
export function builtArtifactPath(name: string, from: string): string | undefined {
  const file = nodePath.join('node_modules', '.datamount', name);
  for (let dir = from; ; dir = nodePath.dirname(dir)) {
    const candidate = nodePath.join(dir, file);
    if (nodeFs.existsSync(candidate)) return candidate;
    if (nodePath.dirname(dir) === dir) return undefined;
  }
}
