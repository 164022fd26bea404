import { readFileSync } from 'node:fs';

/**
 * The part of the API document one function serves: its operations (`x-fc-functions`) and only
 * the component schemas they reach. No zod, no generator: used by the build (to embed each
 * function's document) and by the route when running from source (tsx, vitest). Bundles get a
 * stub instead of this file (scripts/build.ts REPLACED_FILES): they carry their document already.
 */

type Json = Record<string, unknown>;

function collectRefs(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, into);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') into.add(v);
    else collectRefs(v, into);
  }
}

export function documentFor(doc: Json, functionName: string): Json {
  const paths: Record<string, Json> = {};
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
    const kept = Object.entries(item).filter(([, op]) => ((op as Json)['x-fc-functions'] as string[] | undefined)?.includes(functionName));
    if (kept.length > 0) paths[path] = Object.fromEntries(kept);
  }
  const components = (doc.components ?? {}) as Record<string, Json>;
  // Follow $refs from the kept operations until no new one appears; drop every other component.
  const refs = new Set<string>();
  collectRefs(paths, refs);
  const seen = new Set<string>();
  while (refs.size > seen.size) {
    for (const ref of [...refs]) {
      if (seen.has(ref)) continue;
      seen.add(ref);
      const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(ref) ?? [];
      if (kind && name) collectRefs(components[kind]?.[name], refs);
    }
  }
  const pruned: Record<string, Json> = {};
  for (const [kind, entries] of Object.entries(components)) {
    const keep =
      kind === 'securitySchemes'
        ? entries
        : Object.fromEntries(Object.entries(entries).filter(([name]) => seen.has(`#/components/${kind}/${name}`)));
    if (Object.keys(keep).length > 0) pruned[kind] = keep;
  }
  const tags = Array.isArray(doc.tags) ? (doc.tags as Json[]).filter((t) => t.name === functionName) : undefined;
  return { ...doc, ...(tags ? { tags } : {}), paths, components: pruned };
}

/** Running from source: the committed openapi.json, cut to one function's routes. */
export function sourceDocument(functionName: string): string {
  const whole = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as Json;
  return JSON.stringify(documentFor(whole, functionName));
}
