// Client-compatibility check: @aws-sdk/client-kms v3 and the AWS Encryption SDK
// for JavaScript (@aws-crypto/client-node, KmsKeyringNode) against a running KmsEmulator.
//
// Usage: node tests/compat/js/check.mjs <endpoint-url>
// Exits 0 when every assertion holds; otherwise prints "FAIL: ..." and exits 1.

import { randomBytes, randomUUID } from 'node:crypto';
import { devNull } from 'node:os';

// Keep the user's ~/.aws files out of it; credentials and region are given explicitly.
process.env.AWS_CONFIG_FILE = devNull;
process.env.AWS_SHARED_CREDENTIALS_FILE = devNull;
process.env.AWS_EC2_METADATA_DISABLED = 'true';
// This SDK release warns that releases from 2027 on need node 22; node 20 is what Debian has.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const verbose = process.env.KMS_COMPAT_VERBOSE === '1';

const {
  KMS,
  KMSClient,
  CreateKeyCommand,
  CreateAliasCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  GenerateRandomCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ScheduleKeyDeletionCommand,
  ListResourceTagsCommand,
  paginateListKeys,
  paginateListAliases,
  DisabledException,
  InvalidCiphertextException,
  NotFoundException,
  KMSServiceException,
} = await import('@aws-sdk/client-kms');
const { buildClient, CommitmentPolicy, KmsKeyringNode } = await import('@aws-crypto/client-node');

const started = Date.now();
const endpoint = process.argv[2];
if (!endpoint) {
  console.error('usage: node check.mjs <endpoint-url>');
  process.exit(2);
}

class CheckFailed extends Error {}
let checks = 0;

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
  checks += 1;
}

function eq(what, expected, actual) {
  const e = JSON.stringify(expected);
  const a = JSON.stringify(actual);
  check(e === a, `${what}: expected ${e}, got ${a}`);
}

function sameBytes(what, expected, actual) {
  check(actual instanceof Uint8Array, `${what}: not a Uint8Array: ${typeof actual}`);
  check(Buffer.from(expected).equals(Buffer.from(actual)),
    `${what}: bytes differ (expected ${expected.length} bytes, got ${actual.length})`);
}

async function expectKmsError(what, ErrorClass, promise) {
  try {
    const result = await promise;
    throw new CheckFailed(`${what}: succeeded but ${ErrorClass.name} was expected: ${JSON.stringify(result)}`);
  } catch (err) {
    if (err instanceof CheckFailed) throw err;
    eq(`${what}: error name`, ErrorClass.name, err.name);
    check(err instanceof ErrorClass, `${what}: error is not an instance of ${ErrorClass.name}`);
    check(err instanceof KMSServiceException, `${what}: error is not a KMSServiceException`);
    eq(`${what}: HTTP status`, 400, err.$metadata?.httpStatusCode);
    check(err.$metadata?.requestId, `${what}: no request id in the error metadata`);
    return err;
  }
}

async function expectRejects(what, promise, mustInclude) {
  try {
    await promise;
  } catch (err) {
    const text = `${err?.name ?? ''}: ${err?.message ?? err}`;
    if (verbose) console.error(`  ${what} -> ${text.split('\n')[0]}`);
    if (mustInclude) check(text.includes(mustInclude), `${what}: error does not mention ${mustInclude}: ${text}`);
    else checks += 1;
    return err;
  }
  throw new CheckFailed(`${what}: succeeded but should have failed`);
}

const clientConfig = {
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDCOMPATJS', secretAccessKey: 'compat-js-secret' },
  maxAttempts: 2,
};

