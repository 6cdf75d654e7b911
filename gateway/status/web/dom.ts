/** Small DOM helpers: every value goes in as text, never as HTML. */

export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`status page: #${id} is missing from index.html`);
  return el;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** One row of a definition list: [term, value, optional class for the value]; null rows are left out. */
export type Pair = [string, string | Node, string?] | null;

export function fillList(dl: HTMLElement, pairs: Pair[]): void {
  dl.replaceChildren(...pairs.filter((p): p is [string, string | Node, string?] => p !== null).flatMap(([term, value, cls]) => [
    el('dt', {}, term),
    el('dd', cls ? { class: cls } : {}, value),
  ]));
}

/** Keeps a <select>'s options in step with `values`, keeping the choice when it still exists. */
export function setOptions(select: HTMLSelectElement, values: string[], first?: [string, string]): void {
  const want = [...(first ? [first] : []), ...values.map((v): [string, string] => [v, v])];
  const have = [...select.options].map((o) => [o.value, o.text]);
  if (JSON.stringify(want) === JSON.stringify(have)) return;
  const chosen = select.value;
  select.replaceChildren(...want.map(([value, text]) => el('option', { value }, text)));
  if (want.some(([v]) => v === chosen)) select.value = chosen;
}

/** Sets an element's text only when it changed: a live region re-announces every assignment. */
export function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
