/** What the built-bundle suites (bundle.test.ts, bundle-lazy.test.ts) get back from a child run. */
export interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

/** The child's raw HTTP results as answers, the body parsed as JSON where it is JSON. */
export function toAnswers(results: readonly unknown[]): Answer[] {
  return results.map((r) => {
    const a = r as Omit<Answer, 'json'>;
    let json: unknown;
    try {
      json = JSON.parse(a.body);
    } catch {
      json = undefined;
    }
    return { ...a, json } as Answer;
  });
}