async function kmsClientFlows(kms, suffix) {
  const created = (await kms.send(new CreateKeyCommand({
    Description: `compat js key ${suffix}`,
    Tags: [{ TagKey: 'suite', TagValue: 'js' }],
  }))).KeyMetadata;
  const keyId = created.KeyId;
  const keyArn = created.Arn;
  check(/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/.test(keyId), `KeyId is not a UUID: ${keyId}`);
  check(keyArn.startsWith('arn:aws:kms:us-east-1:') && keyArn.endsWith(`:key/${keyId}`), `unexpected ARN ${keyArn}`);
  eq('CreateKey Description', `compat js key ${suffix}`, created.Description);
  eq('CreateKey KeyState', 'Enabled', created.KeyState);
  eq('CreateKey KeySpec', 'SYMMETRIC_DEFAULT', created.KeySpec);
  check(created.CreationDate instanceof Date && Math.abs(created.CreationDate - Date.now()) < 5 * 60_000,
    `CreateKey CreationDate is not a recent Date: ${created.CreationDate}`);
  const account = keyArn.split(':')[4];

  const alias = `alias/compat-js-${suffix}`;
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
  const aliasArn = `arn:aws:kms:us-east-1:${account}:${alias}`;
  eq('DescribeKey by alias', keyId, (await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata.KeyId);
  eq('DescribeKey by alias ARN', keyArn, (await kms.send(new DescribeKeyCommand({ KeyId: aliasArn }))).KeyMetadata.Arn);
  await expectKmsError('DescribeKey unknown key', NotFoundException,
    kms.send(new DescribeKeyCommand({ KeyId: randomUUID() })));

  eq('ListResourceTags', [{ TagKey: 'suite', TagValue: 'js' }],
    (await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags);

  const plaintext = Buffer.concat([Buffer.from('compat js plaintext '), randomBytes(40)]);
  const context = { purpose: 'compat', client: 'client-kms-v3' };
  const enc = await kms.send(new EncryptCommand({ KeyId: alias, Plaintext: plaintext, EncryptionContext: context }));
  eq('Encrypt KeyId', keyArn, enc.KeyId);
  eq('Encrypt EncryptionAlgorithm', 'SYMMETRIC_DEFAULT', enc.EncryptionAlgorithm);
  check(enc.CiphertextBlob instanceof Uint8Array && enc.CiphertextBlob.length > plaintext.length,
    'Encrypt CiphertextBlob is not a longer Uint8Array');

  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }));
  sameBytes('Decrypt (no KeyId) Plaintext', plaintext, dec.Plaintext);
  eq('Decrypt KeyId', keyArn, dec.KeyId);
  const decById = await kms.send(new DecryptCommand({
    CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context, KeyId: keyArn,
  }));
  sameBytes('Decrypt (KeyId ARN) Plaintext', plaintext, decById.Plaintext);
  await expectKmsError('Decrypt with a wrong context', InvalidCiphertextException,
    kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'other' } })));

  const gdk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }));
  eq('GenerateDataKey KeyId', keyArn, gdk.KeyId);
  eq('GenerateDataKey Plaintext length', 32, gdk.Plaintext.length);
  const dk = await kms.send(new DecryptCommand({ CiphertextBlob: gdk.CiphertextBlob, EncryptionContext: context }));
  sameBytes('Decrypt(data key)', gdk.Plaintext, dk.Plaintext);

  const rnd = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 24 }));
  eq('GenerateRandom length', 24, rnd.Plaintext.length);

  // Aggregated client (method style), which the Encryption SDK also uses.
  const agg = new KMS(clientConfig);
  const r = await agg.encrypt({ KeyId: keyArn, Plaintext: Buffer.from('method-style') });
  eq('KMS.encrypt KeyId', keyArn, r.KeyId);
  eq('KMS.decrypt Plaintext', 'method-style',
    Buffer.from((await agg.decrypt({ CiphertextBlob: r.CiphertextBlob })).Plaintext).toString());

  // Paginators (pageSize maps to Limit).
  const seenKeys = [];
  let keyPages = 0;
  for await (const page of paginateListKeys({ client: kms, pageSize: 1 }, {})) {
    keyPages += 1;
    check(page.Keys.length <= 1, 'ListKeys page larger than the page size');
    seenKeys.push(...page.Keys.map((k) => k.KeyId));
  }
  check(seenKeys.includes(keyId), `ListKeys paginator did not list ${keyId}`);
  eq('ListKeys paginator pages', seenKeys.length, keyPages);
  eq('ListKeys paginator duplicates', seenKeys.length, new Set(seenKeys).size);
  const aliases = [];
  for await (const page of paginateListAliases({ client: kms, pageSize: 1 }, { KeyId: keyId })) {
    aliases.push(...page.Aliases);
  }
  eq('ListAliases(KeyId) names', [alias], aliases.map((a) => a.AliasName));
  eq('ListAliases AliasArn', aliasArn, aliases[0].AliasArn);

  return { keyId, keyArn, alias, aliasArn, account };
}

