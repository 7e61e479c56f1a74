/** A Dockerfile as a list of instructions, stages split at FROM (enough for the checks here). */
import { readFileSync } from 'node:fs';

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

export interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

export function readDockerfile(file: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = readFileSync(file, 'utf8').replace(/\\\n/g, ' ').split('\n').map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/);
      const from = image.replace(/\$\{(\w+)\}/g, (_m, arg: string) => args[arg] ?? '');
      stages.push({ from, ...(as?.toUpperCase() === 'AS' && name ? { name } : {}), instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [key = '', value = ''] = rest.split('=');
      args[key] = value;
    } else {
      stages[stages.length - 1]?.instructions.push({ keyword: upper, args: rest });
    }
  }
  return { args, stages };
}

/** The arguments of the last `keyword` instruction of a stage. */
export function lastInstruction(stage: Stage | undefined, keyword: string): string | undefined {
  return stage?.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
}
