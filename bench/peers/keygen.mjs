// Makes the RSA 2048 signing key the peers are configured with before they start (Gatehouse
// makes its own at first start). Prints {"pkcs1_pem", "spki_pem", "jwk"} as JSON.
import { generateKeyPairSync } from 'node:crypto';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
console.log(JSON.stringify({
  pkcs1_pem: privateKey.export({ type: 'pkcs1', format: 'pem' }),
  spki_pem: publicKey.export({ type: 'spki', format: 'pem' }),
  jwk,
}));
