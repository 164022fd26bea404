// ali-oss (devDependency, never bundled) ships no types for its signing helpers: the test oracle
// and the fake OSS server use these, with `this` bound to the module (call them as methods).
declare module 'ali-oss/lib/common/signUtils.js' {
  type SignRequest = { headers: Record<string, string | undefined>; queries?: Record<string, string | null> };
  /** What both helpers take after the credentials: the request and where it goes. */
  type SignedRequest = [method: string, request: SignRequest, bucketName?: string, objectName?: string, additionalHeaders?: string[]];
  interface SignUtils {
    authorizationV4(accessKeyId: string, accessKeySecret: string, region: string, ...request: SignedRequest): string;
    getCanonicalRequest(...request: SignedRequest): string;
  }
  const signUtils: SignUtils;
  export default signUtils;
}
