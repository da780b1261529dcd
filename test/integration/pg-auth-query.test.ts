// proxy.auth.auth_query: users not in the config are looked up on the primary, as pgbouncer does.
// The lab's PostgreSQL user may not read pg_authid, so a SECURITY DEFINER function does it.
import t from 'tap'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, pgConnect, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'
import { storedSecretMethod } from '../../src/pg/auth/auth-query.js'

const lab: LabJson = await ensureTestLab()
const su = await pgSuperuser(lab)
await su.query(`
  DROP ROLE IF EXISTS aq_scram; DROP ROLE IF EXISTS aq_md5; DROP ROLE IF EXISTS aq_nologin;
  SET password_encryption = 'scram-sha-256'; CREATE ROLE aq_scram LOGIN PASSWORD 'scram-secret';
  SET password_encryption = 'md5'; CREATE ROLE aq_md5 LOGIN PASSWORD 'md5-secret';
  CREATE ROLE aq_nologin NOLOGIN PASSWORD 'x';
  CREATE OR REPLACE FUNCTION grey_user_secret(name text) RETURNS TABLE (usename text, passwd text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT rolname::text, rolpassword FROM pg_authid WHERE rolname = name AND rolcanlogin $$;
  REVOKE ALL ON FUNCTION grey_user_secret(text) FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION grey_user_secret(text) TO ${lab.pg.user};
`)
await su.end()
const grey = await greyInProcess('eu-west', { GREY_PROXY__AUTH__AUTH_QUERY: 'SELECT usename, passwd FROM grey_user_secret($1)' })
t.teardown(() => grey.stop())

t.test('a user found by auth_query logs in with its PostgreSQL password, SCRAM or md5', async (t) => {
  for (const [user, password] of [
    ['aq_scram', 'scram-secret'],
    ['aq_md5', 'md5-secret'],
  ]) {
    const c = await pgConnect(lab, grey.pg, { user, password })
    t.equal((await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1, `${user} is in`)
    await c.end()
  }
  const configured = await pgConnect(lab, grey.pg)
  t.pass('a configured user still logs in without a lookup')
  await configured.end()
})

t.test('a wrong password, an unknown user and a NOLOGIN role all get the same 28P01', async (t) => {
  for (const [user, password] of [
    ['aq_scram', 'wrong'],
    ['aq_md5', 'wrong'],
    ['aq_nobody', 'x'],
    ['aq_nologin', 'x'],
  ]) {
    await t.rejects(pgConnect(lab, grey.pg, { user, password }), {
      code: '28P01',
      message: `password authentication failed for user "${user}"`,
    })
  }
})

t.test('a failing auth_query is a clear, retryable error', async (t) => {
  const broken = await greyInProcess('eu-west', { GREY_PROXY__AUTH__AUTH_QUERY: 'SELECT passwd FROM no_such_table WHERE usename = $1' })
  t.teardown(() => broken.stop())
  await t.rejects(pgConnect(lab, broken.pg, { user: 'aq_scram', password: 'scram-secret' }), {
    code: '08001',
    message: /cannot look up the user on PostgreSQL right now \(auth_query failed\)/,
  })
})

t.test('stored secrets: SCRAM verifiers and md5 hashes count, anything else does not', async (t) => {
  t.equal(storedSecretMethod('md5' + '0'.repeat(32))?.method, 'md5')
  t.equal(storedSecretMethod(null), null)
  t.equal(storedSecretMethod('plain-text'), null)
  t.equal(storedSecretMethod('SCRAM-SHA-256$garbage'), null)
})