async function encryptionSdkFlows(kms, key, suffix) {
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const kmsCalls = [];
  // The KMS keyring calls encrypt/generateDataKey/decrypt as methods, so the client it gets
  // is the aggregated KMS class (a KMSClient subclass) pointed at the emulator.
  const clientProvider = (region) => {
    eq('clientProvider region', 'us-east-1', region);
    const client = new KMS({ ...clientConfig, region });
    client.middlewareStack.add((next, ctx) => async (args) => {
      kmsCalls.push(ctx.commandName);
      return next(args);
    }, { step: 'initialize', name: 'compatRecordCalls' });
    return client;
  };

  const other = (await kms.send(new CreateKeyCommand({ Description: `compat js other key ${suffix}` }))).KeyMetadata;
  const third = (await kms.send(new CreateKeyCommand({ Description: `compat js third key ${suffix}` }))).KeyMetadata;
  const context = { tenant: `tenant-${suffix}`, purpose: 'esdk-compat' };
  const plaintext = Buffer.concat([Buffer.from('encryption sdk message '), randomBytes(200_000)]);

  const byArn = new KmsKeyringNode({ clientProvider, generatorKeyId: key.keyArn });
  const byAlias = new KmsKeyringNode({ clientProvider, generatorKeyId: key.aliasArn });
  const otherOnly = new KmsKeyringNode({ clientProvider, generatorKeyId: other.Arn });
  const thirdOnly = new KmsKeyringNode({ clientProvider, generatorKeyId: third.Arn });

  // 1. generator by key ARN
  kmsCalls.length = 0;
  const m1 = await encrypt(byArn, plaintext, { encryptionContext: context, frameLength: 4096 });
  eq('ESDK encrypt KMS calls', ['GenerateDataKeyCommand'], kmsCalls);
  check(Buffer.isBuffer(m1.result) && m1.result.length > plaintext.length, 'ESDK ciphertext is too short');
  eq('ESDK encrypt EDK count', 1, m1.messageHeader.encryptedDataKeys.length);
  eq('ESDK EDK providerId', 'aws-kms', m1.messageHeader.encryptedDataKeys[0].providerId);
  eq('ESDK EDK providerInfo', key.keyArn, m1.messageHeader.encryptedDataKeys[0].providerInfo);

  kmsCalls.length = 0;
  const d1 = await decrypt(byArn, m1.result);
  eq('ESDK decrypt KMS calls', ['DecryptCommand'], kmsCalls);
  check(d1.plaintext.equals(plaintext), 'ESDK decrypt (key ARN keyring) returned different plaintext');
  for (const [k, v] of Object.entries(context)) {
    eq(`ESDK messageHeader.encryptionContext.${k}`, v, d1.messageHeader.encryptionContext[k]);
  }
  eq('ESDK messageHeader EDK providerInfo', key.keyArn, d1.messageHeader.encryptedDataKeys[0].providerInfo);
  eq('ESDK messageHeader suiteId', m1.messageHeader.suiteId, d1.messageHeader.suiteId);

  // 2. generator by alias ARN, plus a second wrapping key (Encrypt of the data key)
  const multi = new KmsKeyringNode({ clientProvider, generatorKeyId: key.aliasArn, keyIds: [other.Arn] });
  kmsCalls.length = 0;
  const m2 = await encrypt(multi, plaintext, { encryptionContext: context });
  eq('ESDK multi-key encrypt KMS calls', ['GenerateDataKeyCommand', 'EncryptCommand'], kmsCalls);
  eq('ESDK alias generator EDK providerInfo (key ARN from KMS)',
    [key.keyArn, other.Arn], m2.messageHeader.encryptedDataKeys.map((e) => e.providerInfo));
  const d2 = await decrypt(byArn, m2.result);
  check(d2.plaintext.equals(plaintext), 'ESDK decrypt of alias-generated message returned different plaintext');
  eq('ESDK alias message context', context.tenant, d2.messageHeader.encryptionContext.tenant);
  const d2b = await decrypt(otherOnly, m2.result);
  check(d2b.plaintext.equals(plaintext), 'ESDK decrypt with the second wrapping key returned different plaintext');

  const m3 = await encrypt(byAlias, Buffer.from('short alias message'), { encryptionContext: { a: '1' } });
  eq('ESDK alias-only EDK providerInfo', key.keyArn, m3.messageHeader.encryptedDataKeys[0].providerInfo);
  const d3 = await decrypt(byArn, m3.result);
  eq('ESDK alias-only plaintext', 'short alias message', d3.plaintext.toString());
  eq('ESDK alias-only context', '1', d3.messageHeader.encryptionContext.a);

  // 3. discovery keyring limited to the emulator's account
  const discovery = new KmsKeyringNode({
    clientProvider, discovery: true, discoveryFilter: { accountIDs: [key.account], partition: 'aws' },
  });
  const d4 = await decrypt(discovery, m1.result);
  check(d4.plaintext.equals(plaintext), 'ESDK discovery keyring returned different plaintext');
  const wrongAccount = new KmsKeyringNode({
    clientProvider, discovery: true, discoveryFilter: { accountIDs: ['000000000000'], partition: 'aws' },
  });
  await expectRejects('ESDK discovery keyring with another account', decrypt(wrongAccount, m1.result),
    'unencryptedDataKey has not been set');

  // 4. a keyring over a different key must not decrypt
  kmsCalls.length = 0;
  await expectRejects('ESDK decrypt with a keyring over a different key', decrypt(thirdOnly, m1.result),
    'unencryptedDataKey has not been set');
  eq('ESDK different key: no KMS call', [], kmsCalls);
  await expectRejects('ESDK decrypt (other key) of a single-key message', decrypt(otherOnly, m1.result),
    'unencryptedDataKey has not been set');

  // 5. tampered message
  const tampered = Buffer.from(m1.result);
  tampered[tampered.length - 100] ^= 0x01;
  await expectRejects('ESDK decrypt of a tampered message', decrypt(byArn, tampered), 'Invalid Signature');

  // 6. disabled key: the KMS error reaches the caller
  await kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
  await expectRejects('ESDK decrypt with the key disabled', decrypt(byArn, m1.result), 'DisabledException');
  await expectRejects('ESDK encrypt with the key disabled', encrypt(byArn, plaintext), 'DisabledException');
  await expectKmsError('Encrypt with the key disabled', DisabledException,
    kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') })));
  await kms.send(new EnableKeyCommand({ KeyId: key.keyId }));
  const d5 = await decrypt(byArn, m1.result);
  check(d5.plaintext.equals(plaintext), 'ESDK decrypt after re-enable returned different plaintext');

  return [other.KeyId, third.KeyId];
}

async function main() {
  const kms = new KMSClient(clientConfig);
  const suffix = `${Date.now()}-${process.pid}`;
  const key = await kmsClientFlows(kms, suffix);
  const extra = await encryptionSdkFlows(kms, key, suffix);
  for (const keyId of [key.keyId, ...extra]) {
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
  }
}

try {
  await main();
  const version = (await import('@aws-sdk/client-kms/package.json', { with: { type: 'json' } })).default.version;
  const esdk = (await import('@aws-crypto/client-node/package.json', { with: { type: 'json' } })).default.version;
  console.log(`js: OK (${checks} checks, @aws-sdk/client-kms ${version}, @aws-crypto/client-node ${esdk}, `
    + `${((Date.now() - started) / 1000).toFixed(1)}s) against ${endpoint}`);
} catch (err) {
  if (err instanceof CheckFailed) {
    console.error(`FAIL: ${err.message}`);
    console.error(err.stack.split('\n').slice(1, 3).join('\n'));
  } else {
    console.error(`FAIL: unexpected ${err?.name}: ${err?.message}`);
    if (err?.$metadata) console.error(`  $metadata: ${JSON.stringify(err.$metadata)}`);
    console.error(err?.stack);
  }
  process.exit(1);
}
