/**
 * The import rules of docs/architecture.md ("What may import what"), checked on every .ts file
 * of the repository: each import, re-export, `require()` and dynamic `import()` is resolved to
 * the folder it points into (or the package it names) and held against the rules of the folder
 * it is written in. A wrong import fails this test with the file, the line and the rule.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
const SKIP = new Set(['node_modules', '.git', 'dist', '.data', 'fixtures', 'coverage']);

/** Where an import points: a top-level folder of the repository (`api`, `domain`, ...), a root file, or `pkg:<name>`. */
type Target = string;

interface Rule {
  /** Why, as docs/architecture.md says it. */
  why: string;
  /** When given, only these targets may be imported (a `pkg:@scope/*` entry allows the scope). */
  only?: Target[];
  /** Extra targets allowed for `import type` only (erased at compile time). */
  typesFrom?: Target[];
  /** Targets that may not be imported at all (types included). */
  never?: Target[];
}

const APP = ['api', 'services', 'activities', 'workflows', 'workers'];
const DEV = ['scripts', 'bench', 'test'];

export const RULES: Record<string, Rule> = {
  workflows: {
    why: 'workflows/ is deterministic: the workflow API, domain/ (pure), other workflow files, and only types from activities/',
    only: ['workflows', 'domain', 'pkg:@temporalio/workflow', 'pkg:@temporalio/common'],
    typesFrom: ['activities'],
  },
  domain: {
    why: 'domain/ is pure: no I/O (no node: modules, no database or Temporal client), no other layer; only domain/ files',
    only: ['domain'],
  },
  services: {
    why: 'services/ knows nothing of HTTP and is called by api/ and (through their deps) by activities',
    never: ['api', 'activities', 'workers', 'pkg:koa', 'pkg:@koa/router', ...DEV],
  },
  activities: {
    why: 'activities/ get Temporal-client code (services/) through their deps; they import nothing from api/ or workers/',
    never: ['api', 'services', 'workers', 'pkg:koa', 'pkg:@koa/router', ...DEV],
  },
  models: {
    why: 'models/ are the database: no HTTP, no Temporal, no layer above them',
    never: [...APP, 'pkg:koa', 'pkg:@temporalio/*', ...DEV],
  },
  integrations: {
    why: 'integrations/ talk to the outside world for the layers above; they import none of them',
    never: [...APP, 'pkg:koa', 'pkg:@temporalio/*', ...DEV],
  },
  platform: {
    why: 'platform/ is plumbing (config, logging, database, dev servers) under every layer',
    never: [...APP, 'models', 'domain', 'integrations', 'bench', 'test'],
  },
  workers: {
    why: 'workers/ build Temporal workers from activities and workflows; no HTTP',
    never: ['api', 'pkg:koa', 'pkg:@koa/router', ...DEV.filter((d) => d !== 'scripts')],
  },
  api: {
    why: 'api/ is HTTP: routes call services/ and models/, never activity code or worker construction',
    never: ['activities', 'workers', ...DEV],
  },
  migrations: {
    why: 'a migration is frozen once released: it depends on knex only, never on code that changes',
    only: ['pkg:knex'],
  },
  agents: {
    why: 'agents/ use the platform through services/ and their tools (an activity group prefixed `tool.`), never HTTP internals or worker construction',
    never: ['api', 'workers', ...DEV],
  },
  scripts: { why: 'scripts/ run the platform; they do not reach into HTTP, benches or tests', never: ['api', 'bench', 'test'] },
  'temporal.config.ts': { why: 'shared by every process; imports nothing of the project', only: [] },
};

/**
 * Imports that break a rule and stay, each with its reason. Keep this list short; an entry
 * without a reason is not allowed.
 */
export const EXCEPTIONS: Array<{ file: string; target: Target; reason: string }> = [
  {
    file: 'api/routes/automations.ts', target: 'activities',
    reason: '`enroll` (manual enrollment) is shared with the automation activities, which activities/booking.ts calls; it moves to services/ when those take it through their deps',
  },
  {
    file: 'migrations/20261128000400_transactional_templates.ts', target: 'models',
    reason: 'released before the rule; migrations are never edited (the seed it calls must keep its shape)',
  },
];

