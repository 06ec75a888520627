DROP TABLE mobility_cutoffs;
DROP TABLE mobility_run_results;
DROP FUNCTION ambito_mobility_outcome_addresses(bigint);
DROP FUNCTION ambito_mobility_run_approved(bigint);
DROP TABLE mobility_runs;
