import type { Command } from 'commander';
import { CreateTokenInput, MemberRole, TokenCreateDocument, TokenListDocument, TokenRevokeDocument } from '../../../client/generated/graphql';
import { emit, table } from '../output';
import { contextOf, enumOption, groupOf } from './context';

/** `rsp token create|list|revoke`. */
export function registerToken(program: Command): void {
  const token = program.command('token').description('API tokens');

  token
    .command('create <name>')
    .description('create a token; its secret is shown once')
    .option('--group <id>', 'the group it acts for (default: your token\'s group)')
    .option('--role <role>', 'VIEWER, MEMBER or ADMIN', 'MEMBER')
    .option('--site-admin', 'a site-admin token (site admins only)')
    .option('--expires <iso-date>', 'when it stops working')
    .action(async (name: string, opts: { group?: string; role: string; siteAdmin?: boolean; expires?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input: CreateTokenInput = { name, role: enumOption<MemberRole>(opts.role)!, siteAdmin: !!opts.siteAdmin, ...(opts.siteAdmin && !opts.group ? {} : { groupId: await groupOf(ctx, opts.group) }), ...(opts.expires ? { expiresAt: opts.expires } : {}) };
      const { createToken } = await ctx.client.request(TokenCreateDocument, { input });
      emit(ctx.json, createToken, () => `Created token ${createToken.token.name} (${createToken.token.id}, ${createToken.token.role}). Its secret, shown once:\n${createToken.secret}\n`);
    });

  token
    .command('list')
    .description("list a group's tokens")
    .option('--group <id>', "the group (default: your token's group)")
    .action(async (opts: { group?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { tokens } = await ctx.client.request(TokenListDocument, { groupId: await groupOf(ctx, opts.group) });
      emit(ctx.json, tokens, () =>
        table(tokens, [
          { header: 'ID', value: (t) => t.id },
          { header: 'NAME', value: (t) => t.name },
          { header: 'ROLE', value: (t) => (t.siteAdmin ? `${t.role}+SITE_ADMIN` : t.role) },
          { header: 'PREFIX', value: (t) => t.prefix },
          { header: 'LAST USED', value: (t) => t.lastUsedAt },
          { header: 'REVOKED', value: (t) => t.revokedAt },
        ]),
      );
    });

  token
    .command('revoke <id>')
    .description('revoke a token, and every token made through it')
    .option('--keep-made', 'keep the tokens it made (site admins, rotating a site-admin token)')
    .action(async (id: string, opts: { keepMade?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { revokeToken } = await ctx.client.request(TokenRevokeDocument, { id, keepMade: opts.keepMade === true });
      emit(ctx.json, revokeToken, () => `Revoked token ${revokeToken.name} (${revokeToken.id})\n`);
    });
}
