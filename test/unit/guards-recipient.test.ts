import { describe, expect, it } from 'vitest';
import { deferral } from '#shared/guards/contract';
import { recipientGuard } from '#shared/guards/recipient';
import { refusal, sms } from '../support/guards.ts';

describe('recipient policy', () => {
  it('refuses denylisted prefixes and, with an allowlist, anything outside it, never naming the number', async () => {
    const guard = recipientGuard({ allow: ['138', '1390000'], deny: ['1380013'] });
    const denied = await refusal(guard(sms));
    expect(denied.code).toBe('RECIPIENT_BLOCKED');
    expect(denied.status).toBe(422);
    expect(denied.message).not.toContain('13800138000');
    expect(deferral(denied)?.action).toBe('report');
    await expect(guard({ ...sms, phone: '13812345678' })).resolves.toBeUndefined();
    await expect(guard({ ...sms, phone: '13900001234' })).resolves.toBeUndefined();
    expect((await refusal(guard({ ...sms, phone: '13900011234' }))).rule).toBe('allowlist');
  });

  it('without lists, every mainland mobile passes', async () => {
    await expect(recipientGuard({ allow: [], deny: [] })(sms)).resolves.toBeUndefined();
  });
});
