import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** The project's docker-compose.yml, read as text: no YAML library is needed for its one-line forms. */
export const COMPOSE_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docker-compose.yml');

/** The lines of one top-level service in docker-compose.yml (2-space indented map under `services:`). */
export function composeService(name: string): string {
  const text = readFileSync(COMPOSE_FILE, 'utf8');
  const start = text.search(new RegExp(`^  ${name.replace(/[-.]/g, '\\$&')}:\\s*$`, 'm'));
  assert.ok(start >= 0, `docker-compose.yml has no service ${name}`);
  const rest = text.slice(start).split('\n');
  const end = rest.findIndex((l, i) => i > 0 && /^ {0,2}\S/.test(l));
  return rest.slice(0, end < 0 ? undefined : end).join('\n');
}

/** `command:` of a compose service, written as a JSON-style flow sequence on one line. */
export function composeCommand(name: string): string[] {
  const m = /^\s+command:\s*(\[.*\])\s*$/m.exec(composeService(name));
  assert.ok(m, `service ${name} has no one-line command: [...]`);
  return JSON.parse(m[1]!) as string[];
}
