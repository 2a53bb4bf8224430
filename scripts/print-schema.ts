// Writes schema.graphql: the printed SDL of the gateway's schema, checked in so that every change
// to the API shows in review. `npm run schema:print` after changing the schema; a test fails on drift.
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { createMemoryPubSub } from '../gateway/events/pubsub';
import { buildTypeGraphQLSchema } from '../schema/build-schema';

/** The SDL as checked in. */
export async function printedSchema(): Promise<string> {
  return `${printSchemaWithDirectives(await buildTypeGraphQLSchema(createMemoryPubSub()))}\n`;
}

if (require.main === module) {
  void printedSchema().then((sdl) => {
    const file = join(__dirname, '..', '..', 'schema.graphql');
    writeFileSync(file, sdl);
    process.stdout.write(`wrote ${file}\n`);
  });
}
