// ali-oss (devDependency, never bundled) ships no types for its signing helpers: the test oracle
// and the fake OSS server use these, with `this` bound to the module (call them as methods).
declare module 'ali-oss/lib/common/signUtils.js' {
  interface SignUtils {
    authorizationV4(
      accessKeyId: string,
      accessKeySecret: string,
      region: string,
      method: string,
      request: { headers: Record<string, string | undefined>; queries?: Record<string, string | null> },
      bucketName?: string,
      objectName?: string,
      additionalHeaders?: string[],
    ): string;
    getCanonicalRequest(
      method: string,
      request: { headers: Record<string, string | undefined>; queries?: Record<string, string | null> },
      bucketName?: string,
      objectName?: string,
      additionalHeaders?: string[],
    ): string;
  }
  const signUtils: SignUtils;
  export default signUtils;
}
