import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every relative Markdown link in the documentation resolves: the file exists, and a `#anchor`
 * names a heading of that file (GitHub's slugs). External links (http:, https:, mailto:) are not
 * fetched: the tests stay offline.
 */

const ROOT = join(import.meta.dirname, '..', '..');

function docFiles(): string[] {
  const top = ['README.md', 'README.zh-CN.md', 'CHANGELOG.md', 'BENCHMARKS.md'].map((f) => join(ROOT, f)).filter((f) => existsSync(f));
  const docs = readdirSync(join(ROOT, 'docs'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => join(e.parentPath, e.name));
  return [...top, ...docs];
}

/** Markdown without fenced code blocks and inline code spans, where `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/(`+)[^`\n]*?\1/g, '``');
}

/** GitHub's heading anchors: lower case, punctuation dropped (not `-` or `_`), spaces → `-`, CJK kept; repeats get -1, -2… */
function slugs(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutFences.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const text = (m[1] as string)
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
      .replace(/<[^>]+>/g, ''); // inline HTML
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  file: string;
  target: string;
}

function relativeLinks(file: string, markdown: string): Link[] {
  const links: Link[] = [];
  for (const m of prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    links.push({ file, target });
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenReason(link: Link): string | undefined {
  const [path, anchor] = link.target.split('#', 2) as [string, string | undefined];
  const file = path === '' ? link.file : resolve(dirname(link.file), decodeURIComponent(path));
  if (!file.startsWith(ROOT)) return 'points outside the repository';
  if (!existsSync(file)) return 'no such file';
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(file).isDirectory() || !file.endsWith('.md')) return 'an anchor into a file that is not Markdown';
  return slugs(readFileSync(file, 'utf8')).has(decodeURIComponent(anchor).toLowerCase()) ? undefined : `no heading #${anchor}`;
}

describe('documentation links', () => {
  const files = docFiles();
  const links = files.flatMap((f) => relativeLinks(f, readFileSync(f, 'utf8')));

  it('reads the documentation set (README, README.zh-CN, CHANGELOG, BENCHMARKS, docs/)', () => {
    const names = files.map((f) => relative(ROOT, f));
    expect(names).toEqual(
      expect.arrayContaining(['README.md', 'README.zh-CN.md', 'CHANGELOG.md', 'BENCHMARKS.md', join('docs', 'configuration.md')]),
    );
    expect(links.length).toBeGreaterThan(50);
  });

  it('every relative link resolves to a file, and every #anchor to a heading in it', () => {
    const broken = links.flatMap((l) => {
      const why = brokenReason(l);
      return why ? [`${relative(ROOT, l.file)}: (${l.target}) ${why}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it('README.md links every page under docs/ (the front page is the index)', () => {
    const readme = join(ROOT, 'README.md');
    const linked = new Set(relativeLinks(readme, readFileSync(readme, 'utf8')).map((l) => resolve(ROOT, l.target.split('#')[0] as string)));
    const pages = files.filter((f) => relative(ROOT, f).startsWith(`docs${sep}`));
    expect(pages.filter((f) => !linked.has(f)).map((f) => relative(ROOT, f))).toEqual([]);
  });

  it("makes GitHub's slugs", () => {
    const s = slugs(
      '# Running Redis / Tair for these guarantees\n## 1. Create the resources (`infra/`)\n## Limits\n## Limits\n```\n# not a heading\n```\n### 中文快速上手\n## The [API](x.md) and `snake_case`',
    );
    expect([...s]).toEqual([
      'running-redis--tair-for-these-guarantees',
      '1-create-the-resources-infra',
      'limits',
      'limits-1',
      '中文快速上手',
      'the-api-and-snake_case',
    ]);
  });

  it('finds links in prose only, and skips external ones', () => {
    const md = 'see [a](a.md#x) and ![img](p.png "t") and [web](https://x.y) `[no](code.md)`\n```\n[no](fence.md)\n```\n';
    expect(relativeLinks('/r/f.md', md).map((l) => l.target)).toEqual(['a.md#x', 'p.png']);
  });
});
