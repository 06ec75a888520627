-- Not reversible: row security and the audit chain are not taken back.
SELECT 1;
