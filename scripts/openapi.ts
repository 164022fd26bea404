/**
 * `npm run openapi`: writes openapi.json (the whole HTTP API, OpenAPI 3.1) from
 * shared/openapi/table.ts and the zod schemas the code validates with.
 * `npm run openapi -- --check`: exits 1 when the committed file differs from the generated one.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DOCUMENT_PATH, documentText } from '../shared/openapi/document.ts';

export function writeOpenapi(): boolean {
  const text = documentText();
  if (existsSync(DOCUMENT_PATH) && readFileSync(DOCUMENT_PATH, 'utf8') === text) return false;
  writeFileSync(DOCUMENT_PATH, text);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = fileURLToPath(DOCUMENT_PATH);
  if (process.argv.includes('--check')) {
    const stale = !existsSync(DOCUMENT_PATH) || readFileSync(DOCUMENT_PATH, 'utf8') !== documentText();
    console.log(stale ? `${path} is stale: run npm run openapi` : `${path} is up to date`);
    if (stale) process.exitCode = 1;
  } else {
    console.log(`${writeOpenapi() ? 'wrote' : 'up to date'}: ${path}`);
  }
}
