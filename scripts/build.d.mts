/** Types for scripts/build.mjs, which the bench imports. */
export const GATEWAY_BUILD: string;
export function bundle(entry: string, outfile: string, extra?: Record<string, unknown>): Promise<void>;
export function buildGateway(): Promise<string>;
/** One file of the status page as served: base64 bodies (plain, gzip, brotli). */
export interface StatusPageFile { path: string; type: string; etag: string; body: string; gzip: string; br: string }
export function buildStatusPage(): Promise<StatusPageFile[]>;
