/**
 * What a survey may ask and what a backer may answer. A creator's questions are checked once, when written (kinds,
 * prompts, choices, unique ids); a backer's answers are checked against the survey's own questions with a schema
 * built from them: required questions answered, a choice one of its options, a shipping address complete enough
 * for a carrier (recipient, street, city, postal code where the country has them, region where carriers need it,
 * ISO 3166-1 alpha-2 country).
 */
import { z } from 'zod';
import { type SurveyQuestion } from '../../db/schema';
import { text } from '../campaigns/schemas';
import { COUNTRIES_REQUIRING_REGION, COUNTRIES_WITHOUT_POSTAL_CODES, ISO_3166_1_ALPHA_2 } from './countries';

export const MAX_QUESTIONS = 30;
const MAX_OPTIONS = 50;
const MAX_TEXT_ANSWER = 2_000;

const questionId = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be 1-40 lowercase letters, digits or _, starting with a letter');
const prompt = text().trim().min(1).max(500);
const questionFields = {
  /** Given by the creator to keep answers' keys readable; `q<n>` otherwise. */
  id: questionId.optional(),
  prompt,
  required: z.boolean().default(false),
};

export const questionInput = z.discriminatedUnion('kind', [
  z.strictObject({ ...questionFields, kind: z.literal('text') }),
  z.strictObject({
    ...questionFields,
    kind: z.literal('choice'),
    options: z
      .array(text().trim().min(1).max(200))
      .min(2)
      .max(MAX_OPTIONS)
      .refine((options) => new Set(options).size === options.length, 'must not repeat an option'),
  }),
  z.strictObject({ ...questionFields, kind: z.literal('shipping_address') }),
]);

export const questionsInput = z
  .array(questionInput)
  .min(1)
  .max(MAX_QUESTIONS)
  .superRefine((questions, ctx) => {
    const seen = new Set<string>();
    questions.forEach((question, index) => {
      if (question.id === undefined) return;
      if (seen.has(question.id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `repeats the id "${question.id}"` });
      seen.add(question.id);
    });
  });

/** The questions as stored: every one with an id (`q1`, `q2`... by position, skipping ids the creator gave). */
export function storedQuestions(input: z.output<typeof questionsInput>): SurveyQuestion[] {
  const given = new Set(input.flatMap((question) => (question.id ? [question.id] : [])));
  return input.map((question, index) => {
    let id = question.id;
    for (let n = index + 1; id === undefined; n++) if (!given.has(`q${n}`)) id = `q${n}`;
    given.add(id);
    return { id, kind: question.kind, prompt: question.prompt, ...('options' in question ? { options: question.options } : {}), required: question.required };
  });
}

const country = z
  .string()
  .trim()
  .toUpperCase()
  .refine((code) => ISO_3166_1_ALPHA_2.has(code), 'must be an ISO 3166-1 alpha-2 country code, such as "US" or "DE"');

/** A postal address as a carrier's label needs it. */
export const shippingAddress = z
  .strictObject({
    name: text().trim().min(1).max(200),
    line1: text().trim().min(1).max(200),
    line2: text().trim().max(200).optional(),
    city: text().trim().min(1).max(100),
    region: text().trim().max(100).optional(),
    postalCode: text().trim().max(20).optional(),
    country,
    // International parcels need one for customs and delivery notices; optional, as it is on Kickstarter.
    phone: text()
      .trim()
      .regex(/^\+?[0-9][0-9 ().-]{3,29}$/, 'must be a phone number, such as "+1 555 0100"')
      .optional(),
  })
  .superRefine((address, ctx) => {
    if (!address.postalCode && !COUNTRIES_WITHOUT_POSTAL_CODES.has(address.country)) {
      ctx.addIssue({ code: 'custom', path: ['postalCode'], message: `is required for an address in ${address.country}` });
    }
    if (!address.region && COUNTRIES_REQUIRING_REGION.has(address.country)) {
      ctx.addIssue({ code: 'custom', path: ['region'], message: `is required for an address in ${address.country} (state, province or territory)` });
    }
  });
export type ShippingAddress = z.output<typeof shippingAddress>;

/** The fields of a shipping address, in label order: the backer report gives each its column. */
export const SHIPPING_ADDRESS_FIELDS = ['name', 'line1', 'line2', 'city', 'region', 'postalCode', 'country', 'phone'] as const satisfies ReadonlyArray<keyof ShippingAddress>;

function answerSchema(question: SurveyQuestion): z.ZodType {
  switch (question.kind) {
    case 'text':
      return question.required ? text().trim().min(1).max(MAX_TEXT_ANSWER) : text().trim().max(MAX_TEXT_ANSWER);
    case 'choice':
      return z.enum(question.options as [string, ...string[]]);
    case 'shipping_address':
      return shippingAddress;
  }
}

/** The body of a backer's answers to these questions: each question's id, required ones present, nothing else. */
export function answersBody(questions: SurveyQuestion[]) {
  const shape: Record<string, z.ZodType> = {};
  for (const question of questions) shape[question.id] = question.required ? answerSchema(question) : answerSchema(question).optional();
  return z.strictObject({ answers: z.strictObject(shape) });
}

/** The shape of any answers body, for the API's description (the real schema depends on the survey). */
export const answersBodyDocument = z.strictObject({ answers: z.record(z.string(), z.union([z.string(), shippingAddress])) });
