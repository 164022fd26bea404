import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';

/**
 * The built-in sandbox provider (SANDBOX=1): an axios adapter, so the whole request path
 * (encoding, headers, classification) runs as in production, but nothing leaves the process.
 *
 * Magic numbers: `134000` + provider code zero-padded to 11 digits answers that code
 * (13400000101 → 101, 13400001009 → 1009). Any other number → OK.
 */

const MESSAGES: Record<string, string> = {
  '101': '手机号码格式错误!',
  '102': '业务限流, 向同一手机发送间隔过短',
  '103': '黑名单管控!',
  '104': '请正确传入签名!',
  '105': '参数与模板不对应!',
  '106': '系统错误!',
  '107': '其他错误!',
  '1002': '传入参数有误!',
  '1009': '字数限制',
};

/** The provider code a sandbox number stands for, or undefined for an ordinary number. */
export function sandboxCodeFor(phone: string): string | undefined {
  if (!phone.startsWith('134000')) return undefined;
  const code = String(Number(phone.slice(3)));
  return MESSAGES[code] ? code : undefined;
}

let counter = 0;

export const sandboxAdapter: AxiosAdapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
  const url = new URL(config.url ?? '', 'http://sandbox.invalid');
  const phone = url.searchParams.get('phone') ?? url.searchParams.get('mobile') ?? '';
  const code = sandboxCodeFor(phone) ?? 'OK';
  counter += 1;
  const requestId = `sandbox-${Date.now().toString(36)}-${counter}`;
  const body = JSON.stringify(
    code === 'OK'
      ? { Message: '发送成功', Code: 'OK', RequestId: requestId }
      : { Message: MESSAGES[code], Code: code, RequestId: requestId },
  );
  return {
    data: body,
    status: 200,
    statusText: 'OK',
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-ca-request-id': requestId },
    config,
    request: {},
  } as AxiosResponse;
};
