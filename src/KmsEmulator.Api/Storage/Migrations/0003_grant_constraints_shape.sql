-- Rewrites grant constraints stored in the GrantConstraints wire shape (written before the store owned the shape:
-- {"EncryptionContextEquals":{...},"EncryptionContextSubset":{...},"SourceArn":"..."}, null members omitted or null)
-- into the store's own shape, StoredGrantConstraints in Storage/StorageJson.cs:
-- {"Kind":"EncryptionContextEquals"|"EncryptionContextSubset"|null,"Pairs":{...}|null,"SourceArn":"..."|null}.
--
-- Only rows the old writer could have produced are rewritten: a JSON object whose members are all wire members, with
-- each context member an object or null, at most one of them an object, and SourceArn a string or null. Rows already
-- in the store shape have Kind and Pairs members and are left alone. Anything else is left as it is, so that loading
-- refuses it by name instead of this migration guessing at a constraint.
UPDATE grants
SET constraints = json_object(
    'Kind', CASE
        WHEN json_type(constraints, '$.EncryptionContextEquals') = 'object' THEN 'EncryptionContextEquals'
        WHEN json_type(constraints, '$.EncryptionContextSubset') = 'object' THEN 'EncryptionContextSubset'
    END,
    'Pairs', CASE
        WHEN json_type(constraints, '$.EncryptionContextEquals') = 'object' THEN json(json_extract(constraints, '$.EncryptionContextEquals'))
        WHEN json_type(constraints, '$.EncryptionContextSubset') = 'object' THEN json(json_extract(constraints, '$.EncryptionContextSubset'))
    END,
    'SourceArn', json_extract(constraints, '$.SourceArn'))
-- The CASE guards the JSON functions, which fail on text that is not JSON: SQLite may evaluate the terms of a WHERE
-- clause in any order, but the branches of a CASE in order. json_type of an absent member is NULL, hence coalesce.
WHERE constraints IS NOT NULL
  AND CASE
      WHEN NOT json_valid(constraints) THEN 0
      WHEN json_type(constraints) <> 'object' THEN 0
      ELSE NOT EXISTS (
               SELECT 1 FROM json_each(grants.constraints)
               WHERE key NOT IN ('EncryptionContextEquals', 'EncryptionContextSubset', 'SourceArn'))
           AND coalesce(json_type(constraints, '$.EncryptionContextEquals'), 'null') IN ('object', 'null')
           AND coalesce(json_type(constraints, '$.EncryptionContextSubset'), 'null') IN ('object', 'null')
           AND NOT (coalesce(json_type(constraints, '$.EncryptionContextEquals'), 'null') = 'object'
                    AND coalesce(json_type(constraints, '$.EncryptionContextSubset'), 'null') = 'object')
           AND coalesce(json_type(constraints, '$.SourceArn'), 'null') IN ('text', 'null')
      END;
