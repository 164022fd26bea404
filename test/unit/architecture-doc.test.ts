import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, CHANNELS } from '#shared/channels/index';

/** docs/architecture.md names the files one touches to add a channel, trigger or guard: they must exist. */
const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

function section(title: string): string {
  const start = doc.indexOf(`## ${title}`);
  expect(start, title).toBeGreaterThanOrEqual(0);
  const end = doc.indexOf('\n## ', start + 3);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** Paths at the start of each list item: `- \`path\``; a `<name>` placeholder is a new file. */
function listedFiles(text: string): string[] {
  return [...text.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1] as string);
}

describe('docs/architecture.md', () => {
  for (const [title, count] of [
    ['Add a channel', 7],
    ['Add a trigger', 4],
    ['Add a guard', 2],
  ] as const) {
    it(`${title}: the files listed exist (new files excepted) and the count is as stated`, () => {
      const files = listedFiles(section(title));
      expect(files).toHaveLength(count);
      // The count the text states is the number of files listed.
      expect(section(title)).toContain(`Files (${count}`);
      for (const f of files.filter((f) => !f.includes('<'))) expect(existsSync(new URL(`../../${f}`, import.meta.url)), f).toBe(true);
    });
  }

  it('Add a channel: the list holds for the channels there are (each one is exactly those files)', () => {
    const files = listedFiles(section('Add a channel'));
    for (const c of CHANNEL_NAMES) {
      const named = files.map((f) => f.replace('<channel>', c).replace('<function>', CHANNELS[c].functionName));
      for (const f of named) expect(existsSync(new URL(`../../${f}`, import.meta.url)), f).toBe(true);
      expect(readFileSync(new URL('../../shared/channels/index.ts', import.meta.url), 'utf8')).toContain(
        `import { ${c} } from './${c}.ts';`,
      );
      expect(readFileSync(new URL('../../s.yaml', import.meta.url), 'utf8')).toContain(`${CHANNELS[c].functionName}:`);
      expect(readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')).toContain(`\`${CHANNELS[c].urlVariable}\``);
    }
  });

  it('every folder in the table exists', () => {
    for (const m of [...section('Folders').matchAll(/^\| `([^`]+)`/gm)].filter((m) => !m[1]?.includes('<'))) {
      expect(existsSync(new URL(`../../${m[1]}`, import.meta.url)), m[1]).toBe(true);
    }
  });
});
