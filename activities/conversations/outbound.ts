/**
 * From a stored outbound message to what a WhatsApp channel sends: text, interactive (reply
 * buttons or a list, from `payload`), or a template; the 24-hour service window; and the
 * approved template that stands in for free text outside it.
 */
import type { Knex } from 'knex';
import type { ConversationRow, MessageRow } from '../../models/conversations';
import { WHATSAPP_LIMITS, type OutboundWhatsApp } from '../../integrations/whatsapp/types';

/** Outbound payloads: what `conversation_messages.payload` holds for interactive and template messages. */
export type OutboundPayload =
  | { buttons: Array<{ id: string; title: string }> }
  | { list: { button: string; rows: Array<{ id: string; title: string; description?: string }> } }
  | { template: { name: string; language: string; parameters: string[] } };

const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** The customer wrote within the last 24 hours (free text may be sent). */
export function windowOpen(c: Pick<ConversationRow, 'window_expires_at'>, now: Date): boolean {
  return !!c.window_expires_at && new Date(c.window_expires_at).getTime() > now.getTime();
}

/** A stored message as the channel sends it, within Meta's limits (3 buttons of 20, 10 rows of 24). */
/**
 * The hub numbers its options in the text too (for web chat and whatsapp-web.js, which show no
 * buttons or lists); where the channel shows them as buttons or rows, those lines go.
 */
function withoutNumberedOptions(text: string, options: number): string {
  const lines = text.split('\n');
  const numbered = lines.filter((l) => /^\d{1,2}\. /.test(l));
  if (numbered.length !== options) return text;
  return lines.filter((l) => !/^\d{1,2}\. /.test(l)).join('\n');
}

export function toOutbound(m: Pick<MessageRow, 'text' | 'kind' | 'payload'>): OutboundWhatsApp {
  const p = (m.payload ?? {}) as Partial<{ buttons: Array<{ id: string; title: string }>; list: { button: string; rows: Array<{ id: string; title: string; description?: string }> }; template: { name: string; language: string; parameters: string[] } }>;
  if (m.kind === 'template' && p.template) return { kind: 'template', ...p.template };
  if (m.kind === 'interactive' && p.buttons?.length) {
    return { kind: 'buttons', text: cut(withoutNumberedOptions(m.text, p.buttons.length), WHATSAPP_LIMITS.interactiveBody), buttons: p.buttons.slice(0, WHATSAPP_LIMITS.buttons).map((b) => ({ id: b.id, title: cut(b.title, WHATSAPP_LIMITS.buttonTitle) })) };
  }
  if (m.kind === 'interactive' && p.list?.rows?.length) {
    return {
      kind: 'list', text: cut(withoutNumberedOptions(m.text, p.list.rows.length), WHATSAPP_LIMITS.interactiveBody), button: cut(p.list.button, WHATSAPP_LIMITS.listButton),
      rows: p.list.rows.slice(0, WHATSAPP_LIMITS.listRows).map((r) => ({ id: r.id, title: cut(r.title, WHATSAPP_LIMITS.listRowTitle), ...(r.description ? { description: cut(r.description, WHATSAPP_LIMITS.listRowDescription) } : {}) })),
    };
  }
  return { kind: 'text', text: cut(m.text, WHATSAPP_LIMITS.text) };
}

/** An approved template of this name, in this language or else English. */
export async function approvedTemplate(knex: Knex, name: string, language: string): Promise<{ name: string; language: string; parameters: string[] } | null> {
  const rows = await knex('whatsapp_templates').where({ name, status: 'approved' }).whereIn('language', [language, 'en']);
  const t = rows.find((r) => r.language === language) ?? rows[0];
  return t ? { name: t.name, language: t.language, parameters: t.parameters } : null;
}

/** Outside the window, a person's reply goes as the approved `operator_reply` template (name, text). */
export async function templateFor(knex: Knex, m: Pick<MessageRow, 'text' | 'language'>, c: Pick<ConversationRow, 'language' | 'customer_name'>): Promise<Extract<OutboundWhatsApp, { kind: 'template' }> | null> {
  const t = await approvedTemplate(knex, 'operator_reply', m.language ?? c.language ?? 'es');
  if (!t) return null;
  const values: Record<string, string> = { name: c.customer_name ?? '', text: cut(m.text, 1000) };
  return { kind: 'template', name: t.name, language: t.language, parameters: t.parameters.map((p) => values[p] ?? '') };
}
