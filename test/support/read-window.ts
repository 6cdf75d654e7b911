import type { ReadingStore } from '../../gateway/buffer/store.ts';
import type { StoredReading } from '../../gateway/reading.ts';

/** Every reading of a window, paging through `readWindow` as the uploader does (small pages on purpose). */
export async function readAll(store: ReadingStore, window: number, limit = 3): Promise<StoredReading[]> {
  const out: StoredReading[] = [];
  let after: string | null = null;
  do {
    const page = await store.readWindow(window, after, limit);
    out.push(...page.readings);
    after = page.next;
  } while (after !== null);
  return out;
}
