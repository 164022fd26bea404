import { expect } from 'vitest';
import { GuardRefusal } from '#shared/errors';
import type { Job } from '#shared/jobs';

/** Jobs for the guard unit tests (guards-*.test.ts). */
export const voice: Job = { channel: 'voice', phone: '13800138000', content: '您好' };
export const sms: Job = { channel: 'sms', phone: '13800138000', skin: '1', params: ['1'] };

/** Awaits a guard that must refuse, and returns its GuardRefusal. */
export async function refusal(p: Promise<void>): Promise<GuardRefusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GuardRefusal);
  return err as GuardRefusal;
}
