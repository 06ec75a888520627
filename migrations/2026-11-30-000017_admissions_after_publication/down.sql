DROP POLICY municipality_public_read ON admission_snapshots;
DROP POLICY municipality_public_read ON admission_rounds;
DROP POLICY non_resident_read ON admission_applications;
DROP POLICY non_resident_read ON admission_placements;
DROP TABLE admission_invitations;
DROP TABLE admission_nulla_osta;
DROP TABLE admission_complaints;
DROP TABLE admission_placements;
