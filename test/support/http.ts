/** JSON over fetch, keeping non-JSON bodies (Prometheus text, HTML) as text. */
export interface JsonResponse {
  status: number;
  body: any;
  headers: Headers;
}

async function read(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  return { status: res.status, body, headers: res.headers };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return read(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) }));
}

export async function getJson(url: string): Promise<JsonResponse> {
  return read(await fetch(url));
}
