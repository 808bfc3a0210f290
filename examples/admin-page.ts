/**
 * The small admin page a service serves beside its sealed routes, and the headers it goes out
 * with: those the WhatsApp Business API's web admin sends (docs/admin-headers.md), as options of
 * `helmet`, which Express's `helmet()` and Fastify's `@fastify/helmet` both take. The headers are
 * for pages a browser renders; the sealed routes answer programs and go without them.
 */
import type { HelmetOptions } from 'helmet';

/**
 * helmet's defaults (X-Content-Type-Options: nosniff, X-XSS-Protection: 0,
 * Strict-Transport-Security for a year, a CSP whose scripts come only from the page's own
 * origin), with frames refused outright: no site, this one included, may frame the admin page.
 */
export const ADMIN_HEADERS = {
  contentSecurityPolicy: { directives: { frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
} satisfies HelmetOptions;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A page of facts, no script: nothing here for a policy to let run. */
export function adminPage(title: string, facts: Record<string, string | number>): string {
  const rows = Object.entries(facts)
    .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(String(value))}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><table>${rows}</table></body></html>`;
}