export interface ImportRef { file: string; line: number; specifier: string; target: Target; typeOnly: boolean }

function targetOf(file: string, specifier: string): Target {
  if (specifier.startsWith('.')) {
    const rel = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), specifier)).split(path.sep);
    // a root file (temporal.config.ts) or a top-level folder (`../activities` is activities/index.ts)
    if (rel.length === 1 && !fs.statSync(path.join(ROOT, rel[0]), { throwIfNoEntry: false })?.isDirectory()) return rel[0].endsWith('.ts') ? rel[0] : `${rel[0]}.ts`;
    return rel[0];
  }
  if (specifier.startsWith('node:')) return `pkg:${specifier}`;
  const parts = specifier.split('/');
  return `pkg:${specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]}`;
}

/** Every import of one source text (static, re-export, require, dynamic import, import = require). */
export function importsOf(file: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: ImportRef[] = [];
  const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    found.push({ file, line, specifier: literal.text, target: targetOf(file, literal.text), typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : undefined;
      const allNamedAreTypes = !!clause && !clause.name && !!named && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, !!clause?.isTypeOnly || allNamedAreTypes);
    } else if (ts.isExportDeclaration(node)) {
      const allTypes = node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, node.isTypeOnly || !!allTypes);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node)) {
      const isDynamicImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require' && node.arguments.length === 1;
      const isResolve = ts.isPropertyAccessExpression(node.expression) && ts.isIdentifier(node.expression.expression)
        && node.expression.expression.text === 'require' && node.expression.name.text === 'resolve';
      if (isDynamicImport || isRequire || isResolve) add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, true); // `typeof import('...')`
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function matches(target: Target, pattern: Target): boolean {
  return pattern.endsWith('/*') ? target.startsWith(pattern.slice(0, -1)) : target === pattern;
}

/** The folder (or root file) whose rule governs a file. */
function folderOf(file: string): string {
  const parts = file.split('/');
  return parts[0];
}

export function violations(refs: ImportRef[]): string[] {
  const out: string[] = [];
  for (const ref of refs) {
    const folder = folderOf(ref.file);
    const rule = RULES[folder];
    if (!rule || ref.target === folder) continue;
    if (EXCEPTIONS.some((e) => e.file === ref.file && e.target === ref.target)) continue;
    const allowed = rule.only ? rule.only.some((p) => matches(ref.target, p)) || (ref.typeOnly && (rule.typesFrom ?? []).some((p) => matches(ref.target, p))) : true;
    const banned = (rule.never ?? []).some((p) => matches(ref.target, p));
    if (!allowed || banned) out.push(`${ref.file}:${ref.line} imports '${ref.specifier}'${ref.typeOnly ? ' (type)' : ''}: ${rule.why}`);
  }
  return out;
}

function sourceFiles(dir = ROOT, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path.relative(ROOT, full).split(path.sep).join('/'));
  }
  return out;
}

