/**
 * What the marketers' console screens need beyond the marketing resources: a segment's count
 * for rules not saved yet (the builder counts as the rules change) and a template's preview for
 * an edit not saved yet (the editor previews as the MJML changes). Both only read; nothing here
 * writes. Marketers and admins.
 */
import { z } from 'zod';
import { checkSegmentSize, countSegment, segmentNodeSchema, type SegmentNode } from '../../models/segments';
import { checkTemplate, renderTemplate } from '../../models/templates';
import { Problem } from '../http/problem';
import { route } from '../http/routes';
import { idParams, uuid } from '../schemas';
import { previewVariables, refusal as templateRefusal, templateById } from './templates';

const MARKETING = ['marketer', 'admin'] as const;

export const segmentCountPreview = z.object({
  object: z.literal('segment_count'),
  matching: z.int().describe('Contacts the rules match'),
  sendable: z.int().describe('Of those, the ones with email consent and not suppressed'),
  sample: z.array(z.object({ id: uuid, email: z.string(), firstName: z.string().nullable() })).describe('Up to 5 sendable contacts, newest first'),
  ms: z.int().describe('How long the count took'),
});

export const templateDraftPreview = z.object({
  object: z.literal('template_preview'), templateId: uuid, subject: z.string(), html: z.string(), text: z.string(),
  missingVariables: z.array(z.string()).describe('Used by the draft, given by nobody: rendered empty'),
});

export const consoleMarketingRoutes = [
  route({
    method: 'POST', path: '/api/v1/segments/count', operationId: 'countSegmentRules', tag: 'Marketing', auth: MARKETING,
    summary: 'Count contacts for segment rules that are not saved (the segment builder\'s live count)',
    description: 'The same rules, limits and counting as POST /api/v1/segments and GET /api/v1/segments/{id}/count; nothing is stored.',
    body: z.object({ rules: segmentNodeSchema }).strict(),
    responses: {
      200: { description: 'Counts and up to 5 sample contacts', schema: segmentCountPreview },
      400: { description: 'Rules the segment schema refuses, or a tree too deep or too big' },
    },
    handler: async (ctx, { body }) => {
      const tooBig = checkSegmentSize(body.rules as SegmentNode);
      if (tooBig) throw new Problem(400, 'validation_failed', `The segment is refused: ${tooBig}.`, { param: 'rules' });
      const started = performance.now();
      const counts = await countSegment(ctx.knex, body.rules as SegmentNode);
      return { body: { object: 'segment_count' as const, ...counts, ms: Math.round(performance.now() - started) } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/templates/{id}/preview-draft', operationId: 'previewTemplateDraft', tag: 'Marketing', auth: MARKETING,
    summary: 'Render an edit of a template before it is saved, with a contact\'s fields (or a sample contact\'s)',
    description: 'Checked as PUT /api/v1/templates/{id} would check it (MJML errors with their lines, malformed variables, the unsubscribe link), then rendered as POST /api/v1/templates/{id}/preview renders. Nothing is stored.',
    params: idParams,
    body: z.object({
      subject: z.string().trim().min(1).max(255),
      mjml: z.string().min(1).max(500_000),
      text: z.string().min(1).max(200_000),
      contactId: uuid.optional(),
    }).strict(),
    responses: {
      200: { description: '{ subject, html, text, missingVariables } of the draft', schema: templateDraftPreview },
      400: { description: 'MJML errors (line + message), malformed variables, or a missing unsubscribe link' },
      404: { description: 'No such template or contact' },
    },
    handler: async (ctx, { params, body }) => {
      const template = await templateById(ctx, params.id);
      const { problem } = await checkTemplate({ kind: template.kind, subject: body.subject, mjml: body.mjml, text: body.text });
      if (problem) throw templateRefusal(problem);
      const { variables: fields } = await previewVariables(ctx, template, { contactId: body.contactId });
      // No id: a draft is compiled each time, never cached as the stored version.
      const rendered = await renderTemplate({ subject: body.subject, mjml: body.mjml, text: body.text, kind: template.kind }, fields);
      return { body: { object: 'template_preview' as const, templateId: template.id, ...rendered } };
    },
  }),
];
