import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';

interface Service {
  image?: string;
  build?: { context: string };
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const root = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** What an operator exports for the `${NAME:?...}` variables; `${NAME:-default}` takes its default. */
const operatorValues: Record<string, string> = {
  STRIPE_SECRET_KEY: 'sk_test_compose',
  STRIPE_WEBHOOK_SECRET: 'whsec_compose',
  AUTH_SECRET: 'a'.repeat(48),
};

function resolveWithOperatorValues(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [
      key,
      value.replace(/\$\{([A-Z_]+):([?-])([^}]*)\}/, (_, name: string, kind: string, fallback: string) => {
        if (kind === '-') return fallback;
        const exported = operatorValues[name];
        if (exported === undefined) throw new Error(`no operator value for required variable ${name}`);
        return exported;
      }),
    ]),
  );
}

describe('docker-compose.yml', () => {
  it('runs Postgres, Temporal, Temporal UI, the API and the worker', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'postgres', 'setup', 'temporal', 'temporal-ui', 'worker']);
    for (const name of ['postgres', 'temporal', 'api']) expect(services[name]?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it('publishes the ports the README names', () => {
    expect(services.postgres?.ports).toContain('5432:5432');
    expect(services.temporal?.ports).toContain('7233:7233');
    expect(services['temporal-ui']?.ports).toContain('8080:8080');
    expect(services.api?.ports).toContain('3000:3000');
  });

  it('registers the campaign search attributes on the Temporal server', () => {
    const command = services.temporal?.command?.join(' ') ?? '';
    for (const attribute of ['CampaignId=Keyword', 'CampaignStatus=Keyword', 'CampaignModel=Keyword', 'CampaignEndsAt=Datetime']) {
      expect(command).toContain(`--search-attribute ${attribute}`);
    }
  });

  it('gives the app only variables that src/config.ts reads, and a configuration it accepts', () => {
    for (const name of ['api', 'worker', 'setup']) {
      const environment = services[name]?.environment ?? {};
      for (const variable of Object.keys(environment)) expect(CONFIG_VARIABLES).toContain(variable);
      expect(() => loadConfig(resolveWithOperatorValues(environment))).not.toThrow();
    }
  });

  it('points the app at the compose services and the temporal UI at the server', () => {
    const environment = services.api?.environment ?? {};
    expect(environment.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect(environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-ui']?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('starts processes through npm scripts that exist', () => {
    for (const name of ['api', 'worker']) {
      const [, , script] = services[name]?.command ?? [];
      expect(packageJson.scripts).toHaveProperty(script as string);
    }
    expect(services.setup?.command?.join(' ')).toContain('npm run db:migrate');
    expect(packageJson.scripts).toHaveProperty('db:migrate');
  });

  it('pins every image to a version (no latest, no bare name)', () => {
    for (const [name, service] of Object.entries(services)) {
      expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:\d+(\.\d+)+(-[\w.-]+)?$/) as string });
    }
  });

  it('runs the app from its own image, whose running stage has production dependencies only', () => {
    for (const name of ['api', 'worker', 'setup']) expect(services[name]?.build?.context).toBe('.');
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    for (const stage of stages) expect(stage).toMatch(/^\S+:\d+(\.\d+)+(-[\w.-]+)? AS \w+/);
    const running = stages.at(-1) ?? '';
    expect(running).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(running).not.toMatch(/^RUN npm (ci|install)(?!.*--omit=dev)/m);
    expect(running).toMatch(/^USER node$/m);
  });
});
