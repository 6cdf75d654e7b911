/** Types for scripts/build.mjs, which the bench imports. */
export const GATEWAY_BUILD: string;
export function bundle(entry: string, outfile: string, extra?: Record<string, unknown>): Promise<void>;
export function buildGateway(): Promise<string>;