describe('import rules (docs/architecture.md "What may import what")', () => {
  const files = sourceFiles();
  const refs = files.flatMap((file) => importsOf(file, fs.readFileSync(path.join(ROOT, file), 'utf8')));

  it('reads the imports of every folder (so the rules below are not vacuous)', () => {
    for (const folder of Object.keys(RULES).filter((f) => f !== 'temporal.config.ts' && fs.existsSync(path.join(ROOT, f)))) {
      expect(refs.filter((r) => folderOf(r.file) === folder), folder).to.not.be.empty;
    }
    expect(refs.length).to.be.greaterThan(300);
  });

  it('finds no import that breaks a rule', () => {
    const broken = violations(refs);
    expect(broken, `\n  ${broken.join('\n  ')}\n`).to.deep.equal([]);
  });

  it('keeps every exception needed and explained', () => {
    for (const e of EXCEPTIONS) {
      expect(e.reason, e.file).to.have.length.greaterThan(20);
      expect(refs.some((r) => r.file === e.file && r.target === e.target), `${e.file} → ${e.target} is no longer imported: remove the exception`).to.equal(true);
    }
  });

  it('catches each kind of wrong import (checked on sources written here)', () => {
    const bad: Array<[string, string]> = [
      ['activities/x.ts', `import { startBookingWorkflow } from '../api/booking-workflows';`],
      ['activities/x.ts', `import { bookingWorkflowStarter } from '../services/booking-workflows';`],
      ['models/x.ts', `export { Problem } from '../api/http/problem';`],
      ['integrations/x.ts', `const r = require('../api/http/problem');`],
      ['workflows/x.ts', `import { createBookingActivities } from '../activities/booking';`],
      ['workflows/x.ts', `import { Client } from '@temporalio/client';`],
      ['workflows/x.ts', `import fs from 'node:fs';`],
      ['workflows/x.ts', `import { config } from '../platform/config';`],
      ['domain/x.ts', `import crypto from 'node:crypto';`],
      ['domain/x.ts', `import type { Knex } from 'knex';`],
      ['domain/x.ts', `async function f() { return import('../models/holds'); }`],
      ['services/x.ts', `import type Koa from 'koa';`],
      ['api/routes/x.ts', `import { enroll } from '../../activities/automation';`],
      ['migrations/29990101000000_x.ts', `import { BOOKING_STATUSES } from '../domain/bookings';`],
      ['platform/x.ts', `import type { Activities } from '../activities';`],
    ];
    for (const [file, text] of bad) {
      expect(violations(importsOf(file, text)), `${file}: ${text}`).to.have.length(1);
    }
    const good: Array<[string, string]> = [
      ['workflows/x.ts', `import type { BookingActivities } from '../activities/booking';`],
      ['workflows/x.ts', `import { type BookingActivities } from '../activities/booking';\nimport { proxyActivities } from '@temporalio/workflow';`],
      ['workflows/x.ts', `import { TERMINAL_STATUSES } from '../domain/bookings';`],
      ['activities/x.ts', `import { PAX_TYPES } from '../domain/bookings';\nimport { Context } from '@temporalio/activity';`],
      ['api/routes/x.ts', `import { steerBooking } from '../../services/booking-workflows';`],
      ['domain/x.ts', `import { priceBooking } from './pricing';`],
    ];
    for (const [file, text] of good) {
      expect(violations(importsOf(file, text)), `${file}: ${text}`).to.deep.equal([]);
    }
  });

  it('has no unused Objection model: each is imported outside models/ or reached through the relations of one that is', () => {
    const modelFiles = files.filter((f) => f.startsWith('models/'));
    const text = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');
    const models = modelFiles.flatMap((f) => [...text(f).matchAll(/export class (\w+) extends BaseModel/g)].map((m) => m[1]));
    expect(models).to.include('User');
    const imported = new Set<string>();
    for (const file of files.filter((f) => !f.startsWith('models/') && !f.startsWith('test/'))) {
      const source = ts.createSourceFile(file, text(file), ts.ScriptTarget.Latest, true);
      for (const st of source.statements) {
        if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || targetOf(file, st.moduleSpecifier.text) !== 'models') continue;
        const named = st.importClause?.namedBindings;
        if (named && ts.isNamedImports(named)) for (const e of named.elements) imported.add((e.propertyName ?? e.name).text);
      }
    }
    // Used: imported by code outside models/, or reachable through the relations of a used model.
    const relationsOf = new Map<string, string[]>();
    for (const f of modelFiles) {
      for (const part of text(f).split(/(?=^export class )/m)) {
        const name = /^export class (\w+) extends BaseModel/.exec(part)?.[1];
        if (name) relationsOf.set(name, [...part.matchAll(/modelClass: (\w+)/g)].map((m) => m[1]));
      }
    }
    const used = new Set(models.filter((m) => imported.has(m)));
    for (const queue = [...used]; queue.length;) {
      for (const next of relationsOf.get(queue.pop()!) ?? []) if (!used.has(next)) { used.add(next); queue.push(next); }
    }
    const unused = models.filter((m) => !used.has(m));
    expect(unused, 'models nothing uses: use them or remove them').to.deep.equal([]);
  });
});
