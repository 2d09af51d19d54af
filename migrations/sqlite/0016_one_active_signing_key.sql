-- One active ID-token signing key per algorithm. The keys are made in the background after
-- a start (an RSA key takes a while); two nodes starting together, or a first token racing
-- the start, may both make one, and the database now lets only one of them in: the loser
-- uses the winner's. Duplicates that an earlier race left are retired as of their creation,
-- keeping the newest, which is the one that always signed (`find_active_signing_key`).
UPDATE signing_keys SET retired_at = created_at
 WHERE retired_at IS NULL
   AND EXISTS (
       SELECT 1 FROM signing_keys newer
        WHERE newer.alg = signing_keys.alg
          AND newer.retired_at IS NULL
          AND (newer.created_at > signing_keys.created_at
               OR (newer.created_at = signing_keys.created_at AND newer.kid > signing_keys.kid)));

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(alg) WHERE retired_at IS NULL;
